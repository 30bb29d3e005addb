"""Per-source cursors: no blind windows between research runs.

``cursors.json`` in the research state folder records, per source, the start of its last
*successful* fetch (``last_success``), plus the last attempt and its error. A run fetches each
source from its cursor minus an overlap that covers the source's publication delay (arXiv lists
a paper days after its first-submission date, Semantic Scholar dates are coarse…); dedup absorbs
the overlap. A failed source keeps its old cursor, so the next run covers the gap. A source
without a cursor uses the setting ``since_hours`` plus its overlap. A window never reaches back
further than ``MAX_LOOKBACK_HOURS`` (a repository left idle for months does not fetch years). A
cursor in the future (the clock was ahead at that run, or moved back since) is not trusted: the
source gets the default window, and its cursor moves back to this run's start.
``pgolf research fetch --since-hours H`` overrides every source's window (cursors still advance).

A corrupt ``cursors.json`` is an error naming the file: it is never silently reset (that would
open a blind window); delete it to start over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import clock
from bot.errors import StateError
from bot.fileio import atomic_write_text, file_lock

CURSORS = "cursors.json"
MAX_LOOKBACK_HOURS = 24 * 30

# Publication delay per source, in hours: how long after its stated date an item can first
# appear in the source's answers.
OVERLAP_HOURS: dict[str, float] = {
    "arxiv": 96.0,  # first-submission date; announced the next weekday evening, weekends add 2 days
    "semantic_scholar": 24 * 7.0,  # publication dates are day- or month-precise, indexing lags days
    "openreview": 48.0,
    "github_prs": 2.0,  # PR "updated" is live
    "github_code": 24.0,  # the code-search index lags
    "rss": 24.0,
    "tavily": 48.0,
    "tavily_news": 6.0,
}
DEFAULT_OVERLAP_HOURS = 12.0


@dataclass
class Window:
    source: str
    since_hours: float
    reason: str  # "cursor", "default", "default (cursor in the future)", "override"


def path(state_dir: Path | str) -> Path:
    return Path(state_dir) / CURSORS


def load(state_dir: Path | str) -> dict[str, dict[str, Any]]:
    p = path(state_dir)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"not JSON ({exc}); delete it to start the cursors over", path=str(p)) from None
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        raise StateError("expected {'sources': {name: {...}}}", path=str(p), field="sources")
    for name, entry in sources.items():
        if entry.get("last_success"):
            try:
                clock.parse(str(entry["last_success"]))
            except ValueError:
                raise StateError("not an ISO timestamp", path=str(p), field=f"{name}.last_success") from None
    return sources


def window(
    name: str, cursors: Mapping[str, Mapping[str, Any]], now: datetime, default_hours: float
) -> Window:
    overlap = OVERLAP_HOURS.get(name, DEFAULT_OVERLAP_HOURS)
    last = (cursors.get(name) or {}).get("last_success")
    default = min(default_hours + overlap, MAX_LOOKBACK_HOURS)
    if last:
        ago = (now - clock.parse(str(last))).total_seconds() / 3600
        if ago < 0:  # the clock was ahead then (or is behind now): the cursor says nothing
            return Window(name, default, "default (cursor in the future)")
        return Window(name, round(min(ago + overlap, MAX_LOOKBACK_HOURS), 3), "cursor")
    return Window(name, default, "default")


def record(state_dir: Path | str, started: datetime, outcomes: Mapping[str, str]) -> None:
    """After a run: ``outcomes`` maps each source to its error ("" = success). A successful
    source's cursor moves to ``started``; a failed one keeps its cursor."""
    p = path(state_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(p):
        sources = load(state_dir)
        stamp = clock.stamp(started)
        for name, error in outcomes.items():
            entry = dict(sources.get(name) or {})
            entry["last_attempt"] = stamp
            entry["last_error"] = error
            if not error:
                entry["last_success"] = stamp
            sources[name] = entry
        atomic_write_text(p, json.dumps({"sources": sources}, indent=2, sort_keys=True) + "\n")
