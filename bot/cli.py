"""The ``pgolf`` command line: a click group with one thin command module per noun.

Each module in ``bot/commands/`` exposes ``register(cli: click.Group) -> None``. Domain errors
(:class:`bot.errors.PgolfError`) are turned into one line on stderr and the error's exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from bot import __version__
from bot.commands.context import AppContext
from bot.config import parse_overrides
from bot.errors import GateFailed, InputError, PgolfError

# The commands, in help order; each is the noun of its module bot.commands.<noun>.
COMMAND_NAMES = (
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


def register_command(name: str, group: click.Group) -> bool:
    """Import the module of command ``name`` and register it on ``group`` (False: no such
    command). One plain import per command, here and only when it is called, so that mypy
    follows every command and ``pgolf budget status`` imports neither the SDKs nor torch."""
    match name:
        case "config":
            from bot.commands import config

            config.register(group)
        case "results":
            from bot.commands import results

            results.register(group)
        case "budget":
            from bot.commands import budget

            budget.register(group)
        case "pause":
            from bot.commands import pause

            pause.register(group)
        case "artifact":
            from bot.commands import artifact

            artifact.register(group)
        case "inject":
            from bot.commands import inject

            inject.register(group)
        case "program":
            from bot.commands import program

            program.register(group)
        case "init":
            from bot.commands import init

            init.register(group)
        case "runner":
            from bot.commands import runner

            runner.register(group)
        case "train":
            from bot.commands import train

            train.register(group)
        case "research":
            from bot.commands import research

            research.register(group)
        case "competitors":
            from bot.commands import competitors

            competitors.register(group)
        case "command":
            from bot.commands import command

            command.register(group)
        case "ledger":
            from bot.commands import ledger

            ledger.register(group)
        case "promote":
            from bot.commands import promote

            promote.register(group)
        case "pods":
            from bot.commands import pods

            pods.register(group)
        case "logs":
            from bot.commands import logs

            logs.register(group)
        case "alerts":
            from bot.commands import alerts

            alerts.register(group)
        case "submission":
            from bot.commands import submission

            submission.register(group)
        case "experiment":
            from bot.commands import experiment

            experiment.register(group)
        case "report":
            from bot.commands import report

            report.register(group)
        case "demo":
            from bot.commands import demo

            demo.register(group)
        case _:
            return False
    return True


class PgolfGroup(click.Group):
    """The root group.

    * Translates PgolfError into a one-line message and its exit code.
    * Loads command modules lazily: ``pgolf budget status`` imports only ``bot.commands.budget``,
      not the SDKs, torch or matplotlib that other commands need, so every CLI call (and every
      scheduled workflow step) starts fast.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands) | set(COMMAND_NAMES)
        order = {n: i for i, n in enumerate(COMMAND_NAMES)}
        return sorted(names, key=lambda n: (order.get(n, len(order)), n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            scratch = click.Group()
            if register_command(cmd_name, scratch):
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
