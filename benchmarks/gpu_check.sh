#!/usr/bin/env bash
# GPU check for training/train_gpt.py: ≤ 4 minutes on ONE H100/H200, no network, installs nothing,
# needs only python3 + torch (CUDA) + numpy + sentencepiece (zstandard is NOT needed: the exporters
# used here are int8+zlib — upstream's, the script's default — and int6+lzma, both stdlib codecs).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh
#
# 1. reports python/torch/CUDA and nvidia-smi (stops with a clear message when CUDA is missing);
# 2. builds a synthetic dataset offline: prepare_data.py --from-stdlib (SentencePiece BPE 1024 on
#    the stdlib docstrings; ~0.5M train tokens, cycled by the 524,288-token steps);
# 3. trains the baseline config (9x512, 524,288 tokens/step, seq 1024, bf16 autocast, torch.compile)
#    for 40 steps after 5 warm-up steps, EXPORTER=int8_zlib;
# 4. prints ms/step and tokens/s next to upstream's log (43.5 ms/step on 8xH100 at 524,288 tokens/step:
#    348 ms/step for one GPU at perfect scaling), the fp32-vs-bf16 loss gap of the trained weights on
#    one batch (and CPU fp32 vs CUDA fp32), and the val_bpb change of int8+zlib and int6+lzma roundtrips;
# 5. writes $OUT/train.log, $OUT/nvidia-smi.txt and $OUT/summary.json; the last line is the JSON.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/gpu_check_out}
PY=${PYTHON:-python3}
STEPS=${GPU_CHECK_STEPS:-40}
mkdir -p "$OUT/run"
log() { echo "[gpu_check] $*" | tee -a "$OUT/gpu_check.txt"; }

log "python: $($PY --version 2>&1)"
if ! $PY -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' >"$OUT/torch.txt" 2>&1; then
  log "torch is NOT installed for $PY: nothing to measure (see $OUT/torch.txt)"; exit 3
fi
log "torch, cuda, available: $(cat "$OUT/torch.txt")"
grep -q "True" "$OUT/torch.txt" || { log "CUDA is not available: nothing to measure"; exit 3; }
missing=$($PY -c 'import importlib.util as u; print(" ".join(m for m in ("numpy","sentencepiece","zstandard") if u.find_spec(m) is None))')
log "modules not installed: ${missing:-none} (zstandard is not needed)"
case " $missing " in *" numpy "*|*" sentencepiece "*) log "numpy and sentencepiece are required"; exit 3;; esac
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
head -15 "$OUT/nvidia-smi.txt" | tee -a "$OUT/gpu_check.txt"

log "building the synthetic dataset"
if ! timeout 60 $PY "$REPO/training/prepare_data.py" --from-stdlib --max-chars 3000000 --out "$OUT/data" >"$OUT/prepare.txt" 2>&1; then
  log "prepare_data failed:"; tail -5 "$OUT/prepare.txt" | tee -a "$OUT/gpu_check.txt"; exit 4
fi

log "training the baseline config on one GPU ($STEPS steps + 5 warm-up, EXPORTER=int8_zlib)"
start=$(date +%s)
( cd "$OUT/run" && env RUN_ID=gpu_check DATA_PATH="$OUT/data/datasets/fineweb10B_sp1024" \
    TOKENIZER_PATH="$OUT/data/tokenizers/fineweb_1024_bpe.model" ITERATIONS="$STEPS" WARMUP_STEPS=5 \
    TRAIN_LOG_EVERY=10 VAL_LOSS_EVERY=0 MAX_WALLCLOCK_SECONDS=0 EXPORTER=int8_zlib \
    timeout 170 $PY "$REPO/training/train_gpt.py" ) >"$OUT/train.log" 2>&1
rc=$?
log "train_gpt.py exit $rc after $(( $(date +%s) - start )) s"
tail -12 "$OUT/train.log" | tee -a "$OUT/gpu_check.txt"

timeout 60 $PY - "$OUT" "$rc" "$REPO" <<'PY' | tee -a "$OUT/gpu_check.txt"
import importlib.util, json, math, re, sys
from pathlib import Path
import numpy as np, torch
out, rc, repo = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
summary = {"exit_code": rc, "upstream_8xh100_step_ms": 43.5, "upstream_tokens_per_step": 524288,
           "upstream_one_gpu_equivalent_step_ms": 8 * 43.5}
text = (out / "train.log").read_text(errors="replace")
pts = [(int(m[1]), float(m[2])) for m in re.finditer(r"^step:(\d+)/\d+ train_loss:\S+ train_time:([\d.]+)ms", text, re.M)]
if len(pts) >= 2:
    (s0, t0), (s1, t1) = pts[min(1, len(pts) - 2)], pts[-1]
    ms = (t1 - t0) / max(s1 - s0, 1)
    summary.update(steady_step_ms=round(ms, 2), tokens_per_s=round(524288 / ms * 1000),
                   upstream_one_gpu_tokens_per_s=round(524288 / (8 * 43.5) * 1000),
                   per_gpu_ratio_vs_upstream=round(ms / (8 * 43.5), 3))
m = re.search(r"final_(\w+)_exact val_loss:\S+ val_bpb:(\S+)", text)
summary["final_tag"], summary["final_val_bpb"] = (m[1], float(m[2])) if m else (None, None)
m = re.search(r"peak memory allocated: (\d+) MiB", text)
summary["peak_memory_mib"] = int(m[1]) if m else None
try:
    spec = importlib.util.spec_from_file_location("tg", repo / "training" / "train_gpt.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    import os
    env = dict(os.environ, DATA_PATH=str(out / "data/datasets/fineweb10B_sp1024"),
               TOKENIZER_PATH=str(out / "data/tokenizers/fineweb_1024_bpe.model"), VAL_MAX_TOKENS="262144")
    args = mod.Hyperparameters(env)
    w = mod.load_weights(str(out / "run" / "final_model.npz"))
    val = mod.load_val_tokens(args.val_files, args.train_seq_len, args.val_max_tokens)
    luts = mod.byte_luts(args.tokenizer_path, args.vocab_size)
    seq, n = args.train_seq_len, (val.size - 1) // args.train_seq_len
    x = torch.from_numpy(val[: n * seq].astype(np.int64).reshape(-1, seq)).cuda()
    y = torch.from_numpy(val[1 : n * seq + 1].astype(np.int64).reshape(-1, seq)).cuda()
    nbytes = mod.count_bytes(val[: n * seq], val[1 : n * seq + 1], luts)

    def bpb(weights, bf16=True):
        model = mod.build_model(args, weights, "cuda", torch.bfloat16 if bf16 else torch.float32).eval()
        tot = 0.0
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            for i in range(0, x.size(0), 32):
                tot += float(model(x[i : i + 32], y[i : i + 32])) * y[i : i + 32].numel()
        return tot / y.numel() / math.log(2) * y.numel() / nbytes

    # fp32 vs bf16 (and CPU fp32 vs CUDA fp32) on one batch of the trained weights
    xb, yb = x[:4], y[:4]
    with torch.no_grad():
        l32 = float(mod.build_model(args, w, "cuda", torch.float32)(xb, yb))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            l16 = float(mod.build_model(args, w, "cuda", torch.bfloat16)(xb, yb))
        lcpu = float(mod.build_model(args, w, "cpu", torch.float32)(xb.cpu(), yb.cpu()))
    summary.update(loss_fp32=round(l32, 6), loss_bf16=round(l16, 6), abs_loss_gap_fp32_bf16=round(abs(l32 - l16), 6),
                   abs_loss_gap_cpu_cuda_fp32=round(abs(l32 - lcpu), 6))
    base = bpb(w)
    summary["float_val_bpb_262k"] = round(base, 5)
    for name in ("int8_zlib", "int6_lzma"):
        blob, payload, raw = mod.export_weights(w, name, {"tok_emb.weight": "bfloat16"}, mod.torch_dump if name == "int8_zlib" else None)
        b = bpb(mod.import_weights(blob, mod.torch_load))
        summary[f"{name}_bytes"], summary[f"{name}_delta_bpb"] = len(blob), round(b - base, 5)
except Exception as exc:  # report, don't hide
    summary["check_error"] = repr(exc)
for k in ("steady_step_ms", "tokens_per_s", "upstream_one_gpu_equivalent_step_ms", "upstream_one_gpu_tokens_per_s",
          "abs_loss_gap_fp32_bf16", "abs_loss_gap_cpu_cuda_fp32", "int8_zlib_bytes", "int8_zlib_delta_bpb",
          "int6_lzma_bytes", "int6_lzma_delta_bpb"):
    print(f"{k:<38} {summary.get(k)}")
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
PY
exit $rc
