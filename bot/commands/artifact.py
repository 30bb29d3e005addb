"""`pgolf artifact measure`: the 16,000,000-byte gate."""

from __future__ import annotations

from pathlib import Path

import click

from bot.artifact import measure_artifact
from bot.commands.context import AppContext, emit_json, json_option, pass_app
from bot.errors import GateFailed


@click.group("artifact")
def artifact_group() -> None:
    """The submission artifact (script bytes + compressed weights)."""


@artifact_group.command("measure")
@click.argument("weights", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--script",
    type=click.Path(path_type=Path),
    default=None,
    help="Training script (default: setting training_script).",
)
@json_option
@pass_app
def measure(app: AppContext, weights: tuple[Path, ...], script: Path | None, as_json: bool) -> None:
    """Measure the artifact; exit 1 when over the limit.

    With no WEIGHTS, the *.npz/*.pt/*.ptz files of the current folder are measured.
    """
    s = app.settings
    report = measure_artifact(
        script or app.path("training_script"),
        list(weights) if weights else None,
        limit=s.artifact_limit_bytes,
        zstd_level=s.artifact_zstd_level,
        cwd=Path.cwd(),
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        raise GateFailed("")  # the report above says by how much


def register(cli: click.Group) -> None:
    cli.add_command(artifact_group)
