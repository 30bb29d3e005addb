"""`pgolf init [DIR]`: scaffold a research repository and print the remaining manual steps."""

from __future__ import annotations

from pathlib import Path

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
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
@click.option(
    "--upgrade",
    is_flag=True,
    help="Upgrade an existing research repository: three-way merge its workflows and App manifest "
    "with this pgolf's templates (local edits kept; clashes left as conflict markers, exit 1), "
    "show the diff, migrate budget.json and the research state to the current schema.",
)
@click.option("--dry-run", is_flag=True, help="With --upgrade: show the diff, write nothing.")
@json_option
@pass_app
def init_cmd(
    app: AppContext,
    directory: Path | None,
    force: bool,
    no_git: bool,
    pgolf_spec: str | None,
    upgrade: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Scaffold a research repository: workflows, program.md, empty results.tsv and budget.json,
    the training scripts and the GitHub App manifest (or, with --upgrade, bring an existing one
    to this pgolf's version)."""
    root = directory or Path.cwd()
    if upgrade:
        _upgrade(app, root, dry_run, as_json)
        return
    if dry_run:
        raise click.UsageError("--dry-run goes with --upgrade")
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


def _upgrade(app: AppContext, root: Path, dry_run: bool, as_json: bool) -> None:
    from bot.forge.upgrade import upgrade

    res = upgrade(root, app.settings, dry_run=dry_run)
    if as_json:
        emit_json(res.to_dict())
    else:
        for f in res.files:
            if f.action == "unchanged":
                continue
            click.echo(f"{f.action:>9}  {f.path}" + (f"  (base: {f.base})" if f.base else ""))
            if f.diff:
                click.echo(f.diff, nl=not f.diff.endswith("\n"))
        for m in res.migrations:
            click.echo(f"  migrated  {m}")
        if not any(f.action != "unchanged" for f in res.files) and not res.migrations:
            click.echo("already up to date")
        if dry_run:
            click.echo("(dry run: nothing was written)")
    if res.conflicts:
        click.echo("conflicts to resolve (look for <<<<<<< yours): " + ", ".join(res.conflicts), err=True)
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(init_cmd)
