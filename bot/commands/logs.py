"""`pgolf logs stream`: untrusted output folded into the Actions log with workflow commands off."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.commands.context import AppContext, pass_app
from bot.compute.logstream import DEFAULT_TAIL, stream


@click.group("logs")
def logs_group() -> None:
    """Training logs in the Actions log and job summary."""


@logs_group.command("stream", context_settings={"ignore_unknown_options": True})
@click.option("--title", default="training output", show_default=True, help="The folded group's title.")
@click.option(
    "--follow",
    "follow",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder (its new *.log files) or file to follow while the command runs; repeatable.",
)
@click.option("--tail", default=DEFAULT_TAIL, show_default=True, help="Lines per log in the job summary.")
@click.option("--save", type=click.Path(path_type=Path), default=None, help="Also write the output here.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
def stream_cmd(
    app: AppContext,
    title: str,
    follow: tuple[Path, ...],
    tail: int,
    save: Path | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (after --) and/or follow logs: one folded group between
    ::stop-commands::<random token> and ::<token>::, the last lines in the job summary; exits
    with COMMAND's status."""
    roots = [p if p.is_absolute() else app.root / p for p in follow]
    rc = stream(list(command), title=title, follow=roots, out=sys.stdout, tail=tail, save=save)
    sys.exit(rc)


def register(cli: click.Group) -> None:
    cli.add_command(logs_group)
