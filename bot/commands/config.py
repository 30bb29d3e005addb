"""`pgolf config show`: the effective settings after the cascade."""

from __future__ import annotations

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app


@click.group("config")
def config_group() -> None:
    """Inspect settings (defaults → pyproject [tool.pgolf] → PGOLF_* → -c KEY=VALUE)."""


@config_group.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print every setting with its effective value."""
    data = app.settings.to_dict()
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        if isinstance(value, list):
            value = ",".join(value)
        click.echo(f"{key} = {value}")


def register(cli: click.Group) -> None:
    cli.add_command(config_group)
