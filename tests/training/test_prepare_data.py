"""prepare_data.py: the official download (against a Hub emulator) and --from-text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.training.scripts import PREPARE_SCRIPT as PREP
from bot.training.shards import read_shard, write_shard
from tests.emulators.hf_hub import HFHub

REPO = "willdepueoai/parameter-golf"
PREFIX = "matched_10B_docs2m_seed1337"


def _shard_bytes(tmp: Path, tokens: list[int]) -> bytes:
    p = tmp / "s.bin"
    write_shard(p, tokens)
    return p.read_bytes()


def _hub(tmp: Path, tokenizer: bytes, bad_train: bool = False) -> HFHub:
    hub = HFHub()
    d = f"{PREFIX}/datasets/fineweb10B_sp1024"
    hub.add_file(REPO, f"{d}/fineweb_val_000000.bin", _shard_bytes(tmp, [1, 5, 6, 7]))
    for i in (1, 2, 3):
        data = _shard_bytes(tmp, [1, i, i, i])
        hub.add_file(REPO, f"{d}/fineweb_train_{i:06d}.bin", data[:-2] if bad_train and i == 2 else data)
    hub.add_file(REPO, f"{PREFIX}/tokenizers/fineweb_1024_bpe.model", tokenizer)
    hub.add_file(REPO, f"{PREFIX}/tokenizers/fineweb_1024_bpe.vocab", b"<pad>\t0\n")
    return hub


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PREP), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_download_through_the_hub_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_data
) -> None:  # type: ignore[no-untyped-def]
    import os

    tok = tiny_data.tokenizer_path.read_bytes()
    with _hub(tmp_path, tok) as hub:
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        env = dict(os.environ)
        out = tmp_path / "data"
        proc = _run(["--out", str(out), "--train-shards", "2"], env)
        assert proc.returncode == 0, proc.stderr
        data = out / "datasets" / "fineweb10B_sp1024"
        assert sorted(p.name for p in data.iterdir()) == [
            "fineweb_train_000001.bin",
            "fineweb_train_000002.bin",
            "fineweb_val_000000.bin",
        ]
        assert read_shard(data / "fineweb_train_000002.bin").tolist() == [1, 2, 2, 2]
        assert (out / "tokenizers" / "fineweb_1024_bpe.model").read_bytes() == tok
        gets = [r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]
        assert len(gets) == 5 and all(
            r.path.startswith("/datasets/willdepueoai/parameter-golf/resolve/main/") for r in gets
        )
        # the hub cache is used: a second run downloads nothing new
        assert any((tmp_path / "hf_home").rglob("fineweb_val_000000.bin"))
        before = len([r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path])
        assert _run(["--out", str(tmp_path / "again"), "--train-shards", "2"], env).returncode == 0
        assert len([r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]) == before
        # bounds are checked before anything is fetched
        bad = _run(["--out", str(tmp_path / "x"), "--train-shards", "26"], env)
        assert bad.returncode != 0 and "--train-shards" in bad.stderr and not (tmp_path / "x").exists()


def test_corrupt_shard_on_the_hub_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    with _hub(tmp_path, b"not-a-model", bad_train=True) as hub:
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        proc = _run(["--out", str(tmp_path / "data"), "--train-shards", "3"], dict(os.environ))
        assert proc.returncode == 2
        assert (
            "fineweb_train_000002.bin" in proc.stderr and "does not match header token count" in proc.stderr
        )
        assert not (tmp_path / "data").exists()  # nothing placed when any file is bad


def test_from_text_writes_upstream_shards(tiny_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tiny_data.tokenizer_path))
    assert sp.vocab_size() == 1024 and sp.bos_id() == 1 and sp.pad_id() == 0
    val = read_shard(next(tiny_data.data_path.glob("fineweb_val_*.bin")))
    train = read_shard(next(tiny_data.data_path.glob("fineweb_train_*.bin")))
    assert val[0] == sp.bos_id() and train.size > 5 * val.size and val.max() < 1024
    raw = next(tiny_data.data_path.glob("fineweb_val_*.bin")).read_bytes()
    header = np.frombuffer(raw[:1024], "<i4")
    assert header[:3].tolist() == [20240520, 1, val.size] and len(raw) == 1024 + 2 * val.size
    # --from-text with a user file: too little text is refused, nothing written
    small = tmp_path / "t.txt"
    small.write_text("one\n\ntwo\n", encoding="utf-8")
    proc = _run(["--from-text", str(small), "--out", str(tmp_path / "o")], {**__import__("os").environ})
    assert proc.returncode != 0 and "at least 4 documents" in proc.stderr and not (tmp_path / "o").exists()
