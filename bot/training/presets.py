"""Tier 1 presets and time budgets: named run sizes instead of six ``--env`` flags, and
``pgolf train local --minutes N``.

Public API (stable):

* :data:`PRESETS` — name → :class:`Preset` (model/batch/validation knobs, default iterations,
  warmdown fraction, whether it is a weaker proxy); :func:`get_preset(name)`.
* :func:`preset_env(preset, iterations)` — the knobs of a run of ``iterations`` steps.
* :func:`round_iterations(n)` — down to a coarse grid, so repeated budgets give comparable runs.
* :func:`size_run(budget_s, probe, ...) -> Sizing` — pure: iterations that fit the budget.
* :func:`plan_run(root, settings, preset, minutes, ...) -> Plan` — probe a few steps, then size.

Presets (the hardware each is meant for; the model is upstream's 9×512 baseline unless noted):

======== ============================================================ ======== ==============
name     knobs                                                        default  meant for
======== ============================================================ ======== ==============
smoke    2×128 model, seq 128, 4,096 tokens/step, 32,768 val tokens    60 it    any CPU, ≤ 2 min
ci-linux 4×256 model, seq 256, 16,384 tokens/step, 1 M val tokens     300 it   GitHub-hosted runner (weaker proxy)
mac-8gb  baseline model, 32,768 tokens/step, 4,096-token MLX chunks,   300 it   8 GB Apple Silicon
         8 M val tokens
mac-32gb baseline model, 65,536 tokens/step, 8,192-token MLX chunks,   500 it   ≥ 16 GB Apple Silicon
         whole val split (today's local default)
full     upstream's run: 524,288 tokens/step, 600 s wall-clock cap      20000 it a GPU box
======== ============================================================ ======== ==============

``--preset auto --minutes N`` probes ``smoke``, scales its step time by each preset's FLOPs per step
and picks the largest of mac-32gb (≥ 16 GB of memory), mac-8gb, ci-linux, smoke whose default
iterations fit 80 % of the budget; then that preset is probed and sized as below.

Sizing (``--minutes N``): a probe runs the preset for a few steps on a small validation slice and
measures the steady step time, the evaluation time per validation token and the fixed overhead
(start-up, export); the run then gets the largest iteration count on the grid {1, 1.25, 1.5, 2,
2.5, 3, 4, 5, 6, 8} × 10^k whose predicted wall time (probe included) fits N minutes. The grid keeps
the configuration key (``cfg=``, which includes the iterations) stable between runs of the same
budget on the same machine, so experiments meet a baseline of the same configuration.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot import clock
from bot.config import Settings
from bot.errors import InputError, TrainingError
from bot.training.logparse import parse_log

GRID = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
PROXY_NOTE = "weaker proxy: a small model on a GitHub-hosted Linux CPU runner, not the Mac/MLX tier"


@dataclass(frozen=True)
class Preset:
    name: str
    env: dict[str, str]
    iterations: int
    meant_for: str
    warmdown_frac: float | None = 0.25  # WARMDOWN_ITERS = frac × iterations (None: keep env/default)
    proxy: str = ""  # non-empty: results are a weaker proxy (shown in the PR comment)
    min_iterations: int = 20  # a budget that affords fewer steps is refused

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "env": dict(self.env),
            "iterations": self.iterations,
            "meant_for": self.meant_for,
            "warmdown_frac": self.warmdown_frac,
            "proxy": self.proxy,
        }


_TINY = {"NUM_HEADS": "4", "NUM_KV_HEADS": "2", "MLP_MULT": "2", "WARMUP_STEPS": "0"}
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "smoke",
            {
                **_TINY,
                "NUM_LAYERS": "2",
                "MODEL_DIM": "128",
                "TRAIN_SEQ_LEN": "128",
                "TRAIN_BATCH_TOKENS": "4096",
                "GRAD_ACCUM_STEPS": "1",
                "VAL_BATCH_SIZE": "32768",
                "VAL_MAX_TOKENS": "32768",
            },
            60,
            "any CPU: a check that the loop works, finishes in under 2 minutes",
            min_iterations=5,
        ),
        Preset(
            "ci-linux",
            {
                **_TINY,
                "NUM_LAYERS": "4",
                "MODEL_DIM": "256",
                "TRAIN_SEQ_LEN": "256",
                "TRAIN_BATCH_TOKENS": "16384",
                "GRAD_ACCUM_STEPS": "1",
                "VAL_BATCH_SIZE": "131072",
                "VAL_MAX_TOKENS": "1048576",
            },
            300,
            "a GitHub-hosted Linux runner (4 vCPU, 16 GB) when the repository has no Mac",
            proxy=PROXY_NOTE,
        ),
        Preset(
            "mac-8gb",
            {
                "TRAIN_BATCH_TOKENS": "32768",
                "GRAD_ACCUM_STEPS": "8",
                "MLX_MAX_MICROBATCH_TOKENS": "4096",
                "VAL_BATCH_SIZE": "131072",
                "VAL_MAX_TOKENS": "8388608",
                "WARMUP_STEPS": "0",
            },
            300,
            "Apple Silicon with 8 GB: baseline model, 4,096-token chunks",
        ),
        Preset(
            "mac-32gb",
            {
                "TRAIN_BATCH_TOKENS": "65536",
                "GRAD_ACCUM_STEPS": "8",
                "MLX_MAX_MICROBATCH_TOKENS": "8192",
                "VAL_MAX_TOKENS": "0",
                "WARMUP_STEPS": "0",
            },
            500,
            "Apple Silicon with 16 GB or more: baseline model, today's local default",
        ),
        Preset(
            "full",
            {
                "TRAIN_BATCH_TOKENS": "524288",
                "VAL_MAX_TOKENS": "0",
                "MAX_WALLCLOCK_SECONDS": "600",
                "WARMUP_STEPS": "20",
            },
            20000,
            "a GPU machine: upstream's run (the wall-clock cap ends it)",
            warmdown_frac=None,
        ),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}", field="preset")
    return PRESETS[name]


def settings_preset(settings: Settings) -> Preset:
    """No named preset: the repository's local settings (local_env, local_train_batch_tokens, …) as they are."""
    return Preset(
        "settings", {}, settings.local_iterations, "the repository's local settings", warmdown_frac=None
    )


def preset_env(preset: Preset, iterations: int) -> dict[str, str]:
    """The preset's knobs for a run of ``iterations`` steps (warmdown scaled to the run)."""
    env = dict(preset.env)
    if preset.warmdown_frac is not None:
        env["WARMDOWN_ITERS"] = str(max(1, round(preset.warmdown_frac * iterations)))
    return env


def round_iterations(n: float) -> int:
    """The largest grid value ≤ n (grid: {1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8} × 10^k, rounded down to integers)."""
    if n < 1:
        return 0
    k = 10 ** math.floor(math.log10(n))
    best = 1
    for mult in (k / 10, k):
        for g in GRID:
            v = int(g * mult)  # 1.25 × 10 → 12
            if 1 <= v <= n:
                best = max(best, v)
    return best


@dataclass
class Probe:
    """What a few-step run measured."""

    steps: int
    wall_s: float  # the whole probe process
    step_ms: float  # steady step time (first step excluded when possible)
    eval_ms: float  # one evaluation of val_tokens validation tokens
    val_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "wall_s": round(self.wall_s, 2),
            "step_ms": round(self.step_ms, 2),
            "eval_ms": round(self.eval_ms, 1),
            "val_tokens": self.val_tokens,
        }


@dataclass
class Sizing:
    iterations: int
    predicted_s: float
    budget_s: float
    overhead_s: float
    eval_s: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def check_minutes(minutes: float) -> None:
    """A time budget is a positive, finite number of minutes (NaN and infinity are refused)."""
    if not (math.isfinite(minutes) and minutes > 0):
        raise InputError(f"must be a positive, finite number of minutes (got {minutes!r})", field="minutes")


def size_run(
    budget_s: float,
    probe: Probe,
    *,
    val_tokens: int,
    min_iterations: int = 1,
    max_iterations: int | None = None,
    spent_s: float = 0.0,
) -> Sizing:
    """Iterations (on the grid) whose predicted wall time fits ``budget_s`` after ``spent_s``.

    Predicted wall = fixed overhead + iterations × step time + 2 evaluations of the run's
    validation tokens (before and after export), with the probe's per-token evaluation cost."""
    check_minutes(budget_s / 60.0)
    per_eval = probe.eval_ms / 1000.0 * (val_tokens / max(probe.val_tokens, 1))
    overhead = max(0.0, probe.wall_s - probe.steps * probe.step_ms / 1000.0 - 2 * probe.eval_ms / 1000.0)
    left = budget_s - spent_s - overhead - 2 * per_eval
    raw = left / (probe.step_ms / 1000.0) if probe.step_ms > 0 else 0.0
    if max_iterations is not None:
        raw = min(raw, max_iterations)
    its = round_iterations(raw)
    if its < max(1, min_iterations):
        need = spent_s + overhead + 2 * per_eval + max(1, min_iterations) * probe.step_ms / 1000.0
        raise TrainingError(
            f"{budget_s / 60:.1f} min cannot fit {max(1, min_iterations)} steps of this preset on this machine "
            f"(step {probe.step_ms:.0f} ms, evaluation {per_eval:.0f} s ×2, overhead {overhead:.0f} s, "
            f"probe {spent_s:.0f} s: needs about {need / 60:.1f} min); give more minutes or a smaller preset"
        )
    predicted = spent_s + overhead + 2 * per_eval + its * probe.step_ms / 1000.0
    return Sizing(its, predicted, budget_s, overhead, per_eval)


AUTO_LADDER = ("mac-32gb", "mac-8gb", "ci-linux", "smoke")  # largest first; `--preset auto` picks from these


def step_flops(env: dict[str, str]) -> float:
    """Training FLOPs of one step (6 × matmul parameters × tokens + attention), from a preset's knobs."""
    d = int(env.get("MODEL_DIM", "512"))
    layers = int(env.get("NUM_LAYERS", "9"))
    heads, kv = int(env.get("NUM_HEADS", "8")), int(env.get("NUM_KV_HEADS", "4"))
    mult, vocab = int(env.get("MLP_MULT", "2")), int(env.get("VOCAB_SIZE", "1024"))
    seq, tokens = int(env.get("TRAIN_SEQ_LEN", "1024")), int(env.get("TRAIN_BATCH_TOKENS", "65536"))
    per_layer = 2 * d * d + 2 * d * (d // heads) * kv + 2 * mult * d * d
    params = layers * per_layer + vocab * d
    return 6.0 * params * tokens + 6.0 * layers * seq * d * tokens


def choose_preset(budget_s: float, probe: Probe, probed: Preset, *, memory_gb: float | None = None) -> Preset:
    """The largest preset of :data:`AUTO_LADDER` whose predicted run (step time scaled by FLOPs from the
    probed preset) affords its default iterations within ``budget_s``; mac-32gb needs ≥ 16 GB of memory."""
    base = step_flops(probed.env)
    for name in AUTO_LADDER:
        cand = PRESETS[name]
        if name == "mac-32gb" and memory_gb is not None and memory_gb < 16:
            continue
        step_s = probe.step_ms / 1000.0 * step_flops(cand.env) / base
        if step_s * cand.iterations <= 0.8 * budget_s:
            return cand
    return PRESETS["smoke"]


def memory_gb() -> float | None:
    """This machine's physical memory (None when unknown)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def val_split_tokens(data_path: Path) -> int:
    """Tokens in the validation shards (from their headers)."""
    total = 0
    for f in sorted(Path(data_path).glob("fineweb_val_*.bin")):
        header = np.fromfile(f, dtype="<i4", count=256)
        if header.size == 256:
            total += int(header[2])
    return total


def parse_probe(log_text: str, wall_s: float, val_tokens: int) -> Probe:
    """Step time and evaluation time from a probe's log."""
    res = parse_log(log_text)
    pts = [p for p in res.train_points if p.train_time_ms is not None]
    if not pts:
        raise TrainingError("the probe run logged no training step")
    last = pts[-1]
    assert last.train_time_ms is not None
    if len(pts) >= 2 and pts[0].train_time_ms is not None and last.step > pts[0].step:
        step_ms = (last.train_time_ms - pts[0].train_time_ms) / (last.step - pts[0].step)
    else:
        step_ms = last.train_time_ms / max(last.step, 1)
    eval_ms = 0.0
    for line in log_text.splitlines():
        if "_roundtrip " in line and "eval_time:" in line:
            eval_ms = float(line.rsplit("eval_time:", 1)[1].split("ms")[0])
    return Probe(last.step, wall_s, max(step_ms, 1e-3), eval_ms, val_tokens)


@dataclass
class Plan:
    preset: Preset
    iterations: int
    env: dict[str, str]
    probe: Probe | None = None
    sizing: Sizing | None = None
    notes: list[str] = field(default_factory=list)

    def tag(self) -> str:
        """What the ledger description says about the chosen configuration."""
        bits = [f"preset={self.preset.name}"] if self.preset.name in PRESETS else []
        if self.sizing is not None:
            bits.append(f"budget={self.sizing.budget_s / 60:g}min")
        return " ".join(bits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset.to_dict(),
            "iterations": self.iterations,
            "env": self.env,
            "probe": self.probe.to_dict() if self.probe else None,
            "sizing": self.sizing.to_dict() if self.sizing else None,
            "proxy": self.preset.proxy,
        }


def _int_knob(env: dict[str, str], key: str, default: str) -> int:
    """An integer knob of the run's environment (``--env KEY=…``), or a clear error naming it."""
    value = env.get(key, default) or "0"
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{key}={value!r} is not an integer", field="env") from None


def plan_run(
    root: Path | str,
    settings: Settings,
    preset_name: str | None,
    minutes: float | None,
    *,
    backend: str | None = None,
    data_path: Path | None = None,
    tokenizer_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
    iterations: int | None = None,
    probe_steps: int = 4,
    probe_val_tokens: int = 16384,
    runs_dir: Path | None = None,
) -> Plan:
    """The preset's run, sized to ``minutes`` when given (probing ``probe_steps`` steps first)."""
    from bot.training import local

    auto = preset_name == "auto"
    if auto and minutes is None:
        raise InputError("--preset auto needs --minutes (it sizes the model to the budget)", field="preset")
    preset = (
        PRESETS["smoke"] if auto else get_preset(preset_name) if preset_name else settings_preset(settings)
    )
    if iterations is not None and iterations < 1:
        raise InputError(f"must be at least 1 (got {iterations})", field="iterations")
    if minutes is None:
        its = iterations if iterations is not None else preset.iterations
        return Plan(preset, its, {**preset_env(preset, its), **(extra_env or {})})
    check_minutes(minutes)  # before the probe spends any time
    if settings.local_timeout_seconds and minutes * 60.0 > settings.local_timeout_seconds:
        raise InputError(
            f"{minutes:g} min is longer than local_timeout_seconds ({settings.local_timeout_seconds} s), "
            "which would kill the run as a crash; lower --minutes or raise local_timeout_seconds",
            field="minutes",
        )
    if iterations is not None:
        raise InputError("give --iterations or --minutes, not both", field="minutes")
    if "ITERATIONS" in (extra_env or {}):  # it would override the probe's steps and the sizing
        raise InputError("give --env ITERATIONS=… or --minutes, not both", field="minutes")
    root = Path(root)
    t0 = time.monotonic()
    be = local.choose_backend(backend or settings.local_backend)
    script = local.script_for(root, settings, be)
    if not script.is_file():
        raise InputError("training script not found", path=str(script))
    env_p = {**preset_env(preset, probe_steps), **(extra_env or {})}
    seq = _int_knob(env_p, "TRAIN_SEQ_LEN", "1024")
    probe_val = max(seq, (probe_val_tokens // seq) * seq)
    env_p.update(
        {
            "VAL_MAX_TOKENS": str(probe_val),
            "TRAIN_LOG_EVERY": "1",
            "MAX_WALLCLOCK_SECONDS": "0",
            "WARMUP_STEPS": "0",
        }
    )
    run_id = f"probe-{clock.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    env = local.training_env(
        root,
        settings,
        iterations=probe_steps,
        seed=None,
        run_id=run_id,
        data_path=data_path,
        tokenizer_path=tokenizer_path,
        extra=env_p,
    )
    for key, what in (("DATA_PATH", "data folder"), ("TOKENIZER_PATH", "tokenizer")):
        if not Path(env[key]).exists():
            raise InputError(f"{what} not found (run `python training/prepare_data.py` first)", path=env[key])
    run_dir = (runs_dir or root / ".pgolf" / "runs") / run_id
    probe_timeout = max(60.0, minutes * 60.0)
    out = local.run_script(
        script,
        env,
        run_dir,
        timeout=probe_timeout,
        settings=settings,
        inputs=[Path(env["DATA_PATH"]), Path(env["TOKENIZER_PATH"])],
    )
    if out.timed_out:
        raise TrainingError(
            f"the probe run ({probe_steps} steps of {preset.name}) did not finish within {probe_timeout:.0f} s "
            f"of the {minutes:g}-min budget; see {out.log_path}; give more minutes or a smaller preset"
        )
    if out.returncode != 0:
        raise TrainingError(
            f"the probe run failed (exit {out.returncode}); see {out.log_path}: {out.tail(3)}"
        )
    probe = parse_probe(out.log_text, out.seconds, probe_val)
    notes = [f"probe ({preset.name}): {probe.steps} steps, {probe.step_ms:.0f} ms/step, {probe.wall_s:.1f} s"]
    if auto:  # pick the model size from the smoke probe, then probe the chosen preset itself
        chosen = choose_preset(minutes * 60.0 - (time.monotonic() - t0), probe, preset, memory_gb=memory_gb())
        notes.append(f"auto: chose {chosen.name}")
        if chosen.name != preset.name:
            rest = plan_run(
                root,
                settings,
                chosen.name,
                minutes - (time.monotonic() - t0) / 60.0,
                backend=backend,
                data_path=data_path,
                tokenizer_path=tokenizer_path,
                extra_env=extra_env,
                probe_steps=probe_steps,
                probe_val_tokens=probe_val_tokens,
                runs_dir=runs_dir,
            )
            rest.notes[:0] = notes
            if rest.sizing is not None:  # the budget covers both probes
                rest.sizing.budget_s = minutes * 60.0
            return rest
    default_val = preset.env.get("VAL_MAX_TOKENS", str(settings.local_val_max_tokens))
    real_val = _int_knob({"VAL_MAX_TOKENS": default_val, **(extra_env or {})}, "VAL_MAX_TOKENS", "0")
    split = val_split_tokens(Path(env["DATA_PATH"]))
    val_tokens = min(real_val, split) if real_val > 0 else split
    sizing = size_run(
        minutes * 60.0,
        probe,
        val_tokens=val_tokens,
        min_iterations=preset.min_iterations,
        spent_s=time.monotonic() - t0,
    )
    env_run = {**preset_env(preset, sizing.iterations), **(extra_env or {})}
    return Plan(
        preset,
        sizing.iterations,
        env_run,
        probe,
        sizing,
        notes,
    )
