"""Tier fidelity: does a local (Tier 1) improvement predict a full-scale one?

    .venv/bin/python benchmarks/tier_fidelity.py [--seeds 2] [--workers 2] [--iterations 80]

Takes changes whose effect at full scale (8×H100, 600 s) is on record upstream in
openai/parameter-golf's record READMEs, runs each against the unmodified baseline with
training/train_gpt.py at two local CPU scales and several seeds, and reports per scale:

* the sign agreement — the share of changes whose local Δval_bpb has the sign of the recorded one;
* Spearman's ρ between the local and the recorded deltas, with a bootstrap 95 % interval
  (changes resampled with replacement, 2,000 draws).

What it is: a CPU toy-scale proxy on a tiny local dataset (prepare_data.py --from-stdlib, Python
docstrings — not FineWeb), with a few dozen steps per run. It answers "how much is a local
'3 % better' worth" for *this* proxy and is the prior in the dashboard's tier-correlation panel
until real Tier 1 / Tier 2 pairs exist. Recorded deltas are the records' own figures (val_bpb after
int8+zlib roundtrip) against the naive baseline 1.2244 unless a README states another reference.
Schedule-relative knobs (WARMDOWN_ITERS) are translated as the fraction of the run they cover.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.training.logparse import parse_log  # noqa: E402
from bot.training.shards import make_tiny_dataset  # noqa: E402

BASELINE_WARMDOWN_FRAC = 1200 / 13780  # upstream: 1,200 warmdown steps of the ~13,780 a 600 s run reaches


@dataclass(frozen=True)
class Change:
    name: str
    upstream_delta: float  # recorded full-scale Δval_bpb (negative = better)
    source: str  # the record folder (records/track_10min_16mb/…) and what it states
    knobs: dict[str, str]  # fixed knobs
    seq_mult: int = 1  # TRAIN_SEQ_LEN × this (tokens per step unchanged, as upstream)
    layers_add: int = 0
    warmdown_frac: float | None = None  # WARMDOWN_ITERS as a fraction of the run


CHANGES = [
    Change("matrix_lr_0.06", +0.0159, "2026-03-18_LowerLR sweep: 1.2445 vs 1.2286", {"MATRIX_LR": "0.06"}),
    Change("matrix_lr_0.03", -0.0007, "2026-03-18_LowerLR sweep: 1.2279 vs 1.2286", {"MATRIX_LR": "0.03"}),
    Change("matrix_lr_0.02", -0.0056, "2026-03-18_LowerLR sweep: 1.2230 vs 1.2286", {"MATRIX_LR": "0.02"}),
    Change(
        "lower_lr_all",
        -0.0014,
        "2026-03-18_LowerLR record: 1.22297 vs 1.2244",
        {"MATRIX_LR": "0.02", "SCALAR_LR": "0.02", "TIED_EMBED_LR": "0.03"},
    ),
    Change(
        "seq_x2",
        -0.0186,
        "2026-03-18_LongContextSeq2048: 1.20576 vs 1.2244",
        {"MATRIX_LR": "0.032", "SCALAR_LR": "0.032", "TIED_EMBED_LR": "0.04"},
        seq_mult=2,
    ),
    Change(
        "seq_x4",
        -0.0230,
        "2026-03-19_TrainingOptSeq4096: 1.20143 vs 1.2244 (warmdown 3,000 of ~8,400 steps)",
        {"MATRIX_LR": "0.02", "SCALAR_LR": "0.02", "TIED_EMBED_LR": "0.03"},
        seq_mult=4,
        warmdown_frac=3000 / 8400,
    ),
    Change(
        "one_more_layer",
        -0.0097,
        "2026-03-19_10L_MixedPrecision: 1.21475 vs 1.2244 (10 layers, lower LR; mixed int6 export not reproduced)",
        {"MATRIX_LR": "0.02", "SCALAR_LR": "0.02", "TIED_EMBED_LR": "0.03"},
        layers_add=1,
    ),
    Change(
        "full_decay_warmdown",
        -0.0090,
        "2026-03-19_WarmdownQuantization: 1.2154 vs 1.2244 (WARMDOWN_ITERS=20000 of ~12,200 steps; with fp16 embedding)",
        {},
        warmdown_frac=20000 / 12200,
    ),
]

SCALES: dict[str, dict[str, Any]] = {
    "toy": {"layers": 2, "dim": 64, "seq": 32, "batch": 2048, "val": 16384},
    "small": {"layers": 3, "dim": 128, "seq": 64, "batch": 4096, "val": 32768},
}


def run_env(
    scale: dict[str, Any], change: Change | None, seed: int, iterations: int, data: Any
) -> dict[str, str]:
    seq = scale["seq"] * (change.seq_mult if change else 1)
    wd = change.warmdown_frac if change and change.warmdown_frac is not None else BASELINE_WARMDOWN_FRAC
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PGOLF_", "RANK", "WORLD_SIZE", "LOCAL_"))
    }
    env.update(
        {
            "NUM_LAYERS": str(scale["layers"] + (change.layers_add if change else 0)),
            "MODEL_DIM": str(scale["dim"]),
            "NUM_HEADS": "4",
            "NUM_KV_HEADS": "2",
            "TRAIN_SEQ_LEN": str(seq),
            "TRAIN_BATCH_TOKENS": str(scale["batch"]),
            "GRAD_ACCUM_STEPS": "1",
            "VAL_MAX_TOKENS": str(scale["val"]),
            "VAL_BATCH_SIZE": str(scale["val"]),
            "ITERATIONS": str(iterations),
            "WARMDOWN_ITERS": str(max(1, round(wd * iterations))),
            "WARMUP_STEPS": "0",
            "VAL_LOSS_EVERY": "0",
            "TRAIN_LOG_EVERY": "0",
            "MAX_WALLCLOCK_SECONDS": "0",
            "SEED": str(seed),
            "OMP_NUM_THREADS": "1",
            "DATA_PATH": str(data.data_path),
            "TOKENIZER_PATH": str(data.tokenizer_path),
            "RUN_ID": "fidelity",
        }
    )
    env.update(change.knobs if change else {})
    return env


_MOD: Any = None


def _init_worker() -> None:
    """Load the training script once per worker process (a fresh interpreter per run costs more than the run)."""
    global _MOD
    import torch

    from bot.training.parity import load_script

    torch.set_num_threads(1)
    _MOD = load_script(ROOT / "training" / "train_gpt.py")


def train(job: tuple[dict[str, str], str]) -> float:
    """Run the script's main() in this worker with the job's environment and folder; its val_bpb."""
    import contextlib
    import io

    env, cwd = job
    Path(cwd).mkdir(parents=True, exist_ok=True)
    saved, old = dict(os.environ), os.getcwd()
    buf = io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        with contextlib.redirect_stdout(buf):
            _MOD.main()
    finally:
        os.chdir(old)
        os.environ.clear()
        os.environ.update(saved)
    return parse_log(buf.getvalue()).val_bpb


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)).astype(float), np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def bootstrap_ci(a: np.ndarray, b: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(draws):
        idx = rng.integers(0, len(a), len(a))
        r = spearman(a[idx], b[idx])
        if not np.isnan(r):
            vals.append(r)
    if not vals:
        return float("nan"), float("nan")
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=80)
    ap.add_argument("--data", type=Path, default=None, help="existing tiny dataset root (built if missing)")
    a = ap.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_tiny_dataset(a.data or Path(tmp) / "tiny", max_chars=3_000_000)
        jobs = []
        for sname, scale in SCALES.items():
            for seed in range(1337, 1337 + a.seeds):
                for change in [None, *CHANGES]:
                    jobs.append(
                        (
                            sname,
                            change.name if change else "baseline",
                            seed,
                            run_env(scale, change, seed, a.iterations, data),
                        )
                    )
        work = [(j[3], str(Path(tmp) / "runs" / f"{j[0]}-{j[1]}-{j[2]}")) for j in jobs]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=a.workers, mp_context=ctx, initializer=_init_worker) as pool:
            bpbs = list(pool.map(train, work))
    results: dict[tuple[str, str, int], float] = {
        (j[0], j[1], j[2]): v for j, v in zip(jobs, bpbs, strict=True)
    }
    up = np.array([c.upstream_delta for c in CHANGES])
    per_scale: dict[str, Any] = {}
    for sname in SCALES:
        seeds = range(1337, 1337 + a.seeds)
        base = np.array([results[(sname, "baseline", s)] for s in seeds])
        local = np.array(
            [
                np.mean([results[(sname, c.name, s)] - results[(sname, "baseline", s)] for s in seeds])
                for c in CHANGES
            ]
        )
        agree = float(np.mean(np.sign(local) == np.sign(up)))
        rho = spearman(local, up)
        lo, hi = bootstrap_ci(local, up)
        per_scale[sname] = {
            "scale": SCALES[sname],
            "baseline_val_bpb_mean": round(float(base.mean()), 5),
            "baseline_seed_std": round(float(base.std(ddof=1)) if len(base) > 1 else 0.0, 5),
            "local_delta": {c.name: round(float(d), 5) for c, d in zip(CHANGES, local, strict=True)},
            "sign_agreement": round(agree, 3),
            "spearman_rho": round(rho, 3),
            "rho_ci95": [round(lo, 3), round(hi, 3)],
        }
        print(
            f"{sname:<6} sign agreement {agree:.0%}  Spearman ρ {rho:+.2f} (95% CI {lo:+.2f} … {hi:+.2f})  "
            f"baseline {base.mean():.4f} ± {per_scale[sname]['baseline_seed_std']}"
        )
        for c, d in zip(CHANGES, local, strict=True):
            print(f"       {c.name:<20} upstream {c.upstream_delta:+.4f}  local {d:+.4f}")
    wall = time.monotonic() - t0
    out = {
        "benchmark": "tier_fidelity",
        "label": "CPU toy-scale proxy on a tiny local dataset (stdlib docstrings), not FineWeb",
        "changes": [
            {"name": c.name, "upstream_delta": c.upstream_delta, "source": c.source} for c in CHANGES
        ],
        "seeds": a.seeds,
        "iterations": a.iterations,
        "scales": per_scale,
        "wall_s": round(wall, 1),
        "targets": {"wall_s_max": 900, "changes_min": 6, "scales_min": 2, "seeds_min": 2},
        "ok": wall <= 900 and len(CHANGES) >= 6 and len(SCALES) >= 2 and a.seeds >= 2,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
