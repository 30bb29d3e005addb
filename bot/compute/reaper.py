"""The orphan reaper: ``pgolf pods reap [--dry-run]`` (scheduled every 15 minutes).

First, the committed reservations (``budget.json`` on the default branch, where a promotion
puts its reservation before the pod exists — see :mod:`bot.compute.durable`): for each open
reservation RunPod is asked about its pod (by id, else by the name ``pgolf-<run-id>``): alive,
uptime, cost per hour.

* alive and past the reservation's deadline → terminated, and the reservation settled at
  RunPod's billed time (uptime × costPerHr) with a ``crash`` row;
* gone, once the deadline plus ``reaper_settle_grace_seconds`` has passed (a living promotion
  settles itself well before) → settled at the billed time when RunPod still reports the pod,
  else at the reservation's worst case, with a ``crash`` row;
* otherwise left alone (a promotion in progress).

A cost above the reservation is booked in full and marked ``overrun`` (see :mod:`bot.budget`).

With the kill switch on (``pgolf pause`` or the repository variable ``PGOLF_PAUSED``), every live
``pgolf-`` pod is terminated and settled at once: pausing stops the spending, not only new runs.

Then every listed pod: a ``pgolf-`` pod is reaped when

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
from bot.compute.outcome import one_line
from bot.compute.provider import PodInfo, PodProvider, pod_name
from bot.compute.tracker import PodRecord, PodState
from bot.config import Settings
from bot.errors import PgolfError
from bot.ledger import Ledger, make_row

# Seconds a terminate call may take before RunPod stops billing (booked on top, never under).
TERMINATE_ALLOWANCE = 5.0


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
    settled: str = ""  # "billed" (RunPod's uptime × costPerHr) | "worst case" | "" (orphan spend)
    pr: int | None = None  # the reservation's pull request (its sticky comment hears of it)
    sha: str = ""
    reserved_usd: float = 0.0
    overrun: bool = False


@dataclass
class ReapReport:
    dry_run: bool
    reap_unknown: bool = True
    checked: int = 0
    actions: list[ReapAction] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped_entries: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # reservations of promotions in progress
    errors: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # booked vs RunPod (see reconcile)

    @property
    def ok(self) -> bool:
        return not self.errors and all(a.done or self.dry_run for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["cost_usd"] = round(sum(a.cost_usd for a in self.actions), 6)
        return d


def _reason(
    pod: PodInfo, rec: PodRecord | None, settings: Settings, now: float, reap_unknown: bool, paused: str = ""
) -> str:
    if paused:
        return f"kill switch on ({paused})"
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
    # Epoch seconds, not the pinnable date clock: pod deadlines (the state file, the pod's own
    # PARAMGOLF_DEADLINE, a reservation's deadline) are set from time.time() and counted in real
    # seconds by the pods themselves (see bot/clock.py); a pinned clock must not move them.
    now = time.time() if now is None else now
    state = PodState(settings.path("pods_state_path", root))
    if reap_unknown is None:
        reap_unknown = state.path.exists()
    records = state.load()
    by_id = {r.pod_id: r for r in records if r.pod_id}
    by_name = {r.name: r for r in records}
    report = ReapReport(dry_run=dry_run, reap_unknown=reap_unknown)
    listed_at = time.monotonic()
    listed = provider.list()
    paused = _paused(root, settings)
    handled = settle_reservations(
        root, settings, provider, report, listed, now=now, dry_run=dry_run, listed_at=listed_at, paused=paused
    )
    seen: set[str] = set()
    for pod in listed:
        if not pod.is_pgolf or not pod.alive or pod.id in handled:
            continue
        report.checked += 1
        rec = by_id.get(pod.id) or by_name.get(pod.name)
        if rec is not None:
            seen.add(rec.run_id)
        why = _reason(pod, rec, settings, now, reap_unknown, paused)
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
    if not dry_run:
        done = {a.pod_id for a in report.actions if a.done}
        try:
            budget_now = budget_mod.load(settings.path("budget_path", root), settings)
            report.differences = reconcile(provider, [p for p in listed if p.id not in done], budget_now)
        except PgolfError as exc:
            report.errors.append(f"reconcile: {exc}")
    return report


def reconcile(provider: PodProvider, listed: list[PodInfo], budget: budget_mod.Budget) -> list[str]:
    """What RunPod bills that budget.json does not hold (each a sentence for the alerts issue):

    * a live ``pgolf-`` pod without an open reservation (spend nobody will settle);
    * a live pod whose cost so far (uptime × costPerHr) already exceeds its reservation;
    * the account's ``currentSpendPerHr`` above what the listed pods cost per hour (something
      outside pgolf's view is billing: a pod under another name, storage).
    """
    out: list[str] = []
    if provider.free:
        return out
    open_res = {r.run_id: r for r in budget.reservations}
    booked = {r.run_id for r in budget.runs}
    for pod in listed:
        if not pod.alive or not pod.is_pgolf:
            continue
        accrued = pod.uptime_seconds / 3600.0 * pod.cost_per_hr
        res = open_res.get(pod.run_id)
        if res is None:
            out.append(
                f"pod {pod.id} ({pod.name}) bills ${pod.cost_per_hr:.2f}/h (${accrued:.2f} so far) but "
                f"budget.json has no open reservation for run {pod.run_id}"
                + (" (its run is already settled)" if pod.run_id in booked else "")
            )
        elif accrued > res.max_usd + 0.005:
            out.append(
                f"pod {pod.id} of run {pod.run_id} has cost ${accrued:.2f} so far, above its "
                f"${res.max_usd:.2f} reservation (an overrun in progress)"
            )
    account = getattr(provider, "account", None)
    if callable(account):
        info = account()
        rate = info.get("currentSpendPerHr") if isinstance(info, dict) else None
        listed_rate = sum(p.cost_per_hr for p in listed if p.alive)
        if isinstance(rate, (int, float)) and rate - listed_rate > max(0.5, 0.05 * listed_rate):
            out.append(
                f"RunPod bills ${rate:.2f}/h for the account but the listed pods account for "
                f"${listed_rate:.2f}/h: something outside budget.json is spending"
            )
    return out


def _paused(root: Path, settings: Settings) -> str:
    """Why the kill switch is on ("" when off): the setting (repository variable) or budget.json."""
    if settings.paused:
        return "PGOLF_PAUSED"
    b = budget_mod.load(settings.path("budget_path", root), settings)
    if b.paused:
        return f"paused by {b.paused.get('by', '?')}"
    return ""


def _billed_seconds(pod: PodInfo, asked: float, extra: float = 0.0) -> float:
    """RunPod reports whole seconds (truncated) and bills until the pod is gone: round up by a
    second plus the time since RunPod was asked (the terminate call included)."""
    return pod.uptime_seconds + 1.0 + (time.monotonic() - asked) + extra


def _reservation_provider(res: budget_mod.Reservation) -> str:
    return res.provider or ("runpod" if res.rate_limited else "local")


def settle_reservations(
    root: Path,
    settings: Settings,
    provider: PodProvider,
    report: ReapReport,
    listed: list[PodInfo],
    *,
    now: float,
    dry_run: bool = False,
    listed_at: float | None = None,
    paused: str = "",
) -> set[str]:
    """Settle the open reservations of budget.json whose promotion is gone (module docstring).

    Returns the ids of the pods it handled (the listing pass leaves them alone)."""
    budget_path = settings.path("budget_path", root)
    budget = budget_mod.load(budget_path, settings)
    by_name = {p.name: p for p in listed if p.is_pgolf}
    listed_at = time.monotonic() if listed_at is None else listed_at
    handled: set[str] = set()
    grace = max(0, settings.reaper_settle_grace_seconds)
    for res in list(budget.reservations):
        if _reservation_provider(res) != provider.name:
            continue
        asked = listed_at if res.pod_id == "" else time.monotonic()
        try:
            created = budget_mod.parse_iso(res.created).timestamp()
            deadline = (
                budget_mod.parse_iso(res.deadline).timestamp()
                if res.deadline
                else created + settings.pod_deadline_seconds
            )
            pod: PodInfo | None = provider.get(res.pod_id) if res.pod_id else None
            if pod is None:
                pod = by_name.get(pod_name(res.run_id))
        except PgolfError as exc:
            report.errors.append(f"reservation {res.run_id}: {exc}")
            continue
        alive = pod is not None and pod.alive
        if paused and alive:
            deadline = min(deadline, now - 1)  # the kill switch: every paid pod stops now
        if (alive and now <= deadline) or (not alive and now <= deadline + grace):
            report.pending.append(res.run_id)
            continue
        billed = pod is not None and pod.uptime_seconds > 0 and pod.cost_per_hr > 0

        if billed and pod is not None:
            seconds, how = _billed_seconds(pod, asked, TERMINATE_ALLOWANCE if alive else 0.0), "billed"
        elif alive and pod is not None and pod.cost_per_hr > 0:
            # still booting (no uptime yet): the wall clock since the reservation, capped at
            # the pod's lifetime, at RunPod's price
            seconds, how = min(max(0.0, now - created), max(0.0, deadline - created)), "wall clock"
            billed = True
        else:
            seconds, how = max(0.0, deadline - created), "worst case"
        gpus = pod.gpu_count if pod is not None and pod.gpu_count else settings.gpu_count
        per_hr = pod.cost_per_hr if billed and pod is not None else 0.0
        free = provider.free
        cost = 0.0 if free else (seconds / 3600.0 * per_hr if billed else res.max_usd)
        if alive and paused:
            why = f"reservation {res.run_id}: kill switch on ({paused})"
        elif alive:
            why = f"reservation {res.run_id}: pod past its deadline by {now - deadline:.0f} s"
        elif pod is not None:
            why = f"reservation {res.run_id}: pod {pod.id} {pod.status}, its promotion never settled"
        else:
            who = res.pod_id or pod_name(res.run_id)
            why = f"reservation {res.run_id}: RunPod no longer knows pod {who}; its promotion never settled"
        action = ReapAction(
            pod.id if pod is not None else res.pod_id,
            pod.name if pod is not None else pod_name(res.run_id),
            res.run_id,
            why,
            pod.uptime_seconds if pod is not None else 0.0,
            pod.cost_per_hr if pod is not None else 0.0,
            cost_usd=round(cost, 6),
            settled=how,
            reserved_usd=res.max_usd,
            overrun=round(cost, 6) > res.max_usd + 1e-6,
            pr=res.pr,
            sha=res.sha,
        )
        report.actions.append(action)
        if pod is not None:
            handled.add(pod.id)
        if dry_run:
            continue
        try:
            if alive and pod is not None:
                provider.terminate(pod.id)
                if how == "billed":  # measured again now that the pod is gone
                    seconds = _billed_seconds(pod, asked)
                    cost = 0.0 if free else seconds / 3600.0 * per_hr
            rec = budget_mod.settle(
                budget_path, settings, res.run_id, seconds, gpus,
                per_hr * 8.0 / gpus if billed else settings.hourly_rate_usd,
                pod_id=action.pod_id, note=f"{how}: {why}", cost_usd=cost, kind="reaped",
            )  # fmt: skip
            action.cost_usd = rec.cost_usd
            action.overrun = rec.overrun
            action.done = True
        except PgolfError as exc:
            action.error = str(exc)
            continue
        if res.sha:
            row = make_row(
                commit=res.sha[:7], tier="runpod", val_bpb=None, artifact_bytes=None, memory_gb=None,
                status="crash", promoted="yes", cost_usd=round(cost, 4),
                description=one_line(
                    f"reaped run={res.run_id}: promotion never settled; {how} cost ${cost:.2f} "
                    f"for pod {action.pod_id or '?'}"
                ),
            )  # fmt: skip
            Ledger.append(settings.path("results_path", root), row)
        with_state = PodState(settings.path("pods_state_path", root))
        if with_state.path.exists() and with_state.find(res.run_id) is not None:
            with_state.remove(res.run_id)
    return handled
