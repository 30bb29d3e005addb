"""Data shards and tiny datasets, for the bot side (tests, demo, checks).

Public API (stable):

* :func:`read_shard(path) -> numpy.ndarray` / :func:`write_shard(path, tokens)` — the upstream
  shard format (256 little-endian int32 header words: magic 20240520, version 1, token count;
  then uint16 tokens). A malformed shard raises :class:`bot.errors.DataError` naming the file.
* :func:`make_tiny_dataset(out, max_chars=...) -> TinyDataset` — runs
  ``training/prepare_data.py --from-stdlib`` (SentencePiece BPE, vocab 1024, from the Python
  standard library's docstrings; offline) and returns the data and tokenizer paths.

The training scripts stay self-contained: they carry their own reader with the same checks.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import DataError
from bot.training.scripts import PREPARE_SCRIPT

MAGIC = 20240520
VERSION = 1
HEADER_WORDS = 256


def read_shard(path: Path | str) -> np.ndarray:
    path = Path(path)
    try:
        size = path.stat().st_size
        header = np.fromfile(path, dtype="<i4", count=HEADER_WORDS)
    except OSError as exc:
        raise DataError(f"cannot read shard ({exc.strerror})", path=str(path)) from None
    if header.size != HEADER_WORDS:
        raise DataError(f"header truncated ({size} bytes, need {HEADER_WORDS * 4})", path=str(path))
    if int(header[0]) != MAGIC:
        raise DataError(f"bad magic {int(header[0])} (expected {MAGIC})", path=str(path))
    if int(header[1]) != VERSION:
        raise DataError(f"unsupported version {int(header[1])} (expected {VERSION})", path=str(path))
    count = int(header[2])
    expected = HEADER_WORDS * 4 + 2 * count
    if count < 0 or size != expected:
        raise DataError(
            f"length {size} bytes does not match header token count {count} ({expected} bytes)",
            path=str(path),
        )
    return np.fromfile(path, dtype="<u2", count=count, offset=HEADER_WORDS * 4)


def write_shard(path: Path | str, tokens: Sequence[int] | np.ndarray) -> None:
    arr = np.asarray(tokens)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
        raise DataError("token ids must fit in uint16", path=str(path))
    header = np.zeros(HEADER_WORDS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, arr.size
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header.tobytes() + arr.astype("<u2").tobytes())
    tmp.replace(path)


@dataclass
class TinyDataset:
    root: Path
    data_path: Path
    tokenizer_path: Path


def make_tiny_dataset(
    out: Path | str, *, max_chars: int = 1_500_000, python: str | None = None
) -> TinyDataset:
    """Build (or reuse) a tiny offline dataset under ``out`` with prepare_data.py --from-stdlib."""
    out = Path(out)
    ds = TinyDataset(
        out, out / "datasets" / "fineweb10B_sp1024", out / "tokenizers" / "fineweb_1024_bpe.model"
    )
    if ds.tokenizer_path.is_file() and any(ds.data_path.glob("fineweb_val_*.bin")):
        return ds
    cmd = [
        python or sys.executable,
        str(PREPARE_SCRIPT),
        "--from-stdlib",
        "--out",
        str(out),
        "--max-chars",
        str(max_chars),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataError(
            f"prepare_data.py failed: {(proc.stderr or proc.stdout).strip()[-500:]}", path=str(out)
        )
    return ds
