"""pgolf train_gpt.py — the PyTorch trainer (single file; its bytes count toward the artifact).

The upstream naive-baseline model and recipe, written for pgolf: 9 blocks at width 512, 8 heads
with 4 KV heads, 2x relu^2 MLP, vocab 1024, tied embeddings, encoder/decoder skips, RMSNorm,
RoPE, QK norm, logit softcap, Muon for block matrices + Adam for embeddings and scalars, LR
warmdown driven by the wall clock. CUDA: bf16 autocast, torch.compile, flash SDPA, DDP/nccl; the tied embedding is trained and stored in
bf16 (as upstream). CPU: fp32, DDP/gloo. Run: `torchrun --standalone --nproc_per_node=8 train_gpt.py`.
Numerics follow upstream's naive baseline: RoPE direction, RMSNorm eps (float32's, bf16 too), the loader's
spans (no token shared between micro-batches), the int8 exporter (99.99984th-percentile row clip,
1/127 scale floor, torch.save + zlib, `final_int8_zlib_roundtrip` lines); checked by
tests/training/test_upstream_parity.py against numbers recorded from upstream's script.

Knobs (environment; same names/defaults as upstream, plus a few of ours marked *):
  DATA_PATH TOKENIZER_PATH RUN_ID SEED ITERATIONS WARMUP_STEPS WARMDOWN_ITERS TRAIN_BATCH_TOKENS
  TRAIN_SEQ_LEN (or TRAIN_MAX_SEQ_LEN) MAX_WALLCLOCK_SECONDS(0=no cap) VAL_LOSS_EVERY(0=end only)
  VAL_BATCH_SIZE TRAIN_LOG_EVERY VOCAB_SIZE NUM_LAYERS MODEL_DIM NUM_HEADS NUM_KV_HEADS MLP_MULT
  TIE_EMBEDDINGS ROPE_BASE LOGIT_SOFTCAP QK_GAIN_INIT TIED_EMBED_INIT_STD EMBED_LR HEAD_LR
  TIED_EMBED_LR MATRIX_LR SCALAR_LR MUON_MOMENTUM MUON_BACKEND_STEPS MUON_MOMENTUM_WARMUP_START
  MUON_MOMENTUM_WARMUP_STEPS BETA1 BETA2 ADAM_EPS GRAD_CLIP_NORM OUT_DIR (log folder, "logs")
  MLX only (upstream MLX): MLX_MAX_MICROBATCH_TOKENS(8192) MLX_EAGER_EVAL(1) LOGIT_CHUNK_TOKENS(0)
  *EXPORTER (int8_zlib = upstream, default | int6_lzma | int6_zstd: an error without zstandard)
  *VAL_MAX_TOKENS (0 = whole val split)  *GRAD_ACCUM_STEPS  *INIT_WEIGHTS (weights .npz)  *COMPILE (1 on CUDA)
Outputs: $OUT_DIR/<RUN_ID>.txt (with the source, versions and nvidia-smi, as upstream), and in the
current directory final_model.npz, final_model.<int8|int6>.ptz.

Weights layout shared with train_gpt_mlx.py (.npz, float32, upstream's state_dict names and order, [out, in]):
  tok_emb.weight [V,D]  skip_weights [min(L//2, L-L//2), D]  lm_head.weight [V,D] (untied only)
  blocks.{i}.attn.c_q.weight [D,D]  .attn.c_k.weight / .attn.c_v.weight [KV*hd,D]
  .attn.proj.weight [D,D]  .attn.q_gain [H]  .mlp.fc.weight [M*D,D]  .mlp.proj.weight [D,M*D]
  .attn_scale [D]  .mlp_scale [D]  .resid_mix [2,D]
"""

from __future__ import annotations

import gc
import glob
import hashlib
import io
import json
import lzma
import math
import os
import pickle
import subprocess
import sys
import time
import uuid
import zlib
from contextlib import nullcontext

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

SCRIPT_DEFAULTS = {}  # this script's defaults where they differ from the shared ones (upstream torch: none)

# === shared with train_gpt_mlx.py: begin (numpy/stdlib only; kept byte-identical, checked by tests) ===
# Why one block in both scripts: a local (MLX) result only predicts the H100 one if both read the same
# knobs and data and export the same bytes; one byte-identical copy cannot drift apart.

Weights = dict[str, np.ndarray]  # {name: float32 array} in upstream's state_dict order


class Hyperparameters:
    def __init__(self, env=None):
        e = os.environ if env is None else env

        def g(key, default, cast=str):
            return cast(e.get(key, SCRIPT_DEFAULTS.get(key, default)))

        self.data_path = g("DATA_PATH", "./data/datasets/fineweb10B_sp1024")
        self.train_files = os.path.join(self.data_path, "fineweb_train_*.bin")
        self.val_files = os.path.join(self.data_path, "fineweb_val_*.bin")
        self.tokenizer_path = g("TOKENIZER_PATH", "./data/tokenizers/fineweb_1024_bpe.model")
        self.run_id = g("RUN_ID", str(uuid.uuid4()))
        self.seed = g("SEED", 1337, int)
        self.val_batch_size = g("VAL_BATCH_SIZE", 524_288, int)
        self.val_loss_every = g("VAL_LOSS_EVERY", 1000, int)
        self.val_max_tokens = g("VAL_MAX_TOKENS", 0, int)
        self.train_log_every = g("TRAIN_LOG_EVERY", 200, int)
        self.iterations = g("ITERATIONS", 20000, int)
        self.warmup_steps = g("WARMUP_STEPS", 20, int)
        self.warmdown_iters = g("WARMDOWN_ITERS", 1200, int)
        self.train_batch_tokens = g("TRAIN_BATCH_TOKENS", 524_288, int)
        self.train_seq_len = int(e.get("TRAIN_SEQ_LEN", e.get("TRAIN_MAX_SEQ_LEN", 1024)))
        self.max_wallclock_seconds = g("MAX_WALLCLOCK_SECONDS", 600.0, float)
        self.grad_accum_steps = g("GRAD_ACCUM_STEPS", 0, int)
        self.vocab_size = g("VOCAB_SIZE", 1024, int)
        self.num_layers = g("NUM_LAYERS", 9, int)
        self.model_dim = g("MODEL_DIM", 512, int)
        self.num_heads = g("NUM_HEADS", 8, int)
        self.num_kv_heads = g("NUM_KV_HEADS", 4, int)
        self.mlp_mult = g("MLP_MULT", 2, int)
        self.tie_embeddings = bool(g("TIE_EMBEDDINGS", 1, int))
        self.rope_base = g("ROPE_BASE", 10000.0, float)
        self.logit_softcap = g("LOGIT_SOFTCAP", 30.0, float)
        self.qk_gain_init = g("QK_GAIN_INIT", 1.5, float)
        self.tied_embed_init_std = g("TIED_EMBED_INIT_STD", 0.005, float)
        self.embed_lr = g("EMBED_LR", 0.6, float)
        self.head_lr = g("HEAD_LR", 0.008, float)
        self.tied_embed_lr = g("TIED_EMBED_LR", 0.05, float)
        self.matrix_lr = g("MATRIX_LR", 0.04, float)
        self.scalar_lr = g("SCALAR_LR", 0.04, float)
        self.muon_momentum = g("MUON_MOMENTUM", 0.95, float)
        self.muon_backend_steps = g("MUON_BACKEND_STEPS", 5, int)
        self.muon_momentum_warmup_start = g("MUON_MOMENTUM_WARMUP_START", 0.85, float)
        self.muon_momentum_warmup_steps = g("MUON_MOMENTUM_WARMUP_STEPS", 500, int)
        self.beta1 = g("BETA1", 0.9, float)
        self.beta2 = g("BETA2", 0.95, float)
        self.adam_eps = g("ADAM_EPS", 1e-8, float)
        self.grad_clip_norm = g("GRAD_CLIP_NORM", 0.0, float)
        self.exporter = g("EXPORTER", "int8_zlib")
        self.init_weights = g("INIT_WEIGHTS", "")
        self.compile = bool(g("COMPILE", 1, int))
        self.out_dir = g("OUT_DIR", "logs")
        self.mlx_max_microbatch_tokens = g("MLX_MAX_MICROBATCH_TOKENS", 8192, int)
        self.mlx_eager_eval = bool(g("MLX_EAGER_EVAL", 1, int))
        self.logit_chunk_tokens = g("LOGIT_CHUNK_TOKENS", 0, int)


CONTROL_PATTERNS = ("attn_scale", "attn_scales", "mlp_scale", "mlp_scales", "resid_mix", "resid_mixes", "q_gain", "skip_weight", "skip_weights")

# ----------------------------------------------------------------------------- data
# Upstream's shard format, read with numpy alone: the header is checked so that a truncated or foreign
# file stops the run with its name instead of training on a silently short split.


def load_data_shard(path: str) -> np.ndarray:
    """Read one upstream shard: 256 int32 header words (magic, version, count), then uint16 tokens."""
    header = np.fromfile(path, dtype="<i4", count=256)
    if header.size != 256:
        raise ValueError(f"{path}: shard header is truncated ({header.size * 4} of 1024 bytes)")
    if int(header[0]) != 20240520:
        raise ValueError(f"{path}: bad shard magic {int(header[0])} (expected 20240520)")
    if int(header[1]) != 1:
        raise ValueError(f"{path}: unsupported shard version {int(header[1])} (expected 1)")
    count = int(header[2])
    expected = 1024 + 2 * count
    if os.path.getsize(path) != expected:
        raise ValueError(f"{path}: size {os.path.getsize(path)} bytes does not match header token count {count} ({expected} bytes)")
    return np.fromfile(path, dtype="<u2", count=count, offset=1024)


class TokenStream:
    """Walks the train shards in order, wrapping around; take(n) returns and consumes the next n tokens."""

    def __init__(self, pattern):
        self.files = sorted(glob.glob(pattern))
        if not self.files:
            raise FileNotFoundError(f"no shards match {pattern}")
        self.next_file = 0
        self.buf = np.zeros(0, dtype=np.uint16)

    def take(self, n: int) -> np.ndarray:
        while self.buf.size < n:
            shard = load_data_shard(self.files[self.next_file % len(self.files)])
            self.next_file += 1
            self.buf = np.concatenate([self.buf, shard])
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out


def load_val_tokens(pattern: str, seq_len: int, max_tokens: int) -> np.ndarray:
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no shards match {pattern}")
    tokens = np.concatenate([load_data_shard(f) for f in files])
    if max_tokens > 0:
        tokens = tokens[: max_tokens + 1]
    usable = ((tokens.size - 1) // seq_len) * seq_len
    if usable <= 0:
        raise ValueError(f"validation split has {tokens.size} tokens: too short for TRAIN_SEQ_LEN={seq_len}")
    return tokens[: usable + 1]


def byte_luts(tokenizer_path: str, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-token UTF-8 byte counts from SentencePiece pieces (the challenge's val_bpb accounting):
    base bytes of the piece without its leading '▁', +1 for that space unless the previous token is a
    boundary (control/unknown/unused); byte-fallback <0xXX> pieces count 1; control/unknown count 0."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=tokenizer_path)
    if int(sp.vocab_size()) != vocab_size:
        raise ValueError(f"VOCAB_SIZE={vocab_size} does not match tokenizer {tokenizer_path} vocab_size={sp.vocab_size()}")
    base = np.zeros(vocab_size, dtype=np.int64)
    space = np.zeros(vocab_size, dtype=bool)
    boundary = np.ones(vocab_size, dtype=bool)
    for t in range(vocab_size):
        if sp.is_control(t) or sp.is_unknown(t) or sp.is_unused(t):
            continue
        boundary[t] = False
        if sp.is_byte(t):
            base[t] = 1
            continue
        piece = sp.id_to_piece(t)
        if piece.startswith("\u2581"):
            space[t] = True
            piece = piece[1:]
        base[t] = len(piece.encode("utf-8"))
    return base, space, boundary


def count_bytes(prev_ids: np.ndarray, tgt_ids: np.ndarray, luts: tuple) -> int:
    base, space, boundary = luts
    return int(base[tgt_ids].sum() + (space[tgt_ids] & ~boundary[prev_ids]).sum())


# ----------------------------------------------------------------------------- weights (shared layout)
# One .npz layout (upstream's state_dict names, order and [out, in] shapes) for both backends, so either
# can start from the other's weights and the parity check can give both models the same ones.


def weight_layout(args: Hyperparameters) -> list[tuple[str, tuple[int, ...], str]]:
    """[(name, shape, init)] in upstream's state_dict order; init in {normal_emb, uniform, zeros, ones, resid_mix, q_gain}."""
    D, L, V = args.model_dim, args.num_layers, args.vocab_size
    hd = D // args.num_heads
    kv = args.num_kv_heads * hd
    out = [("skip_weights", (min(L // 2, L - L // 2), D), "ones"), ("tok_emb.weight", (V, D), "normal_emb")]
    for i in range(L):
        p = f"blocks.{i}."
        out += [
            (p + "attn_scale", (D,), "ones"),
            (p + "mlp_scale", (D,), "ones"),
            (p + "resid_mix", (2, D), "resid_mix"),
            (p + "attn.q_gain", (args.num_heads,), "q_gain"),
            (p + "attn.c_q.weight", (D, D), "uniform"),
            (p + "attn.c_k.weight", (kv, D), "uniform"),
            (p + "attn.c_v.weight", (kv, D), "uniform"),
            (p + "attn.proj.weight", (D, D), "zeros"),
            (p + "mlp.fc.weight", (args.mlp_mult * D, D), "uniform"),
            (p + "mlp.proj.weight", (D, args.mlp_mult * D), "zeros"),
        ]
    if not args.tie_embeddings:
        out.append(("lm_head.weight", (V, D), "zeros"))
    return out


def init_weights(args: Hyperparameters) -> Weights:
    """Framework-independent init from numpy's PCG64 with SEED, so both scripts start from identical bits."""
    rng = np.random.default_rng(args.seed)
    w = {}
    for name, shape, kind in weight_layout(args):
        if kind == "normal_emb":
            std = args.tied_embed_init_std if args.tie_embeddings else 1.0
            a = rng.standard_normal(shape) * std
        elif kind == "uniform":
            bound = 1.0 / math.sqrt(shape[1])
            a = rng.uniform(-bound, bound, shape)
        elif kind == "zeros":
            a = np.zeros(shape)
        elif kind == "ones":
            a = np.ones(shape)
        elif kind == "q_gain":
            a = np.full(shape, args.qk_gain_init)
        else:
            a = np.stack([np.ones(shape[1]), np.zeros(shape[1])])
        w[name] = a.astype(np.float32)
    return w


def check_weights(args: Hyperparameters, weights: Weights, source: str) -> None:
    want = {n: s for n, s, _ in weight_layout(args)}
    for n in want:
        if n not in weights:
            raise ValueError(f"{source}: missing tensor {n}")
        if tuple(weights[n].shape) != tuple(want[n]):
            raise ValueError(f"{source}: tensor {n} has shape {tuple(weights[n].shape)}, expected {tuple(want[n])}")
    extra = sorted(set(weights) - set(want))
    if extra:
        raise ValueError(f"{source}: unexpected tensor {extra[0]}")


def save_weights(path: str, weights: Weights) -> None:
    with open(path, "wb") as f:
        np.savez(f, **{k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})


def load_weights(path: str) -> Weights:
    with np.load(path) as z:
        return {k: z[k].astype(np.float32) for k in z.files}


# ----------------------------------------------------------------------------- export (numpy; identical in both scripts)
# The artifact's weights: quantized and compressed in numpy, so the same weights give the same bytes on
# either backend; the score is taken after the roundtrip (load, dequantize, evaluate again).


INT8_KEEP_FLOAT_MAX_NUMEL = 65_536
INT8_CLIP_Q = 99.99984 / 100.0


def quantize_int8(weights: Weights, dtypes: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Upstream's int8_clean_per_row_v1 object (numpy arrays): 2-D float tensors > 65,536 values get
    per-row int8 with a 99.99984th-percentile clip and an fp16 scale floored at 1/127; other large
    tensors one int8 scale; small tensors pass through (control tensors fp32, the rest fp16).
    `dtypes` names each tensor's training dtype (float32 unless given, e.g. bfloat16). -> (obj, stats)."""
    dtypes = dtypes or {}
    obj = {"__quant_format__": "int8_clean_per_row_v1", "quantized": {}, "scales": {}, "dtypes": {}, "passthrough": {}}
    qmeta, orig = {}, {}
    stats = dict.fromkeys(("param_count", "num_tensors", "num_float_tensors", "num_nonfloat_tensors", "baseline_tensor_bytes", "int8_payload_bytes"), 0)
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float32)
        dt = dtypes.get(name, "float32").encode().decode()  # a fresh str per tensor, as upstream's pickle memo sees it
        stats["param_count"] += w.size
        stats["num_tensors"] += 1
        stats["baseline_tensor_bytes"] += w.size * (2 if dt in ("bfloat16", "float16") else 4)
        if w.size <= INT8_KEEP_FLOAT_MAX_NUMEL:
            if any(p in name for p in CONTROL_PATTERNS):
                kept = np.ascontiguousarray(w)
            else:
                orig[name] = dt.encode().decode()
                kept = np.ascontiguousarray(w.astype(np.float16))
            obj["passthrough"][name] = kept
            stats["int8_payload_bytes"] += kept.nbytes
            continue
        stats["num_float_tensors"] += 1
        if w.ndim == 2:
            clip = np.quantile(np.abs(w), INT8_CLIP_Q, axis=1).astype(np.float32)
            scale = np.maximum(clip / np.float32(127.0), np.float32(1.0 / 127.0)).astype(np.float32)
            q = np.clip(np.round(np.clip(w, -clip[:, None], clip[:, None]) / scale[:, None]), -127, 127).astype(np.int8)
            scale = scale.astype(np.float16)
            qmeta[name] = {"scheme": "per_row", "axis": 0}
        else:
            clip = float(np.quantile(np.abs(w).reshape(-1), INT8_CLIP_Q)) if w.size else 0.0
            scale = np.array(clip / 127.0 if clip > 0 else 1.0, dtype=np.float32)
            q = np.clip(np.round(np.clip(w, -clip, clip) / scale), -127, 127).astype(np.int8)
        obj["quantized"][name], obj["scales"][name], obj["dtypes"][name] = np.ascontiguousarray(q), np.ascontiguousarray(scale), dt
        stats["int8_payload_bytes"] += q.nbytes + scale.nbytes
    if qmeta:
        obj["qmeta"] = qmeta
    if orig:
        obj["passthrough_orig_dtypes"] = orig
    return obj, stats


def dequantize_int8(obj: dict) -> Weights:
    """Inverse of quantize_int8 -> {name: float32 array} (values as upstream restores them before any bf16 cast)."""
    out = {}
    for name, q in obj["quantized"].items():
        q, s = np.asarray(q, dtype=np.float32), np.asarray(obj["scales"][name], dtype=np.float32)
        out[name] = q * s.reshape((q.shape[0],) + (1,) * (q.ndim - 1)) if s.ndim > 0 else q * float(s)
    for name, w in obj["passthrough"].items():
        out[name] = np.asarray(w, dtype=np.float32)
    return out


def _quant_rows(w, bits, clip_ratios):
    qmax = 2 ** (bits - 1) - 1
    amax = np.abs(w).max(axis=1)
    best_q, best_s, best_err = None, None, None
    for r in clip_ratios:
        s = np.where(amax > 0, amax * r / qmax, 1.0).astype(np.float16).astype(np.float32)
        s = np.where(s > 0, s, 1.0).astype(np.float32)
        q = np.clip(np.rint(w / s[:, None]), -qmax, qmax)
        err = ((q * s[:, None] - w) ** 2).sum(axis=1)
        if best_q is None:
            best_q, best_s, best_err = q, s, err
        else:
            take = err < best_err
            best_q = np.where(take[:, None], q, best_q)
            best_s = np.where(take, s, best_s)
            best_err = np.minimum(err, best_err)
    return best_q.astype(np.int8), best_s.astype(np.float16)


EXPORTERS = {
    # name: (matrix bits, embedding bits, clip ratios searched per row, codec, size-line tag, min numel quantized)
    # int8_zlib is upstream's exporter (quantize_int8 above, torch.save/pickle + zlib -9); int6_* are pgolf's "PGQ1" format.
    "int8_zlib": (8, 8, (), "zlib", "int8+zlib", 65537),
    "int6_zstd": (6, 8, (1.0, 0.95, 0.9, 0.85, 0.8, 0.75), "zstd", "int6+zstd", 4096),
    "int6_lzma": (6, 8, (1.0, 0.95, 0.9, 0.85, 0.8, 0.75), "lzma", "int6+lzma", 4096),
}


def resolve_exporter(name: str) -> str:
    """Validate EXPORTER; a missing codec is an error, never a silent switch to another format."""
    if name not in EXPORTERS:
        raise ValueError(f"EXPORTER={name!r} is not one of {', '.join(EXPORTERS)}")
    if EXPORTERS[name][3] == "zstd":
        try:
            import zstandard  # noqa: F401
        except ImportError:
            raise ValueError(f"EXPORTER={name} needs the zstandard package (pip install zstandard), or choose EXPORTER=int6_lzma or int8_zlib") from None
    return name


def export_weights(weights: Weights, exporter: str, dtypes: dict[str, str] | None = None, dump=None) -> tuple[bytes, int, int]:
    """Quantize a {name: float32 array} dict (upstream state_dict order) and compress it.
    `dump` serializes int8's object (train_gpt.py: torch.save, as upstream; default pickle, as upstream MLX).
    Returns (blob, payload_bytes, serialized_bytes)."""
    mbits, ebits, clips, codec, _, min_numel = EXPORTERS[exporter]
    if exporter == "int8_zlib":
        obj, stats = quantize_int8(weights, dtypes)
        raw = (dump or (lambda o: pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)))(obj)
        return zlib.compress(raw, 9), stats["int8_payload_bytes"], len(raw)
    entries, parts, scales = [], [], []
    for name in sorted(weights):
        w = np.asarray(weights[name], dtype=np.float32)
        e = {"name": name, "shape": list(w.shape)}
        if w.ndim == 2 and w.size >= min_numel:
            bits = ebits if name in ("tok_emb.weight", "lm_head.weight") else mbits
            q, s = _quant_rows(w, bits, clips)
            e.update(kind="q", bits=bits)
            parts.append(q.tobytes())
            scales.append(s.tobytes())
        elif any(p in name for p in CONTROL_PATTERNS):
            e.update(kind="f32")
            parts.append(w.tobytes())
        else:
            e.update(kind="f16")
            parts.append(w.astype(np.float16).tobytes())
        entries.append(e)
    header = json.dumps({"format": "pgolf-q1", "exporter": exporter, "tensors": entries}).encode()
    raw = b"PGQ1" + len(header).to_bytes(4, "little") + header + b"".join(parts) + b"".join(scales)
    if codec == "zstd":
        import zstandard

        blob = zstandard.ZstdCompressor(level=22).compress(raw)
    else:
        blob = lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)
    return blob, sum(len(x) for x in parts + scales), len(raw)


def import_weights(blob: bytes, load=None) -> Weights:
    """Inverse of export_weights (codec sniffed from the magic bytes; `load` reads int8's object)."""
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        raw = zstandard.ZstdDecompressor().decompress(blob)
    elif blob[:6] == b"\xfd7zXZ\x00":
        raw = lzma.decompress(blob)
    else:
        raw = zlib.decompress(blob)
    if raw[:4] != b"PGQ1":
        return dequantize_int8((load or pickle.loads)(raw))
    n = int.from_bytes(raw[4:8], "little")
    meta = json.loads(raw[8 : 8 + n])
    pos, out, pending = 8 + n, {}, []
    for e in meta["tensors"]:
        shape, count = tuple(e["shape"]), int(np.prod(e["shape"], dtype=np.int64))
        if e["kind"] == "q":
            out[e["name"]] = np.frombuffer(raw, np.int8, count, pos).reshape(shape).astype(np.float32)
            pending.append((e["name"], shape[0]))
            pos += count
        elif e["kind"] == "f32":
            out[e["name"]] = np.frombuffer(raw, np.float32, count, pos).reshape(shape).copy()
            pos += 4 * count
        else:
            out[e["name"]] = np.frombuffer(raw, np.float16, count, pos).reshape(shape).astype(np.float32)
            pos += 2 * count
    for name, rows in pending:
        s = np.frombuffer(raw, np.float16, rows, pos).astype(np.float32)
        out[name] = out[name] * s[:, None]
        pos += 2 * rows
    return out


# === shared with train_gpt_mlx.py: end ===


class DistributedLoader:
    """As upstream: each call consumes world * (local_tokens + 1) tokens; rank r takes span r (no token shared between spans)."""

    def __init__(self, pattern, rank, world, device):
        self.stream, self.rank, self.world, self.device = TokenStream(pattern), rank, world, device

    def next_batch(self, local_tokens, seq_len):
        span = local_tokens + 1
        chunk = self.stream.take(self.world * span)
        mine = torch.from_numpy(chunk[self.rank * span : (self.rank + 1) * span].astype(np.int64))
        x, y = mine[:-1].reshape(-1, seq_len), mine[1:].reshape(-1, seq_len)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)



# ----------------------------------------------------------------------------- model
# Upstream's naive-baseline GPT, module for module, so that a record's change to upstream means the
# same here; train_gpt_mlx.py mirrors it name for name.


def rms_norm(x):
    return F.rms_norm(x, (x.size(-1),))  # eps=None: float32's eps, bf16 too (torch upcasts), as upstream


def rope_tables(seq_len, head_dim, base, dtype=torch.float32):
    """cos/sin tables computed in `dtype`: upstream's .bfloat16() model turns its inv_freq buffer (and so the
    positions and angles) into bf16 on CUDA; fp32 elsewhere."""
    inv = (1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))).to(dtype)
    ang = torch.outer(torch.arange(seq_len, dtype=dtype), inv)
    return ang.cos(), ang.sin()


def apply_rope(x, cos, sin):
    h = x.size(-1) // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)  # upstream's direction


class Linear(nn.Module):
    """Bias-free linear whose fp32 weight is cast to the activation dtype (bf16 under autocast)."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in))

    def forward(self, x):
        return F.linear(x, self.weight.to(x.dtype))


class Attention(nn.Module):
    def __init__(self, args):
        super().__init__()
        D, self.h, self.kvh = args.model_dim, args.num_heads, args.num_kv_heads
        if D % self.h or self.h % self.kvh or (D // self.h) % 2:
            raise ValueError("MODEL_DIM must split into NUM_HEADS even-sized heads, NUM_HEADS divisible by NUM_KV_HEADS")
        self.hd = D // self.h
        self.c_q, self.c_k = Linear(D, D), Linear(D, self.kvh * self.hd)
        self.c_v, self.proj = Linear(D, self.kvh * self.hd), Linear(D, D)
        self.q_gain = nn.Parameter(torch.empty(self.h))
        self.rope_base, self._rope, self.rope_dtype = args.rope_base, {}, torch.float32

    def rope(self, T, device, dtype):
        key = (T, device)
        if key not in self._rope:
            with torch.inference_mode(False):  # a table first built during evaluation must serve training too
                cos, sin = rope_tables(T, self.hd, self.rope_base, self.rope_dtype)
            self._rope[key] = (cos.to(device), sin.to(device))
        cos, sin = self._rope[key]
        return cos.to(dtype), sin.to(dtype)

    def forward(self, x):
        B, T, D = x.shape
        q = self.c_q(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.c_k(x).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.c_v(x).view(B, T, self.kvh, self.hd).transpose(1, 2)
        q, k = rms_norm(q), rms_norm(k)
        cos, sin = self.rope(T, x.device, q.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q = q * self.q_gain.to(q.dtype)[None, :, None, None]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kvh != self.h)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.fc = Linear(args.model_dim, args.mlp_mult * args.model_dim)
        self.proj = Linear(args.mlp_mult * args.model_dim, args.model_dim)

    def forward(self, x):
        return self.proj(torch.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, args):
        super().__init__()
        D = args.model_dim
        self.attn, self.mlp = Attention(args), MLP(args)
        self.attn_scale, self.mlp_scale = nn.Parameter(torch.empty(D)), nn.Parameter(torch.empty(D))
        self.resid_mix = nn.Parameter(torch.empty(2, D))

    def forward(self, x, x0):
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(rms_norm(x))
        return x + self.mlp_scale.to(x.dtype) * self.mlp(rms_norm(x))


class GPT(nn.Module):
    def __init__(self, args):
        super().__init__()
        if args.logit_softcap <= 0:
            raise ValueError("LOGIT_SOFTCAP must be positive")
        L, self.softcap = args.num_layers, args.logit_softcap
        self.n_enc, self.n_dec = L // 2, L - L // 2
        self.tok_emb = nn.Embedding(args.vocab_size, args.model_dim)
        self.skip_weights = nn.Parameter(torch.empty(min(self.n_enc, self.n_dec), args.model_dim))
        self.blocks = nn.ModuleList(Block(args) for _ in range(L))
        self.lm_head = None if args.tie_embeddings else Linear(args.model_dim, args.vocab_size)

    def logits(self, idx, trace=None):
        x = rms_norm(self.tok_emb(idx))
        x0, skips = x, []
        if trace is not None:
            trace.append(("embed", x))
        for i, block in enumerate(self.blocks):
            if i >= self.n_enc and skips:
                x = x + self.skip_weights[i - self.n_enc].to(x.dtype) * skips.pop()
            x = block(x, x0)
            if i < self.n_enc:
                skips.append(x)
            if trace is not None:
                trace.append((f"blocks.{i}", x))
        x = rms_norm(x)
        w = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(x, w.to(x.dtype))
        logits = self.softcap * torch.tanh(logits / self.softcap)
        if trace is not None:
            trace.append(("logits", logits))
        return logits

    def forward(self, idx, targets):
        logits = self.logits(idx)
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))


def build_model(args, weights, device="cpu", embed_dtype=torch.float32):
    """The model on `device`; the embedding in `embed_dtype` (bf16 on CUDA, as upstream trains and stores it)."""
    check_weights(args, weights, "weights")
    model = GPT(args)
    extra = sorted(set(dict(model.named_parameters())) - set(weights))
    if extra:
        raise ValueError(f"model parameter {extra[0]} is not in the weight layout")
    model.tok_emb.to(embed_dtype)
    for block in model.blocks:
        block.attn.rope_dtype = embed_dtype
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(weights[name]))
    return model.to(device)


def model_weights(model):
    """{name: float32 array} in state_dict order, and {name: dtype name} of the tensors trained in another dtype."""
    named = list(model.named_parameters())
    return {n: p.detach().float().cpu().numpy() for n, p in named}, {n: str(p.dtype).split(".")[-1] for n, p in named if p.dtype != torch.float32}


def torch_dump(obj):
    """Upstream's int8 file: torch.save of the quantized object (tensors), as bytes."""
    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v

    buf = io.BytesIO()
    torch.save(conv(obj), buf)
    return buf.getvalue()


def torch_load(raw):
    if raw[:2] != b"PK":
        return pickle.loads(raw)  # the MLX twin's pickle of numpy arrays

    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v.float().numpy() if isinstance(v, torch.Tensor) and v.is_floating_point() else (v.numpy() if isinstance(v, torch.Tensor) else v)

    return conv(torch.load(io.BytesIO(raw), map_location="cpu"))


def parity_trace(env, weights, tokens):
    """For the parity gate: fp32 CPU forward of `tokens` [B, T+1] -> [(name, ndarray)], ending with ('loss', scalar)."""
    args = Hyperparameters(env)
    model = build_model(args, weights)
    t = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    trace = []
    with torch.no_grad():
        logits = model.logits(t[:, :-1], trace)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), t[:, 1:].reshape(-1))
    return [(n, v.float().numpy()) for n, v in trace] + [("loss", np.float64(loss.item()))]


# ----------------------------------------------------------------------------- Muon
# Muon (momentum orthogonalized by Newton-Schulz) for the block matrices, Adam for embeddings and
# scalars: upstream's split, and what makes ten minutes of training enough.


def newton_schulz5(G, steps, eps=1e-7):
    """Approximately orthogonalize G with the quintic Newton-Schulz iteration (coefficients from Muon)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.bfloat16() if G.is_cuda else G.float()
    X = X / (X.norm() + eps)
    tall = X.size(0) > X.size(1)
    if tall:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X


class Muon(torch.optim.Optimizer):
    """SGD-momentum (Nesterov) whose 2-D updates are orthogonalized; ranks split the work, then all-reduce."""

    def __init__(self, params, lr, momentum, backend_steps):
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps))

    @torch.no_grad()
    def step(self):
        ddp = dist.is_available() and dist.is_initialized()
        world, rank = (dist.get_world_size(), dist.get_rank()) if ddp else (1, 0)
        for group in self.param_groups:
            params = group["params"]
            flat = torch.zeros(sum(p.numel() for p in params), device=params[0].device, dtype=torch.bfloat16 if params[0].is_cuda else torch.float32)
            off = 0
            for i, p in enumerate(params):
                if i % world == rank and p.grad is not None:
                    st = self.state[p]
                    if "buf" not in st:
                        st["buf"] = torch.zeros_like(p.grad)
                    buf = st["buf"]
                    buf.mul_(group["momentum"]).add_(p.grad)
                    u = newton_schulz5(p.grad.add(buf, alpha=group["momentum"]), group["backend_steps"])
                    u = u * max(1.0, u.size(0) / u.size(1)) ** 0.5
                    flat[off : off + p.numel()] = u.reshape(-1).float()
                off += p.numel()
            if ddp:
                dist.all_reduce(flat)
            off = 0
            for p in params:
                p.add_(flat[off : off + p.numel()].view_as(p).to(p.dtype), alpha=-group["lr"])
                off += p.numel()


# ----------------------------------------------------------------------------- training
# The record run: steps until the wall-clock cap (the challenge's 10 minutes) with the LR warmdown
# driven by the time left, then export and the roundtrip evaluation whose val_bpb is the score.


def main():
    args = Hyperparameters()
    code = open(__file__, encoding="utf-8").read()
    ddp = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available()
    accum = args.grad_accum_steps or (8 // world if 8 % world == 0 else 1)
    if args.train_batch_tokens % (world * accum * args.train_seq_len):
        raise ValueError(f"TRAIN_BATCH_TOKENS={args.train_batch_tokens} must be a multiple of WORLD_SIZE*GRAD_ACCUM_STEPS*TRAIN_SEQ_LEN={world * accum * args.train_seq_len}")
    resolve_exporter(args.exporter)  # at start-up: a bad EXPORTER never costs a training run
    if cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.enable_flash_sdp(True)
        torch.backends.cuda.enable_mem_efficient_sdp(False)
        torch.backends.cuda.enable_math_sdp(False)
        torch.backends.cuda.enable_cudnn_sdp(False)
    else:
        device = torch.device("cpu")
        if not os.environ.get("OMP_NUM_THREADS"):  # an explicit thread count wins (e.g. on a shared machine)
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    if ddp:
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    master = rank == 0
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    logfile = None
    if master:
        os.makedirs(args.out_dir, exist_ok=True)
        logfile = f"{args.out_dir}/{args.run_id}.txt"
        print(logfile)

    def log0(msg, console=True):
        if master:
            if console:
                print(msg, flush=True)
            with open(logfile, "a", encoding="utf-8") as f:
                print(msg, file=f)

    log0(code, console=False)
    log0("=" * 100, console=False)
    log0(f"Running Python {sys.version}", console=False)
    log0(f"Running PyTorch {torch.__version__}", console=False)
    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        smi = "nvidia-smi: not available"
    log0(smi, console=False)
    log0("=" * 100, console=False)
    log0(f"code_sha256:{hashlib.sha256(code.encode('utf-8')).hexdigest()} python:{sys.version.split()[0]} torch:{torch.__version__} cuda:{torch.version.cuda if cuda else 'none'} device_name:{torch.cuda.get_device_name(device) if cuda else 'cpu'}")

    torch.manual_seed(args.seed)
    luts = byte_luts(args.tokenizer_path, args.vocab_size)
    val_tokens = load_val_tokens(args.val_files, args.train_seq_len, args.val_max_tokens)
    n_train = len(glob.glob(args.train_files))
    log0(f"val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path={args.tokenizer_path}")
    log0(f"train_loader:dataset:{os.path.basename(os.path.abspath(args.data_path))} train_shards:{n_train}")
    log0(f"val_loader:shards pattern={args.val_files} tokens:{val_tokens.size - 1}")

    weights = load_weights(args.init_weights) if args.init_weights else init_weights(args)
    if args.init_weights:
        check_weights(args, weights, args.init_weights)
    base = build_model(args, weights, device, torch.bfloat16 if cuda else torch.float32)
    model = torch.compile(base, dynamic=False) if cuda and args.compile else base
    if ddp:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if cuda else None, broadcast_buffers=False)

    named = dict(base.named_parameters())
    is_matrix = {n: n.startswith("blocks.") and p.ndim == 2 and not any(c in n for c in CONTROL_PATTERNS) for n, p in named.items()}
    matrices = [p for n, p in named.items() if is_matrix[n]]
    scalars = [p for n, p in named.items() if not is_matrix[n] and n not in ("tok_emb.weight", "lm_head.weight")]
    tok_lr = args.tied_embed_lr if args.tie_embeddings else args.embed_lr
    adam = dict(betas=(args.beta1, args.beta2), eps=args.adam_eps, fused=cuda, foreach=False if cuda else None)
    opt_tok = torch.optim.Adam([{"params": [base.tok_emb.weight], "lr": tok_lr, "base_lr": tok_lr}], **adam)
    opt_muon = Muon(matrices, args.matrix_lr, args.muon_momentum, args.muon_backend_steps)
    opt_muon.param_groups[0]["base_lr"] = args.matrix_lr
    opt_scalar = torch.optim.Adam([{"params": scalars, "lr": args.scalar_lr, "base_lr": args.scalar_lr}], **adam)
    optimizers = [opt_tok, opt_muon, opt_scalar]
    if base.lm_head is not None:
        optimizers.append(torch.optim.Adam([{"params": [base.lm_head.weight], "lr": args.head_lr, "base_lr": args.head_lr}], **adam))

    log0(f"model_params:{sum(p.numel() for p in base.parameters())}")
    log0(f"world_size:{world} grad_accum_steps:{accum}")
    log0("sdp_backends:cudnn=False flash=True mem_efficient=False math=False" if cuda else "sdp_backends:cudnn=False flash=False mem_efficient=False math=True device:cpu")
    log0(f"attention_mode:gqa num_heads:{args.num_heads} num_kv_heads:{args.num_kv_heads}")
    log0(f"tie_embeddings:{args.tie_embeddings} embed_lr:{tok_lr} head_lr:{args.head_lr if base.lm_head is not None else 0.0} matrix_lr:{args.matrix_lr} scalar_lr:{args.scalar_lr}")
    log0(f"train_batch_tokens:{args.train_batch_tokens} train_seq_len:{args.train_seq_len} iterations:{args.iterations} warmup_steps:{args.warmup_steps} max_wallclock_seconds:{args.max_wallclock_seconds:.3f}")
    log0(f"seed:{args.seed}")

    local_tokens = args.train_batch_tokens // (world * accum)
    cap_ms = 1000.0 * args.max_wallclock_seconds if args.max_wallclock_seconds > 0 else None

    def lr_mul(step, elapsed_ms):
        if args.warmdown_iters <= 0:
            return 1.0
        if cap_ms is None:
            left = args.iterations - step
            return max(left / args.warmdown_iters, 0.0) if left < args.warmdown_iters else 1.0
        warmdown_ms = args.warmdown_iters * elapsed_ms / max(step, 1)
        remaining = max(cap_ms - elapsed_ms, 0.0)
        return remaining / max(warmdown_ms, 1e-9) if remaining <= warmdown_ms else 1.0

    def train_step(loader, scale, momentum):
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        for m in range(accum):
            x, y = loader.next_batch(local_tokens, args.train_seq_len)
            ctx = model.no_sync() if ddp and m < accum - 1 else nullcontext()
            with ctx:
                with autocast():
                    loss = model(x, y)
                (loss / accum).backward()
            total += loss.detach()
        opt_muon.param_groups[0]["momentum"] = momentum
        for opt in optimizers:
            for grp in opt.param_groups:
                grp["lr"] = grp["base_lr"] * scale
        if args.grad_clip_norm > 0:
            nn.utils.clip_grad_norm_(base.parameters(), args.grad_clip_norm)
        for opt in optimizers:
            opt.step()
        return total / accum

    def evaluate():
        n_seq = (val_tokens.size - 1) // args.train_seq_len
        lo, hi = n_seq * rank // world, n_seq * (rank + 1) // world
        per_batch = max(1, args.val_batch_size // (world * accum * args.train_seq_len))
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        model.eval()
        with torch.inference_mode():
            for s in range(lo, hi, per_batch):
                e = min(s + per_batch, hi)
                chunk = val_tokens[s * args.train_seq_len : e * args.train_seq_len + 1].astype(np.int64)
                x = torch.from_numpy(chunk[:-1].reshape(-1, args.train_seq_len)).to(device)
                y = torch.from_numpy(chunk[1:].reshape(-1, args.train_seq_len)).to(device)
                with autocast():
                    loss = model(x, y).double()
                sums[0] += loss * y.numel()
                sums[1] += y.numel()
                sums[2] += count_bytes(chunk[:-1], chunk[1:], luts)
        if ddp:
            dist.all_reduce(sums)
        model.train()
        val_loss = (sums[0] / sums[1]).item()
        return val_loss, val_loss / math.log(2.0) * (sums[1] / sums[2]).item()

    if args.warmup_steps > 0:  # prime compile/allocator, then restore the initial state
        saved_model = {k: v.detach().clone() for k, v in base.state_dict().items()}
        saved_opt = [__import__("copy").deepcopy(o.state_dict()) for o in optimizers]
        warm_loader = DistributedLoader(args.train_files, rank, world, device)
        for i in range(args.warmup_steps):
            train_step(warm_loader, 1.0, args.muon_momentum_warmup_start)
            if args.warmup_steps <= 20 or (i + 1) % 10 == 0 or i + 1 == args.warmup_steps:
                log0(f"warmup_step:{i + 1}/{args.warmup_steps}")
        base.load_state_dict(saved_model)
        for o, s in zip(optimizers, saved_opt):
            o.load_state_dict(s)
        opt_muon.state.clear()

    loader = DistributedLoader(args.train_files, rank, world, device)
    train_ms, stop_after, step = 0.0, None, 0
    sync()
    t0 = time.perf_counter()
    while True:
        last = step == args.iterations or (stop_after is not None and step >= stop_after)
        if last or (args.val_loss_every > 0 and step % args.val_loss_every == 0):
            sync()
            train_ms += 1000.0 * (time.perf_counter() - t0)
            val_loss, val_bpb = evaluate()
            log0(f"step:{step}/{args.iterations} val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} train_time:{train_ms:.0f}ms step_avg:{train_ms / max(step, 1):.2f}ms")
            sync()
            t0 = time.perf_counter()
        if last:
            if stop_after is not None and step < args.iterations:
                log0(f"stopping_early: wallclock_cap train_time:{train_ms:.0f}ms step:{step}/{args.iterations}")
            break
        elapsed = train_ms + 1000.0 * (time.perf_counter() - t0)
        frac = min(step / args.muon_momentum_warmup_steps, 1.0) if args.muon_momentum_warmup_steps > 0 else 1.0
        momentum = (1 - frac) * args.muon_momentum_warmup_start + frac * args.muon_momentum
        train_loss = train_step(loader, lr_mul(step, elapsed), momentum)
        step += 1
        now = train_ms + 1000.0 * (time.perf_counter() - t0)
        if args.train_log_every > 0 and (step <= 10 or step % args.train_log_every == 0 or stop_after is not None):
            if ddp:  # the global mean, so the line does not depend on WORLD_SIZE
                dist.all_reduce(train_loss)
                train_loss /= world
            log0(f"step:{step}/{args.iterations} train_loss:{train_loss.item():.4f} train_time:{now:.0f}ms step_avg:{now / step:.2f}ms")
        capped = cap_ms is not None and now >= cap_ms
        if ddp and cap_ms is not None:
            flag = torch.tensor(int(capped), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            capped = bool(flag.item())
        if stop_after is None and capped:
            stop_after = step

    if cuda:
        log0(f"peak memory allocated: {torch.cuda.max_memory_allocated() // 2**20} MiB reserved: {torch.cuda.max_memory_reserved() // 2**20} MiB")
    exporter = resolve_exporter(args.exporter)
    tag = EXPORTERS[exporter][4]
    artifact = f"final_model.{exporter.split('_')[0]}.ptz"
    weights, dtypes = model_weights(base)
    code_bytes = len(code.encode("utf-8"))
    if master:
        save_weights("final_model.npz", weights)
        log0(f"Serialized model: {os.path.getsize('final_model.npz')} bytes")
        log0(f"Code size: {code_bytes} bytes")
        log0(f"Total submission size: {os.path.getsize('final_model.npz') + code_bytes} bytes")
        blob, payload, raw_bytes = export_weights(weights, exporter, dtypes, torch_dump)
        with open(artifact, "wb") as f:
            f.write(blob)
        base_bytes = sum(w.size * (2 if n in dtypes else 4) for n, w in weights.items())
        log0(f"Serialized model {tag}: {len(blob)} bytes (payload:{payload} raw_torch:{raw_bytes} payload_ratio:{base_bytes / max(payload, 1):.2f}x)")
        log0(f"Total submission size {tag}: {len(blob) + code_bytes} bytes")
    if ddp:
        dist.barrier()
    with open(artifact, "rb") as f:
        restored = import_weights(f.read(), torch_load)
    with torch.no_grad():
        for n, p in base.named_parameters():
            p.copy_(torch.from_numpy(restored[n]))  # copy_ casts to the parameter's dtype (bf16 embedding on CUDA), as upstream
    sync()
    t_eval = time.perf_counter()
    q_loss, q_bpb = evaluate()
    sync()
    name = f"final_{exporter}_roundtrip"
    log0(f"{name} val_loss:{q_loss:.4f} val_bpb:{q_bpb:.4f} eval_time:{1000.0 * (time.perf_counter() - t_eval):.0f}ms")
    log0(f"{name}_exact val_loss:{q_loss:.8f} val_bpb:{q_bpb:.8f}")
    if ddp:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # every rank is past the final barrier: leave without interpreter teardown, where gloo's threads sometimes abort a finished run
        gc.collect()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
