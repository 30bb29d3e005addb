from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.errors import DataError
from bot.training.scripts import PREPARE_SCRIPT
from bot.training.shards import read_shard, write_shard

from .conftest import MLX_SCRIPT, TORCH_SCRIPT, script_module


def _bad_shards(tmp: Path) -> dict[str, Path]:
    good = tmp / "fineweb_train_000000.bin"
    write_shard(good, [1, 2, 3, 65535])
    raw = bytearray(good.read_bytes())
    out = {"good": good}
    for name, word, value in (("magic", 0, 1234), ("version", 1, 7)):
        bad = bytearray(raw)
        bad[word * 4 : word * 4 + 4] = int(value).to_bytes(4, "little")
        out[name] = tmp / f"fineweb_train_bad_{name}.bin"
        out[name].write_bytes(bytes(bad))
    out["length"] = tmp / "fineweb_train_bad_length.bin"
    out["length"].write_bytes(bytes(raw[:-2]))
    out["header"] = tmp / "fineweb_train_bad_header.bin"
    out["header"].write_bytes(bytes(raw[:100]))
    return out


def test_roundtrip_and_errors_name_the_file(tmp_path: Path) -> None:
    shards = _bad_shards(tmp_path)
    assert read_shard(shards["good"]).tolist() == [1, 2, 3, 65535]
    for kind, words in (
        ("magic", "magic"),
        ("version", "version"),
        ("length", "token count"),
        ("header", "truncated"),
    ):
        with pytest.raises(DataError) as ei:
            read_shard(shards[kind])
        assert str(shards[kind]) in str(ei.value) and words in str(ei.value)
    with pytest.raises(DataError, match="uint16"):
        write_shard(tmp_path / "x.bin", [70000])


@pytest.mark.parametrize("script", [TORCH_SCRIPT, MLX_SCRIPT], ids=["torch", "mlx"])
def test_training_scripts_reject_bad_shards(tmp_path: Path, script: Path) -> None:
    mod = script_module(script)
    shards = _bad_shards(tmp_path)
    assert mod.load_data_shard(str(shards["good"])).tolist() == [1, 2, 3, 65535]  # type: ignore[attr-defined]
    for kind in ("magic", "version", "length", "header"):
        with pytest.raises(ValueError) as ei:
            mod.load_data_shard(str(shards[kind]))  # type: ignore[attr-defined]
        assert str(shards[kind]) in str(ei.value)


def test_prepare_data_reader_and_training_run_fail_on_bad_shard(tmp_path: Path) -> None:
    shards = _bad_shards(tmp_path)
    sys.path.insert(0, str(PREPARE_SCRIPT.parent))
    try:
        import prepare_data
    finally:
        sys.path.pop(0)
    with pytest.raises(prepare_data.ShardError, match="bad magic"):
        prepare_data.read_shard(shards["magic"])
    # the script itself exits 2 with the file named, not a traceback
    (tmp_path / "fineweb_val_000000.bin").write_bytes(shards["magic"].read_bytes())
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(TORCH_SCRIPT.parent)!r}); import train_gpt as T; T.load_val_tokens({str(tmp_path / 'fineweb_val_*.bin')!r}, 4, 0)",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "fineweb_val_000000.bin: bad shard magic" in proc.stderr


def test_byte_accounting_by_hand() -> None:
    """val_bpb bytes: piece bytes without '▁', +1 for '▁' unless after a boundary token; bytes = 1."""
    mod = script_module(TORCH_SCRIPT)
    base = np.array([0, 0, 3, 2, 1])  # 0 <unk>/control, 1 <s>, 2 '▁the', 3 'ab', 4 '<0xC3>'
    space = np.array([False, False, True, False, False])
    boundary = np.array([True, True, False, False, False])
    prev = np.array([1, 2, 2, 3, 4])
    tgt = np.array([2, 2, 3, 4, 1])
    # '▁the' after <s>: 3 ; '▁the' after '▁the': 3+1 ; 'ab': 2 ; byte: 1 ; <s>: 0  → 10
    assert mod.count_bytes(prev, tgt, (base, space, boundary)) == 10  # type: ignore[attr-defined]


def test_byte_accounting_matches_utf8_on_real_tokenizer(tiny_data) -> None:  # type: ignore[no-untyped-def]
    import sentencepiece as spm

    mod = script_module(TORCH_SCRIPT)
    luts = mod.byte_luts(str(tiny_data.tokenizer_path), 1024)  # type: ignore[attr-defined]
    sp = spm.SentencePieceProcessor(model_file=str(tiny_data.tokenizer_path))
    docs = ["Return the number of items in a container.", "Größe: 42 Ω — naïve café 🙂 x"]
    ids: list[int] = []
    for d in docs:
        ids += [sp.bos_id(), *sp.encode(d)]
    arr = np.array(ids)
    assert any(sp.is_byte(int(t)) for t in arr), "byte fallback must be exercised"
    got = mod.count_bytes(arr[:-1], arr[1:], luts)  # type: ignore[attr-defined]
    # every token after the first is counted; the first is BOS (0 bytes)
    assert got == sum(len(sp.decode(sp.encode(d)).encode("utf-8")) for d in docs)
    # bits: a uniform model over 1024 tokens has exactly 10 bits/token
    tokens = len(arr) - 1
    assert math.isclose(math.log(1024) / math.log(2) * tokens / got, 10 * tokens / got)
