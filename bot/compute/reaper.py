"""The orphan reaper: ``pgolf pods reap [--dry-run]`` (scheduled every 15 minutes).

A ``pgolf-`` pod is reaped when

* its deadline has passed (from the state file, else the pod's own ``PARAMGOLF_DEADLINE``
  env, else ``uptime > pod_deadline_seconds``);
* it is unknown to the state file (matched by pod id or by name ``pgolf-<run-id>``) — only
  when this reaper has the orchestrators' state file (see :func:`reap`);
* its owner — an orchestrator on this host — is gone (killed with SIGKILL).

Each reaped pod is terminated and its cost (uptime × costPerHr) is booked in budget.json as
orphan spend; an open reservation of the same run is then released, and a ``crash`` row is
written for the commit when it is known. Pods not named ``pgolf-`` are never touched. State
entries whose pod no longer exists are dropped (after booking, if a reservation was open).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot.compute.orphans import settle_orphan
from bot.compute.provider import PodInfo, PodProvider
from bot.compute.tracker import PodRecord, PodState
from bot.config import Settings
from bot.errors import PgolfError


@dataclass
class ReapAction:
    pod_id: str
    name: str
    run_id: str
    reason: str
    uptime_seconds: float
    cost_per_hr: float
    cost_usd: float = 0.0
    done: bool = False
    error: str = ""


@dataclass
class ReapReport:
    dry_run: bool
    reap_unknown: bool = True
    checked: int = 0
    actions: list[ReapAction] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped_entries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(a.done or self.dry_run for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["cost_usd"] = round(sum(a.cost_usd for a in self.actions), 6)
        return d


def _reason(pod: PodInfo, rec: PodRecord | None, settings: Settings, now: float, reap_unknown: bool) -> str:
    if rec is None and reap_unknown:
        return "unknown to the state file"
    deadline = (rec.deadline if rec else 0.0) or pod.deadline
    if deadline and now > deadline:
        return f"past its deadline by {now - deadline:.0f} s"
    if not deadline and pod.uptime_seconds > settings.pod_deadline_seconds:
        return f"up {pod.uptime_seconds:.0f} s, past pod_deadline_seconds"
    if rec is not None and rec.owner_alive() is False:
        return f"owner process {rec.owner_pid} is gone"
    return ""


def reap(
    root: Path,
    settings: Settings,
    provider: PodProvider,
    *,
    dry_run: bool = False,
    reap_unknown: bool | None = None,
    now: float | None = None,
) -> ReapReport:
    """Reap what needs reaping (see the module docstring).

    ``reap_unknown=False`` is for a reaper that does not share the orchestrators' state file
    (e.g. a scheduled CI job on a fresh checkout): unknown pods are then reaped only past
    their own deadline (``PARAMGOLF_DEADLINE`` in the pod's env, or uptime). ``None`` (the
    default) decides by whether the state file exists: without one, "unknown" means nothing,
    and reaping every pod it does not list would kill promotions running elsewhere.
    """
    root = Path(root)
    now = time.time() if now is None else now
    state = PodState(settings.path("pods_state_path", root))
    if reap_unknown is None:
        reap_unknown = state.path.exists()
    records = state.load()
    by_id = {r.pod_id: r for r in records if r.pod_id}
    by_name = {r.name: r for r in records}
    report = ReapReport(dry_run=dry_run, reap_unknown=reap_unknown)
    seen: set[str] = set()
    for pod in provider.list():
        if not pod.is_pgolf or not pod.alive:
            continue
        report.checked += 1
        rec = by_id.get(pod.id) or by_name.get(pod.name)
        if rec is not None:
            seen.add(rec.run_id)
        why = _reason(pod, rec, settings, now, reap_unknown)
        if not why:
            report.kept.append(pod.id)
            continue
        action = ReapAction(pod.id, pod.name, pod.run_id, why, pod.uptime_seconds, pod.cost_per_hr)
        action.cost_usd = round(pod.uptime_seconds / 3600.0 * pod.cost_per_hr, 6)
        report.actions.append(action)
        if dry_run:
            continue
        try:
            action.cost_usd = round(
                settle_orphan(
                    root, settings, provider, rec.run_id if rec else pod.run_id or pod.name, pod.id,
                    rec.created if rec else now - pod.uptime_seconds, rec.sha if rec else "",
                    f"reaped ({why})", pod=pod,
                ),
                6,
            )  # fmt: skip
            action.done = True
            if rec is not None:
                state.remove(rec.run_id)
        except PgolfError as exc:
            action.error = str(exc)
    # State entries whose pod is gone: the orchestrator died after the pod ended.
    for rec in records:
        if rec.run_id in seen or rec.owner_alive():
            continue
        if rec.status == "creating" and now - rec.created < 120 and rec.owner_alive() is None:
            continue  # another host may still be creating it
        live: PodInfo | None = None
        if rec.pod_id:
            try:
                live = provider.get(rec.pod_id)
            except PgolfError:
                continue
        if live is not None and live.alive:
            continue
        report.dropped_entries.append(rec.run_id)
        if dry_run:
            continue
        budget_path = settings.path("budget_path", root)
        budget = budget_mod.load(budget_path, settings)
        if not rec.pod_id:
            # Died before a pod existed (none is listed under its name): nothing was rented.
            if any(r.run_id == rec.run_id for r in budget.reservations):
                budget_mod.release(budget_path, settings, rec.run_id)
        elif any(r.run_id == rec.run_id for r in budget.reservations):
            try:
                settle_orphan(root, settings, provider, rec.run_id, "", rec.created, rec.sha,
                              "orphaned run (pod already gone)", pod=None)  # fmt: skip
            except PgolfError:
                continue
        state.remove(rec.run_id)
    return report
