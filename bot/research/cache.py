"""The raw cache (``raw_cache.jsonl``): atomic appends, a dedup index, bounded by compaction.

New items are appended under the cache lock (read, write a temp file, replace: all or
nothing; see :func:`append_items`). When a cycle meets an item that is already cached and
reported now by a source the cached record does not list, a **sources update** is appended: a
copy of the item's latest line with the new sources added. Readers that take the latest line per
id (grading, verification: :func:`bot.state.latest_by`) see it at once; compaction folds it in.

When the cache holds more than ``raw_cache_max_items`` items, :func:`compact` keeps what
grading and dedup need:

* one line per item id (the latest line wins; the ``sources`` of all its lines are merged,
  earliest first);
* items not graded yet are kept before graded ones; among equals the newest are kept;
* every evicted item leaves its identity keys (id, canonical URL, arXiv id, DOI, title key) in
  ``raw_cache_seen.jsonl`` so it is still recognised as a duplicate; that file is itself
  bounded to ``10 × raw_cache_max_items`` entries (oldest dropped).

Compaction holds the cache lock from reading to the atomic rewrite, so an append from another
process waits for it and is never lost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bot.errors import StateError
from bot.fileio import atomic_write_bytes, file_lock
from bot.research.dedup import DedupIndex, keys_from, no_gc
from bot.state import ResearchItem, ResearchState

SEEN = "raw_cache_seen.jsonl"
SEEN_FACTOR = 10
_FIELDS = tuple(sorted(f.name for f in fields(ResearchItem) if f.name != "extra"))


def seen_path(state: ResearchState) -> Path:
    return state.dir / SEEN


def read_seen(state: ResearchState) -> list[tuple[str, list[str]]]:
    path = seen_path(state)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append((str(row["id"]), [str(k) for k in row["keys"]]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise StateError(f"line {n}: expected {{id, keys}}", path=str(path)) from None
    return out


_KEY_FIELDS = ("id", "title", "url", "arxiv_id", "doi")
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)  # json.dumps builds one per call
_PLAIN = json.JSONEncoder(ensure_ascii=False)
_STR: Any = json.encoder.encode_basestring  # the C string encoder, as the JSON encoder uses it
_DECODER: Any = json.JSONDecoder()  # (its C scanner is used directly, see _lines)


def _lines(path: Path) -> Iterable[tuple[int, str, dict[str, Any]]]:
    """(line number, text, object) for every non-blank line of a cache file; a line that is not
    a JSON object with a string ``id`` is a StateError naming the file and line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return
    except UnicodeDecodeError as exc:
        raise StateError(f"not UTF-8: {exc}", path=str(path)) from None
    scan = _DECODER.scan_once
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.isspace():
            continue
        try:  # the decoder's scanner directly (json.loads adds two Python calls per line) ...
            data, end = scan(line, 0)
            if end != len(line):
                raise StopIteration(end)
        except (StopIteration, json.JSONDecodeError):  # ... json.loads for anything unusual
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise StateError(f"line {n}: not JSON ({exc.msg})", path=str(path)) from None
        if type(data) is not dict or type(data.get("id")) is not str:
            raise StateError(f"line {n}: expected an object with a string id", path=str(path), field="id")
        yield n, line, data


def _sources_of(data: Mapping[str, Any]) -> list[str]:
    sources = data.get("sources")
    if isinstance(sources, list) and all(isinstance(s, str) for s in sources):
        return sources if sources else ([data["source"]] if isinstance(data.get("source"), str) else [])
    return []


def load_index(state: ResearchState) -> tuple[DedupIndex, int]:
    """The dedup index of everything cached or compacted away, and the cached line count.

    Only the identity fields (and ``sources``, for sources updates) are read: a full
    :func:`bot.state.read_jsonl` validation of a large cache costs seconds. ``index.cached``
    maps every cached id to its known sources."""
    with no_gc():
        return _load_index(state)


def _load_index(state: ResearchState) -> tuple[DedupIndex, int]:
    path = state.raw_cache_path
    index = DedupIndex()
    cached = index.cached
    count = 0
    for n, _line_text, data in _lines(path):
        get = data.get
        ident: list[Any] = [
            get("id"),
            get("title") or "",
            get("url") or "",
            get("arxiv_id") or "",
            get("doi") or "",
        ]
        if not all(type(v) is str for v in ident):
            raise StateError(f"line {n}: identity fields must be strings", path=str(path))
        iid, title, url, aid, doi = ident
        index.add_with_keys(iid, keys_from(iid, title, url, aid, doi))
        sources = _sources_of(data)
        known = cached.get(iid)
        if known is None:
            cached[iid] = sources
        else:  # a re-seen line or a sources update: the union
            known.extend(s for s in sources if s not in known)
        count += 1
    for owner, keys in read_seen(state):
        index.add_keys(owner, keys)
    return index, count


_LINE_FIELDS = (
    "arxiv_id",
    "authors",
    "doi",
    "fetched_at",
    "id",
    "published",
    "raw",
    "relevance",
    "relevance_kind",
    "source",
    "sources",
    "summary",
    "title",
    "url",
)
# _fast_line spells these fields out; another field added to ResearchItem disables it
_FAST = _FIELDS == _LINE_FIELDS


def _str_list(values: list[Any]) -> str:
    if not values:
        return "[]"
    try:
        return "[" + ", ".join(map(_STR, values)) + "]"
    except TypeError:  # not all strings
        return _ENCODER.encode(values)


def _value(value: Any) -> str:
    return _str_list(value) if type(value) is list else _ENCODER.encode(value)


def _fast_line(item: ResearchItem) -> str | None:
    """:func:`_line` spelled out field by field (sorted names, ``", "``/``": "`` separators, as
    ``json.dumps``) — about twice as fast as encoding a dict built per item. ``extra`` keys that
    sort before the first field (``also``, the ids merged into the item) lead the line; None
    where another ``extra`` key or an unusual value needs the generic path."""
    s = _STR
    prefix = ""
    extra = item.extra
    if len(extra) == 1 and "also" in extra:  # the common case: ids merged into this item
        prefix = f'"also": {_value(extra["also"])}, '
    elif extra:
        keys = sorted(extra)  # extra keys are strings (checked by the caller)
        if keys[-1] >= _LINE_FIELDS[0]:
            return None
        prefix = "".join(f"{s(k)}: {_value(extra[k])}, " for k in keys)
    if (
        type(item.arxiv_id) is not str
        or type(item.doi) is not str
        or type(item.fetched_at) is not str
        or type(item.id) is not str
        or type(item.published) is not str
        or type(item.relevance_kind) is not str
        or type(item.source) is not str
        or type(item.summary) is not str
        or type(item.title) is not str
        or type(item.url) is not str
        or type(item.authors) is not list
        or type(item.sources) is not list
        or type(item.raw) is not dict
    ):
        return None
    rel = item.relevance
    if rel is None:
        rel_s = "null"
    elif type(rel) is float and math.isfinite(rel):
        rel_s = repr(rel)
    else:
        rel_s = _ENCODER.encode(rel)
    e = '""'  # (empty strings are common: skip the encoder call)
    return (
        f'{{{prefix}"arxiv_id": {s(item.arxiv_id) if item.arxiv_id else e}, '
        f'"authors": {_str_list(item.authors) if item.authors else "[]"}, '
        f'"doi": {s(item.doi) if item.doi else e}, "fetched_at": {s(item.fetched_at) if item.fetched_at else e}, '
        f'"id": {s(item.id)}, "published": {s(item.published) if item.published else e}, '
        f'"raw": {_ENCODER.encode(item.raw) if item.raw else "{}"}, "relevance": {rel_s}, '
        f'"relevance_kind": {s(item.relevance_kind) if item.relevance_kind else e}, "source": {s(item.source)}, '
        f'"sources": {_str_list(item.sources)}, "summary": {s(item.summary) if item.summary else e}, '
        f'"title": {s(item.title)}, "url": {s(item.url) if item.url else e}}}'
    )


def _as_dict(item: ResearchItem) -> dict[str, Any]:
    data = {f: getattr(item, f) for f in _FIELDS}
    for k, v in item.extra.items():
        data.setdefault(k, v)
    return data


def _line(item: ResearchItem) -> str:
    """The same JSON line as :func:`bot.state.to_line`, without ``dataclasses.asdict``'s deep copy."""
    if _FAST and all(type(k) is str for k in item.extra):
        line = _fast_line(item)
        if line is not None:
            return line
    return _ENCODER.encode(_as_dict(item))


def append_items(
    state: ResearchState,
    items: Iterable[ResearchItem],
    source_updates: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Append the items atomically (lock, write a temp file, replace): all of them or none.

    ``source_updates`` (cached id → sources to add) appends, in the same write, a copy of each
    such item's latest cached line with the new sources (skipped where they are known already).
    Returns how many items were appended (updates not counted)."""
    return store(state, items, source_updates)[0]


def store(
    state: ResearchState,
    items: Iterable[ResearchItem],
    source_updates: Mapping[str, Sequence[str]] | None = None,
) -> tuple[int, int]:
    """:func:`append_items`, returning (items appended, sources updates appended)."""
    with no_gc():
        lines = [_line(i) for i in items]
    updates = {k: list(v) for k, v in (source_updates or {}).items() if v}
    if not lines and not updates:
        return 0, 0
    path = state.raw_cache_path
    with file_lock(path):
        old = path.read_bytes() if path.exists() else b""
        n_updates = 0
        if updates:
            update_lines = _update_lines(path, updates)
            n_updates = len(update_lines)
            lines.extend(update_lines)
        if not lines:
            return 0, 0
        if old and not old.endswith(b"\n"):
            old += b"\n"
        atomic_write_bytes(path, old + ("\n".join(lines) + "\n").encode("utf-8"))
    return len(lines) - n_updates, n_updates


def _update_lines(path: Path, updates: Mapping[str, list[str]]) -> list[str]:
    """Sources-update lines (call with the cache lock held): each updated item's latest line,
    its sources the union of all its lines' and the new ones."""
    latest: dict[str, dict[str, Any]] = {}
    known: dict[str, list[str]] = {}
    with no_gc():
        for _n, _text, data in _lines(path):
            iid = data["id"]
            if iid in updates:
                latest[iid] = data
                have = known.setdefault(iid, [])
                have.extend(s for s in _sources_of(data) if s not in have)
    out = []
    for iid, data in latest.items():
        have = known[iid]
        added = [s for s in updates[iid] if s not in have]
        if added:
            out.append(_ENCODER.encode({**data, "sources": have + added}))
    return out


@dataclass
class CompactionReport:
    before_lines: int
    after_items: int
    evicted: int
    seen_keys: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _sort_time(data: Mapping[str, Any]) -> str:
    t = data.get("fetched_at") or data.get("published") or ""
    return t if isinstance(t, str) else ""


def _identity(data: Mapping[str, Any]) -> list[str]:
    ident = [data.get(k) or "" for k in _KEY_FIELDS]
    return keys_from(*(v if isinstance(v, str) else "" for v in ident)).exact


def compact(state: ResearchState, max_items: int, graded_ids: set[str] | None = None) -> CompactionReport:
    """Rewrite the cache to at most ``max_items`` items (see the module docstring), holding the
    cache lock from the read to the rewrite."""
    path = state.raw_cache_path
    graded = graded_ids if graded_ids is not None else {g.item_id for g in state.graded()}
    with file_lock(path), no_gc():
        # id → [latest line text, latest object, merged sources, whether it must be re-encoded]
        merged: dict[str, list[Any]] = {}
        n_lines = 0
        for _n, text, data in _lines(path):
            n_lines += 1
            iid = data["id"]
            old = merged.pop(iid, None)
            sources = _sources_of(data)
            if old is None:
                merged[iid] = [text, data, sources, False]
                continue
            union = list(old[2])
            union.extend(s for s in sources if s not in union)
            merged[iid] = [text, data, union, union != sources]
        entries = list(merged.values())
        evicted: list[list[Any]] = []
        if len(entries) > max_items:
            # keep: ungraded first, then newest
            ranked = sorted(entries, key=lambda e: (e[1]["id"] not in graded, _sort_time(e[1])), reverse=True)
            keep = {id(e) for e in ranked[:max_items]}
            evicted = [e for e in entries if id(e) not in keep]
            entries = [e for e in entries if id(e) in keep]
        seen = read_seen(state)
        if evicted:
            seen.extend((e[1]["id"], _identity(e[1])) for e in evicted)
            seen = seen[-SEEN_FACTOR * max(1, max_items) :]
            data_seen = "".join(_PLAIN.encode({"id": o, "keys": k}) + "\n" for o, k in seen)
            with file_lock(seen_path(state)):
                atomic_write_bytes(seen_path(state), data_seen.encode("utf-8"))
        if evicted or len(entries) != n_lines:
            out = [_ENCODER.encode({**e[1], "sources": e[2]}) if e[3] else e[0] for e in entries]
            atomic_write_bytes(path, "".join(line + "\n" for line in out).encode("utf-8"))
    return CompactionReport(n_lines, len(entries), len(evicted), len(seen))
