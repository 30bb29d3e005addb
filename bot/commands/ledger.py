"""`pgolf ledger commit`: commit the ledger to the default branch from CI, race-safely."""

from __future__ import annotations

import click

from bot.commands.context import (
    AppContext,
    emit_json,
    json_option,
    pass_app,
    reads_sections,
    refuse_stray_names,
    warn,
)
from bot.forge.ledger_commit import ledger_commit


@click.group("ledger")
def ledger_group() -> None:
    """Commit results.tsv, budget.json, program.md and research state (CI)."""


@ledger_group.command("commit")
@click.option(
    "-m",
    "--message",
    default=None,
    help="Commit message ([skip ci] is appended). Without it, one is generated from what changed: "
    "program.md items, tiers and SOTA, research-state rows.",
)
@click.option("--remote", default="origin", show_default=True)
@click.option(
    "--branch",
    default=None,
    help="Branch to push to (default: the checked-out branch, else the remote's default).",
)
@click.option("--path", "extra", multiple=True, help="Another file to include (repeatable).")
@click.option(
    "--only",
    multiple=True,
    help="Commit only these ledger files (repeatable), e.g. the results.tsv row this job computed.",
)
@json_option
@reads_sections("paths", "program", "forge", "pod")  # pod: merging budget.json (tier2_min_interval_seconds)
@pass_app
def commit(
    app: AppContext,
    message: str | None,
    remote: str,
    branch: str | None,
    extra: tuple[str, ...],
    only: tuple[str, ...],
    as_json: bool,
) -> None:
    """Stage the ledger files, commit as the App and push with merge-and-retry on conflict.

    Refuses a working copy that is not a checkout of the branch it pushes to (a PR checkout)."""
    refuse_stray_names(app, "paths", "the commit would push ledger files from default paths nothing reads")
    # Review mode: program.md reaches the default branch only through the research PR.
    exclude = (app.settings.program_path,) if app.settings.research_review == "pr" else ()
    result = ledger_commit(
        app.root,
        message,
        app.settings,
        remote=remote,
        branch=branch,
        extra_paths=extra,
        only=only,
        exclude_paths=exclude,
    )
    for w in result.warnings:
        warn(w)
    if as_json:
        emit_json(result.to_dict())
        return
    if not result.committed:
        click.echo(result.message)
        return
    click.echo(
        f"pushed {result.sha[:12]} to {remote}/{result.branch} after {result.attempts} attempt(s): "
        + ", ".join(result.files)
    )


def register(cli: click.Group) -> None:
    cli.add_command(ledger_group)
