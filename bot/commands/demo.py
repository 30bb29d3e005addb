"""`pgolf demo`: the whole loop offline on one machine (no network, keys or GPU)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.commands.context import emit_json
from bot.demo import run_demo, summary_lines


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-work"),
    show_default=True,
    help="Folder for the demo's research repository. An earlier demo there is replaced "
    "(its tiny dataset is reused); any other non-empty folder is refused.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the step results and outputs as JSON at the end."
)
def demo(workdir: Path, as_json: bool) -> None:
    """Run the whole loop offline: tiny dataset → research from a bundled snapshot → offline
    grading → program.md → experiment PR on a local forge → Tier 1 CPU run and gate →
    promotion on a local pod ($0) → ledger, budget and dashboard.

    Needs no network, no API keys and no GPU; a few minutes on a laptop. Exit 1 when a step
    failed (or was skipped because an earlier one failed).
    """
    echo = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    result = run_demo(workdir, echo=echo)
    if as_json:
        emit_json(result.to_dict())
    else:
        for line in summary_lines(result):
            click.echo(line)
    if not result.ok:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
