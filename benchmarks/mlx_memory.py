"""MLX peak memory per 1k tokens, and the projected peak of a Tier 1 step at the default local config.

    .venv/bin/python benchmarks/mlx_memory.py [--tokens 1024,2048] [--model default|toy] [--logit-chunk 1024]

Measured here (Linux, mlx[cpu] 0.32, fp32, 2 shared cores, ~14 min with --tokens 1024,2048,4096
--logit-chunk 1024): 767 MB per 1k tokens (LOGIT_CHUNK_TOKENS=1024: 761), projected step peak at
the default local config 6.5 GB with 8,192-token chunks (target 8 GB: ok) vs 50.5 GB for one
65,536-token pass.

Builds training/train_gpt_mlx.py's model (default: the baseline 9x512, vocab 1024, seq 1024) in
this process and measures MLX's peak memory (``mx.get_peak_memory``) of one forward+backward on
chunks of T tokens, after the weights are materialized. The slope over T is the activation memory
per 1k tokens; the projected peak of a training step at the default local config
(``local_train_batch_tokens`` = 65,536, GRAD_ACCUM_STEPS = 8 → 8,192-token micro-batches, split into
MLX_MAX_MICROBATCH_TOKENS = 8,192-token chunks) is

    weights + gradient accumulator + optimizer state (Muon momentum; Adam m, v) + one chunk's activations.

On Linux this runs mlx[cpu] in fp32; on Apple Silicon Metal the script computes in bf16 (as upstream
MLX), so the figure here is an upper bound for a Mac. The issue's reference figures: ours before
this change 734 MB per 1k tokens (fp32, no chunking: ~47 GB at the default config), upstream MLX
393 MB per 1k tokens (bf16, 8,192-token chunks: ~3.2 GB). Target: the projected peak fits 8 GB.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_GB = 8.0
LOCAL_BATCH_TOKENS = 65_536  # settings.local_train_batch_tokens
ACCUM = 8
UPSTREAM_MB_PER_1K = 393.0
OURS_BEFORE_MB_PER_1K = 734.0
MODELS = {
    "default": {},
    "toy": {
        "NUM_LAYERS": "2",
        "MODEL_DIM": "128",
        "NUM_HEADS": "4",
        "NUM_KV_HEADS": "2",
        "TRAIN_SEQ_LEN": "128",
    },
}


def measure(model_name: str, token_counts: list[int], logit_chunk: int) -> dict[str, object]:
    import mlx.core as mx
    import mlx.nn as nn
    import numpy as np

    from bot.training.parity import load_script

    mx.set_default_device(mx.cpu) if not mx.metal.is_available() else None
    mod = load_script(ROOT / "training" / "train_gpt_mlx.py")
    env = {**MODELS[model_name], "LOGIT_CHUNK_TOKENS": str(logit_chunk)}
    args = mod.Hyperparameters(env)  # type: ignore[attr-defined]
    weights = mod.init_weights(args)  # type: ignore[attr-defined]
    gpu = mx.default_device() == mx.gpu
    model = mod.build_model(args, weights, mx.bfloat16 if gpu else mx.float32)  # type: ignore[attr-defined]
    loss_and_grad = nn.value_and_grad(model, lambda x, y: model(x, y))
    n_params = sum(int(np.prod(w.shape)) for w in weights.values())
    mx.eval(model.parameters())
    rng = np.random.default_rng(0)
    base = mx.get_active_memory()
    points = []
    for t in token_counts:
        rows = max(1, t // args.train_seq_len)
        toks = rng.integers(0, args.vocab_size, size=(rows, args.train_seq_len + 1)).astype(np.int32)
        x, y = mx.array(toks[:, :-1]), mx.array(toks[:, 1:])
        mx.synchronize()
        mx.reset_peak_memory()
        t0 = time.perf_counter()
        loss, grads = loss_and_grad(x, y)
        mx.eval(loss, grads)
        secs = time.perf_counter() - t0
        peak = mx.get_peak_memory()
        points.append(
            {"tokens": rows * args.train_seq_len, "peak_mb": (peak - base) / 1e6, "seconds": round(secs, 2)}
        )
        del loss, grads
    xs = np.array([p["tokens"] for p in points], dtype=float)
    ys = np.array([p["peak_mb"] for p in points], dtype=float)
    slope = float(np.polyfit(xs, ys, 1)[0]) * 1000 if len(points) > 1 else float(ys[0] / xs[0] * 1000)
    intercept = float(ys[-1] - slope * xs[-1] / 1000)
    weights_mb = base / 1e6
    # grads of one chunk are inside the measured peak; add the fp32 accumulator and optimizer state
    # (Muon momentum for block matrices, Adam m and v for the rest) — about 2 more copies of the weights.
    state_mb = 2 * 4 * n_params / 1e6
    chunk = min(args.mlx_max_microbatch_tokens, LOCAL_BATCH_TOKENS // ACCUM)
    projected_gb = (weights_mb + state_mb + intercept + slope * chunk / 1000) / 1000
    unchunked_gb = (weights_mb + state_mb + intercept + slope * LOCAL_BATCH_TOKENS / 1000) / 1000
    return {
        "model": model_name,
        "params": n_params,
        "dtype": "bfloat16" if gpu else "float32",
        "logit_chunk_tokens": logit_chunk,
        "points": points,
        "weights_mb": round(weights_mb, 1),
        "mb_per_1k_tokens": round(slope, 1),
        "projected_peak_gb_default_local": round(projected_gb, 2),
        "chunk_tokens": chunk,
        "projected_peak_gb_one_65536_token_pass": round(unchunked_gb, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="default")
    ap.add_argument("--tokens", default="1024,2048", help="chunk sizes measured (comma-separated)")
    ap.add_argument("--logit-chunk", type=int, default=0, help="also measure with this LOGIT_CHUNK_TOKENS")
    a = ap.parse_args()
    counts = [int(x) for x in a.tokens.split(",") if x.strip()]
    runs = [measure(a.model, counts, 0)]
    if a.logit_chunk > 0:
        runs.append(measure(a.model, counts, a.logit_chunk))
    for r in runs:
        print(
            f"{r['model']} ({r['params']:,} params, {r['dtype']}, LOGIT_CHUNK_TOKENS={r['logit_chunk_tokens']}): "
            f"{r['mb_per_1k_tokens']} MB per 1k tokens; projected step peak at the default local config "
            f"({r['chunk_tokens']}-token chunks): {r['projected_peak_gb_default_local']} GB "
            f"(one 65,536-token pass: {r['projected_peak_gb_one_65536_token_pass']} GB)"
        )
    best = min(runs, key=lambda r: float(r["projected_peak_gb_default_local"]))  # type: ignore[arg-type]
    out = {
        "benchmark": "mlx_memory",
        "runs": runs,
        "mb_per_1k_tokens": runs[0]["mb_per_1k_tokens"],
        "mb_per_1k_tokens_chunked_logits": runs[1]["mb_per_1k_tokens"] if len(runs) > 1 else None,
        "upstream_mlx_mb_per_1k_tokens_bf16": UPSTREAM_MB_PER_1K,
        "ours_before_mb_per_1k_tokens_fp32": OURS_BEFORE_MB_PER_1K,
        "projected_peak_gb_default_local": runs[0]["projected_peak_gb_default_local"],
        "target_gb": TARGET_GB,
        "ok": float(runs[0]["projected_peak_gb_default_local"]) <= TARGET_GB,  # type: ignore[arg-type]
        "best_setting": {"LOGIT_CHUNK_TOKENS": best["logit_chunk_tokens"]},
        "note": "mlx[cpu] fp32 on Linux is an upper bound; Metal computes in bf16",
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
