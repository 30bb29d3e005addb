from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
import zstandard

from bot.artifact import measure_artifact
from bot.errors import InputError


def test_script_plus_compressed_weights(tmp_path: Path) -> None:
    script = tmp_path / "train_gpt.py"
    script.write_text("print('héllo')\n", encoding="utf-8")
    raw = tmp_path / "model.npz"
    raw.write_bytes(b"\x00" * 100_000 + os.urandom(1000))
    packed = tmp_path / "model.ptz"
    packed.write_bytes(zlib.compress(os.urandom(5000)))
    r = measure_artifact(script, [raw, packed], zstd_level=3)
    rules = {Path(f.path).name: f.rule for f in r.files}
    assert rules == {
        "train_gpt.py": "code",
        "model.npz": "zstd-3",
        "model.ptz": "as-is (compressed artifact)",
    }
    code = len("print('héllo')\n".encode())
    zsize = len(zstandard.ZstdCompressor(level=3).compress(raw.read_bytes()))
    assert abs(r.files[1].counted_bytes - zsize) < 64
    assert r.total_bytes == code + r.files[1].counted_bytes + packed.stat().st_size
    assert r.ok and r.headroom == 16_000_000 - r.total_bytes


def test_limit_is_decimal_and_inclusive(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_bytes(b"x" * 1000)
    assert measure_artifact(script, [], limit=1000).ok
    r = measure_artifact(script, [], limit=999)
    assert not r.ok and r.headroom == -1 and r.to_dict()["status"] == "OVER LIMIT"


def test_default_weight_discovery(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("x")
    (tmp_path / "a.npz").write_bytes(b"a" * 10)
    (tmp_path / "b.pt").write_bytes(b"b" * 10)
    (tmp_path / "c.txt").write_bytes(b"c" * 10)
    r = measure_artifact(script, None, cwd=tmp_path, zstd_level=1)
    assert sorted(Path(f.path).name for f in r.files[1:]) == ["a.npz", "b.pt"]


def test_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="training script not found"):
        measure_artifact(tmp_path / "nope.py", [])
    script = tmp_path / "s.py"
    script.write_text("x")
    with pytest.raises(InputError, match="missing.ptz"):
        measure_artifact(script, [tmp_path / "missing.ptz"])
