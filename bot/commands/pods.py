"""`pgolf pods list|reap`: the pods this repository rents, and the orphan reaper."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.commands.context import AppContext, emit_json, pass_app, reads_sections
from bot.compute.factory import PROVIDERS, make_provider
from bot.compute.provider import PodProvider
from bot.compute.reaper import reap
from bot.compute.tracker import PodState

if TYPE_CHECKING:
    from bot.forge.base import Forge


@click.group("pods")
def pods_group() -> None:
    """Pods (RunPod or local) and the orphan reaper."""


@pods_group.command("list")
@click.option("--provider", "provider_kind", type=click.Choice(PROVIDERS), default=None)
@click.option("--all", "show_all", is_flag=True, help="Also pods not named pgolf-.")
@click.option("--json", "as_json", is_flag=True)
@reads_sections("pod", "paths", "sandbox")
@pass_app
def list_cmd(app: AppContext, provider_kind: str | None, show_all: bool, as_json: bool) -> None:
    """Live pods with uptime, cost so far and deadline; tracked runs from the state file."""
    s = app.settings
    pods = [p for p in make_provider(s, app.root, provider_kind).list() if show_all or p.is_pgolf]
    tracked = {r.pod_id: r for r in PodState(s.path("pods_state_path", app.root)).load()}
    now = time.time()
    if as_json:
        emit_json([{**p.to_dict(), "tracked": p.id in tracked} for p in pods])
        return
    if not pods:
        click.echo("no pods")
        return
    for p in pods:
        cost = p.uptime_seconds / 3600 * p.cost_per_hr
        dl = p.deadline
        left = f"{(dl - now) / 60:+.0f} min to deadline" if dl else "no deadline"
        click.echo(
            f"{p.id}  {p.name}  {p.status}  up {p.uptime_seconds:.0f} s  ${cost:.2f}  {left}"
            f"  {'tracked' if p.id in tracked else 'UNTRACKED'}"
        )


@pods_group.command("reap")
@click.option("--provider", "provider_kind", type=click.Choice(PROVIDERS), default=None)
@click.option("--dry-run", is_flag=True, help="Show what would be terminated; change nothing.")
@click.option(
    "--reap-unknown/--keep-unknown",
    default=None,
    help="Reap pods unknown to the state file at once, or spare them until their own deadline "
    "(default: reap them only when the state file exists — a scheduled CI job on a fresh "
    "checkout does not share the orchestrators' state file).",
)
@click.option(
    "--alerts",
    "with_alerts",
    is_flag=True,
    help="Open or update the 'pgolf alerts' issue on failures, overruns, reaper-settled promotions "
    "and booked-vs-RunPod differences (reaper.yml passes it).",
)
@click.option(
    "--observe-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Paid zone (reaper.yml's reap job, RunPod key only): reap through RunPod and write every "
    "answer it gave to this file for the book job; this checkout's ledger changes are not kept.",
)
@click.option(
    "--observations",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Trusted zone (reaper.yml's book job, no RunPod key): reap again from the reap job's "
    "observations at their time, booking what it terminated and settled (then `pgolf ledger commit`).",
)
@click.option("--json", "as_json", is_flag=True)
@reads_sections("pod", "paths", "sandbox")  # and forge with --alerts (checked below)
@pass_app
def reap_cmd(
    app: AppContext,
    provider_kind: str | None,
    dry_run: bool,
    reap_unknown: bool | None,
    with_alerts: bool,
    observe_out: Path | None,
    observations: Path | None,
    as_json: bool,
) -> None:
    """Terminate pgolf- pods past their deadline, unknown or orphaned; settle committed
    reservations whose promotion died; reconcile budget.json with RunPod; book every cost."""
    from bot.alerts import Alert, reap_alerts
    from bot.compute.logstream import run_links
    from bot.compute.notify import post_alerts, tell_prs
    from bot.compute.observed import RecordingProvider, ReplayProvider, write_observations
    from bot.errors import PgolfError

    s = app.settings
    if with_alerts:
        s.require("forge")  # the reap job never opens the forge; the book job's alerts need it
    if observe_out is not None and observations is not None:
        raise click.UsageError("--observe-out (reap job) and --observations (book job) exclude each other")
    if observe_out is not None and with_alerts:
        raise click.UsageError(
            "--alerts belongs to the book job (--observations): the reap job holds no App key"
        )
    now: float | None = None
    recorder: RecordingProvider | None = None
    if observations is not None:
        replay = ReplayProvider.load(observations)
        provider: PodProvider = replay
        now = replay.now
    else:
        provider = make_provider(s, app.root, provider_kind)
        if observe_out is not None:
            recorder = RecordingProvider(provider)
            provider = recorder
    started = time.time()
    if recorder is not None:
        now = started  # the book job replays at exactly this time: the same decisions
    try:
        report = reap(app.root, s, provider, dry_run=dry_run, reap_unknown=reap_unknown, now=now)
    except PgolfError as exc:
        if with_alerts:
            post_alerts(
                _forge(app),
                [Alert("reaper-failure", str(exc))],
                app.root / ".pgolf",
                run_url=run_links().run_url,
            )
        raise
    if recorder is not None and observe_out is not None:
        write_observations(observe_out, recorder.observations(started))
    alerted = None
    if with_alerts:
        forge = _forge(app)
        tell_prs(forge, report)
        alerted = post_alerts(forge, reap_alerts(report), app.root / ".pgolf", run_url=run_links().run_url)
    if as_json:
        data = report.to_dict()
        if alerted is not None:
            data["alerts"] = alerted.to_dict()
        emit_json(data)
    else:
        verb = "would terminate" if dry_run else "terminated"
        for a in report.actions:
            state = "" if dry_run or a.done else f" FAILED: {a.error}"
            click.echo(f"{verb} {a.pod_id} ({a.name}): {a.reason}; ${a.cost_usd:.2f}{state}")
        for d in report.differences:
            click.echo(f"DIFFERENCE: {d}")
        click.echo(
            f"checked {report.checked} pgolf pod(s); {len(report.actions)} reaped; {len(report.kept)} kept; "
            f"{len(report.pending)} reservation(s) of running promotions left alone"
        )
        if alerted is not None and alerted.alerts:
            where = f"issue #{alerted.issue}" if alerted.issue else alerted.fallback
            click.echo(f"{len(alerted.alerts)} alert(s) posted to {where}")
    if not report.ok:
        sys.exit(1)


def _forge(app: AppContext) -> Forge | None:
    from bot.errors import PgolfError
    from bot.forge import open_forge

    try:
        return open_forge(app.settings, app.root)
    except PgolfError:
        return None  # the alerts go to .pgolf/alerts.md


def register(cli: click.Group) -> None:
    cli.add_command(pods_group)
