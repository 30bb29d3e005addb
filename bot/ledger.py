"""results.tsv: the experiment ledger.

Nine tab-separated columns, header first::

    commit tier val_bpb artifact_bytes memory_gb status promoted cost_usd description

``tier`` ∈ {local, runpod}; ``status`` ∈ {keep, discard, crash}; ``promoted`` ∈ {yes, no, pending}.

Reading is tolerant: short rows, ``n/a``/empty numbers, unknown statuses, extra columns, a
UTF-8 BOM and Windows line endings are all accepted. Each oddity becomes a warning on the
:class:`Ledger`; the row is kept, and a rewrite (e.g. :meth:`Ledger.mark_promoted`) writes the
row's original fields back untouched except the one being changed.

Writing is atomic: every append and rewrite takes an exclusive lock, writes the whole new file
to a temporary sibling, fsyncs and renames it over results.tsv. A crash leaves the old file or
the new one, never a torn row; concurrent appenders serialise on the lock and none is lost.

Baseline rows: a local row whose description starts with ``baseline`` (``pgolf train baseline``
writes ``baseline seed=N …``) measures the unmodified training script. They define the running
local baseline and the noise floor (see :func:`Ledger.running_local_baseline`).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import InputError, LedgerError
from bot.fileio import atomic_write_bytes, file_lock
from bot.git import same_commit

COLUMNS = (
    "commit",
    "tier",
    "val_bpb",
    "artifact_bytes",
    "memory_gb",
    "status",
    "promoted",
    "cost_usd",
    "description",
)
HEADER = "\t".join(COLUMNS)
TIERS = ("local", "runpod")
STATUSES = ("keep", "discard", "crash")
PROMOTED = ("yes", "no", "pending")
NA = {"", "n/a", "na", "nan", "none", "null", "-"}

BASELINE_PREFIX = "baseline"

# Techniques in the upstream naive baseline (what every experiment already has).
BASELINE_TECHNIQUES = (
    "9 blocks × 512 width, 8 heads / 4 KV heads (GQA), MLP 2×",
    "SentencePiece BPE vocabulary of 1024, tied input/output embeddings",
    "encoder/decoder (U-Net style) skip connections",
    "RMSNorm, RoPE, QK norm, relu² MLP, logit softcap",
    "Muon for 2-D matrices, Adam for embeddings and scalars",
    "wall-clock driven LR warmdown",
    "int8 per-row quantization + zlib export",
)


@dataclass
class Row:
    """One ledger row. ``fields`` keeps the raw text of every column as read (and any extra)."""

    commit: str
    tier: str
    val_bpb: float | None
    artifact_bytes: int | None
    memory_gb: float | None
    status: str
    promoted: str
    cost_usd: float | None
    description: str
    fields: list[str] = field(default_factory=list)
    line: int = 0  # 1-based line number in the file (0 for rows not read from a file)

    @property
    def is_baseline(self) -> bool:
        return self.tier == "local" and self.description.strip().lower().startswith(BASELINE_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "tier": self.tier,
            "val_bpb": self.val_bpb,
            "artifact_bytes": self.artifact_bytes,
            "memory_gb": self.memory_gb,
            "status": self.status,
            "promoted": self.promoted,
            "cost_usd": self.cost_usd,
            "description": self.description,
            "line": self.line,
        }

    def raw_line(self) -> str:
        return "\t".join(self.fields)


@dataclass
class Correlation:
    pairs: int
    mean_delta: float | None  # mean of (runpod − local)
    pearson_r: float | None  # once ≥ 3 pairs
    spearman_rho: float | None  # once ≥ 3 pairs
    slope: float | None  # runpod ≈ slope · local + intercept, once ≥ 2 pairs
    intercept: float | None
    reliable: bool  # ≥ 5 pairs
    points: list[tuple[str, float, float]] = field(default_factory=list)  # (commit, local, runpod)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "mean_delta": self.mean_delta,
            "pearson_r": self.pearson_r,
            "spearman_rho": self.spearman_rho,
            "slope": self.slope,
            "intercept": self.intercept,
            "reliable": self.reliable,
            "points": [list(p) for p in self.points],
        }

    def summary(self) -> str:
        if self.pairs == 0:
            return "Tier correlation: no experiment has both a local and a RunPod result yet."
        parts = [f"Tier correlation: {self.pairs} pair(s)"]
        if self.mean_delta is not None:
            parts.append(f"mean Δ (runpod − local) {self.mean_delta:+.4f} bpb")
        if self.pearson_r is not None and self.spearman_rho is not None:
            parts.append(f"Pearson r {self.pearson_r:.3f}, Spearman ρ {self.spearman_rho:.3f}")
        if self.slope is not None and self.intercept is not None:
            parts.append(f"fit runpod ≈ {self.slope:.3f}·local {self.intercept:+.4f}")
        parts.append("reliable" if self.reliable else "not yet reliable (< 5 pairs)")
        return "; ".join(parts) + "."


def _num(text: str, kind: type, column: str, warn: list[str], where: str) -> Any:
    t = text.strip()
    if t.lower() in NA:
        return None
    try:
        value = float(t) if kind is float else int(float(t)) if re.fullmatch(r"-?\d+(\.0+)?", t) else None
        if value is None:
            raise ValueError
    except ValueError:
        warn.append(f"{where}: {column} {text!r} is not a number; treated as missing")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        warn.append(f"{where}: {column} {text!r} is not finite; treated as missing")
        return None
    if value < 0:
        warn.append(f"{where}: {column} {text!r} is negative; treated as missing")
        return None
    return value


def parse_row(fields_: list[str], line: int, warn: list[str], where: str) -> Row:
    f = list(fields_)
    if len(f) < len(COLUMNS):
        warn.append(f"{where}: {len(f)} of {len(COLUMNS)} columns; missing ones treated as empty")
    if len(f) > len(COLUMNS):
        warn.append(f"{where}: {len(f) - len(COLUMNS)} extra column(s) kept as they are")
    padded = f + [""] * (len(COLUMNS) - len(f))
    commit, tier, bpb, art, mem, status, promoted, cost, desc = padded[: len(COLUMNS)]
    tier_n = tier.strip().lower()
    status_n = status.strip().lower()
    promoted_n = promoted.strip().lower()
    if tier_n not in TIERS:
        warn.append(f"{where}: unknown tier {tier!r}")
    if status_n not in STATUSES:
        warn.append(f"{where}: unknown status {status!r}")
    if promoted_n not in PROMOTED and promoted_n:
        warn.append(f"{where}: unknown promoted value {promoted!r}")
    return Row(
        commit=commit.strip(),
        tier=tier_n,
        val_bpb=_num(bpb, float, "val_bpb", warn, where),
        artifact_bytes=_num(art, int, "artifact_bytes", warn, where),
        memory_gb=_num(mem, float, "memory_gb", warn, where),
        status=status_n,
        promoted=promoted_n or "no",
        cost_usd=_num(cost, float, "cost_usd", warn, where),
        description=desc.strip(),
        fields=f,
        line=line,
    )


def _clean_text(value: str, name: str) -> str:
    if "\t" in value or "\n" in value or "\r" in value:
        raise InputError("must not contain tabs or newlines", field=name)
    return value


def _fmt_float(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def make_row(
    *,
    commit: str,
    tier: str,
    val_bpb: float | None,
    artifact_bytes: int | None,
    memory_gb: float | None,
    status: str,
    promoted: str = "no",
    cost_usd: float | None = 0.0,
    description: str = "",
) -> Row:
    """Build a validated row for writing. Every bad value raises InputError naming the field."""
    commit = _clean_text(str(commit).strip(), "commit")
    if not re.fullmatch(r"[0-9a-zA-Z._/-]{1,64}", commit):
        raise InputError(f"{commit!r} is not a commit id", field="commit")
    if tier not in TIERS:
        raise InputError(f"{tier!r} is not one of {', '.join(TIERS)}", field="tier")
    if status not in STATUSES:
        raise InputError(f"{status!r} is not one of {', '.join(STATUSES)}", field="status")
    if promoted not in PROMOTED:
        raise InputError(f"{promoted!r} is not one of {', '.join(PROMOTED)}", field="promoted")
    for name, value in (("val_bpb", val_bpb), ("memory_gb", memory_gb), ("cost_usd", cost_usd)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{value!r} is not a finite number", field=name)
        if value < 0:
            raise InputError(f"{value!r} must not be negative", field=name)
    if artifact_bytes is not None and (
        isinstance(artifact_bytes, bool) or not isinstance(artifact_bytes, int) or artifact_bytes < 0
    ):
        raise InputError(f"{artifact_bytes!r} is not a non-negative integer", field="artifact_bytes")
    if status != "crash" and val_bpb is None:
        raise InputError("required unless status is crash", field="val_bpb")
    description = _clean_text(description.strip(), "description")
    fields_ = [
        commit,
        tier,
        _fmt_float(val_bpb, 4 if val_bpb is None else 6),
        "n/a" if artifact_bytes is None else str(artifact_bytes),
        _fmt_float(memory_gb, 1),
        status,
        promoted,
        _fmt_float(cost_usd, 2),
        description,
    ]
    return Row(
        commit=commit,
        tier=tier,
        val_bpb=None if val_bpb is None else float(val_bpb),
        artifact_bytes=artifact_bytes,
        memory_gb=None if memory_gb is None else float(memory_gb),
        status=status,
        promoted=promoted,
        cost_usd=None if cost_usd is None else float(cost_usd),
        description=description,
        fields=fields_,
    )


def parse_number(text: str, name: str, kind: type = float) -> float | int | None:
    """Strict CLI-side number parsing: 'n/a' → None, garbage or negative → InputError."""
    t = text.strip()
    if t.lower() in NA:
        return None
    try:
        value: float | int = int(t) if kind is int else float(t)
    except ValueError:
        raise InputError(f"{text!r} is not a number", field=name) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{text!r} is not a finite number", field=name)
    if value < 0:
        raise InputError(f"{text!r} must not be negative", field=name)
    return value


def pearson(xs: Sequence[float], ys: Sequence[float], min_points: int = 2) -> float | None:
    """Pearson's r of two equally long series (None below ``min_points`` or for a constant one)."""
    if len(xs) < max(min_points, 2):
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


class Ledger:
    """The rows of one results.tsv, plus the warnings its reading produced."""

    def __init__(self, path: Path | str, rows: list[Row], warnings: list[str], header: bool):
        self.path = Path(path)
        self.rows = rows
        self.warnings = warnings
        self.has_header = header

    # ----------------------------------------------------------------------------- reading
    @classmethod
    def load(cls, path: Path | str) -> Ledger:
        path = Path(path)
        if not path.exists():
            return cls(path, [], [], False)
        if path.is_dir():
            raise LedgerError("is a folder, not a file", path=str(path))
        data = path.read_bytes()
        return cls.parse(data, path)

    @classmethod
    def parse(cls, data: bytes, path: Path | str = "results.tsv") -> Ledger:
        warn: list[str] = []
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
            warn.append(f"{path}: UTF-8 byte-order mark ignored")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Kept byte for byte (surrogateescape) so a rewrite never alters a hand-written row.
            text = data.decode("utf-8", errors="surrogateescape")
            warn.append(f"{path}: not valid UTF-8; undecodable bytes kept as they are")
        if "\r\n" in text:
            warn.append(f"{path}: Windows line endings read as Unix ones")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        rows: list[Row] = []
        header = False
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            cells = line.split("\t")
            if not header and not rows and cells[0].strip().lower() == "commit":
                header = True
                names = [c.strip().lower() for c in cells]
                if tuple(names[: len(COLUMNS)]) != COLUMNS:
                    warn.append(f"{path}:{n}: header differs from the nine standard columns")
                continue
            rows.append(parse_row(cells, n, warn, f"{path}:{n}"))
        if rows and not header:
            warn.append(f"{path}: no header row")
        return cls(path, rows, warn, header)

    # ----------------------------------------------------------------------------- writing
    @staticmethod
    def _serialise(rows: Iterable[Row]) -> bytes:
        text = HEADER + "\n" + "".join(r.raw_line() + "\n" for r in rows)
        return text.encode("utf-8", errors="surrogateescape")

    @classmethod
    def append(cls, path: Path | str, *rows: Row) -> Ledger:
        """Atomically append rows (under the lock, re-reading the newest file first)."""
        path = Path(path)
        with file_lock(path):
            current = cls.load(path)
            current.rows.extend(rows)
            atomic_write_bytes(path, cls._serialise(current.rows))
        return current

    @classmethod
    def update(cls, path: Path | str, fn: Any) -> Ledger:
        """Read-modify-write under the lock: ``fn(rows) -> rows``."""
        path = Path(path)
        with file_lock(path):
            current = cls.load(path)
            current.rows = list(fn(current.rows))
            atomic_write_bytes(path, cls._serialise(current.rows))
        return current

    @classmethod
    def mark_promoted(cls, path: Path | str, commit: str, value: str = "yes", tier: str = "local") -> int:
        """Set ``promoted`` on every ``tier`` row of ``commit``; returns how many rows changed."""
        if value not in PROMOTED:
            raise InputError(f"{value!r} is not one of {', '.join(PROMOTED)}", field="promoted")
        changed = 0

        def fn(rows: list[Row]) -> list[Row]:
            nonlocal changed
            for r in rows:
                if r.tier == tier and same_commit(r.commit, commit):
                    while len(r.fields) < len(COLUMNS):
                        r.fields.append("")
                    r.fields[6] = value
                    r.promoted = value
                    changed += 1
            return rows

        cls.update(path, fn)
        return changed

    @staticmethod
    def init(path: Path | str) -> bool:
        """Create results.tsv with its header when missing; True if created."""
        path = Path(path)
        with file_lock(path):
            if path.exists():
                return False
            atomic_write_bytes(path, (HEADER + "\n").encode())
        return True

    # ----------------------------------------------------------------------------- queries
    def filter(self, tier: str | None = None, status: str | None = None) -> list[Row]:
        return [
            r
            for r in self.rows
            if (tier is None or r.tier == tier) and (status is None or r.status == status)
        ]

    def current_best_bpb(self) -> float | None:
        """Lowest val_bpb among ``tier=runpod, status=keep`` rows (None if none)."""
        vals = [r.val_bpb for r in self.filter("runpod", "keep") if r.val_bpb is not None]
        return min(vals) if vals else None

    def best_row(self, tier: str = "runpod") -> Row | None:
        rows = [r for r in self.filter(tier, "keep") if r.val_bpb is not None]
        return min(rows, key=lambda r: r.val_bpb or 0.0) if rows else None

    def proven_techniques(self) -> list[str]:
        """The baseline's techniques, then the descriptions of kept RunPod rows, best first.

        A RunPod row with status ``keep`` is a technique proven on the real hardware;
        baseline re-runs are not techniques and are skipped.
        """
        out = list(BASELINE_TECHNIQUES)
        rows = sorted(
            (r for r in self.filter("runpod", "keep") if r.description and r.val_bpb is not None),
            key=lambda r: r.val_bpb or 0.0,
        )
        for r in rows:
            if r.description.lower().startswith(BASELINE_PREFIX):
                continue
            text = f"{r.description} ({r.val_bpb:.4f} bpb on H100, {r.commit})"
            if r.description not in (t.split(" (")[0] for t in out):
                out.append(text)
        return out

    def failed_experiments(self, n: int = 10) -> list[Row]:
        """The ``n`` most recent discard/crash rows, newest first."""
        rows = [r for r in self.rows if r.status in ("discard", "crash")]
        return list(reversed(rows))[:n]

    def history(self, n: int = 8) -> list[Row]:
        """The ``n`` most recent rows, oldest first (file order)."""
        return self.rows[-n:] if n > 0 else []

    def baseline_rows(self, window: int = 5, *, config: str | None = None) -> list[Row]:
        """The ``window`` most recent baseline rows of one configuration.

        With ``config``, only rows tagged ``cfg=<config>``. Without it, the configuration of the
        most recent baseline row (so program.md, the dashboard and ``results best`` never mix a
        20-iteration torch baseline with a 500-iteration MLX one); rows written before ``cfg=``
        tags existed (no tag on the latest row) are all taken together, as they always were.
        """
        rows = [r for r in self.rows if r.is_baseline and r.val_bpb is not None and r.status != "crash"]
        if config is None and rows:
            config = config_of(rows[-1].description)
        if config is not None:
            rows = [r for r in rows if has_config(r.description, config)]
        return rows[-window:]

    def running_local_baseline(self, window: int = 5, *, config: str | None = None) -> float | None:
        """The local val_bpb experiments are compared against.

        Definition: the median val_bpb of the ``window`` most recent *baseline rows* — local
        rows whose description starts with ``baseline`` (written by ``pgolf train baseline``)
        and that have a val_bpb and are not crashes. The median means one noisy run does not
        move it; taking only the most recent rows means that after a winner is merged into the
        baseline and re-measured, the baseline follows. None when there is no baseline row.
        With ``config`` (a local-run configuration key, see :func:`has_config`) only baseline
        rows of that configuration count.
        """
        vals = [r.val_bpb for r in self.baseline_rows(window, config=config) if r.val_bpb is not None]
        return statistics.median(vals) if vals else None

    def noise_floor(self, window: int = 5, *, config: str | None = None) -> float | None:
        """Relative standard deviation (std/mean) of the recent baseline rows (≥ 2 needed)."""
        vals = [r.val_bpb for r in self.baseline_rows(window, config=config) if r.val_bpb is not None]
        if len(vals) < 2:
            return None
        mean = statistics.fmean(vals)
        return statistics.stdev(vals) / mean if mean else None

    def tier_correlation(self) -> Correlation:
        """Pair local and runpod rows of the same commit (latest of each, non-crash).

        Returns pair count, mean delta (runpod − local), Pearson r and Spearman ρ once there
        are ≥ 3 pairs, a least-squares fit runpod ≈ a·local + b once there are ≥ 2 distinct
        local values, and ``reliable`` once there are ≥ 5 pairs.
        """
        local: dict[str, Row] = {}
        remote: dict[str, Row] = {}
        for r in self.rows:
            if r.val_bpb is None or r.status == "crash" or not r.commit:
                continue
            key = r.commit[:7].lower()
            if r.tier == "local":
                local[key] = r
            elif r.tier == "runpod":
                remote[key] = r
        points = [
            (local[k].commit, float(local[k].val_bpb or 0), float(remote[k].val_bpb or 0))
            for k in local
            if k in remote
        ]
        n = len(points)
        xs = [p[1] for p in points]
        ys = [p[2] for p in points]
        mean_delta = statistics.fmean(y - x for x, y in zip(xs, ys, strict=True)) if n else None
        r_value = pearson(xs, ys, min_points=3)
        spearman = pearson(_ranks(xs), _ranks(ys), min_points=3)
        slope = intercept = None
        if n >= 2:
            mx, my = statistics.fmean(xs), statistics.fmean(ys)
            sxx = sum((x - mx) ** 2 for x in xs)
            if sxx > 0:
                slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
                intercept = my - slope * mx
        return Correlation(n, mean_delta, r_value, spearman, slope, intercept, n >= 5, points)


def config_of(description: str) -> str | None:
    """The ``cfg=<config>`` tag of a row's description, or None."""
    m = re.search(r"(?<![\w=-])cfg=([\w.-]+)", description)
    return m.group(1) if m else None


def has_config(description: str, config: str) -> bool:
    """True when ``description`` carries the configuration tag ``cfg=<config>`` as a whole token."""
    return re.search(rf"(?<![\w=-])cfg={re.escape(config)}(?![\w=-])", description) is not None
