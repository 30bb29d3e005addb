"""`pgolf pause`: the kill switch every paid or scheduled workflow checks first."""

from __future__ import annotations

import os

import click

from bot import budget as budget_mod
from bot.commands.context import AppContext, emit_json, pass_app, reads_sections, refuse_stray_names
from bot.errors import GateFailed

PAUSE_VARIABLE = "PGOLF_PAUSED"  # the repository variable workflows pass in (vars.PGOLF_PAUSED)


def paused_reason(app: AppContext) -> str:
    """Why pgolf is paused ("" when it is not): the repository variable, then budget.json."""
    if app.settings.paused:
        # the setting: the repository variable in a workflow, else pyproject.toml or -c
        return f"the paused setting is true (repository variable {PAUSE_VARIABLE}, pyproject.toml or -c)"
    b = budget_mod.load(app.path("budget_path"), app.settings)
    if b.paused:
        p = b.paused
        return f"paused by {p.get('by')} at {p.get('at')}" + (f": {p['reason']}" if p.get("reason") else "")
    return ""


@click.command("pause")
@click.option("--reason", default="", help="Why (shown by every refused run).")
@click.option("--off", "off", is_flag=True, help="Lift the kill switch (resume).")
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: exit 1 when paused (the first step of every paid or scheduled workflow).",
)
@click.option("--commit", is_flag=True, help="Commit budget.json to the default branch at once.")
@click.option("--json", "as_json", is_flag=True)
@reads_sections("pod", "paths")  # and forge with --commit (checked below)
@pass_app
def pause(app: AppContext, reason: str, off: bool, check: bool, commit: bool, as_json: bool) -> None:
    """Stop every paid run (reservations refused) and scheduled job; --off resumes.

    The switch lives in budget.json (``paused``) and, for workflows, in the repository variable
    PGOLF_PAUSED (``gh variable set PGOLF_PAUSED --body true``), which the workflows check before
    installing anything."""
    path = app.path("budget_path")
    if commit:
        app.settings.require("forge")  # before anything changes; --check never reads it
    if check:
        why = paused_reason(app)
        if as_json:
            emit_json({"paused": bool(why), "reason": why})
        else:
            click.echo(f"paused: {why}" if why else "not paused")
        if why:
            raise GateFailed("")
        return
    refuse_stray_names(app, "paths", "the switch would be written to a budget file nothing reads")
    if off:
        changed = budget_mod.resume(path, app.settings)
        msg = "resumed: reservations allowed again" if changed else "was not paused"
    else:
        who = os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
        budget_mod.pause(path, app.settings, who, reason)
        msg = f"paused by {who}: every reservation is refused until `pgolf pause --off`"
    if commit:
        from bot.forge.ledger_commit import ledger_commit

        ledger_commit(app.root, "resume" if off else f"pause: {reason or 'kill switch'}", app.settings)
    if as_json:
        emit_json({"paused": not off, "message": msg})
    else:
        click.echo(msg)


def register(cli: click.Group) -> None:
    cli.add_command(pause)
