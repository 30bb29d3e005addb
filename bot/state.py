"""Research state: the JSONL files that research, grading, verification and program.md share.

All live in the research state folder (setting ``state_dir``, default ``research/``):

====================  =====================  ===============================================
file                  record                 written by
====================  =====================  ===============================================
raw_cache.jsonl       :class:`ResearchItem`  research pipeline (``pgolf research fetch``)
graded.jsonl          :class:`GradedItem`    grading (``pgolf research grade``)
verified.jsonl        :class:`VerifiedBrief` verification (``pgolf research verify``)
competitors.jsonl     :class:`CompetitorScore` competitor intelligence
====================  =====================  ===============================================

One JSON object per line, UTF-8. Later lines supersede earlier ones with the same key
(``id`` / ``item_id`` / ``key``) where a reader wants "latest": see :func:`latest_by`.
Unknown fields are kept in ``extra`` and written back, so newer writers never lose data to
older readers. A line that is not JSON, or a field of the wrong type, is a :class:`StateError`
naming file, line and field. Appends are atomic (lock + write-temp + replace).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import StateError
from bot.fileio import atomic_write_bytes, file_lock

RAW_CACHE = "raw_cache.jsonl"
GRADED = "graded.jsonl"
VERIFIED = "verified.jsonl"
COMPETITORS = "competitors.jsonl"

RUBRIC_MAX = {
    "bpb_impact": 3,
    "size_compatibility": 3,
    "time_compatibility": 2,
    "implementability": 4,
    "novelty": 3,
}
COMPETITOR_VALIDATED_MAX = 2
TIERS = ("A", "B", "C", "ungradable")


@dataclass
class ResearchItem:
    """One normalised item from any source."""

    source: str  # module name of the source that first reported it, e.g. "arxiv"
    id: str  # stable id: "<source>:<native id>", e.g. "arxiv:2403.01234"
    title: str
    url: str = ""
    authors: list[str] = field(default_factory=list)
    published: str = ""  # ISO 8601 (UTC) or ""
    summary: str = ""
    relevance: float | None = None  # 0..1: the source's own score or the keyword score
    relevance_kind: str = ""  # "tavily", "keyword", ...
    sources: list[str] = field(default_factory=list)  # every source that reported it
    arxiv_id: str = ""  # without version, e.g. "2403.01234"
    doi: str = ""
    fetched_at: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class GradedItem:
    """The grade of one research item under one grading context."""

    item_id: str
    title: str
    url: str = ""
    source: str = ""
    scores: dict[str, int] = field(default_factory=dict)  # RUBRIC_MAX keys (+ competitor_validated)
    total: int = 0
    max_total: int = 15
    tier: str = "C"  # A | B | C | ungradable
    grader: str = "offline"  # "offline" or "anthropic:<model>"
    rationale: str = ""
    category: str = ""  # technique taxonomy category
    content_hash: str = ""
    context_version: str = ""
    graded_at: str = ""
    error: str = ""  # reason, when tier == "ungradable"
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifiedBrief:
    """A tier-A item checked against its full text, with an implementation brief."""

    item_id: str
    title: str
    url: str = ""
    brief: str = ""  # what to change in train_gpt.py, expected bytes/step time/val_bpb, risks
    score_before: int = 0
    score_after: int = 0
    tier: str = "A"
    corroboration: list[str] = field(default_factory=list)  # URLs
    grader: str = "offline"
    verified_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompetitorScore:
    """One competitor result: a parameter-golf record or a modded-nanogpt speedrun record."""

    source: str  # "parameter-golf" | "modded-nanogpt"
    name: str
    key: str = ""  # stable identity, e.g. "parameter-golf:records/…/2026-03-17_NaiveBaseline"
    val_bpb: float | None = None
    val_loss: float | None = None
    seeds: int | None = None
    std: float | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    record_minutes: float | None = None  # modded-nanogpt
    author: str = ""
    github_id: str = ""
    pr: int | None = None
    date: str = ""
    track: str = ""  # "record" | "non-record" | upstream track name
    techniques: str = ""
    url: str = ""
    source_file: str = ""
    # Where the score came from ("leaderboard", "submission.json", "README", "PR body", "log
    # line") and what it is ("record", "non-record", "claim", "closed"; "" = not known: a claim).
    # See bot.research.competitors.standings for how they combine.
    provenance: str = ""
    status: str = ""
    board: str = ""  # the table it ranks on: "record", "non-record", "gpt2-small", "gpt2-medium"
    extra: dict[str, Any] = field(default_factory=dict)


Record = TypeVar("Record", ResearchItem, GradedItem, VerifiedBrief, CompetitorScore)

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _check(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        return any(_check(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is Any:
        return True
    if origin is list:
        (inner,) = typing.get_args(tp)
        return isinstance(value, list) and all(_check(v, inner) for v in value)
    if origin is dict:
        k, v = typing.get_args(tp)
        return isinstance(value, dict) and all(_check(a, k) and _check(b, v) for a, b in value.items())
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def from_dict(cls: type[Record], data: Any, *, where: str = "") -> Record:
    """Validate ``data`` against ``cls``; unknown keys go to ``extra``."""
    if not isinstance(data, dict):
        raise StateError("expected a JSON object", path=where or None)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = dict(data.get("extra") or {})
    for key, value in data.items():
        if key == "extra":
            continue
        if key not in hints:
            extra[key] = value
            continue
        if not _check(value, hints[key]):
            raise StateError(f"wrong type {type(value).__name__}", path=where or None, field=key)
        if hints[key] is float or (
            typing.get_origin(hints[key]) is not None and float in typing.get_args(hints[key])
        ):
            value = float(value) if value is not None else None
        kwargs[key] = value
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in kwargs:
            raise StateError("missing", path=where or None, field=f.name)
    kwargs["extra"] = extra
    return cls(**kwargs)


def to_dict(record: Any) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    extra = data.pop("extra", {}) or {}
    for k, v in extra.items():
        data.setdefault(k, v)
    return data


def to_line(record: Any) -> str:
    return json.dumps(to_dict(record), ensure_ascii=False, sort_keys=True)


def iter_jsonl(path: Path | str, *, encoding: str = "utf-8-sig") -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for each non-blank line of ``path`` (nothing when it does
    not exist); a line that is not JSON, or a file that is not UTF-8, is a :class:`StateError`."""
    path = Path(path)
    if path.parent.exists() and not path.parent.is_dir():
        raise StateError("the research state folder is a file, not a folder", path=str(path.parent))
    if not path.exists():
        return
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise StateError(f"not UTF-8: {exc}", path=str(path)) from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StateError(f"line {n}: not JSON ({exc.msg})", path=str(path)) from None
        yield n, data


def read_jsonl(path: Path | str, cls: type[Record]) -> list[Record]:
    """Every record of ``path`` ([] when the file does not exist)."""
    return [from_dict(cls, data, where=f"{path}:{n}") for n, data in iter_jsonl(path)]


def append_lines(path: Path | str, lines: list[str]) -> None:
    """Append text lines (no newlines inside) to ``path`` atomically, under its lock."""
    path = Path(path)
    with file_lock(path):
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        atomic_write_bytes(path, old + ("\n".join(lines) + "\n").encode("utf-8"))


def append_jsonl(path: Path | str, records: Iterable[Any]) -> int:
    """Append records atomically (all or none); returns how many were written."""
    lines = [to_line(r) for r in records]
    if not lines:
        return 0
    append_lines(path, lines)
    return len(lines)


def latest_by(records: Iterable[Record], key: Callable[[Record], str]) -> list[Record]:
    """Keep the last record per key, in order of last appearance."""
    seen: dict[str, Record] = {}
    for r in records:
        k = key(r)
        seen.pop(k, None)
        seen[k] = r
    return list(seen.values())


class ResearchState:
    """Paths of the state files under one folder, with typed readers."""

    def __init__(self, state_dir: Path | str):
        self.dir = Path(state_dir)

    @property
    def raw_cache_path(self) -> Path:
        return self.dir / RAW_CACHE

    @property
    def graded_path(self) -> Path:
        return self.dir / GRADED

    @property
    def verified_path(self) -> Path:
        return self.dir / VERIFIED

    @property
    def competitors_path(self) -> Path:
        return self.dir / COMPETITORS

    def raw_items(self) -> list[ResearchItem]:
        """Latest line per item id (the pipeline appends an updated copy when an item gains a
        source; compaction folds those in later)."""
        return latest_by(read_jsonl(self.raw_cache_path, ResearchItem), lambda i: i.id)

    def graded(self) -> list[GradedItem]:
        """Latest grade per item."""
        return latest_by(read_jsonl(self.graded_path, GradedItem), lambda g: g.item_id)

    def verified(self) -> list[VerifiedBrief]:
        return latest_by(read_jsonl(self.verified_path, VerifiedBrief), lambda v: v.item_id)

    def competitors(self) -> list[CompetitorScore]:
        return latest_by(read_jsonl(self.competitors_path, CompetitorScore), lambda c: c.key or c.name)
