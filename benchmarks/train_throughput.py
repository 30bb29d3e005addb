"""Training throughput of training/train_gpt.py, plus the parity figure.

* CPU, toy config (always): tokens/s and step time from the script's own step lines;
* one CUDA GPU at the baseline config (when ``torch.cuda.is_available()``): tokens/s and step
  time, compared with the upstream log's 43.5 ms/step on 8×H100 (×8 for one GPU doing the same
  524,288-token step by gradient accumulation);
* parity: max |Δlogit| and |Δloss| between the two scripts at the parity config.

Ends with one JSON line: figures, targets, "ok".

    .venv/bin/python benchmarks/train_throughput.py [--iterations 20] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.training.local import TOY_ENV  # noqa: E402
from bot.training.logparse import parse_log  # noqa: E402
from bot.training.parity import LOGIT_TOL, LOSS_TOL, run_parity  # noqa: E402
from bot.training.shards import make_tiny_dataset  # noqa: E402

UPSTREAM_8XH100_STEP_MS = 43.5


def timed_run(env: dict[str, str], cwd: Path) -> dict[str, float]:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "training/train_gpt.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
    res = parse_log(proc.stdout)
    pts = [p for p in res.train_points if p.train_time_ms]
    # steady state: skip the first logged step (allocator/compile warm-up)
    a, b = pts[0], pts[-1]
    step_ms = (b.train_time_ms - a.train_time_ms) / max(b.step - a.step, 1)  # type: ignore[operator]
    tokens = int(env["TRAIN_BATCH_TOKENS"])
    return {
        "step_ms": round(step_ms, 2),
        "tokens_per_s": round(tokens / (step_ms / 1000.0), 1),
        "val_bpb": res.val_bpb,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", default="20")
    ap.add_argument("--data", type=Path, default=None)
    a = ap.parse_args()
    figures: dict[str, object] = {}
    targets: dict[str, object] = {"parity_max_abs_logit_diff": LOGIT_TOL, "parity_abs_loss_diff": LOSS_TOL}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        data = make_tiny_dataset(a.data or Path(tmp) / "tiny", max_chars=1_000_000)
        base = {**os.environ, "DATA_PATH": str(data.data_path), "TOKENIZER_PATH": str(data.tokenizer_path)}
        cpu = timed_run(
            {
                **base,
                **TOY_ENV,
                "ITERATIONS": a.iterations,
                "TRAIN_LOG_EVERY": "1",
                "CUDA_VISIBLE_DEVICES": "",
            },
            Path(tmp) / "cpu",
        )
        figures["cpu_toy_tokens_per_s"] = cpu["tokens_per_s"]
        figures["cpu_toy_step_ms"] = cpu["step_ms"]
        try:
            import torch

            cuda = torch.cuda.is_available()
        except ImportError:
            cuda = False
        if cuda:
            gpu = timed_run(
                {
                    **base,
                    "ITERATIONS": "40",
                    "WARMUP_STEPS": "5",
                    "VAL_LOSS_EVERY": "0",
                    "TRAIN_LOG_EVERY": "5",
                    "MAX_WALLCLOCK_SECONDS": "0",
                    "VAL_MAX_TOKENS": "1048576",
                    "TRAIN_BATCH_TOKENS": "524288",
                },
                Path(tmp) / "gpu",
            )
            figures["gpu_baseline_tokens_per_s"] = gpu["tokens_per_s"]
            figures["gpu_baseline_step_ms"] = gpu["step_ms"]
            figures["gpu_vs_upstream_per_gpu"] = round(gpu["step_ms"] / (8 * UPSTREAM_8XH100_STEP_MS), 3)
            targets["gpu_vs_upstream_per_gpu_max"] = 1.25
            ok = ok and figures["gpu_vs_upstream_per_gpu"] <= 1.25  # type: ignore[operator]
        else:
            figures["gpu"] = "no CUDA device: run benchmarks/gpu_check.sh on a GPU machine"
    par = run_parity(ROOT / "training/train_gpt.py", ROOT / "training/train_gpt_mlx.py")
    figures["parity_max_abs_logit_diff"] = par.max_abs_logit_diff
    figures["parity_abs_loss_diff"] = par.abs_loss_diff
    ok = ok and par.ok
    print(f"CPU toy: {cpu['tokens_per_s']:.0f} tok/s ({cpu['step_ms']:.1f} ms/step); parity: {par.message}")
    print(json.dumps({"figures": figures, "targets": targets, "ok": bool(ok)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
