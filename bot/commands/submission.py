"""`pgolf submission build`: a records/track_10min_16mb/<date>_<name>/ folder from a run."""

from __future__ import annotations

import click

from bot.compute.submission import build_submission
from bot.context import AppContext, emit_json, pass_app


@click.group("submission")
def submission_group() -> None:
    """Upstream record submissions."""


@submission_group.command("build")
@click.option("--run", "run", required=True, help="Run id (or its folder) from a Tier 2 promotion.")
@click.option("--name", default=None, help="Record name (default: the commit subject).")
@click.option("--blurb", default=None, help="Technique summary (default: the commit message).")
@click.option("--author", default=None)
@click.option("--github-id", default=None)
@click.option("--force", is_flag=True, help="Replace an existing folder of the same name.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def build_cmd(
    app: AppContext,
    run: str,
    name: str | None,
    blurb: str | None,
    author: str | None,
    github_id: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write README.md, submission.json, train_gpt.py and the logs, ready for an upstream PR."""
    built = build_submission(
        app.root, app.settings, run, name=name, blurb=blurb, author=author, github_id=github_id, force=force
    )
    if as_json:
        emit_json({"folder": str(built.folder), "files": built.files, "submission": built.submission})
    else:
        click.echo(f"wrote {built.folder}")
        for f in built.files:
            click.echo(f"  {f}")


def register(cli: click.Group) -> None:
    cli.add_command(submission_group)
