"""Our training scripts reproduce upstream's naive baseline where records are built.

The reference numbers in ``fixtures/upstream_reference.json`` were computed once from upstream's
own ``train_gpt.py`` on the CPU (the file says exactly how); no upstream code is in this repository.
Same weights, same tokens → same loss (RoPE direction, bf16 tied embedding with upstream's bf16
RoPE tables), the int8 exporter's exact bytes (percentile clip, 1/127 scale floor, torch.save +
zlib), and the loader's spans (no token shared between micro-batches).

fp32 losses agree to 1e-4 on every CPU. bf16 losses do not: PyTorch's CPU bf16 kernels differ by
CPU (oneDNN's GEMM on AVX-512, ATen's own kernels on AVX2, each vectorised to its width) and round
differently. Measured on an AVX-512 EPYC against the reference (made on a CPU without AVX-512):
3-layer forward +1.8e-3 with oneDNN, -2.3e-5 with it off; int8 round trip +2.6e-4 / -1.2e-3. No
switch reproduces the reference CPU, so bf16 is checked to BF16_REL_TOL of the loss: 2**-12, 16×
finer than bf16's own 2**-8 step and above the widest kernel spread measured (1.5e-4 of the loss).
It still fails the wrong RoPE direction (7e-3 of the loss) and fp32 instead of bf16 RoPE tables
(5e-4); RMSNorm's eps is checked on the op itself (test_b16_break.py), where it is not noise.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bot.training.parity import random_weights

from .conftest import MLX_SCRIPT, TORCH_SCRIPT, script_module

REF = json.loads((Path(__file__).parent / "fixtures" / "upstream_reference.json").read_text())
TOL = 1e-4
BF16_REL_TOL = 2.0**-12


def _close(got: float, want: float, dtype: str) -> bool:
    return abs(got - want) <= (TOL if dtype == "float32" else BF16_REL_TOL * abs(want))


def _tokens(seed: int, args: Any, batch: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, args.vocab_size, size=(batch, args.train_seq_len + 1), dtype=np.int64
    )


def _loss(mod: Any, args: Any, weights: dict[str, np.ndarray], tokens: np.ndarray, embed: str) -> float:
    model = mod.build_model(args, weights, "cpu", getattr(torch, embed))
    t = torch.from_numpy(tokens)
    with torch.no_grad():
        return float(model(t[:, :-1], t[:, 1:]).item())


@pytest.mark.parametrize("case", REF["forward"], ids=lambda c: f"{c['case']}-{c['embed_dtype']}")
def test_forward_loss_matches_upstream(case: dict[str, Any]) -> None:
    mod: Any = script_module(TORCH_SCRIPT)
    args = mod.Hyperparameters(case["env"])
    weights = random_weights(mod.weight_layout(args), case["weights_seed"])
    tokens = _tokens(case["tokens_seed"], args, case["batch"])
    got = _loss(mod, args, weights, tokens, case["embed_dtype"])
    assert _close(got, case["loss"], case["embed_dtype"]), (got, case["loss"])
    if case["embed_dtype"] == "float32":  # the MLX twin follows (its CPU path is fp32)
        mlx: Any = script_module(MLX_SCRIPT)
        trace = mlx.parity_trace(case["env"], weights, tokens)
        assert abs(float(trace[-1][1]) - case["loss"]) <= TOL


def _mutant_loss(case: dict[str, Any], name: str, mutate: Callable[[Any], Any]) -> float:
    """The case's loss with the script's function `name` swapped for mutate(original)."""
    mod: Any = script_module(TORCH_SCRIPT)
    args = mod.Hyperparameters(case["env"])
    weights = random_weights(mod.weight_layout(args), case["weights_seed"])
    tokens = _tokens(case["tokens_seed"], args, case["batch"])
    original = getattr(mod, name)
    try:
        setattr(mod, name, mutate(original))
        return _loss(mod, args, weights, tokens, case["embed_dtype"])
    finally:
        setattr(mod, name, original)


def _other_direction(rope: Any) -> Any:
    return lambda x, cos, sin: rope(x, cos, -sin)


def test_the_old_rope_direction_would_fail() -> None:
    """The check has teeth: rotating the other way (our old direction) misses upstream's loss."""
    case = REF["forward"][0]
    assert case["embed_dtype"] == "float32"
    assert not _close(_mutant_loss(case, "apply_rope", _other_direction), case["loss"], "float32")


@pytest.mark.parametrize(
    "case", [c for c in REF["forward"] if c["embed_dtype"] == "bfloat16"], ids=lambda c: c["case"]
)
def test_the_bf16_check_still_fails_the_wrong_rope_direction(case: dict[str, Any]) -> None:
    """bf16's looser bound is no blind spot for RoPE: the other direction misses by far more."""
    assert not _close(_mutant_loss(case, "apply_rope", _other_direction), case["loss"], "bfloat16")


def test_the_bf16_check_fails_fp32_rope_tables_in_a_bf16_model() -> None:
    """Upstream's .bfloat16() model computes its RoPE tables in bf16; fp32 tables miss the bound."""
    case = next(c for c in REF["forward"] if c["case"] == "untied_mha_3L" and c["embed_dtype"] == "bfloat16")

    def fp32_tables(tables: Any) -> Any:
        return lambda n, hd, base, dtype=torch.float32: tables(n, hd, base, torch.float32)

    assert not _close(_mutant_loss(case, "rope_tables", fp32_tables), case["loss"], "bfloat16")


@pytest.mark.parametrize("case", REF["int8"], ids=lambda c: c["embed_dtype"])
def test_int8_exporter_matches_upstream_bytes(case: dict[str, Any]) -> None:
    mod: Any = script_module(TORCH_SCRIPT)
    args = mod.Hyperparameters(case["env"])
    weights = random_weights(mod.weight_layout(args), case["weights_seed"])
    dtypes = {}
    if case["embed_dtype"] == "bfloat16":  # the embedding as trained: bf16 values
        dtypes["tok_emb.weight"] = "bfloat16"
        weights["tok_emb.weight"] = torch.from_numpy(weights["tok_emb.weight"]).bfloat16().float().numpy()
    blob, payload, raw = mod.export_weights(weights, "int8_zlib", dtypes, mod.torch_dump)
    assert (len(blob), raw, payload) == (
        case["int8_zlib_bytes"],
        case["raw_torch_bytes"],
        case["payload_bytes"],
    )
    obj, _ = mod.quantize_int8(weights, dtypes)
    assert list(obj["quantized"]) == case["quantized_tensors"]
    assert list(obj["passthrough"]) == case["passthrough_tensors"]
    h = hashlib.sha256()
    for name in obj["quantized"]:
        h.update(name.encode())
        h.update(obj["quantized"][name].tobytes())
        h.update(obj["scales"][name].tobytes())
    assert h.hexdigest() == case["quantized_sha256"]
    back = mod.import_weights(blob, mod.torch_load)
    tokens = _tokens(case["tokens_seed"], args, case["batch"])
    got = _loss(mod, args, back, tokens, case["embed_dtype"])
    assert _close(got, case["roundtrip_loss"], case["embed_dtype"]), (got, case["roundtrip_loss"])
    # the MLX twin quantizes identically (its file is upstream MLX's pickle, which train_gpt.py also reads)
    mlx: Any = script_module(MLX_SCRIPT)
    mblob, mpayload, _ = mlx.export_weights(weights, "int8_zlib", dtypes)
    assert mpayload == payload
    for name, w in mod.import_weights(mblob, mod.torch_load).items():
        assert np.array_equal(w, back[name]), name


def test_loader_spans_match_upstream() -> None:
    mod: Any = script_module(TORCH_SCRIPT)
    toks = (np.arange(1000, dtype=np.int64) * 7919 % 1024).astype("<u2")
    with tempfile.TemporaryDirectory() as d:
        for i, (lo, hi) in enumerate(((0, 600), (600, 1000))):
            hdr = np.zeros(256, dtype="<i4")
            hdr[:3] = (20240520, 1, hi - lo)
            (Path(d) / f"fineweb_train_{i:06d}.bin").write_bytes(hdr.tobytes() + toks[lo:hi].tobytes())
        for case in REF["loader"]:
            world, rank = case["world"], case["rank"]
            loader = mod.DistributedLoader(f"{d}/fineweb_train_*.bin", rank, world, torch.device("cpu"))
            local = case["global_tokens"] // (world * case["grad_accum_steps"])
            got = []
            for _ in range(case["calls"]):
                x, y = loader.next_batch(local, case["seq_len"])
                got.append([int(x[0, 0]), int(y[-1, -1])])
            assert got == case["first_x_last_y"], (world, rank)
