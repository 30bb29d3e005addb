"""The ``pgolf`` command line: a click group with one thin command module per noun.

Each module in ``bot/commands/`` exposes ``register(cli: click.Group) -> None``. Domain errors
(:class:`bot.errors.PgolfError`) are turned into one line on stderr and the error's exit code.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from bot import __version__
from bot.commands.context import AppContext
from bot.config import parse_overrides
from bot.errors import GateFailed, InputError, PgolfError

# Command modules, in help order; each module's command carries the module's name. Each is a
# module of this package (tests/foundation/test_cli.py imports every one): the names are only how
# `pgolf X` imports bot.commands.X when X is called, and nothing else.
COMMAND_MODULES = (
    "config",
    "results",
    "budget",
    "pause",
    "artifact",
    "inject",
    "program",
    "init",
    "runner",
    "train",
    "research",
    "competitors",
    "command",
    "ledger",
    "promote",
    "pods",
    "logs",
    "alerts",
    "submission",
    "experiment",
    "report",
    "demo",
)


class PgolfGroup(click.Group):
    """The root group.

    * Translates PgolfError into a one-line message and its exit code.
    * Loads command modules lazily: ``pgolf budget status`` imports only ``bot.commands.budget``,
      not the SDKs, torch or matplotlib that other commands need, so every CLI call (and every
      scheduled workflow step) starts fast.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands) | set(COMMAND_MODULES)
        order = {n: i for i, n in enumerate(COMMAND_MODULES)}
        return sorted(names, key=lambda n: (order.get(n, len(order)), n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            scratch = click.Group()
            importlib.import_module(f"bot.commands.{cmd_name}").register(scratch)
            for name, cmd in scratch.commands.items():
                self.add_command(cmd, name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GateFailed as exc:  # not a malfunction: the check ran and its answer is no
            if str(exc):
                click.echo(str(exc), err=True)
            ctx.exit(exc.exit_code)
        except PgolfError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            # A path the user gave that cannot be read or written (missing folder, no
            # permission, read-only file system): their input, so one line and exit 2.
            where = exc.filename or ""
            click.echo(f"error: {where}{': ' if where else ''}{exc.strerror or exc}", err=True)
            ctx.exit(InputError.exit_code)


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
    if not root.is_dir() and ctx.invoked_subcommand not in ("init", "demo"):
        click.echo(f"error: {root}: the research repository folder does not exist", err=True)
        ctx.exit(InputError.exit_code)
    try:
        overrides = parse_overrides(config_pairs)
    except PgolfError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    ctx.obj = AppContext(root=root.resolve(), overrides=overrides)


def main() -> None:
    try:
        cli.main(prog_name="pgolf")
    except PgolfError as exc:  # errors raised outside a command's invoke (e.g. group callback)
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
