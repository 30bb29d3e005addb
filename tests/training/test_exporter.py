from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from .conftest import MLX_SCRIPT, TORCH_SCRIPT, script_module

ENV = {
    "NUM_LAYERS": "2",
    "MODEL_DIM": "128",
    "NUM_HEADS": "4",
    "NUM_KV_HEADS": "2",
    "MLP_MULT": "2",
    "VOCAB_SIZE": "1024",
}


def _weights(mod):  # type: ignore[no-untyped-def]
    args = mod.Hyperparameters(ENV)
    rng = np.random.default_rng(0)
    w = {}
    for name, shape, _ in mod.weight_layout(args):
        w[name] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    return w


@pytest.mark.parametrize("exporter", ["int6_zstd", "int6_lzma"])
def test_int6_roundtrip_error_bounded(exporter: str) -> None:
    mod = script_module(TORCH_SCRIPT)
    w = _weights(mod)
    blob, payload, raw = mod.export_weights(w, exporter)  # type: ignore[attr-defined]
    back = mod.import_weights(blob)  # type: ignore[attr-defined]
    assert set(back) == set(w) and raw > len(blob) * 0.5 and payload < raw
    for name, a in w.items():
        b = back[name]
        assert b.shape == a.shape and b.dtype == np.float32
        if a.ndim == 2 and a.size >= mod.EXPORTERS[exporter][5]:  # type: ignore[attr-defined]
            bits = 8 if name == "tok_emb.weight" else 6
            qmax = 2 ** (bits - 1) - 1
            step = (np.abs(a).max(axis=1) / qmax).astype(np.float16).astype(np.float32)
            plain = np.clip(np.rint(a / step[:, None]), -qmax, qmax) * step[:, None]
            # the per-row clip search never does worse than plain max-abs rounding
            assert np.all(((a - b) ** 2).sum(axis=1) <= ((a - plain) ** 2).sum(axis=1) * 1.0001 + 1e-12), name
            assert np.abs(a - b).max() < 0.3 * np.abs(a).max(), name
        elif any(p in name for p in mod.CONTROL_PATTERNS):  # type: ignore[attr-defined]
            assert np.array_equal(a, b)
        else:
            assert np.allclose(a, b, atol=1e-3)


def test_int8_is_upstreams_per_row_percentile_clip_with_scale_floor() -> None:
    mod = script_module(TORCH_SCRIPT)
    w = _weights(mod)
    w["blocks.0.mlp.fc.weight"] = w["blocks.0.mlp.fc.weight"] * 40.0  # rows whose scale is above the floor
    blob, _, _ = mod.export_weights(w, "int8_zlib")  # type: ignore[attr-defined]
    back = mod.import_weights(blob)  # type: ignore[attr-defined]
    obj, stats = mod.quantize_int8(w)  # type: ignore[attr-defined]
    assert obj["__quant_format__"] == "int8_clean_per_row_v1"
    for name, a in w.items():
        b = back[name]
        if a.size > 65_536:  # quantized: per-row 99.99984th percentile, scale >= 1/127, fp16 scales
            assert name in obj["quantized"] and obj["scales"][name].dtype == np.float16
            clip = np.quantile(np.abs(a), 0.9999984, axis=1)
            scale = np.maximum(clip / 127.0, 1.0 / 127.0).astype(np.float16).astype(np.float32)
            assert np.allclose(obj["scales"][name].astype(np.float32), scale)
            inside = np.abs(a) <= clip[:, None]
            assert np.all(
                np.abs(a - b)[inside]
                <= (scale[:, None] * 0.5 + 1e-3 * scale[:, None]).repeat(a.shape[1], 1)[inside]
            )
        elif any(p in name for p in mod.CONTROL_PATTERNS):  # type: ignore[attr-defined]
            assert np.array_equal(a, b)  # control tensors pass through in fp32
        else:
            assert np.array_equal(a.astype(np.float16).astype(np.float32), b)  # small tensors in fp16
    small = w["blocks.0.attn.c_q.weight"]  # 128 x 128 = 16,384 values: passthrough, never quantized
    assert "blocks.0.attn.c_q.weight" in obj["passthrough"] and small.size <= 65_536
    assert stats["int8_payload_bytes"] > 0


def test_int6_is_smaller_and_both_scripts_agree() -> None:
    t, m = script_module(TORCH_SCRIPT), script_module(MLX_SCRIPT)
    w = _weights(t)
    int8, _, _ = t.export_weights(w, "int8_zlib", None, t.torch_dump)  # type: ignore[attr-defined]
    int6, _, _ = t.export_weights(w, "int6_zstd")  # type: ignore[attr-defined]
    assert len(int6) <= 0.80 * len(int8)
    # the MLX twin writes the same int6 bytes and reads the other's int6 artifact
    assert m.export_weights(w, "int6_zstd")[0] == int6  # type: ignore[attr-defined]
    back = m.import_weights(int6)  # type: ignore[attr-defined]
    assert all(np.array_equal(back[k], t.import_weights(int6)[k]) for k in w)  # type: ignore[attr-defined]
    # train_gpt.py reads the MLX twin's int8 pickle as well as its own torch.save file
    m8, _, _ = m.export_weights(w, "int8_zlib")  # type: ignore[attr-defined]
    a, b = t.import_weights(m8, t.torch_load), t.import_weights(int8, t.torch_load)  # type: ignore[attr-defined]
    assert all(np.array_equal(a[k], b[k]) for k in w)
    with pytest.raises(ValueError, match="EXPORTER"):
        t.resolve_exporter("fp4")  # type: ignore[attr-defined]


@pytest.mark.parametrize("script", [TORCH_SCRIPT, MLX_SCRIPT], ids=["torch", "mlx"])
def test_missing_zstandard_is_an_error_not_a_silent_switch(script: object, tmp_path: object) -> None:
    """On a stock upstream environment (no zstandard) EXPORTER=int6_zstd stops with a clear error."""
    code = (
        "import sys; sys.modules['zstandard'] = None\n"  # what an environment without the package looks like
        "from bot.training.parity import load_script\n"
        f"mod = load_script({str(script)!r})\n"
        "assert mod.resolve_exporter('int6_lzma') == 'int6_lzma' and mod.resolve_exporter('int8_zlib') == 'int8_zlib'\n"
        "try:\n    mod.resolve_exporter('int6_zstd')\nexcept ValueError as exc:\n    print('ERR', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ERR EXPORTER=int6_zstd needs the zstandard package" in out.stdout
