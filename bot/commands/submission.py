"""`pgolf submission build|lint`: an upstream records folder from a run (the record track only
when the run meets upstream's bar, else track_non_record_16mb), and its layout check."""

from __future__ import annotations

from pathlib import Path

import click

from bot.commands.context import AppContext, emit_json, pass_app
from bot.compute.submission import build_submission, lint_folder
from bot.errors import GateFailed


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


@submission_group.command("lint")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@pass_app
def lint_cmd(app: AppContext, folder: Path) -> None:
    """Check FOLDER against upstream's records layout; exit 1 with the problems."""
    problems = lint_folder(folder)
    for p in problems:
        click.echo(p)
    if problems:
        raise GateFailed(f"{folder}: {len(problems)} problem(s)")
    click.echo(f"{folder}: lints clean")


def register(cli: click.Group) -> None:
    cli.add_command(submission_group)
