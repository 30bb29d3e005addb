"""`pgolf budget …`: credits, reservations and the Tier 2 rate limit (budget.json)."""

from __future__ import annotations

import click

from bot import budget as budget_mod
from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
from bot.errors import GateFailed


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
    for o in b.overruns:
        warn(
            f"OVERRUN: run {o.run_id} cost ${o.cost_usd:.2f} against ${o.reserved_usd:.2f} reserved "
            f"(+${o.overrun_usd:.2f})"
        )
    if b.paused:
        warn(
            f"PAUSED by {b.paused.get('by')} at {b.paused.get('at')}: {b.paused.get('reason') or 'no reason'}"
        )


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
        raise GateFailed("")  # the reason is printed above


_COMMIT_HELP = (
    "Commit budget.json to the default branch at once (pgolf ledger commit's pull-rebase-retry): "
    "the record survives this runner."
)


def _commit(app: AppContext, message: str) -> None:
    from bot.forge.ledger_commit import ledger_commit

    res = ledger_commit(app.root, message, app.settings)
    click.echo(
        f"committed: {res.sha[:12]} on {res.branch} ({res.attempts} attempt(s))"
        if res.pushed
        else res.message
    )


@budget_group.command("reserve")
@click.option("--run-id", required=True)
@click.option("--usd", required=True, type=float, help="Worst-case cost to hold back.")
@click.option("--pr", type=int, default=None)
@click.option("--sha", default="")
@click.option("--deadline-seconds", type=int, default=None, help="The pod's lifetime (the reaper's cue).")
@click.option("--provider", default="runpod", show_default=True)
@click.option("--commit", is_flag=True, help=_COMMIT_HELP)
@pass_app
def reserve(
    app: AppContext,
    run_id: str,
    usd: float,
    pr: int | None,
    sha: str,
    deadline_seconds: int | None,
    provider: str,
    commit: bool,
) -> None:
    """Hold back a worst-case cost for a run (refused below the floor or within the rate limit)."""
    from datetime import timedelta

    from bot import clock

    path = app.path("budget_path")
    deadline = clock.now() + timedelta(seconds=deadline_seconds) if deadline_seconds else None
    r = budget_mod.reserve(
        path, app.settings, run_id, usd, pr=pr, sha=sha, deadline=deadline, provider=provider
    )
    click.echo(f"reserved ${r.max_usd:.2f} for {r.run_id} at {r.created}")
    if commit:
        try:
            _commit(app, f"reserve ${r.max_usd:.2f} for {r.run_id}")
        except BaseException:
            budget_mod.release(path, app.settings, run_id)  # not durable: nothing may be rented
            raise


@budget_group.command("set-pod")
@click.option("--run-id", required=True)
@click.option("--pod-id", required=True)
@click.option("--commit", is_flag=True, help=_COMMIT_HELP)
@pass_app
def set_pod(app: AppContext, run_id: str, pod_id: str, commit: bool) -> None:
    """Record the pod of an open reservation (the reaper asks RunPod about it)."""
    budget_mod.set_pod(app.path("budget_path"), app.settings, run_id, pod_id)
    click.echo(f"{run_id}: pod {pod_id}")
    if commit:
        _commit(app, f"pod {pod_id} for {run_id}")


@budget_group.command("settle")
@click.option("--run-id", required=True)
@click.option("--seconds", required=True, type=float, help="Wall-clock pod seconds.")
@click.option("--gpus", type=int, default=None, help="GPU count (default: setting gpu_count).")
@click.option("--hourly-rate", type=float, default=None, help="USD per hour for 8 GPUs (default: setting).")
@click.option("--pod-id", default="")
@click.option(
    "--cost-usd",
    type=float,
    default=None,
    help="Book this cost (e.g. RunPod's billed uptime × costPerHr handed over by the paid job) "
    "instead of seconds × rate.",
)
@click.option("--commit", is_flag=True, help=_COMMIT_HELP)
@pass_app
def settle(
    app: AppContext,
    run_id: str,
    seconds: float,
    gpus: int | None,
    hourly_rate: float | None,
    pod_id: str,
    cost_usd: float | None,
    commit: bool,
) -> None:
    """Turn a reservation into a run record with its real cost (marked overrun above it).

    Idempotent: when the run is already booked (a retried step whose push failed, or a re-run
    job), its record is kept as it is and, with --commit, pushed again; nothing is booked twice."""
    path = app.path("budget_path")
    now = budget_mod.load(path, app.settings)
    booked = next((r for r in now.runs if r.run_id == run_id), None)
    open_res = any(r.run_id == run_id for r in now.reservations)
    if booked is not None and not open_res:
        warn(f"{run_id} is already settled (${booked.cost_usd:.2f}); not booked again")
        rec = booked
    else:
        rec = budget_mod.settle(
            path,
            app.settings,
            run_id,
            seconds,
            gpus,
            hourly_rate,
            pod_id=pod_id,
            cost_usd=cost_usd,
        )
    if commit:
        _commit(app, f"settle {run_id}: ${rec.cost_usd:.2f}")
    click.echo(f"settled {rec.run_id}: {rec.seconds:.0f} s × {rec.gpu_count} GPU → ${rec.cost_usd:.2f}")
    if rec.overrun:
        d = budget_mod.check(app.path("budget_path"), app.settings)
        warn(
            f"OVERRUN: ${rec.cost_usd:.2f} against ${rec.reserved_usd:.2f} reserved (+${rec.overrun_usd:.2f}); "
            + ("new reservations are still allowed" if d.allowed else f"new reservations blocked: {d.reason}")
        )


@budget_group.command("release")
@click.option("--run-id", required=True)
@pass_app
def release(app: AppContext, run_id: str) -> None:
    """Drop a reservation (nothing spent)."""
    r = budget_mod.release(app.path("budget_path"), app.settings, run_id)
    click.echo(f"released {r.run_id} (${r.max_usd:.2f})")


def register(cli: click.Group) -> None:
    cli.add_command(budget_group)
