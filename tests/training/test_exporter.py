from __future__ import annotations

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


@pytest.mark.parametrize("exporter", ["int8_zlib", "int6_zstd", "int6_lzma"])
def test_roundtrip_error_bounded(exporter: str) -> None:
    mod = script_module(TORCH_SCRIPT)
    w = _weights(mod)
    blob, payload = mod.export_weights(w, exporter)  # type: ignore[attr-defined]
    back = mod.import_weights(blob)  # type: ignore[attr-defined]
    assert set(back) == set(w) and payload > len(blob) * 0.5
    for name, a in w.items():
        b = back[name]
        assert b.shape == a.shape and b.dtype == np.float32
        if a.ndim == 2 and a.size >= mod.EXPORTERS[exporter][5]:  # type: ignore[attr-defined]
            bits = 8 if name == "tok_emb.weight" or exporter == "int8_zlib" else 6
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


def test_default_exporter_is_smaller_and_both_scripts_agree() -> None:
    t, m = script_module(TORCH_SCRIPT), script_module(MLX_SCRIPT)
    w = _weights(t)
    int8, _ = t.export_weights(w, "int8_zlib")  # type: ignore[attr-defined]
    int6, _ = t.export_weights(w, "int6_zstd")  # type: ignore[attr-defined]
    assert len(int6) <= 0.80 * len(int8)
    # the MLX twin writes the same bytes and reads the other's artifact
    assert m.export_weights(w, "int6_zstd")[0] == int6  # type: ignore[attr-defined]
    back = m.import_weights(int8)  # type: ignore[attr-defined]
    assert all(np.array_equal(back[k], t.import_weights(int8)[k]) for k in w)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="EXPORTER"):
        t.resolve_exporter("fp4")  # type: ignore[attr-defined]
