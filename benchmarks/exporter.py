"""Exporter figures: default exporter bytes vs int8+zlib on the same trained toy weights, and the
val_bpb change after each roundtrip.

Trains one toy model with training/train_gpt.py on a tiny offline dataset (prepare_data.py
--from-stdlib), then exports its weights with both exporters and re-evaluates each roundtrip.
Ends with one JSON line: figures, targets (default ≤ 0.80× int8+zlib bytes; roundtrip val_bpb
change within 0.01) and "ok".

    .venv/bin/python benchmarks/exporter.py [--model-dim 128] [--iterations 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.training.data import make_tiny_dataset  # noqa: E402
from bot.training.local import TOY_ENV  # noqa: E402
from bot.training.parity import load_script  # noqa: E402


def evaluate(mod, args, weights, val, luts) -> float:  # type: ignore[no-untyped-def]
    import torch

    model = mod.build_model(args, weights)
    seq = args.train_seq_len
    n = (val.size - 1) // seq
    x = torch.from_numpy(val[: n * seq].astype(np.int64).reshape(-1, seq))
    y = torch.from_numpy(val[1 : n * seq + 1].astype(np.int64).reshape(-1, seq))
    with torch.no_grad():
        loss = float(model(x, y))
    nbytes = mod.count_bytes(val[: n * seq], val[1 : n * seq + 1], luts)
    return loss / np.log(2) * (n * seq) / nbytes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dim", default="256")
    ap.add_argument("--layers", default="2")
    ap.add_argument("--iterations", default="40")
    ap.add_argument("--data", type=Path, default=None, help="existing tiny dataset root")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_tiny_dataset(a.data or Path(tmp) / "tiny", max_chars=1_000_000)
        env = {
            **os.environ,
            **TOY_ENV,
            "MODEL_DIM": a.model_dim,
            "NUM_LAYERS": a.layers,
            "ITERATIONS": a.iterations,
            "DATA_PATH": str(data.data_path),
            "TOKENIZER_PATH": str(data.tokenizer_path),
            "RUN_ID": "bench",
        }
        run = Path(tmp) / "run"
        run.mkdir()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "training/train_gpt.py")],
            cwd=run,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return 1
        mod = load_script(ROOT / "training/train_gpt.py")
        args = mod.Hyperparameters(env)
        weights = mod.load_weights(str(run / "final_model.npz"))
        val = mod.load_val_tokens(args.val_files, args.train_seq_len, args.val_max_tokens)
        luts = mod.byte_luts(args.tokenizer_path, args.vocab_size)
        base_bpb = evaluate(mod, args, weights, val, luts)
        fig: dict[str, object] = {
            "params": int(sum(w.size for w in weights.values())),
            "float_val_bpb": round(base_bpb, 5),
        }
        for name in ("int8_zlib", "int6_zstd"):
            blob, _ = mod.export_weights(weights, name)
            bpb = evaluate(mod, args, mod.import_weights(blob), val, luts)
            fig[f"{name}_bytes"] = len(blob)
            fig[f"{name}_delta_bpb"] = round(bpb - base_bpb, 5)
        ratio = fig["int6_zstd_bytes"] / fig["int8_zlib_bytes"]  # type: ignore[operator]
        fig["ratio"] = round(ratio, 4)
        ok = ratio <= 0.80 and abs(fig["int6_zstd_delta_bpb"]) <= 0.01  # type: ignore[arg-type]
        print(
            f"int8+zlib {fig['int8_zlib_bytes']} B (Δbpb {fig['int8_zlib_delta_bpb']:+}), "
            f"int6+zstd {fig['int6_zstd_bytes']} B (Δbpb {fig['int6_zstd_delta_bpb']:+}), ratio {ratio:.3f}"
        )
        print(
            json.dumps(
                {"figures": fig, "targets": {"ratio_max": 0.80, "delta_bpb_max": 0.01}, "ok": bool(ok)}
            )
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
