"""`pgolf alerts raise`: post to the one "pgolf alerts" issue (e.g. from a failed job's last step)."""

from __future__ import annotations

import click

from bot.alerts import KINDS, Alert
from bot.commands.context import AppContext, emit_json, pass_app, reads_sections
from bot.compute.logstream import run_links
from bot.compute.notify import post_alerts
from bot.errors import PgolfError
from bot.forge import open_forge


@click.group("alerts")
def alerts_group() -> None:
    """The 'pgolf alerts' issue: what a maintainer must hear about outside a PR."""


@alerts_group.command("raise")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--message", required=True)
@click.option("--json", "as_json", is_flag=True)
@reads_sections("forge")
@pass_app
def raise_cmd(app: AppContext, kind: str, message: str, as_json: bool) -> None:
    """Open the alerts issue, or comment on the open one."""
    settings = app.settings  # a bad setting fails here; only a forge that cannot open falls back
    try:
        forge = open_forge(settings, app.root)
    except PgolfError:
        forge = None
    out = post_alerts(forge, [Alert(kind, message)], app.root / ".pgolf", run_url=run_links().run_url)
    if as_json:
        emit_json(out.to_dict())
    else:
        click.echo(f"alert posted to issue #{out.issue}" if out.issue else f"alert written to {out.fallback}")


def register(cli: click.Group) -> None:
    cli.add_command(alerts_group)
