"""`pgolf config show`: the effective settings after the cascade."""

from __future__ import annotations

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app
from bot.config import Settings, by_section, settings_problems


@click.group("config")
def config_group() -> None:
    """Inspect settings (defaults → pyproject [tool.pgolf] → PGOLF_* → -c KEY=VALUE)."""


@config_group.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print every setting with its effective value, by section ([pod], [training], …).

    --json prints one flat object (setting → value), as before sections existed. Every bad
    setting, in every section, is reported (one ``error:`` line each, exit 3)."""
    problems = settings_problems(app.root, overrides=app.overrides)
    if problems:
        for problem in problems[:-1]:
            click.echo(f"error: {problem}", err=True)
        raise problems[-1]
    if as_json:
        emit_json(app.settings.to_dict())
        return
    click.echo(render_sections(app.settings))


def render_sections(settings: Settings) -> str:
    """``[section]`` headers, each followed by its ``key = value`` lines (lists comma-separated)."""
    lines: list[str] = []
    for section, values in by_section(settings).items():
        lines += ["", f"[{section}]"] if lines else [f"[{section}]"]
        lines += [f"{k} = {','.join(v) if isinstance(v, list) else v}" for k, v in values.items()]
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    cli.add_command(config_group)
