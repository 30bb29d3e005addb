"""`pgolf program diff|review`: program.md changes in review terms, and the research PR (review mode)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from bot import program_changes as pc
from bot import program_git
from bot.commands.context import AppContext, emit_json, json_option, pass_app
from bot.errors import InputError

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def append_step_summary(text: str, env: dict[str, str] | None = None) -> Path:
    """Append Markdown to the Actions job summary file named by ``$GITHUB_STEP_SUMMARY``."""
    name = (os.environ if env is None else env).get(SUMMARY_ENV, "").strip()
    if not name:
        raise InputError(f"${SUMMARY_ENV} is not set (it is, inside GitHub Actions)", field="--step-summary")
    path = Path(name)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    return path


@click.group("program")
def program_group() -> None:
    """program.md: what changed (diff) and the research pull request (review)."""


@program_group.command("diff")
@click.argument("rev_a", required=False, default="HEAD")
@click.argument("rev_b", required=False, default=None)
@click.option("--markdown", is_flag=True, help="Print the Markdown table (the job summary) instead.")
@click.option(
    "--step-summary",
    is_flag=True,
    help="Also append the Markdown table to $GITHUB_STEP_SUMMARY (the Actions job summary).",
)
@json_option
@pass_app
def diff_cmd(
    app: AppContext, rev_a: str, rev_b: str | None, markdown: bool, step_summary: bool, as_json: bool
) -> None:
    """Explain the program.md diff from REV_A (default HEAD) to REV_B (default: the working copy):
    research items added and removed per section with tier, score and link, regrades, the SOTA
    line before and after, competitor rows added or changed, research-state rows added."""
    changes = program_git.changes_between(app.root, app.settings, rev_a, rev_b)
    table = pc.summary_markdown(changes, title=f"program.md {rev_a}..{rev_b or 'working copy'}")
    if step_summary:
        append_step_summary(table)
    if as_json:
        data = changes.to_dict()
        data.update({"rev_a": rev_a, "rev_b": rev_b or program_git.WORKTREE})
        emit_json(data)
    elif markdown:
        click.echo(table, nl=False)
    else:
        click.echo(pc.message(changes))


@program_group.command("review")
@click.option("--step-summary", is_flag=True, help="Also append the outcome to $GITHUB_STEP_SUMMARY.")
@json_option
@pass_app
def review_cmd(app: AppContext, step_summary: bool, as_json: bool) -> None:
    """Review mode (research_review = "pr"): put this run's program.md on the standing research
    branch and PR, and merge it after the quiet period unless a maintainer holds it. Does nothing
    in the default commit mode."""
    from bot import research_review as rr

    settings = app.settings
    if settings.research_review != "pr":
        outcomes = rr.run_review(None, app.root, settings)
    else:
        from bot.forge import open_forge

        outcomes = rr.run_review(open_forge(settings, app.root), app.root, settings)
    if step_summary and settings.research_review == "pr":
        append_step_summary(rr.summary_markdown(outcomes))
    if as_json:
        emit_json([o.to_dict() for o in outcomes])
        return
    for o in outcomes:
        click.echo(f"{o.action}: {o.reason}")


def register(cli: click.Group) -> None:
    cli.add_command(program_group)
