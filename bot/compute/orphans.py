"""Runs whose orchestrator is gone or was told to stop: ``/abort`` and the cost booking the
reaper shares with it."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import time
from pathlib import Path

from bot import budget as budget_mod
from bot.compute.factory import make_provider
from bot.compute.outcome import one_line
from bot.compute.provider import PodInfo, PodProvider
from bot.compute.tracker import PodState
from bot.config import Settings
from bot.errors import BudgetError, PgolfError
from bot.ledger import Ledger, make_row

# run ids of PR promotions: pr<N>-<sha7>-<timestamp>-<tag> (bot.compute.promote.make_run_id)
_PR_RUN_RE = re.compile(r"pr(\d+)-([0-9a-f]{7})(?:-|$)")


def abort(
    root: Path,
    settings: Settings,
    pr: int,
    provider: PodProvider,
    *,
    wait: float = 15.0,
) -> list[str]:
    """Stop every promotion of ``pr``: signal its orchestrator when it runs here (it cleans
    up itself), otherwise terminate the pod and settle its reservation. Returns run ids.

    The state file only exists on the host that runs the promotion; on another host (the
    GitHub commands runner) the PR's pods are found through ``provider.list()`` by name
    (``pgolf-pr<N>-…``, see :func:`bot.compute.promote.make_run_id`), terminated, their cost
    booked and the run's reservation in budget.json (a committed file) settled."""
    root = Path(root)
    state = PodState(settings.path("pods_state_path", root))
    done: list[str] = []
    for rec in [r for r in state.load() if r.pr == pr]:
        alive = rec.owner_alive()
        if alive and rec.owner_pid != os.getpid():
            os.kill(rec.owner_pid, signal.SIGTERM)
            end = time.monotonic() + wait
            while time.monotonic() < end and state.find(rec.run_id) is not None:
                time.sleep(0.1)
            if state.find(rec.run_id) is None:
                done.append(rec.run_id)
                continue
        settle_orphan(root, settings, provider, rec.run_id, rec.pod_id, rec.created, rec.sha, "aborted")
        state.remove(rec.run_id)
        done.append(rec.run_id)
    done += _abort_listed(root, settings, pr, provider, set(done))
    return done


def pr_of_run(run_id: str) -> int | None:
    """The PR a run id belongs to (``pr<N>-<sha7>-…``), or None."""
    m = _PR_RUN_RE.match(run_id)
    return int(m.group(1)) if m else None


def _abort_listed(
    root: Path, settings: Settings, pr: int, provider: PodProvider, skip: set[str]
) -> list[str]:
    """Terminate and settle the PR's live pods that the provider lists (no state file needed)."""
    budget_path = settings.path("budget_path", root)
    reservations = {}
    with contextlib.suppress(BudgetError):
        reservations = {r.run_id: r for r in budget_mod.load(budget_path, settings).reservations}
    done: list[str] = []
    for pod in provider.list():
        run_id = pod.run_id
        if not pod.is_pgolf or not pod.alive or run_id in skip or pr_of_run(run_id) != pr:
            continue
        res = reservations.get(run_id)
        if res is not None and res.pr is not None and res.pr != pr:
            continue
        sha = (res.sha if res is not None else "") or _sha_of_run(run_id)
        created = time.time() - pod.uptime_seconds if pod.uptime_seconds else time.time()
        if res is not None and not pod.uptime_seconds:
            with contextlib.suppress(BudgetError):
                created = budget_mod.parse_iso(res.created).timestamp()
        settle_orphan(root, settings, provider, run_id, pod.id, created, sha, "aborted", pod=pod)
        done.append(run_id)
    return done


def _sha_of_run(run_id: str) -> str:
    m = _PR_RUN_RE.match(run_id)
    return m.group(2) if m else ""


def settle_orphan(
    root: Path,
    settings: Settings,
    provider: PodProvider,
    run_id: str,
    pod_id: str,
    created: float,
    sha: str,
    why: str,
    pod: PodInfo | None = None,
) -> float:
    """Terminate a pod whose orchestrator is gone, book its cost, write a crash row.

    Cost: the pod's uptime × costPerHr when the provider reports them, else wall clock since
    the state entry × the configured rate. An open reservation of the run is released after
    the spend is booked (so a crash in between over-reserves, never under-counts).
    """
    if pod is None and pod_id:
        with contextlib.suppress(PgolfError):
            pod = provider.get(pod_id)
    if pod_id:
        provider.terminate(pod_id)
    seconds = (
        pod.uptime_seconds if pod is not None and pod.uptime_seconds else max(0.0, time.time() - created)
    )
    per_hr = pod.cost_per_hr if pod is not None and pod.cost_per_hr else 0.0
    if provider.free:
        cost = 0.0
    elif per_hr:
        cost = seconds / 3600.0 * per_hr
    else:
        cost = budget_mod.run_cost(seconds, settings.gpu_count, settings.hourly_rate_usd)
    budget_path = settings.path("budget_path", root)
    if not provider.free:
        budget_mod.record_spend(
            budget_path, settings, run_id, cost, kind="orphan", seconds=seconds,
            gpu_count=(pod.gpu_count if pod else 0) or settings.gpu_count,
            hourly_rate=(per_hr * 8.0 / ((pod.gpu_count if pod else 0) or settings.gpu_count)) if per_hr else settings.hourly_rate_usd,
            pod_id=pod_id, note=why,
        )  # fmt: skip
        with contextlib.suppress(BudgetError):
            budget_mod.release(budget_path, settings, run_id)
    else:  # the local provider's free reservation is settled at $0
        with contextlib.suppress(BudgetError):
            budget_mod.settle(
                budget_path, settings, run_id, seconds, settings.gpu_count, 0.0, pod_id=pod_id, note=why
            )
    if sha:
        row = make_row(
            commit=sha[:7], tier="runpod", val_bpb=None, artifact_bytes=None, memory_gb=None,
            status="crash", promoted="yes", cost_usd=round(cost, 4),
            description=one_line(f"{why}: pod {pod_id or '?'} of run={run_id} terminated after {seconds:.0f} s"),
        )  # fmt: skip
        Ledger.append(settings.path("results_path", root), row)
    return 0.0 if math.isnan(cost) else cost


def abort_for_event(*, root: Path | str, settings: Settings, pr: int, **_: object) -> list[str]:
    """``/abort`` on a forge event (``bot.forge.dispatch.run_event``'s ``abort_hook``):
    :func:`abort` with the pod provider of the settings."""
    return abort(Path(root), settings, pr, make_provider(settings, Path(root)))
