"""The artifact gate: the bytes of the training script plus its compressed weights.

Rules, per file:

* the training script counts its UTF-8 bytes as they are on disk (``code``);
* a weight file that is already a compressed submission artifact — by extension (``.ptz``,
  ``.zst``, ``.zstd``, ``.zlib``, ``.gz``, ``.xz``, ``.lzma``, ``.bz2``, ``.br``) or by its magic
  bytes (zstd, gzip, xz, zlib) — counts as it is (``as-is``);
* any other weight file (``.npz``, ``.pt``, ``.bin``, …) counts as its zstd-compressed size at
  the configured level (``zstd-<level>``).

The limit is 16,000,000 bytes (decimal, not MiB), inclusive: ``total <= limit`` passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from bot.errors import ArtifactError, InputError

COMPRESSED_SUFFIXES = (".ptz", ".zst", ".zstd", ".zlib", ".gz", ".xz", ".lzma", ".bz2", ".br")
DEFAULT_GLOBS = ("*.npz", "*.pt", "*.ptz")
_MAGICS = (
    b"\x28\xb5\x2f\xfd",  # zstd frame
    b"\x1f\x8b",  # gzip
    b"\xfd7zXZ\x00",  # xz
)


@dataclass
class FileMeasure:
    path: str
    raw_bytes: int
    counted_bytes: int
    rule: str  # "code", "as-is (compressed artifact)", "zstd-19"


@dataclass
class ArtifactReport:
    total_bytes: int
    limit_bytes: int
    files: list[FileMeasure] = field(default_factory=list)

    @property
    def headroom(self) -> int:
        return self.limit_bytes - self.total_bytes

    @property
    def ok(self) -> bool:
        return self.total_bytes <= self.limit_bytes

    @property
    def code_bytes(self) -> int:
        return sum(f.counted_bytes for f in self.files if f.rule == "code")

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_bytes": self.total_bytes,
            "code_bytes": self.code_bytes,
            "limit_bytes": self.limit_bytes,
            "headroom": self.headroom,
            "status": "OK" if self.ok else "OVER LIMIT",
            "ok": self.ok,
            "files": [asdict(f) for f in self.files],
        }

    def lines(self) -> list[str]:
        out = [f"{f.path}: {f.counted_bytes} bytes ({f.rule}; {f.raw_bytes} on disk)" for f in self.files]
        out += [
            f"artifact_bytes: {self.total_bytes}",
            f"headroom: {self.headroom}",
            f"status: {'OK' if self.ok else 'OVER LIMIT'}",
        ]
        return out


def _looks_compressed(path: Path) -> bool:
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return True
    with path.open("rb") as fh:
        head = fh.read(8)
    if any(head.startswith(m) for m in _MAGICS):
        return True
    # zlib: CMF 0x78 and a valid FCHECK.
    return len(head) >= 2 and head[0] == 0x78 and ((head[0] << 8) | head[1]) % 31 == 0


def zstd_size(path: Path, level: int = 19) -> int:
    """Size of ``path`` compressed as one zstd frame, streamed (no copy held in memory)."""
    cctx = zstandard.ZstdCompressor(level=level, threads=-1)
    total = 0
    with path.open("rb") as src:
        chunker = cctx.chunker(size=path.stat().st_size, chunk_size=1 << 20)
        while block := src.read(1 << 20):
            for out in chunker.compress(block):
                total += len(out)
        for out in chunker.finish():
            total += len(out)
    return total


def default_weights(cwd: Path) -> list[Path]:
    found: set[Path] = set()
    for pattern in DEFAULT_GLOBS:
        found.update(p for p in cwd.glob(pattern) if p.is_file())
    return sorted(found)


def measure_artifact(
    script: Path | str,
    weights: Sequence[Path | str] | None = None,
    *,
    limit: int = 16_000_000,
    zstd_level: int = 19,
    cwd: Path | str = ".",
) -> ArtifactReport:
    """Measure ``script`` + ``weights`` (default: ``*.npz``/``*.pt``/``*.ptz`` in ``cwd``)."""
    script = Path(script)
    if not script.is_file():
        raise InputError("training script not found", path=str(script))
    weight_paths: Iterable[Path] = (
        default_weights(Path(cwd)) if weights is None else [Path(w) for w in weights]
    )
    missing = [str(w) for w in weight_paths if not Path(w).is_file()]
    if missing:
        raise InputError("weight file(s) not found: " + ", ".join(missing), path=missing[0])
    try:
        code = len(script.read_bytes())
        files = [FileMeasure(str(script), code, code, "code")]
        for w in weight_paths:
            raw = w.stat().st_size
            if _looks_compressed(w):
                files.append(FileMeasure(str(w), raw, raw, "as-is (compressed artifact)"))
            else:
                files.append(FileMeasure(str(w), raw, zstd_size(w, zstd_level), f"zstd-{zstd_level}"))
    except OSError as exc:
        raise ArtifactError(f"cannot read: {exc}", path=getattr(exc, "filename", None)) from None
    return ArtifactReport(sum(f.counted_bytes for f in files), limit, files)
