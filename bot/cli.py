"""The ``pgolf`` command line: a click group with one thin command module per noun.

Each module in ``bot/commands/`` exposes ``register(cli: click.Group) -> None``. Domain errors
(:class:`bot.errors.PgolfError`) are turned into one line on stderr and the error's exit code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from bot import __version__
from bot.config import parse_overrides
from bot.context import AppContext
from bot.errors import PgolfError

# Command modules, in help order. A module that does not exist yet is skipped; a module
# that exists but fails to import is a bug and is not hidden.
COMMAND_MODULES = (
    "config",
    "results",
    "budget",
    "artifact",
    "inject",
    "init",
    "train",
    "research",
    "competitors",
    "command",
    "ledger",
    "promote",
    "pods",
    "submission",
    "experiment",
    "report",
    "demo",
)


class PgolfGroup(click.Group):
    """A group that translates PgolfError into a one-line message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PgolfError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=PgolfGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgolf")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Research repository root (default: $PGOLF_REPO or the current folder).",
)
@click.option(
    "-c",
    "--config",
    "config_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting (highest precedence; repeatable).",
)
@click.pass_context
def cli(ctx: click.Context, repo: Path | None, config_pairs: tuple[str, ...]) -> None:
    """pgolf — a Git-native research bot for OpenAI's Parameter Golf challenge."""
    root = repo or Path(os.environ.get("PGOLF_REPO") or ".")
    try:
        overrides = parse_overrides(config_pairs)
    except PgolfError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    ctx.obj = AppContext(root=root.resolve(), overrides=overrides)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        modname = f"bot.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        module = importlib.import_module(modname)
        module.register(cli)


_register_all()


def main() -> None:
    try:
        cli.main(prog_name="pgolf")
    except PgolfError as exc:  # errors raised outside a command's invoke (e.g. group callback)
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
