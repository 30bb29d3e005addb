"""budget.json: compute credits, run records, reservations and the Tier 2 rate limit.

Schema (version 1)::

    {
      "version": 1,
      "total_credits": 500.0,          # USD
      "reserve_floor": 50.0,           # never spend below this
      "spent": 12.34,                  # sum of run costs (kept in step with "runs")
      "last_tier2_start": "2026-…Z",   # ISO 8601 UTC or null
      "runs": [ {"run_id", "kind": "run"|"orphan"|"reaped", "pod_id", "pr", "sha", "start",
                 "end", "seconds", "gpu_count", "hourly_rate", "cost_usd", "note",
                 "reserved_usd", "overrun"} ],
      "reservations": [ {"run_id", "max_usd", "created", "pr", "sha", "rate_limited",
                         "pod_id", "deadline", "provider"} ],
      "paused": null | {"by", "at", "reason"}   # the kill switch (pgolf pause)
    }

A reservation is committed to the default branch before its pod is rented (see
:mod:`bot.compute.durable`), so the scheduled reaper — which reads only the committed file —
can settle it when the runner that opened it dies. A run whose real cost exceeds its
reservation is an *overrun*: booked in full, marked ``overrun``, and new reservations stay
blocked while what is left is below the reserve floor, until a maintainer raises
``total_credits``.

Cost of a run is ``seconds / 3600 × gpu_count × hourly_rate / 8`` (``hourly_rate`` is the price
of 8 GPUs), from wall-clock pod time.

Every mutation takes an exclusive lock on ``budget.json.lock``, re-reads the file, checks, and
writes atomically (temp file + fsync + rename). A reservation holds back its worst-case cost,
so concurrent promotions can never together spend below the reserve floor, and it counts as a
Tier 2 start for the rate limit, so of several simultaneous promotions exactly one proceeds.

A corrupt or hand-broken file is a :class:`BudgetError` naming the file and the problem; it is
never reset or overwritten. A missing file means "the configured defaults"; it is created on
the first write.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import clock
from bot.config import Settings
from bot.errors import BudgetBlocked, BudgetError, InputError
from bot.fileio import atomic_write_text, file_lock

VERSION = 1


def parse_iso(text: str, where: str = "budget.json", name: str = "time") -> datetime:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise BudgetError(f"{text!r} is not an ISO 8601 time", path=where, field=name) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def run_cost(seconds: float, gpu_count: int, hourly_rate: float) -> float:
    """``seconds / 3600 × gpu_count × hourly_rate / 8`` (``hourly_rate`` prices 8 GPUs)."""
    for name, v in (("seconds", seconds), ("gpu_count", gpu_count), ("hourly_rate", hourly_rate)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InputError(f"{v!r} must be a non-negative number", field=name)
    return seconds / 3600.0 * gpu_count * hourly_rate / 8.0


@dataclass
class RunRecord:
    run_id: str
    cost_usd: float
    seconds: float = 0.0
    gpu_count: int = 8
    hourly_rate: float = 20.0
    kind: str = "run"  # run | orphan
    pod_id: str = ""
    pr: int | None = None
    sha: str = ""
    start: str = ""
    end: str = ""
    note: str = ""
    reserved_usd: float = 0.0  # what the reservation held back (0: none, e.g. an orphan)
    overrun: bool = False  # the real cost exceeded the reservation

    @property
    def overrun_usd(self) -> float:
        return max(0.0, self.cost_usd - self.reserved_usd) if self.overrun else 0.0


@dataclass
class Reservation:
    run_id: str
    max_usd: float
    created: str
    pr: int | None = None
    sha: str = ""
    rate_limited: bool = True  # False for $0 runs (local pod provider): no Tier 2 start
    pod_id: str = ""  # known once the pod exists (committed again then)
    deadline: str = ""  # ISO time after which the pod removes itself (the reaper's cue)
    provider: str = ""  # runpod | local | "" (older files: a paid reservation is RunPod's)


@dataclass
class Decision:
    allowed: bool
    reason: str
    warning: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Budget:
    total_credits: float
    reserve_floor: float
    spent: float = 0.0
    last_tier2_start: str | None = None
    runs: list[RunRecord] = field(default_factory=list)
    reservations: list[Reservation] = field(default_factory=list)
    exists: bool = True  # False when built from defaults (no file yet)
    paused: dict[str, str] | None = None  # the kill switch: {"by", "at", "reason"}

    # ------------------------------------------------------------------ derived figures
    @property
    def remaining(self) -> float:
        return self.total_credits - self.spent

    @property
    def reserved(self) -> float:
        return sum(r.max_usd for r in self.reservations)

    @property
    def available(self) -> float:
        """What can still be reserved: remaining − open reservations − reserve floor."""
        return self.remaining - self.reserved - self.reserve_floor

    def last_start(self) -> datetime | None:
        times = [parse_iso(r.created) for r in self.reservations if r.rate_limited]
        if self.last_tier2_start:
            times.append(parse_iso(self.last_tier2_start))
        return max(times) if times else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "total_credits": round(self.total_credits, 6),
            "reserve_floor": round(self.reserve_floor, 6),
            "spent": round(self.spent, 6),
            "last_tier2_start": self.last_tier2_start,
            "runs": [asdict(r) for r in self.runs],
            "reservations": [asdict(r) for r in self.reservations],
            "paused": self.paused,
        }

    @property
    def overruns(self) -> list[RunRecord]:
        return [r for r in self.runs if r.overrun]

    def status_dict(self, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
        d = self.to_json()
        dec = can_submit(self, settings, now)
        d.update(
            {
                "remaining": round(self.remaining, 6),
                "reserved": round(self.reserved, 6),
                "available": round(self.available, 6),
                "exists": self.exists,
                "can_submit": dec.allowed,
                "reason": dec.reason,
                "warning": dec.warning,
                "overruns": [
                    {
                        "run_id": r.run_id,
                        "cost_usd": r.cost_usd,
                        "reserved_usd": r.reserved_usd,
                        "overrun_usd": round(r.overrun_usd, 6),
                    }
                    for r in self.overruns
                ],
                "hourly_rate_usd": settings.hourly_rate_usd,
                "gpu_count": settings.gpu_count,
                "tier2_min_interval_seconds": settings.tier2_min_interval_seconds,
            }
        )
        return d


# --------------------------------------------------------------------------- validation
def _need(
    data: dict[str, Any],
    key: str,
    types: tuple[type, ...],
    where: str,
    optional: bool = False,
    allow_bool: bool = False,
) -> Any:
    if key not in data:
        if optional:
            return None
        raise BudgetError("missing", path=where, field=key)
    v = data[key]
    if v is None and optional:
        return None
    if (isinstance(v, bool) and not allow_bool) or not isinstance(v, types):
        raise BudgetError(f"wrong type {type(v).__name__}", path=where, field=key)
    if isinstance(v, (int, float)) and not math.isfinite(v):
        raise BudgetError("not a finite number", path=where, field=key)
    return v


def _amount(data: dict[str, Any], key: str, where: str) -> float:
    """A required, finite, non-negative amount (USD)."""
    value = float(_need(data, key, (int, float), where))
    if value < 0:
        raise BudgetError("must not be negative", path=where, field=key)
    return value


def _records(data: dict[str, Any], key: str, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` of each object in the optional list ``key`` (``runs``, ``reservations``)."""
    for i, r in enumerate(_need(data, key, (list,), where, optional=True) or []):
        w = f"{where} {key}[{i}]"
        if not isinstance(r, dict):
            raise BudgetError("must be an object", path=w)
        yield w, r


def from_json(data: Any, where: str) -> Budget:
    if not isinstance(data, dict):
        raise BudgetError("top level must be a JSON object", path=where)
    num = (int, float)
    total = _amount(data, "total_credits", where)
    floor = _amount(data, "reserve_floor", where)
    spent = _amount(data, "spent", where)
    last = _need(data, "last_tier2_start", (str,), where, optional=True)
    if last is not None:
        parse_iso(last, where, "last_tier2_start")
    runs: list[RunRecord] = []
    for w, r in _records(data, "runs", where):
        cost = _amount(r, "cost_usd", w)
        runs.append(
            RunRecord(
                run_id=str(_need(r, "run_id", (str,), w)),
                cost_usd=cost,
                seconds=float(_need(r, "seconds", num, w, optional=True) or 0.0),
                gpu_count=int(_need(r, "gpu_count", (int,), w, optional=True) or 0),
                hourly_rate=float(_need(r, "hourly_rate", num, w, optional=True) or 0.0),
                kind=str(_need(r, "kind", (str,), w, optional=True) or "run"),
                pod_id=str(_need(r, "pod_id", (str,), w, optional=True) or ""),
                pr=_need(r, "pr", (int,), w, optional=True),
                sha=str(_need(r, "sha", (str,), w, optional=True) or ""),
                start=str(_need(r, "start", (str,), w, optional=True) or ""),
                end=str(_need(r, "end", (str,), w, optional=True) or ""),
                note=str(_need(r, "note", (str,), w, optional=True) or ""),
                reserved_usd=float(_need(r, "reserved_usd", num, w, optional=True) or 0.0),
                overrun=bool(_need(r, "overrun", (bool,), w, optional=True, allow_bool=True) or False),
            )
        )
    reservations: list[Reservation] = []
    for w, r in _records(data, "reservations", where):
        max_usd = _amount(r, "max_usd", w)
        created = str(_need(r, "created", (str,), w))
        parse_iso(created, w, "created")
        rate_limited = _need(r, "rate_limited", (bool,), w, optional=True, allow_bool=True)
        reservations.append(
            Reservation(
                run_id=str(_need(r, "run_id", (str,), w)),
                max_usd=max_usd,
                created=created,
                pr=_need(r, "pr", (int,), w, optional=True),
                sha=str(_need(r, "sha", (str,), w, optional=True) or ""),
                rate_limited=True if rate_limited is None else bool(rate_limited),
                pod_id=str(_need(r, "pod_id", (str,), w, optional=True) or ""),
                deadline=str(_need(r, "deadline", (str,), w, optional=True) or ""),
                provider=str(_need(r, "provider", (str,), w, optional=True) or ""),
            )
        )
        if reservations[-1].deadline:
            parse_iso(reservations[-1].deadline, w, "deadline")
    paused = _need(data, "paused", (dict,), where, optional=True)
    if paused is not None:
        paused = {str(k): str(v) for k, v in paused.items()}
    total_runs = sum(r.cost_usd for r in runs)
    if abs(total_runs - spent) > 0.01:
        raise BudgetError(
            f"spent {spent:.2f} does not match the sum of run costs {total_runs:.2f}",
            path=where,
            field="spent",
        )
    # spent > total_credits with consistent run records is a real overspend (a run that ran
    # past its reservation, an orphan pod): the file stays readable and can_submit blocks.
    return Budget(total, floor, spent, last, runs, reservations, exists=True, paused=paused)


def defaults(settings: Settings) -> Budget:
    return Budget(settings.total_compute_credits, settings.runpod_min_reserve, exists=False)


def load(path: Path | str, settings: Settings) -> Budget:
    """Read budget.json (defaults when missing; BudgetError naming the file when corrupt)."""
    path = Path(path)
    if not path.exists():
        return defaults(settings)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetError(f"cannot read: {exc}", path=str(path)) from None
    if not text.strip():
        raise BudgetError("file is empty (truncated?); refusing to reset it", path=str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BudgetError(
            f"not valid JSON (truncated or hand-broken?) at line {exc.lineno} column {exc.colno}: "
            f"{exc.msg}; fix or restore it from git, pgolf will not reset it",
            path=str(path),
        ) from None
    return from_json(data, str(path))


def _save(path: Path, budget: Budget) -> None:
    atomic_write_text(path, json.dumps(budget.to_json(), indent=2) + "\n")


def init(path: Path | str, settings: Settings) -> bool:
    """Write the default budget.json when missing; True when created."""
    path = Path(path)
    with file_lock(path):
        if path.exists():
            load(path, settings)
            return False
        _save(path, defaults(settings))
    return True


# --------------------------------------------------------------------------- decisions
def can_submit(budget: Budget, settings: Settings, now: datetime | None = None) -> Decision:
    """May a Tier 2 run start now? Reserve floor, rate limit, then the low-balance warning."""
    now = now or clock.now()
    floor = budget.reserve_floor
    free = budget.remaining - budget.reserved
    if settings.paused:
        return Decision(False, "Paused: the kill switch (repository variable PGOLF_PAUSED) is on")
    if budget.paused:
        p = budget.paused
        return Decision(
            False,
            f"Paused by {p.get('by') or 'a maintainer'} at {p.get('at') or '?'}"
            + (f": {p['reason']}" if p.get("reason") else "")
            + "; `pgolf resume` (or budget.json paused: null) lifts the kill switch",
        )
    over = _overrun_note(budget)
    if budget.remaining < 0:
        return Decision(
            False,
            f"Overspent: ${budget.spent:.2f} spent of ${budget.total_credits:.2f} in credits "
            f"(${-budget.remaining:.2f} over){over}; raise total_credits to continue",
        )
    if free <= floor:
        return Decision(
            False,
            f"Below reserve floor: ${free:.2f} left after open reservations, reserve floor ${floor:.2f}"
            + (f"{over}; raise total_credits to continue" if over else ""),
        )
    interval = settings.tier2_min_interval_seconds
    last = budget.last_start()
    if interval > 0 and last is not None and now - last < timedelta(seconds=interval):
        wait = timedelta(seconds=interval) - (now - last)
        mins = math.ceil(wait.total_seconds() / 60)
        return Decision(
            False,
            f"Rate limited: last Tier 2 start {clock.stamp(last)}; next allowed in {mins} min "
            f"(one run per {interval // 60} min)",
        )
    if free < 2 * floor:
        return Decision(
            True,
            f"OK with warning: ${free:.2f} left, under twice the reserve floor",
            warning=f"Low budget: ${free:.2f} left, reserve floor ${floor:.2f}",
        )
    return Decision(True, f"OK: ${free:.2f} available above the ${floor:.2f} reserve floor")


def _overrun_note(budget: Budget) -> str:
    """``" after overrun(s): run X cost $A against $B reserved"`` (empty without overruns)."""
    runs = budget.overruns
    if not runs:
        return ""
    last = runs[-1]
    more = f" (+{len(runs) - 1} earlier)" if len(runs) > 1 else ""
    return (
        f" after an overrun: run {last.run_id} cost ${last.cost_usd:.2f} against "
        f"${last.reserved_usd:.2f} reserved{more}"
    )


def check(path: Path | str, settings: Settings, now: datetime | None = None) -> Decision:
    return can_submit(load(path, settings), settings, now)


def reserve(
    path: Path | str,
    settings: Settings,
    run_id: str,
    max_usd: float,
    *,
    pr: int | None = None,
    sha: str = "",
    now: datetime | None = None,
    free: bool = False,
    deadline: datetime | None = None,
    provider: str = "",
) -> Reservation:
    """Hold back ``max_usd`` for ``run_id``; BudgetBlocked when any check refuses.

    ``free=True`` books a $0 run (the local pod provider): ``max_usd`` must be 0, and since it
    spends nothing it is subject to neither the reserve floor nor the Tier 2 rate limit, and
    does not count as a Tier 2 start. It is still recorded, settled and visible in status.
    """
    if not run_id or any(c.isspace() for c in run_id):
        raise InputError(f"{run_id!r} is not a valid run id", field="run_id")
    if free:
        if max_usd != 0:
            raise InputError("a free reservation must hold back $0", field="usd")
    elif isinstance(max_usd, bool) or not math.isfinite(max_usd) or max_usd <= 0:
        raise InputError(f"{max_usd!r} must be a positive number", field="usd")
    path = Path(path)
    now = now or clock.now()
    with file_lock(path):
        budget = load(path, settings)
        if any(r.run_id == run_id for r in budget.reservations) or any(
            r.run_id == run_id for r in budget.runs
        ):
            raise BudgetBlocked(f"run id {run_id!r} already used", path=str(path))
        if budget.paused or settings.paused:
            raise BudgetBlocked(can_submit(budget, settings, now).reason, path=str(path))
        if not free:
            decision = can_submit(budget, settings, now)
            if not decision.allowed:
                raise BudgetBlocked(decision.reason, path=str(path))
            after = budget.remaining - budget.reserved - max_usd
            if after < budget.reserve_floor:
                raise BudgetBlocked(
                    f"reserving ${max_usd:.2f} would leave ${after:.2f}, below the reserve floor "
                    f"${budget.reserve_floor:.2f}",
                    path=str(path),
                )
        res = Reservation(
            run_id=run_id,
            max_usd=float(max_usd),
            created=clock.stamp(now),
            pr=pr,
            sha=sha,
            rate_limited=not free,
            deadline=clock.stamp(deadline) if deadline is not None else "",
            provider=provider,
        )
        budget.reservations.append(res)
        if not free:
            budget.last_tier2_start = clock.stamp(now)
        _save(path, budget)
    return res


def settle(
    path: Path | str,
    settings: Settings,
    run_id: str,
    seconds: float,
    gpu_count: int | None = None,
    hourly_rate: float | None = None,
    *,
    pod_id: str = "",
    start: str = "",
    end: str = "",
    note: str = "",
    cost_usd: float | None = None,
    kind: str = "run",
) -> RunRecord:
    """Turn the reservation of ``run_id`` into a run record with its real cost.

    ``cost_usd`` books a cost known otherwise (RunPod's billed uptime × costPerHr, or the
    worst case when RunPod no longer knows the pod) instead of ``seconds × rate``. A cost
    above the reservation is booked in full and marked ``overrun``.
    """
    gpu_count = settings.gpu_count if gpu_count is None else gpu_count
    hourly_rate = settings.hourly_rate_usd if hourly_rate is None else hourly_rate
    cost = run_cost(seconds, gpu_count, hourly_rate)
    if cost_usd is not None:
        if isinstance(cost_usd, bool) or not math.isfinite(cost_usd) or cost_usd < 0:
            raise InputError(f"{cost_usd!r} must be a non-negative number", field="cost_usd")
        cost = float(cost_usd)
    path = Path(path)
    with file_lock(path):
        budget = load(path, settings)
        res = _open_reservation(budget, run_id, path)
        budget.reservations.remove(res)
        rec = RunRecord(
            run_id=run_id,
            cost_usd=round(cost, 6),
            seconds=float(seconds),
            gpu_count=int(gpu_count),
            hourly_rate=float(hourly_rate),
            kind=kind,
            pod_id=pod_id or res.pod_id,
            pr=res.pr,
            sha=res.sha,
            start=start or res.created,
            end=end or clock.stamp(),
            note=note,
            reserved_usd=res.max_usd,
            overrun=round(cost, 6) > res.max_usd + 1e-6,
        )
        budget.runs.append(rec)
        budget.spent = round(budget.spent + rec.cost_usd, 6)
        _save(path, budget)
    return rec


def _open_reservation(budget: Budget, run_id: str, path: Path) -> Reservation:
    """The open reservation of ``run_id``; BudgetError naming the file when there is none."""
    res = next((r for r in budget.reservations if r.run_id == run_id), None)
    if res is None:
        raise BudgetError(f"no open reservation for run id {run_id!r}", path=str(path))
    return res


def release(path: Path | str, settings: Settings, run_id: str) -> Reservation:
    """Drop the reservation of ``run_id`` (nothing was spent)."""
    path = Path(path)
    with file_lock(path):
        budget = load(path, settings)
        res = _open_reservation(budget, run_id, path)
        budget.reservations.remove(res)
        _save(path, budget)
    return res


def record_spend(
    path: Path | str,
    settings: Settings,
    run_id: str,
    cost_usd: float,
    *,
    kind: str = "orphan",
    seconds: float = 0.0,
    gpu_count: int = 0,
    hourly_rate: float = 0.0,
    pod_id: str = "",
    note: str = "",
) -> RunRecord:
    """Book spend that had no reservation (an orphan pod found by the reaper)."""
    if isinstance(cost_usd, bool) or not math.isfinite(cost_usd) or cost_usd < 0:
        raise InputError(f"{cost_usd!r} must be a non-negative number", field="cost_usd")
    path = Path(path)
    with file_lock(path):
        budget = load(path, settings)
        rec = RunRecord(
            run_id=run_id,
            cost_usd=round(cost_usd, 6),
            seconds=float(seconds),
            gpu_count=gpu_count,
            hourly_rate=hourly_rate,
            kind=kind,
            pod_id=pod_id,
            end=clock.stamp(),
            note=note,
        )
        budget.runs.append(rec)
        budget.spent = round(budget.spent + rec.cost_usd, 6)
        _save(path, budget)
    return rec


def set_pod(path: Path | str, settings: Settings, run_id: str, pod_id: str) -> Reservation:
    """Record the pod of ``run_id``'s open reservation (the reaper asks RunPod for it)."""
    path = Path(path)
    with file_lock(path):
        budget = load(path, settings)
        res = _open_reservation(budget, run_id, path)
        res.pod_id = pod_id
        _save(path, budget)
    return res


def pause(path: Path | str, settings: Settings, by: str, reason: str = "") -> Budget:
    """Turn the kill switch on: every reservation (and so every paid run) is refused."""
    path = Path(path)
    with file_lock(path):
        budget = load(path, settings)
        budget.paused = {"by": by or "unknown", "at": clock.stamp(), "reason": reason}
        _save(path, budget)
    return budget


def resume(path: Path | str, settings: Settings) -> bool:
    """Turn the kill switch off; False when it was not on."""
    path = Path(path)
    with file_lock(path):
        budget = load(path, settings)
        if not budget.paused:
            return False
        budget.paused = None
        _save(path, budget)
    return True
