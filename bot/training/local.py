"""Tier 1 local runs: run a training script, parse it, measure it, gate it, record it.

Public API (stable; the experimenter, the demo and CI import these):

* :func:`decide(result, baseline, noise, script_shrank, gate_pct) -> Decision` — the pure gate.
* :func:`run_local(root, settings, *, iterations, backend, seed, ...) -> LocalOutcome` — one run,
  decided and (unless ``record=False``) appended to results.tsv.
* :func:`run_baseline(root, settings, seeds=3, ...) -> BaselineOutcome` — baseline rows + noise.
* :func:`run_script(...) -> RunOutput` — just the subprocess (log kept, progress callback).
* :func:`choose_backend(backend)`, :func:`training_env(...)`, :data:`TOY_ENV`.

The gate, against the running local baseline B (median of recent ``baseline …`` rows) and the
noise floor σ (their relative standard deviation), for a run with val_bpb v:

* **crash** — the log has no final metric (the row keeps the log tail);
* **qualifies** — (B − v)/B ≥ gate_pct % *and* (B − v)/B > σ (σ must have been measured);
* **keep** — not worse beyond noise (v ≤ B·(1 + σ)) and the training script got shorter;
* **discard** — otherwise (also when there is no baseline yet: run ``pgolf train baseline``).

Ledger status: qualifies/keep → ``keep``, discard → ``discard``, crash → ``crash``.

**Configurations.** Every local row (baseline and experiment) carries ``cfg=<key>`` in its
description (:func:`config_key`: ``<backend>-<iterations>it-<8 hex>``, the hex a hash of the data
and tokenizer paths, tokens per step, validation tokens and the ``local_env``/``--env`` knobs).
A run is only compared with baseline rows of the same key, so a 20-iteration PyTorch run is never
gated against a 500-iteration MLX baseline. An experiment row's description is
``<decision> — <commit subject>`` plus ``[item:<id>]`` for a ``Research-Item:`` trailer in the
commit message (calibration links it to its grade; the subject gives the frontier a technique).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import clock
from bot.artifact import ArtifactReport, measure_artifact
from bot.config import Settings
from bot.errors import GitError, InputError, LogParseError, TrainingError
from bot.git import git, git_bytes, resolve
from bot.grading.calibration import with_item_refs
from bot.ledger import Ledger, Row, make_row
from bot.sandbox import open_sandbox
from bot.training.logparse import TrainResult, parse_log

OUTCOMES = ("qualifies", "keep", "discard", "crash")
LEDGER_STATUS = {"qualifies": "keep", "keep": "keep", "discard": "discard", "crash": "crash"}
DATASET = "datasets/fineweb10B_sp1024"
TOKENIZER = "tokenizers/fineweb_1024_bpe.model"
TAIL_LINES = 12
# What a run leaves that is kept (copied out of the sandbox as regular files): the weights and
# the script's own log folder.
RUN_OUTPUTS = ("final_model.*", "logs/*.txt")

# Finishes in a few seconds per script on a CPU (used by tests, the demo and docs).
TOY_ENV: dict[str, str] = {
    "NUM_LAYERS": "2",
    "MODEL_DIM": "64",
    "NUM_HEADS": "4",
    "NUM_KV_HEADS": "2",
    "MLP_MULT": "2",
    "TRAIN_SEQ_LEN": "64",
    "TRAIN_BATCH_TOKENS": "2048",
    "GRAD_ACCUM_STEPS": "2",
    "VAL_BATCH_SIZE": "8192",
    "VAL_MAX_TOKENS": "8192",
    "ITERATIONS": "20",
    "WARMUP_STEPS": "0",
    "WARMDOWN_ITERS": "8",
    "VAL_LOSS_EVERY": "0",
    "TRAIN_LOG_EVERY": "5",
    "MAX_WALLCLOCK_SECONDS": "0",
}


@dataclass
class Decision:
    outcome: str  # qualifies | keep | discard | crash
    reason: str
    improvement_pct: float | None = None  # (baseline − val_bpb)/baseline × 100

    @property
    def status(self) -> str:
        return LEDGER_STATUS[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "status": self.status,
            "reason": self.reason,
            "improvement_pct": self.improvement_pct,
        }


def decide(
    result: TrainResult | None,
    baseline: float | None,
    noise: float | None,
    script_shrank: bool,
    gate_pct: float = 3.0,
    *,
    config: str | None = None,
) -> Decision:
    """The Tier 1 gate (pure). ``noise`` is a relative std (0.002 = 0.2 %); None = not measured.

    ``config`` is the run's configuration key; it only changes the no-baseline message."""
    if result is None:
        return Decision("crash", "no final metric in the log")
    v = result.val_bpb
    if baseline is None or baseline <= 0:
        if config:
            return Decision(
                "discard",
                f"no baseline for cfg={config}; run `pgolf train baseline` with the same settings",
            )
        return Decision("discard", "no running local baseline yet (run `pgolf train baseline`)")
    imp = (baseline - v) / baseline
    pct = 100.0 * imp
    sigma = noise if noise is not None else 0.0
    noise_txt = "unmeasured" if noise is None else f"{100 * noise:.2f}%"
    if pct >= gate_pct and noise is not None and imp > noise:
        return Decision(
            "qualifies", f"{pct:+.2f}% vs baseline {baseline:.4f} (gate {gate_pct}%, noise {noise_txt})", pct
        )
    if v <= baseline * (1.0 + sigma) and script_shrank:
        return Decision(
            "keep", f"{pct:+.2f}% (within noise {noise_txt}) and the training script got shorter", pct
        )
    if pct >= gate_pct and noise is None:
        why = "noise floor not measured (need ≥ 2 baseline rows)"
    elif pct >= gate_pct:
        why = f"improvement does not exceed the noise floor {noise_txt}"
    elif v <= baseline * (1.0 + sigma):
        why = f"below the {gate_pct}% gate and the script did not get shorter"
    else:
        why = f"worse than baseline beyond noise {noise_txt}"
    return Decision("discard", f"{pct:+.2f}% vs baseline {baseline:.4f}: {why}", pct)


# ----------------------------------------------------------------------------- running


def choose_backend(backend: str = "auto") -> str:
    """auto → mlx on Apple Silicon with mlx installed, torch elsewhere."""
    if backend not in ("auto", "mlx", "torch"):
        raise InputError(f"{backend!r} is not auto, mlx or torch", field="backend")
    if backend != "auto":
        return backend
    if sys.platform == "darwin" and platform.machine() == "arm64":
        try:
            import mlx.core  # noqa: F401

            return "mlx"
        except ImportError:
            return "torch"
    return "torch"


def script_for(root: Path, settings: Settings, backend: str) -> Path:
    return settings.path("mlx_script" if backend == "mlx" else "training_script", root)


def training_env(
    root: Path,
    settings: Settings,
    *,
    iterations: int,
    seed: int | None,
    run_id: str,
    data_path: Path | None = None,
    tokenizer_path: Path | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The knobs of a Tier 1 run. Only these reach the script: :mod:`bot.sandbox` builds the rest
    of its environment from nothing (the script is PR code or model-written)."""
    data_dir = settings.path("data_dir", root)
    env: dict[str, str] = {}
    env.update(
        {
            "RUN_ID": run_id,
            "DATA_PATH": str((data_path or data_dir / DATASET).resolve()),
            "TOKENIZER_PATH": str((tokenizer_path or data_dir / TOKENIZER).resolve()),
            "ITERATIONS": str(iterations),
            "TRAIN_BATCH_TOKENS": str(settings.local_train_batch_tokens),
            "VAL_MAX_TOKENS": str(settings.local_val_max_tokens),
            "MAX_WALLCLOCK_SECONDS": "0",
            "WARMUP_STEPS": "0",
            "VAL_LOSS_EVERY": "0",
            "TRAIN_LOG_EVERY": str(max(1, min(50, iterations // 20 or 1))),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if seed is not None:
        env["SEED"] = str(seed)
    for pair in settings.local_env:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{pair!r} is not KEY=VALUE", field="local_env")
        env[key.strip()] = value
    env.update(extra or {})
    return env


# Knobs of the run's environment that never change what a baseline measures.
_NOT_CONFIG = frozenset({"RUN_ID", "SEED", "TRAIN_LOG_EVERY", "PYTHONUNBUFFERED", "ITERATIONS"})


def config_key(
    backend: str, env: dict[str, str], settings: Settings, extra: dict[str, str] | None = None
) -> str:
    """``<backend>-<iterations>it-<8 hex>``: what must match for two local runs to be comparable.

    The hash covers the data (its shard names and sizes, so the same dataset in another checkout
    or worktree matches; the path itself when it is not a folder), the tokenizer (its bytes),
    tokens per step, validation tokens and every knob set through ``local_env`` or ``extra``
    (``--env``), with the values the run really got; the seed does not count (a baseline is
    several seeds of one configuration)."""
    keys = {"DATA_PATH", "TOKENIZER_PATH", "TRAIN_BATCH_TOKENS", "VAL_MAX_TOKENS"}
    keys |= {pair.partition("=")[0].strip() for pair in settings.local_env}
    keys |= set(extra or {})
    knobs = {k: env.get(k, "") for k in sorted(keys - _NOT_CONFIG)}
    data, tok = Path(knobs["DATA_PATH"]), Path(knobs["TOKENIZER_PATH"])
    if knobs["DATA_PATH"] and data.is_dir():
        knobs["DATA_PATH"] = json.dumps(sorted((f.name, f.stat().st_size) for f in data.glob("*.bin")))
    if knobs["TOKENIZER_PATH"] and tok.is_file():
        knobs["TOKENIZER_PATH"] = hashlib.sha256(tok.read_bytes()).hexdigest()
    digest = hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:8]
    return f"{backend}-{env.get('ITERATIONS', '?')}it-{digest}"


def commit_message(root: Path, ref: str = "HEAD") -> str:
    """The full message of ``ref`` (``""`` outside a git repository)."""
    try:
        return git(root, "log", "-1", "--format=%B", ref).strip()
    except GitError:
        return ""


def subject_line(message: str, limit: int = 80) -> str:
    """The first line of a commit message, tabs flattened, at most ``limit`` characters."""
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    first = " ".join(first.split())
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def commit_description(root: Path, text: str, ref: str = "HEAD") -> str:
    """``<text> — <subject of ref>`` plus ``[item:<id>]`` for each research item its message names.

    What a ledger row for a commit says (Tier 1 here, Tier 2 in :mod:`bot.compute.promote`):
    calibration links the row to the item's grade, the frontier classifies the subject."""
    message = commit_message(root, ref)
    subject = subject_line(message)
    desc = f"{text} — {subject}" if subject and subject not in text else text
    return with_item_refs(" ".join(desc.split()), message)


@dataclass
class Progress:
    step: int
    total: int
    train_loss: float | None
    tokens_per_s: float | None
    eta_s: float | None


@dataclass
class RunOutput:
    returncode: int
    log_text: str
    log_path: Path
    run_dir: Path
    seconds: float
    max_rss_gb: float | None
    timed_out: bool = False
    sandbox: str = ""  # the wall the run had (bot.sandbox mode)

    def tail(self, n: int = TAIL_LINES) -> str:
        lines = [ln for ln in self.log_text.splitlines() if ln.strip()]
        return "\n".join(lines[-n:])


def run_script(
    script: Path,
    env: dict[str, str],
    run_dir: Path,
    *,
    timeout: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    settings: Settings | None = None,
    inputs: Sequence[Path] = (),
    outputs: Sequence[str] = RUN_OUTPUTS,
) -> RunOutput:
    """Run a training script inside :mod:`bot.sandbox` (a private copy of the script, ``inputs``
    read-only, the box's scratch folder as working directory); stdout+stderr are kept in
    ``run_dir/output.log`` (written here, from the pipe), and the regular files matching
    ``outputs`` that the run left are copied to ``run_dir`` afterwards."""
    from bot.training.logparse import _STEP, _step_point

    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "output.log"
    batch_tokens = int(env.get("TRAIN_BATCH_TOKENS", "0") or 0)
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines: list[str] = []
    timed_out = False
    with open_sandbox(settings or Settings()) as box, open(log_path, "w", encoding="utf-8") as out:
        for p in inputs:
            box.bind(p)
        inside = box.add_file(script, Path(script).name)
        proc = box.popen(
            [sys.executable, str(inside)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
        timer = None
        if timeout:

            def _kill() -> None:
                nonlocal timed_out
                timed_out = True
                box.kill(proc)  # through sudo, proc.kill() would leave the box running

            timer = threading.Timer(timeout, _kill)
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                out.flush()
                lines.append(line)
                if on_progress and (m := _STEP.search(line)):
                    sp = _step_point(m)
                    if sp.train_loss is not None:
                        ms = sp.train_time_ms or 0.0
                        tps = batch_tokens * sp.step / (ms / 1000.0) if ms > 0 else None
                        eta = (sp.total - sp.step) * sp.step_avg_ms / 1000.0 if sp.step_avg_ms else None
                        on_progress(Progress(sp.step, sp.total, sp.train_loss, tps, eta))
            proc.wait()
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                box.kill(proc)
        box.finished()
        box.copy_out(outputs, run_dir)
        mode = box.mode
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1024**3 if sys.platform == "darwin" else 1024**2  # bytes on macOS, KiB on Linux
    text = "".join(lines)
    if timed_out:
        text += f"\nerror: killed after {timeout:.0f} s (local_timeout_seconds)\n"
    return RunOutput(
        returncode=proc.returncode,
        log_text=text,
        log_path=log_path,
        run_dir=run_dir,
        seconds=time.monotonic() - t0,
        max_rss_gb=(max(rss, before) / scale) if rss else None,
        timed_out=timed_out,
        sandbox=mode,
    )


def head_commit(root: Path) -> str:
    """Short SHA of HEAD (``nogit`` outside a git repository)."""
    try:
        return git(root, "rev-parse", "--short", "HEAD").strip() or "nogit"
    except GitError:
        return "nogit"


def script_shrank(root: Path, script: Path, base_ref: str | None) -> bool | None:
    """True when ``script`` has fewer bytes than the same path at ``base_ref`` (None: unknown)."""
    if not base_ref:
        return None
    try:
        rel = script.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    try:
        old = git_bytes(root, "show", f"{base_ref}:{rel.as_posix()}")
    except GitError:
        return None
    return script.stat().st_size < len(old)


def default_base_ref(root: Path) -> str | None:
    """The ref a PR is compared with: ``origin/$GITHUB_BASE_REF`` in Actions, else ``main`` if it isn't HEAD."""
    base = os.environ.get("GITHUB_BASE_REF")
    candidates = [f"origin/{base}", base] if base else ["origin/main", "main"]
    head = _rev(root, "HEAD")
    for ref in candidates:
        sha = _rev(root, ref) if ref else None
        if sha and sha != head:
            return ref
    return None


def _rev(root: Path, ref: str) -> str | None:
    try:
        return resolve(root, ref)
    except GitError:
        return None


@dataclass
class LocalOutcome:
    decision: Decision
    result: TrainResult | None
    artifact: ArtifactReport | None
    row: Row | None
    backend: str
    script: Path
    run: RunOutput
    baseline: float | None
    noise: float | None
    script_shrank: bool | None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    config: str = ""  # config_key of the run (cfg=… in its row)
    plan_tag: str = ""  # e.g. "preset=smoke budget=2min" (presets.Plan.tag)
    proxy: str = ""  # non-empty: a weaker proxy (a GitHub-hosted runner preset); shown in the comment

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.decision.to_dict(),
            "val_bpb": self.result.val_bpb if self.result else None,
            "val_loss": self.result.val_loss if self.result else None,
            "baseline": self.baseline,
            "noise_floor": self.noise,
            "script_shrank": self.script_shrank,
            "artifact": self.artifact.to_dict() if self.artifact else None,
            "row": self.row.to_dict() if self.row else None,
            "backend": self.backend,
            "script": str(self.script),
            "log": str(self.run.log_path),
            "seconds": round(self.run.seconds, 2),
            "error": self.error,
            "config": self.config,
            "sandbox": self.run.sandbox,
            "plan": self.plan_tag,
            "proxy": self.proxy,
            "iterations": self.result.total_steps if self.result else None,
        }


def _one_line(text: str, limit: int = 600) -> str:
    flat = " | ".join(ln.strip().replace("\t", " ") for ln in text.splitlines() if ln.strip())
    return flat[-limit:]


def run_local(
    root: Path | str,
    settings: Settings,
    *,
    iterations: int | None = None,
    backend: str | None = None,
    seed: int | None = None,
    data_path: Path | None = None,
    tokenizer_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
    description: str | None = None,
    base_ref: str | None = "auto",
    record: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
    runs_dir: Path | None = None,
    plan_tag: str = "",
    proxy: str = "",
) -> LocalOutcome:
    """Run one Tier 1 training run, decide, and append the local row (``record``) to results.tsv.

    ``plan_tag`` (the preset and time budget, :mod:`bot.training.presets`) goes into the row's
    description before ``cfg=``; ``proxy`` marks a weaker-proxy run (shown in the PR comment)."""
    root = Path(root)
    iterations = settings.local_iterations if iterations is None else iterations
    if iterations <= 0:
        raise InputError("must be a positive number of iterations", field="iterations")
    be = choose_backend(backend or settings.local_backend)
    script = script_for(root, settings, be)
    if not script.is_file():
        raise InputError("training script not found", path=str(script))
    run_id = f"local-{clock.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = (runs_dir or root / ".pgolf" / "runs") / run_id
    env = training_env(
        root,
        settings,
        iterations=iterations,
        seed=seed,
        run_id=run_id,
        data_path=data_path,
        tokenizer_path=tokenizer_path,
        extra=extra_env,
    )
    for key, what in (("DATA_PATH", "data folder"), ("TOKENIZER_PATH", "tokenizer")):
        if not Path(env[key]).exists():
            raise InputError(f"{what} not found (run `python training/prepare_data.py` first)", path=env[key])
    cfg = config_key(be, env, settings, extra_env)
    ledger_path = settings.path("results_path", root)
    led = Ledger.load(ledger_path) if ledger_path.exists() else None
    baseline = led.running_local_baseline(settings.baseline_window, config=cfg) if led else None
    noise = led.noise_floor(settings.baseline_window, config=cfg) if led else None
    shrank = script_shrank(root, script, default_base_ref(root) if base_ref == "auto" else base_ref)

    run = run_script(
        script,
        env,
        run_dir,
        timeout=settings.local_timeout_seconds,
        on_progress=on_progress,
        settings=settings,
        inputs=[Path(env["DATA_PATH"]), Path(env["TOKENIZER_PATH"])],
    )
    result: TrainResult | None = None
    error: str | None = None
    try:
        result = parse_log(run.log_text)
    except LogParseError as exc:
        error = str(exc)
    if result is not None and not (math.isfinite(result.val_bpb) and result.val_bpb >= 0):
        # a diverged model (val_bpb:nan) or a hostile print: a crash with the reason, never a score
        error = f"final val_bpb {result.val_bpb} is not a finite non-negative number (diverged?)"
        result = None
    if result is not None and run.returncode != 0:
        error = f"script exited with {run.returncode} after printing its final metric"
    artifact = None
    if result is not None:
        weights = sorted(run_dir.glob("final_model.*.ptz"))
        artifact = measure_artifact(
            script, weights, limit=settings.artifact_limit_bytes, zstd_level=settings.artifact_zstd_level
        )
    decision = decide(result, baseline, noise, bool(shrank), settings.local_gate_pct, config=cfg)
    tag = f"{plan_tag} cfg={cfg}" if plan_tag else f"cfg={cfg}"
    if proxy:
        tag += " weaker-proxy"
    message = commit_message(root)
    about = f" — {subject_line(message)}" if subject_line(message) else ""
    if decision.outcome == "crash":
        why = error or "no final metric"
        desc = f"crash ({be}, {iterations} it, {tag}){about}: {why} :: {_one_line(run.tail())}"
    elif description is not None:
        desc = description if tag in description else f"{description} ({tag})"
    else:
        desc = f"{decision.outcome}: {decision.reason} ({be}, {iterations} it, {tag}){about}"
    desc = with_item_refs(" ".join(desc.split()), message)
    row = None
    if record:
        row = make_row(
            commit=head_commit(root),
            tier="local",
            val_bpb=result.val_bpb if result else None,
            artifact_bytes=artifact.total_bytes if artifact else None,
            memory_gb=(
                result.peak_memory_mib / 1024.0 if result and result.peak_memory_mib else run.max_rss_gb
            ),
            status=decision.status,
            promoted="no",
            cost_usd=0.0,
            description=desc,
        )
        Ledger.append(ledger_path, row)
    return LocalOutcome(
        decision,
        result,
        artifact,
        row,
        be,
        script,
        run,
        baseline,
        noise,
        shrank,
        error,
        config=cfg,
        plan_tag=plan_tag,
        proxy=proxy,
    )


@dataclass
class BaselineOutcome:
    runs: list[LocalOutcome]
    baseline: float | None
    noise_floor: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.to_dict() for r in self.runs],
            "baseline": self.baseline,
            "noise_floor": self.noise_floor,
        }


def run_baseline(
    root: Path | str,
    settings: Settings,
    *,
    seeds: int = 3,
    first_seed: int = 1337,
    iterations: int | None = None,
    backend: str | None = None,
    data_path: Path | None = None,
    tokenizer_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    runs_dir: Path | None = None,
    plan_tag: str = "",
    proxy: str = "",
) -> BaselineOutcome:
    """Run the unmodified script with ``seeds`` seeds; rows are ``baseline seed=N …`` (status keep).

    The noise floor is then ``Ledger.noise_floor`` over the recent baseline rows. A crashed seed
    is recorded as a crash row (not a baseline) and raises TrainingError after the others ran.
    """
    root = Path(root)
    if seeds < 1:
        raise InputError("must be at least 1", field="seeds")
    it = settings.local_iterations if iterations is None else iterations
    be = choose_backend(backend or settings.local_backend)
    runs: list[LocalOutcome] = []
    for k in range(seeds):
        seed = first_seed + k
        out = run_local(
            root,
            settings,
            iterations=it,
            backend=be,
            seed=seed,
            data_path=data_path,
            tokenizer_path=tokenizer_path,
            extra_env=extra_env,
            base_ref=None,
            record=False,
            on_progress=on_progress,
            runs_dir=runs_dir,
            plan_tag=plan_tag,
            proxy=proxy,
        )
        status = "crash" if out.result is None else "keep"
        plan = f"{plan_tag} " if plan_tag else ""
        if out.result is None:  # a crashed seed is not a baseline row (description does not start with it)
            desc = f"crash of baseline seed={seed} (cfg={out.config}): {out.error} :: {_one_line(out.run.tail())}"
        else:
            desc = f"baseline seed={seed} ({be}, {it} it, {plan}cfg={out.config})"
        row = make_row(
            commit=head_commit(root),
            tier="local",
            val_bpb=out.result.val_bpb if out.result else None,
            artifact_bytes=out.artifact.total_bytes if out.artifact else None,
            memory_gb=out.run.max_rss_gb,
            status=status,
            description=desc,
        )
        Ledger.append(settings.path("results_path", root), row)
        out.row = row
        runs.append(out)
    led = Ledger.load(settings.path("results_path", root))
    crashed = [r for r in runs if r.result is None]
    if crashed:
        raise TrainingError(f"{len(crashed)} of {seeds} baseline runs crashed; see {crashed[0].run.log_path}")
    cfg = runs[0].config if runs else None
    return BaselineOutcome(
        runs,
        led.running_local_baseline(settings.baseline_window, config=cfg),
        led.noise_floor(settings.baseline_window, config=cfg),
    )
