#!/usr/bin/env bash
# GPU check for training/train_gpt.py (≤ 8 minutes, no internet, installs nothing).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh
#
# 1. reports python/torch/CUDA (stops with a clear message when torch or CUDA is missing);
# 2. builds a synthetic dataset offline: prepare_data.py --from-stdlib (SentencePiece BPE 1024 on
#    the stdlib docstrings; ~1M tokens, reused across the 524,288-token steps);
# 3. trains the baseline config (9×512, 524,288 tokens/step, seq 1024) on ONE GPU for 60 steps after
#    5 compile warm-up steps, exports with both exporters, re-evaluates;
# 4. writes $OUT/train.log, $OUT/nvidia-smi.txt and $OUT/summary.json (step time, tokens/s, the
#    comparison with upstream's 43.5 ms/step on 8×H100, exporter bytes at the real shapes).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/gpu_check_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT/run"
log() { echo "[gpu_check] $*" | tee -a "$OUT/gpu_check.txt"; }

log "python: $($PY --version 2>&1)"
if ! $PY -c 'import torch; print(torch.__version__, torch.cuda.is_available())' >"$OUT/torch.txt" 2>&1; then
  log "torch is NOT installed for $PY: nothing to measure (see $OUT/torch.txt)"; exit 3
fi
log "torch, cuda: $(cat "$OUT/torch.txt")"
grep -q "True" "$OUT/torch.txt" || { log "CUDA is not available: nothing to measure"; exit 3; }
missing=$($PY -c 'import importlib.util as u; print(" ".join(m for m in ("numpy","sentencepiece","zstandard") if u.find_spec(m) is None))')
log "missing optional/needed modules: ${missing:-none}"
case " $missing " in *" numpy "*|*" sentencepiece "*) log "numpy and sentencepiece are required"; exit 3;; esac
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

log "building the synthetic dataset"
if ! timeout 180 $PY "$REPO/training/prepare_data.py" --from-stdlib --max-chars 3000000 --out "$OUT/data" >"$OUT/prepare.txt" 2>&1; then
  log "prepare_data failed:"; tail -5 "$OUT/prepare.txt" | tee -a "$OUT/gpu_check.txt"; exit 4
fi

log "training the baseline config on one GPU (60 steps + 5 warm-up)"
start=$(date +%s)
( cd "$OUT/run" && env RUN_ID=gpu_check DATA_PATH="$OUT/data/datasets/fineweb10B_sp1024" \
    TOKENIZER_PATH="$OUT/data/tokenizers/fineweb_1024_bpe.model" ITERATIONS=60 WARMUP_STEPS=5 \
    TRAIN_LOG_EVERY=10 VAL_LOSS_EVERY=0 MAX_WALLCLOCK_SECONDS=0 VAL_MAX_TOKENS=1048576 \
    timeout 330 $PY "$REPO/training/train_gpt.py" ) >"$OUT/train.log" 2>&1
rc=$?
log "train_gpt.py exit $rc after $(( $(date +%s) - start )) s"
tail -20 "$OUT/train.log" | tee -a "$OUT/gpu_check.txt"

cd "$REPO" && $PY - "$OUT" "$rc" <<'PY' | tee -a "$OUT/gpu_check.txt"
import json, sys
from pathlib import Path
out, rc = Path(sys.argv[1]), int(sys.argv[2])
summary = {"exit_code": rc}
try:
    from bot.training.logparse import parse_log
    r = parse_log((out / "train.log").read_text())
    pts = [p for p in r.train_points if p.train_time_ms]
    a, b = pts[0], pts[-1]
    step_ms = (b.train_time_ms - a.train_time_ms) / max(b.step - a.step, 1)
    summary.update(val_bpb=r.val_bpb, tag=r.tag, artifact_bytes=r.artifact_bytes, code_bytes=r.code_bytes,
                   steady_step_ms=round(step_ms, 2), tokens_per_s=round(524288 / step_ms * 1000),
                   upstream_8xh100_step_ms=43.5, per_gpu_ratio_vs_upstream=round(step_ms / (8 * 43.5), 3),
                   peak_memory_mib=r.peak_memory_mib)
except Exception as exc:  # report, don't hide
    summary["parse_error"] = repr(exc)
try:
    from bot.training.parity import load_script
    mod = load_script(Path("training/train_gpt.py"))
    w = mod.load_weights(str(out / "run" / "final_model.npz"))
    for name in ("int8_zlib", mod.resolve_exporter("int6_zstd")):
        summary[f"{name}_bytes"] = len(mod.export_weights(w, name)[0])
    summary["exporter_ratio"] = round(summary[f"{mod.resolve_exporter('int6_zstd')}_bytes"] / summary["int8_zlib_bytes"], 4)
except Exception as exc:
    summary["export_error"] = repr(exc)
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
PY
exit $rc
