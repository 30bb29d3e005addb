"""pgolf train_gpt_mlx.py — the MLX twin of train_gpt.py (single file; Apple Silicon Metal, or Linux mlx[cpu]).

Same knobs, architecture, initialisation (numpy PCG64 from SEED, bit-identical to the PyTorch
script), numerics (RoPE direction, RMSNorm eps, embedding dtype), optimizer semantics (Muon for
block matrices, Adam with bias correction for the embedding and scalars), wall-clock LR warmdown,
data order, log lines and exporters as train_gpt.py. The numpy/stdlib section between the "shared"
markers is byte-identical in both scripts. Single process: GRAD_ACCUM_STEPS defaults to 8 and
VAL_LOSS_EVERY to 0 (upstream MLX's defaults). Memory (upstream MLX's knobs and defaults): each
micro-batch is split into chunks of at most MLX_MAX_MICROBATCH_TOKENS=8192 tokens, materialized one
by one while MLX_EAGER_EVAL=1; LOGIT_CHUNK_TOKENS>0 projects the logits that many tokens at a time.
On Metal the embedding is stored and the activations computed in bf16 (as upstream); on CPU fp32.

Knobs and the weights layout: see the header of train_gpt.py (identical names and meaning).
Outputs: $OUT_DIR/<RUN_ID>.txt, and in the current directory final_model.npz, final_model.<int8|int6>.ptz
(int8: a pickle of numpy arrays + zlib, as upstream MLX; train_gpt.py reads it too).
"""

from __future__ import annotations

import glob
import hashlib
import json
import lzma
import math
import os
import pickle
import sys
import time
import uuid
import zlib

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SCRIPT_DEFAULTS = {"VAL_LOSS_EVERY": 0, "GRAD_ACCUM_STEPS": 8}  # upstream MLX's defaults where they differ

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


def batch_from(chunk, seq_len):
    a = np.asarray(chunk, dtype=np.int32)
    return mx.array(a[:-1].reshape(-1, seq_len)), mx.array(a[1:].reshape(-1, seq_len))


class Loader:
    """Single-process version of train_gpt.py's DistributedLoader (same stream, same chunks)."""

    def __init__(self, pattern):
        self.stream = TokenStream(pattern)

    def next_batch(self, local_tokens, seq_len):
        return batch_from(self.stream.take(local_tokens + 1), seq_len)


# ----------------------------------------------------------------------------- model
# train_gpt.py's model in MLX: the same names, shapes and numerics (RMSNorm's float32 eps, RoPE
# direction), so the parity check can compare the two layer by layer.


_EPS = float(np.finfo(np.float32).eps)  # torch's F.rms_norm(eps=None) works in fp32 for bf16/fp16 too


def rms_norm(x):
    return mx.fast.rms_norm(x, None, _EPS)  # eps = float32's machine epsilon in every dtype, as upstream torch


def compute_dtype():
    return mx.bfloat16 if mx.default_device() == mx.gpu else mx.float32


_ROPE = {}


def rope_tables(seq_len, head_dim, base):
    inv = (np.float32(1.0) / (np.float32(base) ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)))).astype(np.float32)
    ang = np.outer(np.arange(seq_len, dtype=np.float32), inv).astype(np.float32)
    return np.cos(ang), np.sin(ang)


def apply_rope(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return mx.concatenate([x1 * cos + x2 * sin, x2 * cos - x1 * sin], axis=-1)  # upstream torch's direction


class Linear(nn.Module):
    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = mx.zeros((fan_out, fan_in))

    def __call__(self, x):
        return x @ self.weight.astype(x.dtype).T


class Attention(nn.Module):
    def __init__(self, args):
        super().__init__()
        D, self.h, self.kvh = args.model_dim, args.num_heads, args.num_kv_heads
        if D % self.h or self.h % self.kvh or (D // self.h) % 2:
            raise ValueError("MODEL_DIM must split into NUM_HEADS even-sized heads, NUM_HEADS divisible by NUM_KV_HEADS")
        self.hd = D // self.h
        self.c_q, self.c_k = Linear(D, D), Linear(D, self.kvh * self.hd)
        self.c_v, self.proj = Linear(D, self.kvh * self.hd), Linear(D, D)
        self.q_gain = mx.zeros((self.h,))
        self.rope_base = args.rope_base

    def rope(self, T, dtype):
        key = (T, self.hd, self.rope_base, dtype)
        if key not in _ROPE:
            if dtype == mx.float32:
                cos, sin = rope_tables(T, self.hd, self.rope_base)
                _ROPE[key] = (mx.array(cos), mx.array(sin))
            else:  # as upstream torch's .bfloat16() model: inv_freq, positions and angles in bf16
                inv = (1.0 / (self.rope_base ** (mx.arange(0, self.hd, 2, dtype=mx.float32) / self.hd))).astype(dtype)
                # positions counted in fp32 then rounded to bf16, as torch.arange(dtype=bf16); MLX's CPU
                # arange in bf16 accumulates the step in bf16 and sticks at 256
                ang = mx.arange(T, dtype=mx.float32).astype(dtype)[:, None] * inv[None, :]
                _ROPE[key] = (mx.cos(ang), mx.sin(ang))
        return _ROPE[key]

    def __call__(self, x):
        B, T, D = x.shape
        q = self.c_q(x).reshape(B, T, self.h, self.hd).transpose(0, 2, 1, 3)
        k = self.c_k(x).reshape(B, T, self.kvh, self.hd).transpose(0, 2, 1, 3)
        v = self.c_v(x).reshape(B, T, self.kvh, self.hd).transpose(0, 2, 1, 3)
        q, k = rms_norm(q), rms_norm(k)
        cos, sin = self.rope(T, q.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q = q * self.q_gain.astype(q.dtype)[None, :, None, None]
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(self.hd), mask="causal")
        return self.proj(y.transpose(0, 2, 1, 3).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.fc = Linear(args.model_dim, args.mlp_mult * args.model_dim)
        self.proj = Linear(args.mlp_mult * args.model_dim, args.model_dim)

    def __call__(self, x):
        return self.proj(mx.square(mx.maximum(self.fc(x), 0)))


class Block(nn.Module):
    def __init__(self, args):
        super().__init__()
        D = args.model_dim
        self.attn, self.mlp = Attention(args), MLP(args)
        self.attn_scale, self.mlp_scale = mx.zeros((D,)), mx.zeros((D,))
        self.resid_mix = mx.zeros((2, D))

    def __call__(self, x, x0):
        mix = self.resid_mix.astype(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.astype(x.dtype) * self.attn(rms_norm(x))
        return x + self.mlp_scale.astype(x.dtype) * self.mlp(rms_norm(x))


class GPT(nn.Module):
    def __init__(self, args):
        super().__init__()
        if args.logit_softcap <= 0:
            raise ValueError("LOGIT_SOFTCAP must be positive")
        L, self.softcap = args.num_layers, args.logit_softcap
        self.n_enc, self.n_dec = L // 2, L - L // 2
        self.tok_emb = nn.Embedding(args.vocab_size, args.model_dim)
        self.skip_weights = mx.zeros((min(self.n_enc, self.n_dec), args.model_dim))
        self.blocks = [Block(args) for _ in range(L)]
        if not args.tie_embeddings:
            self.lm_head = Linear(args.model_dim, args.vocab_size)
        self.tied, self.dim, self.logit_chunk = args.tie_embeddings, args.model_dim, args.logit_chunk_tokens

    def hidden(self, idx, trace=None):
        x = rms_norm(self.tok_emb(idx).astype(compute_dtype()))
        x0, skips = x, []
        if trace is not None:
            trace.append(("embed", x))
        for i, block in enumerate(self.blocks):
            if i >= self.n_enc and skips:
                x = x + self.skip_weights[i - self.n_enc].astype(x.dtype) * skips.pop()
            x = block(x, x0)
            if i < self.n_enc:
                skips.append(x)
            if trace is not None:
                trace.append((f"blocks.{i}", x))
        return rms_norm(x)

    def project(self, x):
        w = self.tok_emb.weight if self.tied else self.lm_head.weight
        return self.softcap * mx.tanh((x @ w.astype(x.dtype).T) / self.softcap)

    def logits(self, idx, trace=None):
        logits = self.project(self.hidden(idx, trace))
        if trace is not None:
            trace.append(("logits", logits))
        return logits

    def __call__(self, idx, targets):
        """Mean cross-entropy; LOGIT_CHUNK_TOKENS > 0 projects that many tokens at a time (upstream MLX's memory knob)."""
        x = self.hidden(idx).reshape(-1, self.dim)
        y = targets.reshape(-1)
        n, c = x.shape[0], self.logit_chunk
        if c <= 0 or n <= c:
            return nn.losses.cross_entropy(self.project(x).astype(mx.float32), y, reduction="mean")
        total = mx.array(0.0, dtype=mx.float32)
        for s in range(0, n, c):
            total = total + nn.losses.cross_entropy(self.project(x[s : s + c]).astype(mx.float32), y[s : s + c], reduction="sum")
        return total / n


def build_model(args, weights, embed_dtype=mx.float32):
    """The model; the embedding in `embed_dtype` (bf16 on Metal, as upstream MLX and torch store it)."""
    check_weights(args, weights, "weights")
    model = GPT(args)
    extra = sorted({n for n, _ in tree_flatten(model.parameters())} - set(weights))
    if extra:
        raise ValueError(f"model parameter {extra[0]} is not in the weight layout")
    model.update(tree_unflatten([(n, mx.array(weights[n]).astype(embed_dtype if n == "tok_emb.weight" else mx.float32)) for n, _, _ in weight_layout(args)]))
    mx.eval(model.parameters())
    return model


def model_weights(model, names):
    """{name: float32 array} in `names` order, and {name: dtype name} of the tensors trained in another dtype."""
    flat = dict(tree_flatten(model.parameters()))
    return {n: np.array(flat[n].astype(mx.float32)) for n in names}, {n: str(flat[n].dtype).split(".")[-1] for n in names if flat[n].dtype != mx.float32}


def parity_trace(env, weights, tokens):
    """For the parity gate: fp32 CPU forward of `tokens` [B, T+1] -> [(name, ndarray)], ending with ('loss', scalar)."""
    mx.set_default_device(mx.cpu)
    args = Hyperparameters(env)
    model = build_model(args, weights)
    t = mx.array(np.asarray(tokens, dtype=np.int32))
    trace = []
    logits = model.logits(t[:, :-1], trace)
    loss = nn.losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1), reduction="mean")
    mx.eval(loss, *[v for _, v in trace])
    return [(n, np.array(v.astype(mx.float32))) for n, v in trace] + [("loss", np.float64(loss.item()))]


# ----------------------------------------------------------------------------- optimizers
# The same split as train_gpt.py (Muon for block matrices, Adam for the rest), so a local run ranks
# changes the way the H100 run would.


def newton_schulz5(G, steps, eps=1e-7):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.astype(mx.bfloat16 if mx.default_device() == mx.gpu else mx.float32)
    X = X / (mx.linalg.norm(X.astype(mx.float32)).astype(X.dtype) + eps)
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * (A @ A)) @ X
    return X.T if tall else X


class Muon:
    def __init__(self, names, lr, momentum, backend_steps):
        self.names, self.base_lr, self.lr, self.momentum, self.steps, self.buf = names, lr, lr, momentum, backend_steps, {}

    def step(self, params, grads):
        for n in self.names:
            g = grads[n]
            buf = self.buf.get(n)
            buf = g if buf is None else self.momentum * buf + g
            self.buf[n] = buf
            u = newton_schulz5(g + self.momentum * buf, self.steps).astype(mx.float32)
            u = u * max(1.0, u.shape[0] / u.shape[1]) ** 0.5
            params[n] = params[n] - self.lr * u


class Adam:
    """torch.optim.Adam semantics: bias-corrected moments, eps added after the square root."""

    def __init__(self, names, lr, beta1, beta2, eps):
        self.names, self.base_lr, self.lr, self.b1, self.b2, self.eps = names, lr, lr, beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        bc1, bc2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        for n in self.names:
            g = grads[n]
            m = self.b1 * self.m.get(n, mx.zeros_like(g)) + (1 - self.b1) * g
            v = self.b2 * self.v.get(n, mx.zeros_like(g)) + (1 - self.b2) * g * g
            self.m[n], self.v[n] = m, v
            params[n] = params[n] - (self.lr / bc1) * m / (mx.sqrt(v) / math.sqrt(bc2) + self.eps)


# ----------------------------------------------------------------------------- training
# Tier 1 on a Mac: train_gpt.py's loop, log lines and exporter (one parser reads both), with
# micro-batches capped (MLX_MAX_MICROBATCH_TOKENS) to fit in unified memory.


def main():
    args = Hyperparameters()
    code = open(__file__, encoding="utf-8").read()
    accum = args.grad_accum_steps or 8
    if args.train_batch_tokens % (accum * args.train_seq_len):
        raise ValueError(f"TRAIN_BATCH_TOKENS={args.train_batch_tokens} must be a multiple of GRAD_ACCUM_STEPS*TRAIN_SEQ_LEN={accum * args.train_seq_len}")
    resolve_exporter(args.exporter)  # at start-up: a bad EXPORTER never costs a training run
    os.makedirs(args.out_dir, exist_ok=True)
    logfile = f"{args.out_dir}/{args.run_id}.txt"
    print(logfile)

    def log0(msg, console=True):
        if console:
            print(msg, flush=True)
        with open(logfile, "a", encoding="utf-8") as f:
            print(msg, file=f)

    log0(code, console=False)
    log0("=" * 100, console=False)
    log0(f"Running Python {sys.version}", console=False)
    log0(f"Running MLX {mx.__version__}", console=False)
    log0("=" * 100, console=False)
    gpu = mx.default_device() == mx.gpu
    log0(f"code_sha256:{hashlib.sha256(code.encode('utf-8')).hexdigest()} python:{sys.version.split()[0]} mlx:{mx.__version__} device_name:{'metal' if gpu else 'cpu'}")

    mx.random.seed(args.seed)
    luts = byte_luts(args.tokenizer_path, args.vocab_size)
    val_tokens = load_val_tokens(args.val_files, args.train_seq_len, args.val_max_tokens)
    log0(f"val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path={args.tokenizer_path}")
    log0(f"train_loader:dataset:{os.path.basename(os.path.abspath(args.data_path))} train_shards:{len(glob.glob(args.train_files))}")
    log0(f"val_loader:shards pattern={args.val_files} tokens:{val_tokens.size - 1}")

    weights = load_weights(args.init_weights) if args.init_weights else init_weights(args)
    if args.init_weights:
        check_weights(args, weights, args.init_weights)
    model = build_model(args, weights, mx.bfloat16 if gpu else mx.float32)
    names = [n for n, _, _ in weight_layout(args)]
    is_matrix = {n: n.startswith("blocks.") and len(weights[n].shape) == 2 and not any(c in n for c in CONTROL_PATTERNS) for n in names}
    tok_lr = args.tied_embed_lr if args.tie_embeddings else args.embed_lr
    opt_tok = Adam(["tok_emb.weight"], tok_lr, args.beta1, args.beta2, args.adam_eps)
    opt_muon = Muon([n for n in names if is_matrix[n]], args.matrix_lr, args.muon_momentum, args.muon_backend_steps)
    opt_scalar = Adam([n for n in names if not is_matrix[n] and n not in ("tok_emb.weight", "lm_head.weight")], args.scalar_lr, args.beta1, args.beta2, args.adam_eps)
    optimizers = [opt_tok, opt_muon, opt_scalar]
    if not args.tie_embeddings:
        optimizers.append(Adam(["lm_head.weight"], args.head_lr, args.beta1, args.beta2, args.adam_eps))

    log0(f"model_params:{sum(int(np.prod(weights[n].shape)) for n in names)}")
    log0(f"world_size:1 grad_accum_steps:{accum}")
    log0(f"device:{'gpu' if gpu else 'cpu'} mlx:{mx.__version__} compute_dtype:{compute_dtype()} mlx_max_microbatch_tokens:{args.mlx_max_microbatch_tokens} mlx_eager_eval:{int(args.mlx_eager_eval)} logit_chunk_tokens:{args.logit_chunk_tokens}")
    log0(f"attention_mode:gqa num_heads:{args.num_heads} num_kv_heads:{args.num_kv_heads}")
    log0(f"tie_embeddings:{args.tie_embeddings} embed_lr:{tok_lr} head_lr:{args.head_lr if not args.tie_embeddings else 0.0} matrix_lr:{args.matrix_lr} scalar_lr:{args.scalar_lr}")
    log0(f"train_batch_tokens:{args.train_batch_tokens} train_seq_len:{args.train_seq_len} iterations:{args.iterations} warmup_steps:{args.warmup_steps} max_wallclock_seconds:{args.max_wallclock_seconds:.3f}")
    log0(f"seed:{args.seed}")

    local_tokens = args.train_batch_tokens // accum
    cap_ms = 1000.0 * args.max_wallclock_seconds if args.max_wallclock_seconds > 0 else None
    loss_and_grad = nn.value_and_grad(model, lambda x, y: model(x, y))

    def lr_mul(step, elapsed_ms):
        if args.warmdown_iters <= 0:
            return 1.0
        if cap_ms is None:
            left = args.iterations - step
            return max(left / args.warmdown_iters, 0.0) if left < args.warmdown_iters else 1.0
        warmdown_ms = args.warmdown_iters * elapsed_ms / max(step, 1)
        remaining = max(cap_ms - elapsed_ms, 0.0)
        return remaining / max(warmdown_ms, 1e-9) if remaining <= warmdown_ms else 1.0

    rows = max(1, args.mlx_max_microbatch_tokens // args.train_seq_len) if args.mlx_max_microbatch_tokens > 0 else 1 << 30

    def train_step(loader, scale, momentum):
        """One optimizer step: GRAD_ACCUM_STEPS micro-batches (as train_gpt.py), each split into chunks of at most
        MLX_MAX_MICROBATCH_TOKENS tokens (whole sequences); MLX_EAGER_EVAL=1 materializes every chunk to cap peak memory."""
        total, grads = mx.array(0.0, dtype=mx.float32), None
        for _ in range(accum):
            x, y = loader.next_batch(local_tokens, args.train_seq_len)
            for s in range(0, x.shape[0], rows):
                w = (min(s + rows, x.shape[0]) - s) / (x.shape[0] * accum)
                loss, g = loss_and_grad(x[s : s + rows], y[s : s + rows])
                g = dict(tree_flatten(g))
                grads = {n: v * w for n, v in g.items()} if grads is None else {n: grads[n] + g[n] * w for n in grads}
                total = total + loss.astype(mx.float32) * w
                if args.mlx_eager_eval:
                    mx.eval(total, grads)
        mx.eval(total, grads)
        total = total.item()
        if args.grad_clip_norm > 0:
            norm = math.sqrt(sum(mx.sum(v * v).item() for v in grads.values()))
            if norm > args.grad_clip_norm:
                grads = {n: v * (args.grad_clip_norm / (norm + 1e-6)) for n, v in grads.items()}
        opt_muon.momentum = momentum
        params = dict(tree_flatten(model.parameters()))
        for opt in optimizers:
            opt.lr = opt.base_lr * scale
            opt.step(params, grads)
        model.update(tree_unflatten(list(params.items())))
        mx.eval(model.parameters(), *[o.buf for o in optimizers if isinstance(o, Muon)], *[(o.m, o.v) for o in optimizers if isinstance(o, Adam)])
        return total

    def evaluate():
        n_seq = (val_tokens.size - 1) // args.train_seq_len
        per_batch = max(1, args.val_batch_size // (accum * args.train_seq_len))
        loss_sum, tokens, nbytes = 0.0, 0, 0
        for s in range(0, n_seq, per_batch):
            e = min(s + per_batch, n_seq)
            chunk = val_tokens[s * args.train_seq_len : e * args.train_seq_len + 1]
            x, y = batch_from(chunk, args.train_seq_len)
            for r in range(0, x.shape[0], rows):
                loss = model(x[r : r + rows], y[r : r + rows])
                mx.eval(loss)
                loss_sum += loss.item() * y[r : r + rows].size
            tokens += y.size
            nbytes += count_bytes(chunk[:-1], chunk[1:], luts)
        val_loss = loss_sum / tokens
        return val_loss, val_loss / math.log(2.0) * tokens / nbytes

    if args.warmup_steps > 0:
        saved = dict(tree_flatten(model.parameters()))
        warm_loader = Loader(args.train_files)
        for i in range(args.warmup_steps):
            train_step(warm_loader, 1.0, args.muon_momentum_warmup_start)
            if args.warmup_steps <= 20 or (i + 1) % 10 == 0 or i + 1 == args.warmup_steps:
                log0(f"warmup_step:{i + 1}/{args.warmup_steps}")
        model.update(tree_unflatten(list(saved.items())))
        for o in optimizers:
            if isinstance(o, Adam):
                o.m, o.v, o.t = {}, {}, 0
            else:
                o.buf = {}

    loader = Loader(args.train_files)
    train_ms, stop_after, step = 0.0, None, 0
    t0 = time.perf_counter()
    while True:
        last = step == args.iterations or (stop_after is not None and step >= stop_after)
        if last or (args.val_loss_every > 0 and step % args.val_loss_every == 0):
            train_ms += 1000.0 * (time.perf_counter() - t0)
            val_loss, val_bpb = evaluate()
            log0(f"step:{step}/{args.iterations} val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} train_time:{train_ms:.0f}ms step_avg:{train_ms / max(step, 1):.2f}ms")
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
            log0(f"step:{step}/{args.iterations} train_loss:{train_loss:.4f} train_time:{now:.0f}ms step_avg:{now / step:.2f}ms")
        if stop_after is None and cap_ms is not None and now >= cap_ms:
            stop_after = step

    log0(f"peak memory allocated: {mx.get_peak_memory() // 2**20} MiB reserved: {mx.get_peak_memory() // 2**20} MiB")
    exporter = resolve_exporter(args.exporter)
    tag = EXPORTERS[exporter][4]
    artifact = f"final_model.{exporter.split('_')[0]}.ptz"
    weights, dtypes = model_weights(model, names)
    code_bytes = len(code.encode("utf-8"))
    save_weights("final_model.npz", weights)
    log0(f"Serialized model: {os.path.getsize('final_model.npz')} bytes")
    log0(f"Code size: {code_bytes} bytes")
    log0(f"Total submission size: {os.path.getsize('final_model.npz') + code_bytes} bytes")
    blob, payload, raw_bytes = export_weights(weights, exporter, dtypes)
    with open(artifact, "wb") as f:
        f.write(blob)
    base_bytes = sum(w.size * (2 if n in dtypes else 4) for n, w in weights.items())
    log0(f"Serialized model {tag}: {len(blob)} bytes (payload:{payload} raw_pickle:{raw_bytes} payload_ratio:{base_bytes / max(payload, 1):.2f}x)")
    log0(f"Total submission size {tag}: {len(blob) + code_bytes} bytes")
    with open(artifact, "rb") as f:
        restored = import_weights(f.read())
    flat = dict(tree_flatten(model.parameters()))
    model.update(tree_unflatten([(n, mx.array(restored[n]).astype(flat[n].dtype)) for n in names]))
    t_eval = time.perf_counter()
    q_loss, q_bpb = evaluate()
    name = f"final_{exporter}_roundtrip"
    log0(f"{name} val_loss:{q_loss:.4f} val_bpb:{q_bpb:.4f} eval_time:{1000.0 * (time.perf_counter() - t_eval):.0f}ms")
    log0(f"{name}_exact val_loss:{q_loss:.8f} val_bpb:{q_bpb:.8f}")


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
