"""`pgolf budget …`: credits, reservations and the Tier 2 rate limit (budget.json)."""

from __future__ import annotations

import click

from bot import budget as budget_mod
from bot.context import AppContext, emit_json, json_option, pass_app, warn


@click.group("budget")
def budget_group() -> None:
    """Compute credits (budget.json)."""


@budget_group.command("status")
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Credits, spend, open reservations and whether a Tier 2 run may start."""
    s = app.settings
    path = app.path("budget_path")
    b = budget_mod.load(path, s)
    data = b.status_dict(s)
    if as_json:
        emit_json(data)
        return
    if not b.exists:
        click.echo(f"{path} does not exist yet: showing the configured defaults.")
    click.echo(f"total_credits:  ${b.total_credits:.2f}")
    click.echo(f"spent:          ${b.spent:.2f} over {len(b.runs)} run(s)")
    click.echo(f"remaining:      ${b.remaining:.2f}")
    click.echo(f"reserved:       ${b.reserved:.2f} in {len(b.reservations)} open reservation(s)")
    click.echo(f"reserve_floor:  ${b.reserve_floor:.2f}")
    click.echo(f"available:      ${b.available:.2f}")
    click.echo(f"last_tier2:     {b.last_tier2_start or 'never'}")
    click.echo(f"can_submit:     {'yes' if data['can_submit'] else 'no'} — {data['reason']}")


@budget_group.command("check")
@json_option
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Exit 0 when a Tier 2 run may start, 1 when blocked; the reason is printed."""
    d = budget_mod.check(app.path("budget_path"), app.settings)
    if as_json:
        emit_json(d.to_dict())
    else:
        click.echo(d.reason)
        if d.warning:
            warn(d.warning)
    if not d.allowed:
        raise SystemExit(1)


@budget_group.command("reserve")
@click.option("--run-id", required=True)
@click.option("--usd", required=True, type=float, help="Worst-case cost to hold back.")
@click.option("--pr", type=int, default=None)
@click.option("--sha", default="")
@pass_app
def reserve(app: AppContext, run_id: str, usd: float, pr: int | None, sha: str) -> None:
    """Hold back a worst-case cost for a run (refused below the floor or within the rate limit)."""
    r = budget_mod.reserve(app.path("budget_path"), app.settings, run_id, usd, pr=pr, sha=sha)
    click.echo(f"reserved ${r.max_usd:.2f} for {r.run_id} at {r.created}")


@budget_group.command("settle")
@click.option("--run-id", required=True)
@click.option("--seconds", required=True, type=float, help="Wall-clock pod seconds.")
@click.option("--gpus", type=int, default=None, help="GPU count (default: setting gpu_count).")
@click.option("--hourly-rate", type=float, default=None, help="USD per hour for 8 GPUs (default: setting).")
@click.option("--pod-id", default="")
@pass_app
def settle(
    app: AppContext, run_id: str, seconds: float, gpus: int | None, hourly_rate: float | None, pod_id: str
) -> None:
    """Turn a reservation into a run record with its real cost."""
    rec = budget_mod.settle(
        app.path("budget_path"), app.settings, run_id, seconds, gpus, hourly_rate, pod_id=pod_id
    )
    click.echo(f"settled {rec.run_id}: {rec.seconds:.0f} s × {rec.gpu_count} GPU → ${rec.cost_usd:.2f}")


@budget_group.command("release")
@click.option("--run-id", required=True)
@pass_app
def release(app: AppContext, run_id: str) -> None:
    """Drop a reservation (nothing spent)."""
    r = budget_mod.release(app.path("budget_path"), app.settings, run_id)
    click.echo(f"released {r.run_id} (${r.max_usd:.2f})")


def register(cli: click.Group) -> None:
    cli.add_command(budget_group)
