"""Tier 2 across the zones of trust (DESIGN.md): promote.yml's five jobs, one function each.

::

    plan     trusted, App key    the event → THE trust function → the approved SHA → plan.json
    gate     untrusted, nothing  the parity gate on the PR's scripts in bot.sandbox → verdict.json
    reserve  trusted, App key    verdict re-validated from scratch → worst case reserved and
                                 committed to the default branch → reservation.json
    paid     paid, RunPod key    rent → ship the SHA → train → terminate → outcome.json
    settle   trusted, App key    outcome validated against the reservation → budget.json settled,
                                 results.tsv row, sticky comment (the workflow commits)

Every file that crosses a job boundary is data: :func:`read_json` caps its size and parses it
(:func:`bot.fileio.read_json_capped`) and checks its schema; the receiving side re-checks each field it uses. The gate's verdict is re-decided
by :func:`bot.training.parity.check_verdict` and bound to the approved commit by the SHA-256 of both
scripts read from git objects here. The paid job's outcome never sets a number the ledger takes on
trust: metrics are parsed again from the log lines it carries, and its cost claim is checked
against its own pod seconds and RunPod's figures; an outcome that disagrees with the reservation
or with RunPod is booked at the reservation's worst case. No outcome at all (the paid job died)
leaves the committed reservation to the reaper, which asks RunPod (bot.compute.reaper).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot.compute.durable import Committer
from bot.compute.gates import artifact_gate, file_at, read_sota, resolve_sha
from bot.compute.outcome import PromoteResult, Reporter, SeedResult, hardware_label, render_summary, tail
from bot.compute.provider import PodProvider, PodSpec, check_run_id, pod_name
from bot.compute.remote import make_keypair, strip_stamps
from bot.compute.tracker import Interrupted
from bot.config import Settings
from bot.errors import BudgetBlocked, InputError, LogParseError, ParityError, PgolfError, PodError
from bot.fileio import atomic_write_text, read_json_capped
from bot.ledger import Ledger

SCHEMAS = {
    "plan": "pgolf-promote-plan/1",
    "verdict": "pgolf-parity-verdict/1",
    "reservation": "pgolf-promote-reservation/1",
    "outcome": "pgolf-pod-outcome/1",
}
MAX_BYTES = {"plan": 16_384, "verdict": 262_144, "reservation": 16_384, "outcome": 4_000_000}
# The paid job may start this long after the reservation (queueing, installing) before it refuses.
PAID_START_ALLOWANCE = 1800
# What the outcome carries of each seed's log (the settle job parses its metrics from it).
LOG_TAIL_LINES = 400
LOG_TAIL_CHARS = 200_000
# The reserve job holds no RunPod key, so it cannot ask RunPod's price: it reserves the pod's
# lifetime at up to this multiple of the configured rate (``hourly_rate_usd``; RunPod's secure H100
# price is typically above the $20/h default). The paid job refuses to rent above the reservation;
# settling books the real cost, so the headroom is only held back while the run lasts.
PRICE_HEADROOM = 1.5
# Seconds a pod may bill beyond its lifetime (terminate latency) before an outcome is implausible.
BILLING_SLACK = 600.0
_SHA = re.compile(r"[0-9a-f]{40}")
_POD_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


# ----------------------------------------------------------------------------- files
def read_json(path: Path | str, kind: str, sha256: str | None = None) -> dict[str, Any]:
    """The JSON object of kind ``kind`` in ``path``: size-capped, UTF-8, an object with the right
    ``schema``; InputError naming the file otherwise. ``sha256``: the digest the writing job
    declared in its job outputs (which no other job can set); a file with another one was not
    written by that job (the gate job, running PR code, can replace artifacts) and is refused."""
    data = read_json_capped(path, MAX_BYTES[kind], f"the {kind} file", sha256=sha256)
    if not isinstance(data, dict):
        raise InputError(f"the {kind} file is not a JSON object", path=str(path))
    if data.get("schema") != SCHEMAS[kind]:
        raise InputError(
            f"the {kind} file's schema is {str(data.get('schema'))[:60]!r}, not {SCHEMAS[kind]!r}",
            path=str(path),
        )
    return data


def write_json(path: Path | str, kind: str, data: dict[str, Any]) -> None:
    data = {"schema": SCHEMAS[kind], **{k: v for k, v in data.items() if k != "schema"}}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _int(data: dict[str, Any], key: str, lo: int, hi: int, where: str) -> int:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InputError(
            f"{key} must be an integer in [{lo}, {hi}], got {str(v)[:40]!r}", path=where, field=key
        )
    return v


def _num(data: dict[str, Any], key: str, lo: float, hi: float, where: str) -> float:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise InputError(
            f"{key} must be a number in [{lo}, {hi}], got {str(v)[:40]!r}", path=where, field=key
        )
    return float(v)


def _str(
    data: dict[str, Any], key: str, where: str, limit: int = 500, pattern: re.Pattern[str] | None = None
) -> str:
    v = data.get(key, "")
    if not isinstance(v, str) or len(v) > limit or (pattern is not None and not pattern.fullmatch(v)):
        raise InputError(f"{key} is not a valid value: {str(v)[:60]!r}", path=where, field=key)
    return v


def _seeds(data: dict[str, Any], where: str) -> list[int]:
    from bot.compute.promote import MAX_SEEDS

    v = data.get("seeds")
    if (
        not isinstance(v, list)
        or not 1 <= len(v) <= MAX_SEEDS
        or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**31 for x in v)
        or len(set(v)) != len(v)
    ):
        raise InputError(f"seeds must be 1 to {MAX_SEEDS} distinct integers", path=where, field="seeds")
    return list(v)


# ----------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Plan:
    """What the trusted plan job approved: one PR, one full SHA, the seeds; who and why."""

    pr: int
    sha: str
    seeds: list[int]
    actor: str
    reason: str = ""
    run_url: str = ""
    status: str = "planned"  # what run_event's outcome reports

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("status")
        return d

    @classmethod
    def load(cls, path: Path | str, sha256: str | None = None) -> Plan:
        data = read_json(path, "plan", sha256)
        where = str(path)
        return cls(
            pr=_int(data, "pr", 1, 10**9, where),
            sha=_str(data, "sha", where, 40, _SHA),
            seeds=_seeds(data, where),
            actor=_str(data, "actor", where, 100),
            reason=_str(data, "reason", where),
            run_url=_str(data, "run_url", where),
        )


def plan_event(
    event: Any, forge: Any, settings: Settings, root: Path, *, run_url: str = ""
) -> tuple[Any, Plan | None]:
    """The plan job: :func:`bot.forge.dispatch.run_event` — THE trust function, the bare
    ``/promote`` reply, the head binding, the "approved" sticky section — with a promotion entry
    point that only records what was approved. Returns the outcome and the plan (None: refused)."""
    from bot.forge.dispatch import run_event

    made: list[Plan] = []

    def hook(**kw: Any) -> Plan:
        trust = kw["trust"]
        plan = Plan(
            pr=int(kw["pr"]),
            sha=str(kw["sha"]).lower(),
            seeds=list(range(1, int(kw["seeds"]) + 1)),
            actor=str(getattr(trust, "actor", "")),
            reason=str(getattr(trust, "reason", "")),
            run_url=str(kw.get("run_url") or ""),
        )
        made.append(plan)
        return plan

    outcome = run_event(event, forge, settings, root, promote_hook=hook, run_url=run_url)
    return outcome, (made[0] if made else None)


# ----------------------------------------------------------------------------- gate
def script_digests(repo: Path, sha: str, settings: Settings) -> dict[str, str]:
    """SHA-256 of both training scripts at ``sha`` (git objects; "" for a missing one)."""
    out = {}
    for key in ("training_script", "mlx_script"):
        rel = getattr(settings, key)
        src = file_at(repo, sha, rel)
        out[rel] = hashlib.sha256(src).hexdigest() if src is not None else ""
    return out


def run_gate(repo: Path, settings: Settings, plan: Plan, *, timeout: float | None = None) -> dict[str, Any]:
    """The gate job (no secret, no token): the parity gate on the plan's commit inside
    :mod:`bot.sandbox`. Returns the verdict to upload; a missing script or a crash is in it."""
    from bot.compute.gates import PARITY_TIMEOUT_S
    from bot.training.parity import parity_in_sandbox

    digests = script_digests(repo, plan.sha, settings)
    verdict: dict[str, Any] = {"schema": SCHEMAS["verdict"], "sha": plan.sha, "scripts": digests}
    missing = [rel for rel, d in digests.items() if not d]
    if missing:
        verdict["parity"] = {"error": f"{', '.join(missing)} does not exist at {plan.sha[:12]}"}
        return verdict
    t = file_at(repo, plan.sha, settings.training_script) or b""
    m = file_at(repo, plan.sha, settings.mlx_script) or b""
    try:
        verdict["parity"] = parity_in_sandbox(settings, t, m, timeout=timeout or PARITY_TIMEOUT_S)
    except PgolfError as exc:
        verdict["parity"] = {"error": str(exc)}
    return verdict


def check_gate_verdict(repo: Path, settings: Settings, plan: Plan, path: Path | str) -> str:
    """The reserve job's re-validation of the gate's verdict, from scratch: size, schema, the
    plan's SHA, both scripts' digests recomputed here from git objects, and ``ok`` re-decided from
    the numbers (:func:`bot.training.parity.check_verdict`). Returns the note for the log;
    ParityError/InputError with the reason otherwise."""
    from bot.training.parity import check_verdict

    data = read_json(path, "verdict")
    where = str(path)
    sha = data.get("sha")
    if sha != plan.sha:
        raise ParityError(
            f"the parity verdict is for {str(sha)[:40]!r}, not the approved {plan.sha[:12]}: refused",
            field="sha",
        )
    claimed = data.get("scripts")
    want = script_digests(repo, plan.sha, settings)
    if not isinstance(claimed, dict) or claimed != want:
        raise ParityError(
            f"the parity verdict's script digests are not those of {plan.sha[:12]}'s "
            f"{', '.join(want)}: it judged other code; refused",
            field="scripts",
        )
    try:
        parity = check_verdict(data.get("parity"))
    except ParityError as exc:
        raise ParityError(f"{where}: malformed parity verdict: {exc}", field="parity") from None
    if "error" in parity:
        raise ParityError(f"parity gate could not compare the scripts at {plan.sha[:12]}: {parity['error']}")
    if not parity["ok"]:
        forged = (
            " (the verdict claimed ok; its own numbers say otherwise)" if parity.get("claimed_ok") else ""
        )
        raise ParityError(
            f"parity gate failed at {plan.sha[:12]}: first diverging layer "
            f"{parity.get('first_diverging_layer') or 'unknown'}{forged}"
        )
    return (
        f"parity gate: passed (re-validated: max |Δlogit| {parity['max_abs_logit_diff']:.2e}, "
        f"|Δloss| {parity['abs_loss_diff']:.2e}; sandbox {str(data.get('parity', {}).get('sandbox', '?'))[:40]})"
    )


# ----------------------------------------------------------------------------- reserve
@dataclass(frozen=True)
class Ticket:
    """The committed reservation as the paid and settle jobs see it."""

    run_id: str
    pr: int
    sha: str
    seeds: list[int]
    max_usd: float
    deadline: float  # epoch seconds: the pod must be gone by then (the reaper's cue)
    lifetime: int  # the pod's own hard lifetime
    provider: str
    actor: str = ""
    run_url: str = ""
    # GITHUB_RUN_ATTEMPT of the reserve job (0 outside Actions): a paid job of another attempt is a
    # "Re-run" of paid alone under this reservation, whose first pod may already have been rented.
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, path: Path | str, sha256: str | None = None) -> Ticket:
        data = read_json(path, "reservation", sha256)
        where = str(path)
        return cls(
            run_id=check_run_id(_str(data, "run_id", where, 100)),
            pr=_int(data, "pr", 1, 10**9, where),
            sha=_str(data, "sha", where, 40, _SHA),
            seeds=_seeds(data, where),
            max_usd=_num(data, "max_usd", 0.0, 1e6, where),
            deadline=_num(data, "deadline", 0.0, 1e11, where),
            lifetime=_int(data, "lifetime", 1, 10**6, where),
            provider=_str(data, "provider", where, 20, re.compile(r"runpod|local")),
            actor=_str(data, "actor", where, 100),
            run_url=_str(data, "run_url", where),
            attempt=_int(data, "attempt", 0, 10**6, where) if "attempt" in data else 0,
        )


def reserve_plan(
    root: Path,
    settings: Settings,
    plan: Plan,
    verdict_path: Path | str,
    *,
    commit: Committer | None,
    repo: Path | None = None,
    log: Callable[[str], None] | None = None,
    now: float | None = None,
    attempt: int = 0,
) -> Ticket:
    """The reserve job: re-validate the verdict, run the artifact gate (git objects only), reserve
    the worst case and commit it to the default branch. A reservation that cannot be committed is
    released and refused: nothing may be rented on it. ``attempt`` is the workflow run's attempt
    (GITHUB_RUN_ATTEMPT): only the paid job of the same attempt may rent on the reservation."""
    from bot.compute.promote import make_run_id, pod_lifetime

    say = log or (lambda m: None)
    repo = Path(repo or root)
    full = resolve_sha(repo, plan.sha)
    if full != plan.sha:
        raise InputError(f"the plan's SHA {plan.sha[:12]} is not a full commit id here", field="sha")
    say(check_gate_verdict(repo, settings, plan, verdict_path))
    ledger = Ledger.load(settings.path("results_path", root))
    run_id = make_run_id(plan.pr, full)
    run_dir = settings.path("runs_dir", root) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    for note in artifact_gate(repo, full, ledger, settings, run_dir):
        say(note)
    provider = settings.pod_provider
    spends = provider != "local"
    lifetime = pod_lifetime(settings, len(plan.seeds))
    max_usd = (
        budget_mod.run_cost(lifetime, settings.gpu_count, settings.hourly_rate_usd) * PRICE_HEADROOM
        if spends
        else 0.0
    )
    start = time.time() if now is None else now
    deadline = start + PAID_START_ALLOWANCE + lifetime
    budget_path = settings.path("budget_path", root)
    budget_mod.reserve(
        budget_path, settings, run_id, round(max_usd, 6), pr=plan.pr, sha=full, free=not spends,
        deadline=datetime.fromtimestamp(deadline, UTC), provider=provider,
    )  # fmt: skip
    say(
        f"budget: reserved ${max_usd:.2f} for {run_id} (the pod's {lifetime} s lifetime at up to {PRICE_HEADROOM}x the configured rate)"
    )
    if commit is not None:
        try:
            took = commit(f"reserve ${max_usd:.2f} for {run_id}")
        except PgolfError as exc:
            budget_mod.release(budget_path, settings, run_id)
            raise BudgetBlocked(
                f"the reservation of {run_id} could not be committed to the default branch ({exc}); "
                "nothing will be rented",
                path=str(budget_path),
            ) from None
        say(f"budget: reservation committed to the default branch in {took:.2f} s")
    return Ticket(
        run_id, plan.pr, full, list(plan.seeds), round(max_usd, 6), round(deadline, 3), lifetime,
        provider, plan.actor, plan.run_url, attempt,
    )  # fmt: skip


def release_ticket(root: Path, settings: Settings, ticket: Ticket, *, commit: Committer | None) -> str:
    """The reserve job failed after committing ``ticket`` (e.g. its artifact upload was refused):
    no paid job runs on it, so it is released (and committed) rather than left for the reaper to
    book at the worst case. Returns what happened; a reservation no longer open is left alone."""
    path = settings.path("budget_path", root)
    if not any(r.run_id == ticket.run_id for r in budget_mod.load(path, settings).reservations):
        return f"reservation {ticket.run_id} is not open on the default branch: nothing released"
    budget_mod.release(path, settings, ticket.run_id)
    if commit is not None:
        commit(f"release {ticket.run_id} (the reserve job failed; nothing was rented)")
    return f"the reserve job failed after reserving: reservation {ticket.run_id} released, nothing was rented"


# ----------------------------------------------------------------------------- paid
def check_ticket_open(root: Path, settings: Settings, ticket: Ticket, attempt: int) -> None:
    """Before anything is rented: the reservation file must be the one the reserve job of THIS
    workflow attempt wrote, and the default branch (this job's checkout) must hold it open with
    the same figures. BudgetBlocked otherwise (the paid job then writes no outcome: a pod an
    earlier attempt rented is left to the reaper, never released).

    * another attempt: "Re-run" of the paid job alone. Attempt 1's paid job may have rented (and
      died, or been booked already); a second pod under one reservation would be booked by nobody.
    * not open: the reservation was settled or released (a late re-run), or never committed.
    * other figures: the file is not the reservation budget.json holds (a replaced artifact)."""
    if ticket.attempt != attempt:
        raise BudgetBlocked(
            f"the reservation {ticket.run_id} was made by attempt {ticket.attempt} of this workflow run; "
            f"this paid job is attempt {attempt} (a re-run): not renting a second pod under it. The "
            "reservation is settled by its own settle job or the reaper; /promote again to retry",
            field="attempt",
        )
    path = settings.path("budget_path", root)
    budget = budget_mod.load(path, settings)
    res = next((r for r in budget.reservations if r.run_id == ticket.run_id), None)
    if res is None:
        settled = any(r.run_id == ticket.run_id for r in budget.runs)
        raise BudgetBlocked(
            f"the default branch holds no open reservation {ticket.run_id}"
            + (" (it is already settled)" if settled else "")
            + ": not renting",
            path=str(path),
        )
    wrong = [
        name
        for name, ok in (
            ("pr", res.pr == ticket.pr),
            ("sha", res.sha == ticket.sha),
            ("max_usd", abs(res.max_usd - ticket.max_usd) <= 1e-6),
            ("provider", not res.provider or res.provider == ticket.provider),
            (
                "deadline",
                not res.deadline
                or abs(budget_mod.parse_iso(res.deadline).timestamp() - ticket.deadline) <= 2.0,
            ),
        )
        if not ok
    ]
    if wrong:
        raise BudgetBlocked(
            f"the reservation file's {', '.join(wrong)} differ from budget.json's reservation "
            f"{ticket.run_id}: not renting",
            path=str(path),
        )


def run_paid(
    root: Path,
    settings: Settings,
    ticket: Ticket,
    provider: PodProvider,
    *,
    repo: Path | None = None,
    log: Callable[[str], None] | None = None,
    stage: Callable[[str], None] | None = None,
    now: float | None = None,
    attempt: int | None = None,
) -> dict[str, Any]:
    """The paid job (the RunPod key; no App key, no write token): rent, ship ``ticket.sha``,
    train, fetch, terminate (always). Returns the outcome to upload; it writes no ledger file.
    Refuses to rent (an outcome with ``started: false``) when the reservation's deadline leaves
    no time, or when RunPod's price would cost more than the reservation holds. Raises
    BudgetBlocked, with no outcome, when :func:`check_ticket_open` refuses (``attempt``: this
    job's GITHUB_RUN_ATTEMPT; None: the ticket's own)."""
    from bot.compute.promote import rent_and_train, setup_command

    check_ticket_open(root, settings, ticket, ticket.attempt if attempt is None else attempt)
    say = log or (lambda m: None)
    repo = Path(repo or root)
    t0 = time.time() if now is None else now
    outcome: dict[str, Any] = {
        "schema": SCHEMAS["outcome"], "run_id": ticket.run_id, "sha": ticket.sha, "pr": ticket.pr,
        "provider": provider.name, "started": False, "pod_id": "", "pod_name": pod_name(ticket.run_id),
        "terminated": True, "pod_seconds": 0.0, "gpu_count": settings.gpu_count, "cost_per_hr": 0.0,
        "runpod_uptime_seconds": 0.0, "error": "", "hardware": "", "seeds": [],
    }  # fmt: skip
    if provider.name != ticket.provider:
        outcome["error"] = f"the reservation is for provider {ticket.provider}, this job has {provider.name}"
        return outcome
    paused = settings.paused or budget_mod.load(settings.path("budget_path", root), settings).paused
    if paused:  # the kill switch went on after the reservation: nothing is rented
        outcome["error"] = "pgolf is paused (the kill switch): not renting"
        return outcome
    left = ticket.deadline - t0
    lifetime = int(min(ticket.lifetime, left))
    if lifetime < min(ticket.lifetime, 120):
        outcome["error"] = f"the reservation's deadline leaves {max(0.0, left):.0f} s: not renting"
        return outcome
    try:  # nothing is rented yet: a refusal here releases the reservation (started: false)
        full = resolve_sha(repo, ticket.sha)
    except PgolfError as exc:  # e.g. the PR was force-pushed after the reservation
        outcome["error"] = (
            f"the approved commit {ticket.sha[:12]} is not in this job's checkout of the pull request "
            f"(pushed over since it was approved?): not renting ({exc})"
        )[:2000]
        return outcome
    run_dir = settings.path("runs_dir", root) / ticket.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    key_path, pubkey = (None, "")
    if not provider.free:
        key_path, pubkey = make_keypair(run_dir / "ssh")
    spec = PodSpec(
        run_id=ticket.run_id, gpu_count=settings.gpu_count, gpu_type=settings.gpu_type,
        image=settings.pod_image, cloud_type=settings.pod_cloud_type, deadline=t0 + lifetime,
        env={"PUBLIC_KEY": pubkey} if pubkey else {}, volume_gb=settings.pod_volume_gb,
        start_command=settings.pod_start_command,
    )  # fmt: skip
    if not provider.free:
        try:
            per_hr = provider.quote(spec)
        except PgolfError as exc:
            per_hr = None
            say(f"price not known ({exc}); renting on the configured rate")
        if per_hr and lifetime / 3600.0 * float(per_hr) > ticket.max_usd + 0.005:
            outcome["error"] = (
                f"RunPod asks ${float(per_hr):.2f}/h: {lifetime} s would cost "
                f"${lifetime / 3600.0 * float(per_hr):.2f}, above the ${ticket.max_usd:.2f} reserved; not renting"
            )
            return outcome
    outcome["started"] = True
    result = PromoteResult(ticket.run_id, ticket.pr, full, provider.name, "crash", run_dir=str(run_dir))
    result.hardware = hardware_label(provider.name, spec.gpu_count, spec.gpu_type)
    timings: dict[str, float] = {"start": t0}

    def finish(run: Any) -> None:
        pod = run.pod
        result.pod_seconds = (
            round(time.time() - run.created_at, 3) if run.created_at and result.pod_id else 0.0
        )
        outcome["gpu_count"] = (
            pod.gpu_count if pod is not None and pod.gpu_count else 0
        ) or settings.gpu_count
        outcome["cost_per_hr"] = float(pod.cost_per_hr) if pod is not None else 0.0
        if result.pod_id:  # what RunPod itself says, once the pod is gone (uptime, price)
            try:
                seen = provider.get(result.pod_id)
            except PgolfError:
                seen = None
            if seen is not None:
                outcome["runpod_uptime_seconds"] = float(seen.uptime_seconds)
                outcome["cost_per_hr"] = float(seen.cost_per_hr or outcome["cost_per_hr"])

    def check_price(pod: Any) -> None:
        """RunPod's own price for the pod it created (the quote may have failed, or moved): the
        pod's whole lifetime must fit in the reservation, or it goes before anything is shipped."""
        per_hr = float(getattr(pod, "cost_per_hr", 0.0) or 0.0)
        if not provider.free and lifetime / 3600.0 * per_hr > ticket.max_usd + 0.005:
            raise PodError(
                f"RunPod bills pod {pod.id} ${per_hr:.2f}/h: {lifetime} s would cost "
                f"${lifetime / 3600.0 * per_hr:.2f}, above the ${ticket.max_usd:.2f} reserved; terminated"
            )

    run = rent_and_train(
        settings, provider, spec, repo, list(ticket.seeds), result, run_dir,
        log=say, timings=timings, stage=stage or (lambda n: None), setup=setup_command(settings),
        key_path=key_path, lifetime=lifetime, reporter=None, on_pod=lambda pid: say(f"pod {pid} rented"),
        finish=finish, check_pod=check_price,
    )  # fmt: skip
    outcome.update(
        pod_id=result.pod_id, terminated=result.terminated, pod_seconds=result.pod_seconds,
        error=result.error[:2000], hardware=result.hardware,
    )  # fmt: skip
    outcome["seeds"] = [_seed_out(s) for s in result.seeds]
    outcome["cost_usd"] = round(
        result.pod_seconds
        / 3600.0
        * (outcome["cost_per_hr"] or settings.hourly_rate_usd * outcome["gpu_count"] / 8),
        6,
    )
    if isinstance(run.failure, (Interrupted, KeyboardInterrupt)):
        outcome["interrupted"] = True
    return outcome


def _seed_out(s: SeedResult) -> dict[str, Any]:
    p = Path(s.log)
    text = strip_stamps(p.read_text(encoding="utf-8", errors="replace")) if p.is_file() else ""
    return {"seed": s.seed, "rc": s.rc, "seconds": s.seconds, "error": s.error[:500],
            "log_tail": tail(text, LOG_TAIL_LINES)[-LOG_TAIL_CHARS:]}  # fmt: skip


# ----------------------------------------------------------------------------- settle
@dataclass
class Settlement:
    """What the settle job did: ``booked`` says how (outcome · worst case · left to the reaper ·
    already settled) and ``problems`` why an outcome was refused."""

    run_id: str
    booked: str
    cost_usd: float = 0.0
    problems: list[str] = field(default_factory=list)
    result: PromoteResult | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "result"}
        d["result"] = self.result.to_dict() if self.result is not None else None
        return d


def check_outcome(
    data: dict[str, Any], ticket: Ticket, settings: Settings, budget: budget_mod.Budget, where: str
) -> list[str]:
    """Why ``data`` cannot be booked as it stands (empty: it can): it must name the reservation's
    run, commit and provider, a pod named for that run and used by no other run, seconds within
    the pod's lifetime, and a cost no lower than its own seconds and RunPod's figures give."""
    problems: list[str] = []
    for key, want in (("run_id", ticket.run_id), ("sha", ticket.sha), ("provider", ticket.provider)):
        if data.get(key) != want:
            problems.append(f"{key} is {str(data.get(key))[:60]!r}, the reservation says {want!r}")
    try:
        pod_id = _str(data, "pod_id", where, 64)
        if pod_id and not _POD_ID.fullmatch(pod_id):
            raise InputError("bad pod id", field="pod_id")
        seconds = _num(data, "pod_seconds", 0.0, ticket.lifetime + BILLING_SLACK, where)
        uptime = _num(data, "runpod_uptime_seconds", 0.0, 1e7, where)
        per_hr = _num(data, "cost_per_hr", 0.0, 1e4, where)
        gpus = _int(data, "gpu_count", 1, 64, where)
        claimed = _num(data, "cost_usd", 0.0, 1e6, where) if "cost_usd" in data else None
    except InputError as exc:
        return [*problems, str(exc)]
    if data.get("pod_name", pod_name(ticket.run_id)) != pod_name(ticket.run_id):
        problems.append(f"pod_name {str(data.get('pod_name'))[:60]!r} is not {pod_name(ticket.run_id)!r}")
    if pod_id:
        others = [r.run_id for r in budget.runs if r.pod_id == pod_id and r.run_id != ticket.run_id]
        others += [r.run_id for r in budget.reservations if r.pod_id == pod_id and r.run_id != ticket.run_id]
        if others:
            problems.append(f"pod {pod_id} belongs to run {others[0]}, not {ticket.run_id}")
    if uptime > seconds + 5.0:
        problems.append(f"pod_seconds {seconds:.0f} is below RunPod's uptime {uptime:.0f} s")
    rate = per_hr or settings.hourly_rate_usd * gpus / 8.0
    floor = max(seconds, uptime) / 3600.0 * rate
    if claimed is not None and claimed + 0.005 < floor:
        problems.append(f"cost_usd ${claimed:.4f} is below ${floor:.4f} (its own seconds at RunPod's price)")
    if ticket.provider != "local" and per_hr and per_hr + 1e-9 < settings.hourly_rate_usd * gpus / 8.0 * 0.05:
        problems.append(f"cost_per_hr ${per_hr:.4f} is implausibly low")
    if not isinstance(data.get("seeds"), list) or len(data["seeds"]) > len(ticket.seeds):
        problems.append("seeds is not a list of at most the reserved seeds")
    else:
        for s in data["seeds"]:
            if (
                not isinstance(s, dict)
                or s.get("seed") not in ticket.seeds
                or isinstance(s.get("rc"), bool)
                or not isinstance(s.get("rc"), int)
                or not isinstance(s.get("log_tail", ""), str)
                or len(s.get("log_tail", "")) > LOG_TAIL_CHARS
            ):
                problems.append("a seed entry is malformed (seed, rc, log_tail)")
                break
    if not isinstance(data.get("terminated"), bool) or not isinstance(data.get("error", ""), str):
        problems.append("terminated/error are malformed")
    return problems


def settle_ticket(
    root: Path,
    settings: Settings,
    ticket: Ticket,
    outcome_path: Path | str | None,
    *,
    repo: Path | None = None,
    reporter: Reporter | None = None,
    description: str = "",
    log: Callable[[str], None] | None = None,
    paid_skipped: bool = False,
    outcome_sha256: str | None = None,
    attempt: int | None = None,
) -> Settlement:
    """The settle job: book the paid job's outcome against the committed reservation, write the
    results.tsv row and the sticky comment (the workflow then commits the ledger).

    * no outcome (the paid job died or was cancelled) or one whose pod was not confirmed
      terminated: the reservation stays open for the reaper, which asks RunPod — unless the paid
      job never started (``paid_skipped``: the kill switch, a failed dependency, a step before
      ``promote run`` that failed): released — only
      when this is the workflow attempt (``attempt``, GITHUB_RUN_ATTEMPT) whose reserve job made
      the reservation; a skipped paid job of a later attempt says nothing of the earlier one's pod;
    * an outcome file whose SHA-256 is not ``outcome_sha256`` (the digest the paid job declared in
      its job outputs; "": it declared none) was not written by the paid job — the gate job can
      upload artifacts too — and counts as no outcome (None: not checked, for callers without
      artifacts);
    * an outcome that fails :func:`check_outcome`: booked at the reservation's worst case with a
      crash row naming the reason;
    * a reservation no longer open (the reaper got there first): nothing is booked twice."""
    from bot.compute.promote import _record, defuse_tags, read_seed_log, settle_result
    from bot.training.local import commit_description

    say = log or (lambda m: None)
    repo = Path(repo or root)
    budget_path = settings.path("budget_path", root)
    budget = budget_mod.load(budget_path, settings)
    res = next((r for r in budget.reservations if r.run_id == ticket.run_id), None)
    if res is None:
        say(f"{ticket.run_id}: no open reservation on the default branch (already settled): nothing booked")
        return Settlement(ticket.run_id, "already settled")
    if res.sha != ticket.sha or res.pr != ticket.pr:
        raise InputError(
            f"the reservation file names PR {ticket.pr} at {ticket.sha[:12]}, budget.json's reservation "
            f"{ticket.run_id} PR {res.pr} at {res.sha[:12]}",
            path=str(budget_path),
        )
    run_dir = settings.path("runs_dir", root) / ticket.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    result = PromoteResult(
        ticket.run_id, ticket.pr, ticket.sha, ticket.provider, "crash", run_dir=str(run_dir)
    )
    ledger = Ledger.load(settings.path("results_path", root))
    result.best_before = ledger.current_best_bpb()
    result.sota_bpb = read_sota(settings.path("program_path", root)) or result.best_before
    result.reserved_usd = res.max_usd
    data: dict[str, Any] | None = None
    problems: list[str] = []
    untrusted = ""
    if outcome_path is not None and Path(outcome_path).exists() and outcome_sha256 is not None:
        digest = _file_sha256(Path(outcome_path))
        if digest != outcome_sha256.strip().lower():
            untrusted = (
                f"{outcome_path}: its SHA-256 is not the one the paid job declared "
                f"({outcome_sha256.strip()[:64] or 'none'}): not the paid job's outcome, ignored; "
            )
            say(untrusted)
            outcome_path = None
    if outcome_path is not None and Path(outcome_path).exists():
        try:
            data = read_json(outcome_path, "outcome")
        except InputError as exc:
            problems = [str(exc)]
        if data is not None:
            problems = check_outcome(data, ticket, settings, budget, str(outcome_path))
    if data is None and not problems and paid_skipped and attempt is not None and attempt != ticket.attempt:
        untrusted += (
            f"the paid job of attempt {attempt} was skipped, but the reservation is attempt "
            f"{ticket.attempt}'s, whose paid job may have rented; "
        )
        paid_skipped = False
    if data is None and not problems and paid_skipped:
        budget_mod.release(budget_path, settings, ticket.run_id)
        msg = untrusted + (
            f"the paid job never reached `promote run` (skipped): nothing was rented; reservation {ticket.run_id} released"
        )
        say(msg)
        _tell(reporter, result, "failed", msg, say)
        return Settlement(ticket.run_id, "released", problems=[msg])
    if data is None and not problems:
        msg = untrusted + (
            f"the paid job left no outcome for {ticket.run_id}: the reservation (${res.max_usd:.2f}) "
            "stays open; the reaper settles it at RunPod's billed time after its deadline"
        )
        say(msg)
        _tell(reporter, result, "failed", msg, say)
        return Settlement(ticket.run_id, "left to the reaper", problems=[msg])
    if not problems and data is not None and not data.get("started"):
        result.error = str(data.get("error") or "the paid job did not rent a pod")[:500]
        budget_mod.release(budget_path, settings, ticket.run_id)
        say(f"{ticket.run_id}: nothing rented ({result.error}); reservation released")
        _tell(reporter, result, "failed", f"nothing was rented: {result.error}", say)
        return Settlement(ticket.run_id, "released", problems=[result.error])
    if not problems and data is not None and not data["terminated"]:
        msg = f"pod {data.get('pod_id')} was not confirmed terminated: the reaper terminates and settles it"
        say(msg)
        _tell(reporter, result, "failed", msg, say)
        return Settlement(ticket.run_id, "left to the reaper", problems=[msg])
    if problems or data is None:
        result.error = "outcome refused: " + "; ".join(problems)
        result.pod_id = str((data or {}).get("pod_id") or "")[:64] if data else ""
        if not _POD_ID.fullmatch(result.pod_id or "x"):
            result.pod_id = ""
        result.pod_seconds = float(ticket.lifetime)
        settle_result(result, settings, budget_path, settings.gpu_count, settings.hourly_rate_usd, say,
                      cost_usd=res.max_usd, note=("worst case: " + result.error)[:300])  # fmt: skip
        booked = "worst case"
    else:
        result.pod_id = data["pod_id"]
        result.terminated = True
        result.hardware = str(data.get("hardware", ""))[:100]
        result.error = str(data.get("error", ""))[:500]
        result.pod_seconds = max(float(data["pod_seconds"]), float(data["runpod_uptime_seconds"]))
        gpus = int(data["gpu_count"])
        per_hr = float(data["cost_per_hr"])
        rate = per_hr * 8.0 / gpus if per_hr > 0 and ticket.provider != "local" else (
            settings.hourly_rate_usd if ticket.provider != "local" else 0.0
        )  # fmt: skip
        for s in data["seeds"]:
            seed_log = run_dir / f"train_seed{s['seed']}.log"
            atomic_write_text(seed_log, s.get("log_tail", ""))
            sr = SeedResult(
                seed=s["seed"], rc=s["rc"], log=str(seed_log), error=str(s.get("error", ""))[:500]
            )
            if s["rc"] == 0 and not sr.error:
                try:  # the metrics are parsed HERE from the log lines: never taken from the outcome
                    read_seed_log(sr, s.get("log_tail", ""))
                except (LogParseError, ValueError) as exc:
                    sr.error = str(exc)[:500]
                    result.error = result.error or f"seed {s['seed']}: {sr.error}"
            result.seeds.append(sr)
        settle_result(result, settings, budget_path, gpus, rate, say)
        booked = "outcome"
    what = description.strip() or f"PR #{ticket.pr}"
    desc = defuse_tags(commit_description(repo, what, ticket.sha))
    _record(result, settings, settings.path("results_path", root), ledger, len(ticket.seeds), desc, say)
    final = Ledger.load(settings.path("results_path", root))
    result.comment = render_summary(result, final)
    atomic_write_text(run_dir / "result.json", json.dumps(result.to_dict(), indent=2) + "\n")
    if reporter is not None:
        try:
            reporter.final(result, final)
        except PgolfError as exc:
            say(f"comment not posted: {exc}")
    return Settlement(ticket.run_id, booked, result.cost_usd, problems, result)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tell(
    reporter: Reporter | None, result: PromoteResult, state: str, msg: str, say: Callable[[str], None]
) -> None:
    if reporter is None:
        return
    try:
        reporter.progress(result, state, msg)
    except PgolfError as exc:
        say(f"comment not posted: {exc}")
