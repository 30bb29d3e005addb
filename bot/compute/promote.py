"""Tier 2 promotion: one approved commit, trained on rented GPUs, never leaking a pod.

Order of operations (each step refuses before anything is spent)::

    trust check → SHA pinned and present → artifact gate → parity gate
    → budget reservation of the worst case (deadline × rate; can_submit inside, under the lock)
    → with ledger_commit_reservations: the reservation committed to the default branch (a
      failed commit releases it and refuses: nothing is rented on a reservation a dead runner
      could lose; see bot.compute.durable)
    → state entry → pod (named pgolf-<run-id>, in-pod deadline; its id committed too)
    → SSH up → ship git archive
    → per seed: training with MAX_WALLCLOCK_SECONDS, hard-killed at cap + eval slack
    → fetch logs/artifact → terminate (finally; atexit and SIGTERM/SIGINT as backstops)
    → settle the real cost (wall-clock pod time; committed at once; an overrun is marked and
      reported) → results.tsv row (cfg= and per-seed bpbs= tags) → local row promoted
    → sticky comment

A crash anywhere after the reservation still terminates, settles and writes a ``crash`` row
with the log tail. Outcomes are returned as :class:`PromoteResult`; refusals before spending
raise (TrustError, GateFailed, ParityError, BudgetBlocked, InputError).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot import clock
from bot.compute.durable import Committer, make_committer
from bot.compute.factory import make_provider
from bot.compute.gates import (
    ParityGate,
    artifact_gate,
    check_trust,
    default_parity_gate,
    read_sota,
    resolve_sha,
    waived_parity_gate,
)
from bot.compute.notify import ForgeReporter
from bot.compute.outcome import (
    PromoteResult,
    Reporter,
    SeedResult,
    hardware_label,
    one_line,
    render_summary,
    tail,
)
from bot.compute.provider import Executor, PodInfo, PodProvider, PodSpec, check_run_id, pod_name
from bot.compute.remote import make_keypair, strip_stamps
from bot.compute.significance import assess
from bot.compute.tracker import Interrupted, PodGuard, PodState, new_record
from bot.compute.winners import tier2_tags
from bot.config import Settings
from bot.errors import (
    BudgetBlocked,
    BudgetError,
    InputError,
    LogParseError,
    PgolfError,
    PodError,
)
from bot.fileio import atomic_write_text
from bot.forge.base import Forge
from bot.forge.events import Approval
from bot.ledger import Ledger, make_row
from bot.training.logparse import parse_log

MAX_SEEDS = 8  # the same bound as the /promote command and the docs


def setup_command(settings: Settings) -> str:
    """``pod_setup_command`` with ``{train_shards}`` replaced by ``pod_train_shards`` ("" if none)."""
    if settings.pod_train_shards < 0:
        raise InputError("must be 0 or more", field="pod_train_shards")
    return settings.pod_setup_command.strip().replace("{train_shards}", str(settings.pod_train_shards))


def make_run_id(pr: int | None, sha: str, now: datetime | None = None) -> str:
    now = now or clock.now()
    head = f"pr{pr}" if pr is not None else "manual"
    tag = secrets.token_hex(2)  # two promotions in the same second still differ
    return check_run_id(f"{head}-{sha[:7].lower()}-{now.strftime('%Y%m%d%H%M%S')}-{tag}")


def pod_lifetime(settings: Settings, n_seeds: int) -> int:
    """The pod's hard lifetime: ``pod_deadline_seconds`` covers boot, shipping and one seed;
    every further seed adds its wall-clock cap plus the evaluation slack."""
    return settings.pod_deadline_seconds + max(0, n_seeds - 1) * (
        settings.max_wallclock_seconds + settings.pod_eval_slack_seconds
    )


def _worst_case(settings: Settings, provider: PodProvider, spec: PodSpec, lifetime: int) -> float:
    base = budget_mod.run_cost(lifetime, settings.gpu_count, settings.hourly_rate_usd)
    with contextlib.suppress(PgolfError):
        per_hr = provider.quote(spec)
        if per_hr:
            base = max(base, lifetime / 3600.0 * float(per_hr))
    return round(base, 6)


class _RunLog:
    def __init__(self, path: Path, echo: Callable[[str], None] | None):
        self.path = path
        self.echo = echo

    def __call__(self, msg: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"[{clock.stamp()}] {msg}\n")
        if self.echo:
            self.echo(msg)


# ----------------------------------------------------------------------------- promotion
def promote(
    root: Path,
    settings: Settings,
    *,
    provider: PodProvider,
    pr: int | None,
    sha: str,
    seeds: int | list[int] = 1,
    trust: Approval | None,
    parity_gate: ParityGate,
    repo: Path | None = None,
    reporter: Reporter | None = None,
    description: str = "",
    echo: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    commit_ledger: Committer | bool | None = True,
) -> PromoteResult:
    """Run one promotion end to end; see the module docstring.

    ``trust`` (a decision with ``allowed``/``reason``/``sha``, e.g. the forge's, or
    :func:`bot.compute.gates.operator_approval`) and ``parity_gate`` (normally
    :func:`bot.compute.gates.default_parity_gate`; :func:`~bot.compute.gates.waived_parity_gate`
    is an explicit, logged waiver) are required: there is no default that lets a commit through."""
    root = Path(root)
    repo = Path(repo or root)
    stage = on_stage or (lambda name: None)
    timings: dict[str, float] = {"start": time.time()}
    seed_list = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
    if not seed_list or len(seed_list) > MAX_SEEDS:
        raise InputError(f"between 1 and {MAX_SEEDS} seeds", field="seeds")

    # -- refusals before anything is spent -----------------------------------------------
    full_sha = resolve_sha(repo, sha)
    check_trust(trust, full_sha)
    results_path = settings.path("results_path", root)
    budget_path = settings.path("budget_path", root)
    ledger = Ledger.load(results_path)
    run_id = make_run_id(pr, full_sha)
    run_dir = settings.path("runs_dir", root) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    log = _RunLog(run_dir / "promote.log", echo)
    log(f"promotion {run_id}: PR {pr} at {full_sha} with {len(seed_list)} seed(s) on {provider.name}")
    for note in artifact_gate(repo, full_sha, ledger, settings, run_dir):
        log(note)
    if not callable(parity_gate):
        raise InputError("no parity gate was given: promotion fails closed", field="parity_gate")
    log(parity_gate(repo, full_sha) or "parity gate: passed")
    setup = setup_command(settings)

    lifetime = pod_lifetime(settings, len(seed_list))
    deadline = time.time() + lifetime
    key_path, pubkey = (None, "")
    if not provider.free:
        key_path, pubkey = make_keypair(run_dir / "ssh")
    spec = PodSpec(
        run_id=run_id,
        gpu_count=settings.gpu_count,
        gpu_type=settings.gpu_type,
        image=settings.pod_image,
        cloud_type=settings.pod_cloud_type,
        deadline=deadline,
        env={"PUBLIC_KEY": pubkey} if pubkey else {},
        volume_gb=settings.pod_volume_gb,
        start_command=settings.pod_start_command,
    )
    # The local provider costs $0: it still reserves (a free, non-rate-limited reservation)
    # and settles, so every promotion is in budget.json, but it never blocks a paid run.
    spends = not provider.free
    state = PodState(settings.path("pods_state_path", root))
    # The state entry comes first: an orchestrator that dies right after reserving leaves a
    # trace the reaper resolves (no pod under that name → the reservation is released).
    state.add(new_record(run_id, pod_name(run_id), provider.name, deadline, pr=pr, sha=full_sha))
    # Durable money: the reservation reaches the default branch before the pod is rented
    # (``commit_ledger=True`` means "as settings.ledger_commit_reservations says").
    committer = make_committer(root, settings) if commit_ledger is True else (commit_ledger or None)
    try:
        reserved = _worst_case(settings, provider, spec, lifetime) if spends else 0.0
        budget_mod.reserve(
            budget_path, settings, run_id, reserved, pr=pr, sha=full_sha, free=not spends,
            deadline=datetime.fromtimestamp(deadline, UTC), provider=provider.name,
        )  # fmt: skip
    except BaseException:
        state.remove(run_id)
        raise
    log(f"budget: reserved ${reserved:.2f} (worst case: the pod's {lifetime} s lifetime)")
    if committer is not None and spends:
        try:
            took = committer(f"reserve ${reserved:.2f} for {run_id}")
        except BaseException as exc:
            with contextlib.suppress(PgolfError):
                budget_mod.release(budget_path, settings, run_id)
            state.remove(run_id)
            if isinstance(exc, PgolfError):
                raise BudgetBlocked(
                    f"the reservation of {run_id} could not be committed to the default branch "
                    f"({exc}); nothing was rented",
                    path=str(budget_path),
                ) from None
            raise
        timings["reservation_commit_seconds"] = timings["start"] + took
        log(f"budget: reservation committed to the default branch in {took:.2f} s")
        stage("reserved")

    result = PromoteResult(run_id, pr, full_sha, provider.name, "crash", run_dir=str(run_dir))
    result.hardware = hardware_label(provider.name, spec.gpu_count, spec.gpu_type)
    result.best_before = ledger.current_best_bpb()
    result.sota_bpb = read_sota(settings.path("program_path", root)) or result.best_before

    def on_pod(pod_id: str) -> None:
        state.set(run_id, pod_id=pod_id, status="active")
        _record_pod(budget_path, settings, run_id, pod_id, committer if spends else None, log)

    def finish(run: PodRun) -> None:
        _finish(result, settings, state, budget_path, run.created_at, run.pod, spends, log)
        if committer is not None and spends and result.reserved_usd:
            # the settled cost reaches the default branch at once (best effort: the final
            # ledger commit and, failing that, the reaper's worst case still book it)
            try:
                took = committer(f"settle {run_id}: ${result.cost_usd:.2f}")
                log(f"budget: settlement committed in {took:.2f} s")
            except PgolfError as exc:
                log(f"budget: settlement not committed yet ({exc})")

    run = rent_and_train(
        settings, provider, spec, repo, seed_list, result, run_dir,
        log=log, timings=timings, stage=stage, setup=setup, key_path=key_path,
        lifetime=lifetime, reporter=reporter, on_pod=on_pod, finish=finish,
    )  # fmt: skip
    failure = run.failure
    # The row names the pinned commit's subject and its research item ([item:<id>] for calibration).
    from bot.training.local import commit_description

    what = description.strip() or (f"PR #{pr}" if pr is not None else "manual promotion")
    desc = defuse_tags(commit_description(repo, what, full_sha))
    _record(result, settings, results_path, ledger, len(seed_list), desc, log)
    timings["ledger"] = time.time()
    result.timings = {k: round(v - timings["start"], 3) for k, v in timings.items()}
    final_ledger = Ledger.load(results_path)
    result.comment = render_summary(result, final_ledger)
    with contextlib.suppress(OSError):
        atomic_write_text(run_dir / "result.json", json.dumps(result.to_dict(), indent=2) + "\n")
    if reporter is not None:
        try:
            reporter.final(result, final_ledger)
        except PgolfError as exc:
            log(f"comment not posted: {exc}")
    if isinstance(failure, (Interrupted, KeyboardInterrupt)):
        raise failure
    return result


@dataclass
class PodRun:
    """What :func:`rent_and_train` leaves for its caller to settle: the pod as last seen, when
    the create call was made (0: never), and the failure that ended the run (None: none)."""

    pod: PodInfo | None = None
    created_at: float = 0.0
    failure: BaseException | None = None


def rent_and_train(
    settings: Settings,
    provider: PodProvider,
    spec: PodSpec,
    repo: Path,
    seed_list: list[int],
    result: PromoteResult,
    run_dir: Path,
    *,
    log: Callable[[str], None],
    timings: dict[str, float],
    stage: Callable[[str], None],
    setup: str,
    key_path: Path | None,
    lifetime: int,
    reporter: Reporter | None,
    on_pod: Callable[[str], None],
    finish: Callable[[PodRun], None],
    check_pod: Callable[[Any], None] | None = None,
) -> PodRun:
    """The paid part of a promotion, shared by :func:`promote` (one process) and the paid job of
    the split workflow (:mod:`bot.compute.split`): rent the pod, ship ``result.sha``, train every
    seed, fetch, and terminate — always, in ``finally``, with atexit and SIGTERM/SIGINT as
    backstops. ``on_pod(pod_id)`` runs as soon as the pod exists; ``finish(run)`` runs after the
    terminate call on every path (the caller settles there). Exceptions are caught into
    ``run.failure`` and ``result.error``; the caller re-raises interruptions. ``check_pod(pod)``
    runs on the pod RunPod created, before anything is shipped; raising there terminates it."""
    run = PodRun()
    executor: Executor | None = None

    def terminate() -> None:
        if result.pod_id:
            provider.terminate(result.pod_id)

    guard = PodGuard(result.run_id, terminate)
    with guard:
        try:
            stage("create")
            run.created_at = time.time()
            timings["create"] = run.created_at
            pod = provider.create(spec)
            run.pod = pod
            result.pod_id = pod.id
            guard.set_pod(pod.id)
            stage("created")
            on_pod(pod.id)
            if check_pod is not None:
                check_pod(pod)
            log(f"pod {pod.id} created ({pod.name}); waiting for it to run")
            if reporter is not None:
                try:
                    reporter.progress(
                        result,
                        "running",
                        f"pod `{pod.id}` booting; it removes itself after {lifetime} s",
                    )
                except PgolfError as exc:
                    log(f"progress comment not posted: {exc}")
            pod = provider.wait_ready(pod.id, settings.pod_ready_timeout_seconds)
            run.pod = pod
            if pod.gpu_count:
                result.hardware = hardware_label(provider.name, pod.gpu_count, spec.gpu_type)
            timings["pod_ready"] = time.time()
            executor = provider.executor(pod, result.run_id, key_path)
            executor.wait_ready(settings.pod_ssh_timeout_seconds)
            timings["ssh_ready"] = time.time()
            stage("ship")
            executor.ship(repo, result.sha)
            log(f"shipped {result.sha[:12]} (git archive) to {executor.workdir}")
            if setup:
                rc = executor.run(setup, {}, run_dir / "setup.log", settings.pod_setup_timeout_seconds)
                if rc != 0:
                    raise PodError(
                        f"setup command failed with exit {rc}: {tail((run_dir / 'setup.log').read_text(), 5)}"
                    )
            _run_seeds(
                settings,
                executor,
                seed_list,
                result.run_id,
                run_dir,
                log,
                timings,
                stage,
                result.seeds,
            )
            stage("fetch")
            with contextlib.suppress(PgolfError):
                executor.fetch(run_dir / "pod", settings.pod_artifact_globs)
        except (Exception, Interrupted, KeyboardInterrupt) as exc:
            run.failure = exc
            result.error = f"{type(exc).__name__}: {exc}"
            log(f"failed: {result.error}")
        finally:
            timings["train_end"] = time.time()
            stage("terminate")
            if not result.pod_id and run.created_at:
                found = _created_anyway(provider, result.run_id, log)
                if found is not None and found.id:
                    run.pod = found
                    result.pod_id = found.id
            if executor is not None:
                with contextlib.suppress(Exception):
                    executor.close()
            _terminate(result, provider, log)
            finish(run)
            timings["terminated"] = time.time()
            shutil.rmtree(run_dir / "ssh", ignore_errors=True)  # the run's key dies with its pod
    return run


def _terminate(result: PromoteResult, provider: PodProvider, log: Callable[[str], None]) -> None:
    """Terminate the run's pod (if one was created). Never raises."""
    if result.pod_id:
        try:
            provider.terminate(result.pod_id)
            result.terminated = True
            log(f"pod {result.pod_id} terminated")
        except PgolfError as exc:
            log(f"TERMINATE FAILED for {result.pod_id}: {exc}; the in-pod deadline and the reaper remain")
            result.error = (result.error + "; " if result.error else "") + f"terminate failed: {exc}"
    else:
        result.terminated = True


def _created_anyway(provider: PodProvider, run_id: str, log: Callable[[str], None]) -> PodInfo | None:
    """The create call failed, but RunPod may have created the pod anyway (a lost reply): find
    it by its name ``pgolf-<run-id>`` so that it is terminated and booked here (once its in-pod
    deadline removes it, RunPod forgets it and no reaper could book it)."""
    try:
        found = [p for p in provider.list() if p.name == pod_name(run_id) and p.alive]
    except PgolfError as exc:
        log(f"could not look for a pod created despite the failed create call ({exc}); the reaper will")
        return None
    if found:
        log(f"pod {found[0].id} was created despite the failed create call; terminating and booking it")
    return found[0] if found else None


def _record_pod(
    budget_path: Path,
    settings: Settings,
    run_id: str,
    pod_id: str,
    committer: Committer | None,
    log: Callable[[str], None],
) -> None:
    """Put the pod id on the reservation (and on the default branch). Never raises: the pod
    exists, and its name ``pgolf-<run-id>`` still leads the reaper to it if this is lost."""
    try:
        budget_mod.set_pod(budget_path, settings, run_id, pod_id)
        if committer is not None:
            took = committer(f"pod {pod_id} for {run_id}")
            log(f"budget: pod id committed in {took:.2f} s")
    except PgolfError as exc:
        log(f"budget: pod id not recorded ({exc}); the reaper finds the pod by its name")


def _run_seeds(
    settings: Settings,
    executor: Executor,
    seed_list: list[int],
    run_id: str,
    run_dir: Path,
    log: Callable[[str], None],
    timings: dict[str, float],
    stage: Callable[[str], None],
    out: list[SeedResult],
) -> None:
    cap = settings.max_wallclock_seconds
    hard = cap + settings.pod_eval_slack_seconds
    command = settings.pod_train_command.format(gpus=settings.gpu_count, script=settings.training_script)
    for i, seed in enumerate(seed_list):
        env = dict(item.split("=", 1) for item in settings.pod_train_env if "=" in item)
        env.update({"SEED": str(seed), "RUN_ID": f"{run_id}-s{seed}", "MAX_WALLCLOCK_SECONDS": str(cap)})
        seed_log = run_dir / f"train_seed{seed}.log"
        log(f"seed {seed}: {command} (cap {cap} s, hard limit {hard} s)")
        if i == 0:
            timings["train_start"] = time.time()
            stage("train")
        t0 = time.time()
        rc = executor.run(command, env, seed_log, hard)
        text = strip_stamps(seed_log.read_text(encoding="utf-8")) if seed_log.exists() else ""
        res = SeedResult(seed=seed, rc=rc, log=str(seed_log), seconds=round(time.time() - t0, 2))
        out.append(res)
        if rc == 124:
            res.error = f"killed at the hard limit of {hard} s (wall-clock cap {cap} s + eval slack)"
            raise PodError(f"seed {seed}: {res.error}")
        if rc != 0:
            res.error = f"training exited with status {rc}"
            raise PodError(f"seed {seed}: {res.error}")
        try:
            read_seed_log(res, text)
        except (LogParseError, ValueError) as exc:
            res.error = str(exc)
            raise LogParseError(f"seed {seed}: {exc}") from None
        log(
            f"seed {seed}: val_bpb {res.val_bpb:.6f} val_loss {res.val_loss:.6f} artifact {res.artifact_bytes} bytes"
        )
    timings["train_done"] = time.time()


_TAG = re.compile(r"(?<![\w=-])(cfg|bpbs|run)=")


def defuse_tags(text: str) -> str:
    """The commit subject is the PR author's text: its ``cfg=``/``bpbs=``/``run=`` become
    ``cfg:``… so that only the tags pgolf appends are read back (merge-winner, configs)."""
    return _TAG.sub(r"\1:", text)


def read_seed_log(res: SeedResult, text: str) -> None:
    """Fill ``res``'s figures from its training log by the one parser
    (:func:`bot.training.logparse.parse_log`). The log is PR output: a score that is not a finite,
    non-negative number (``val_bpb:1e999``, ``val_bpb:-0.5``, no val_loss) is a parse failure
    (LogParseError), never a result; then ``res`` is left as it was."""
    r = parse_log(text)
    if r.val_loss is None:
        raise LogParseError(f"the final {r.tag or 'result'} line has no val_loss")
    for name, value in (("val_bpb", r.val_bpb), ("val_loss", r.val_loss)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise LogParseError(f"{name} {value!r} in the training log is not a finite non-negative number")
    res.val_bpb, res.val_loss = r.val_bpb, r.val_loss
    res.artifact_bytes, res.code_bytes = r.artifact_bytes, r.code_bytes
    res.memory_gb = round(r.peak_memory_mib / 1024, 1) if r.peak_memory_mib else None
    res.stopped_early = r.stopped_early


def _finish(
    result: PromoteResult,
    settings: Settings,
    state: PodState,
    budget_path: Path,
    created_at: float,
    pod: PodInfo | None,
    spends: bool,
    log: Callable[[str], None],
) -> None:
    """Settle (after :func:`_terminate`) and clear the state entry. Never raises: every path
    must reach here."""
    end = time.time()
    # No pod id means the create call failed: nothing was rented (a pod created despite a lost
    # reply is unknown to the state file once this entry is cleared, so the reaper books it).
    result.pod_seconds = round(end - created_at, 3) if created_at and result.pod_id else 0.0
    gpus = (pod.gpu_count if pod and pod.gpu_count else 0) or settings.gpu_count
    rate = settings.hourly_rate_usd if spends else 0.0
    if spends and pod is not None and pod.cost_per_hr > 0:
        rate = pod.cost_per_hr * 8.0 / gpus
    settle_result(result, settings, budget_path, gpus, rate, log)
    try:
        if result.terminated:
            state.remove(result.run_id)
        else:
            state.set(result.run_id, status="terminate_failed")
    except PgolfError as exc:
        log(f"pod state not updated: {exc}")


def settle_result(
    result: PromoteResult,
    settings: Settings,
    budget_path: Path,
    gpus: int,
    rate: float,
    log: Callable[[str], None],
    *,
    cost_usd: float | None = None,
    note: str = "",
) -> None:
    """Book ``result.pod_seconds`` at ``rate`` (USD/h for 8 GPUs; or ``cost_usd``) against the
    run's reservation; an overrun is marked and explained in ``result.budget_warning``. Never
    raises: a reservation already settled (by /abort or the reaper) is left as it is."""
    try:
        rec = budget_mod.settle(
            budget_path,
            settings,
            result.run_id,
            result.pod_seconds,
            gpus,
            rate,
            pod_id=result.pod_id,
            note=note or ("aborted: " if "Interrupted" in result.error else "") + result.error[:200],
            cost_usd=cost_usd,
        )
        result.cost_usd = rec.cost_usd
        result.reserved_usd = rec.reserved_usd
        result.overrun = rec.overrun
        log(f"budget: settled ${rec.cost_usd:.4f} for {result.pod_seconds:.0f} s")
        if rec.overrun:
            after = budget_mod.load(budget_path, settings)
            decision = budget_mod.can_submit(after, settings)
            result.budget_warning = (
                f"OVERRUN: ${rec.cost_usd:.2f} against ${rec.reserved_usd:.2f} reserved "
                f"(+${rec.overrun_usd:.2f}); available now ${after.available:.2f}"
                + (
                    f"; new promotions blocked: {decision.reason}"
                    if not decision.allowed and not decision.reason.startswith("Rate limited")
                    else ""
                )
            )
            log(f"budget: {result.budget_warning}")
    except BudgetError as exc:  # already settled by /abort or the reaper
        log(f"budget: not settled here ({exc})")


def _record(
    result: PromoteResult,
    settings: Settings,
    results_path: Path,
    ledger: Ledger,
    n_seeds: int,
    description: str,
    log: Callable[[str], None],
) -> None:
    ok = [s for s in result.seeds if s.val_bpb is not None]
    crashed = bool(result.error) or len(ok) < n_seeds
    short = result.sha[:7]
    what = description.strip() or (f"PR #{result.pr}" if result.pr is not None else "manual promotion")
    if crashed:
        log_tail = ""
        for s in reversed(result.seeds):
            p = Path(s.log)
            if p.exists():
                log_tail = tail(strip_stamps(p.read_text(encoding="utf-8")), 30)
                break
        result.log_tail = log_tail
        result.status = "crash"
        desc = one_line(f"{what} crash run={result.run_id}: {result.error} | log tail: {tail(log_tail, 3)}")
        row = make_row(
            commit=short, tier="runpod", val_bpb=None, artifact_bytes=None, memory_gb=None,
            status="crash", promoted="yes", cost_usd=result.cost_usd, description=desc,
        )  # fmt: skip
    else:
        bpbs = [s.val_bpb for s in ok if s.val_bpb is not None]
        losses = [s.val_loss for s in ok if s.val_loss is not None]
        result.val_bpb = statistics.fmean(bpbs)
        arts = [s.artifact_bytes for s in ok if s.artifact_bytes is not None]
        result.artifact_bytes = max(arts) if arts else None
        result.significance = assess(
            bpbs,
            losses if len(losses) == len(bpbs) else None,
            result.sota_bpb,
            min_improvement_nats=settings.record_min_improvement_nats,
            alpha=settings.record_p_value,
        )
        over = result.artifact_bytes is not None and result.artifact_bytes > settings.artifact_limit_bytes
        better = result.best_before is None or result.val_bpb < result.best_before
        result.status = "keep" if better and not over else "discard"
        mems = [s.memory_gb for s in ok if s.memory_gb is not None]
        std = f" std {result.significance.std_bpb:.5f}" if result.significance.std_bpb is not None else ""
        grade = " record-grade" if result.significance.record_grade else ""
        over_txt = " artifact over limit" if over else ""
        tags = f" {tier2_tags(settings, bpbs)} run={result.run_id}"
        head = f"{what} {len(ok)}-seed mean{std}{grade}{over_txt}"
        desc = one_line(head[: max(40, 299 - len(tags))] + tags)
        row = make_row(
            commit=short, tier="runpod", val_bpb=round(result.val_bpb, 6),
            artifact_bytes=result.artifact_bytes, memory_gb=max(mems) if mems else None,
            status=result.status, promoted="yes", cost_usd=round(result.cost_usd, 4), description=desc,
        )  # fmt: skip
    Ledger.append(results_path, row)
    changed = Ledger.mark_promoted(results_path, result.sha, "yes")
    log(f"results.tsv: {result.status} row written; {changed} local row(s) marked promoted")


@dataclass(frozen=True)
class PromotionSetup:
    """What a promotion runs with besides the commit: built once, by :func:`build_promotion`,
    for the command line and for the forge."""

    provider: PodProvider
    trust: Approval
    parity_gate: ParityGate
    reporter: Reporter | None

    def run(
        self,
        root: Path,
        settings: Settings,
        *,
        pr: int | None,
        sha: str,
        seeds: int | list[int],
        description: str = "",
        echo: Callable[[str], None] | None = None,
    ) -> PromoteResult:
        """:func:`promote` ``sha`` with this setup."""
        return promote(
            root,
            settings,
            provider=self.provider,
            pr=pr,
            sha=sha,
            seeds=seeds,
            trust=self.trust,
            parity_gate=self.parity_gate,
            reporter=self.reporter,
            description=description,
            echo=echo,
        )


def build_promotion(
    settings: Settings,
    root: Path,
    *,
    trust: Approval,
    forge: Forge | None = None,
    pr: int | None = None,
    provider_kind: str | None = None,
    parity_waiver: str = "",
    log_url: str = "",
    echo: Callable[[str], None] | None = None,
) -> PromotionSetup:
    """The pod provider of the settings (or ``provider_kind``), the real parity gate
    (:func:`bot.compute.gates.default_parity_gate`, or the logged ``parity_waiver`` when one is
    given) and, when a forge and a PR are given, the PR's sticky-comment reporter."""
    provider = make_provider(settings, root, provider_kind, log=echo)
    gate = waived_parity_gate(parity_waiver) if parity_waiver else default_parity_gate(settings)
    reporter = (
        ForgeReporter(forge, pr, approved_by=trust.actor, log_url=log_url)
        if forge is not None and pr is not None
        else None
    )
    return PromotionSetup(provider, trust, gate, reporter)


def promote_for_event(**kw: Any) -> PromoteResult:
    """The promotion a forge event approved (``bot.forge.dispatch.run_event``'s ``promote_hook``):
    :func:`promote` with the forge's trust decision and :func:`build_promotion`'s provider, parity
    gate and sticky-comment reporter."""
    settings: Settings = kw["settings"]
    root = Path(kw["root"])
    setup = build_promotion(
        settings, root, trust=kw["trust"], forge=kw["forge"], pr=kw["pr"], log_url=kw.get("run_url", "")
    )
    return setup.run(root, settings, pr=kw["pr"], sha=kw["sha"], seeds=kw["seeds"])
