"""`pgolf init [DIR]`: scaffold a research repository and print the remaining manual steps."""

from __future__ import annotations

from pathlib import Path

import click

from bot.context import AppContext, emit_json, json_option, pass_app, warn
from bot.forge.scaffold import scaffold


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist (never budget.json).")
@click.option("--no-git", is_flag=True, help="Do not run `git init`.")
@click.option(
    "--pgolf-spec",
    "pgolf_spec",
    metavar="SPEC",
    default=None,
    help="The pip requirement requirements-bot.txt installs pgolf from (pgolf is not on PyPI), e.g. "
    "'pgolf @ git+https://github.com/OWNER/pgolf@SHA' or a wheel URL. Default: this pgolf's git "
    "checkout (https remote + commit), else a placeholder to fill in.",
)
@json_option
@pass_app
def init_cmd(
    app: AppContext, directory: Path | None, force: bool, no_git: bool, pgolf_spec: str | None, as_json: bool
) -> None:
    """Scaffold a research repository: workflows, program.md, empty results.tsv and budget.json,
    the training scripts and the GitHub App manifest."""
    root = directory or Path.cwd()
    result = scaffold(root, app.settings, force=force, git_init=not no_git, pgolf_spec=pgolf_spec)
    if as_json:
        emit_json(result.to_dict())
        return
    for w in result.warnings:
        warn(w)
    click.echo(f"Scaffolded {result.root}:")
    for rel in result.created:
        click.echo(f"  + {rel}")
    for rel in result.kept:
        click.echo(f"  = {rel} (kept)")
    if result.pgolf_spec:
        click.echo(f"\nThe workflows install: {result.pgolf_spec}")
    click.echo("\nRemaining manual steps:")
    for i, step in enumerate(result.steps, 1):
        click.echo(f"  {i}. {step}")


def register(cli: click.Group) -> None:
    cli.add_command(init_cmd)
