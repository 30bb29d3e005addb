"""One research cycle: every source at once → normalise → dedup → relevance filter → store.

:func:`run_cycle` runs the chosen sources with ``asyncio.gather(..., return_exceptions=True)``,
each under ``asyncio.wait_for`` with the per-source timeout (``source_timeout_seconds``). A
source that raises or hangs is reported with its reason (and logged); the others' items are
still processed and saved. Then:

1. **normalise** — every item gets ``sources`` (at least its own source), ``fetched_at``, a
   relevance: the source's own score (Tavily) or the keyword score of
   :mod:`bot.research.keywords` (``relevance_kind`` says which);
2. **dedup** — against everything already in ``raw_cache.jsonl`` (or compacted away from it):
   dropped and counted (a cached item reported by a source it does not list yet gets a
   sources update, see :mod:`bot.research.cache`); within the batch: items sharing an id,
   canonical URL, arXiv id, DOI or a near-identical title become one item that lists every
   source that reported it (the duplicates are counted under the source that sent them);
3. **relevance threshold** — items below ``relevance_threshold`` are dropped and counted;
4. **store** — the new items are appended atomically; the cache is compacted when it grows past
   ``raw_cache_max_items``. Competitor scores found in PRs go to ``competitors.jsonl``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bot import clock
from bot.config import Settings
from bot.errors import PgolfError
from bot.research import cache, cursors
from bot.research.dedup import DedupIndex, keys_from, merge_into, no_gc
from bot.research.http import warm_up
from bot.research.keywords import keyword_score
from bot.research.sources import FetchContext, Source, get_source
from bot.research.sources.base import iso
from bot.state import CompetitorScore, ResearchItem, ResearchState, from_dict

log = logging.getLogger("pgolf.research")


@dataclass
class SourceOutcome:
    name: str
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    below_threshold: int = 0
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok, "seconds": round(self.seconds, 3)}


@dataclass
class CycleReport:
    outcomes: list[SourceOutcome]
    new_items: list[ResearchItem]
    duplicates: int
    below_threshold: int
    threshold: float
    seconds: float
    started_at: str
    competitor_scores: int = 0
    compaction: dict[str, int] | None = None
    sources_updated: int = 0  # cached items that gained a source this cycle
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # per source: hours, why

    @property
    def errors(self) -> dict[str, str]:
        return {o.name: o.error for o in self.outcomes if o.error}

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "threshold": self.threshold,
            "sources": {o.name: o.to_dict() for o in self.outcomes},
            "errors": self.errors,
            "fetched": sum(o.fetched for o in self.outcomes),
            "new": len(self.new_items),
            "duplicates": self.duplicates,
            "below_threshold": self.below_threshold,
            "competitor_scores": self.competitor_scores,
            "sources_updated": self.sources_updated,
            "compaction": self.compaction,
            "windows": self.windows,
            "new_items": [
                {
                    "id": i.id,
                    "title": i.title,
                    "url": i.url,
                    "sources": i.sources,
                    "relevance": i.relevance,
                    "relevance_kind": i.relevance_kind,
                    "published": i.published,
                }
                for i in self.new_items
            ],
        }


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {timeout:g} s (timed out)"
    if isinstance(exc, PgolfError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def _run_one(source: Source, ctx: FetchContext, timeout: float) -> list[ResearchItem]:
    return await asyncio.wait_for(source.fetch(ctx), timeout=timeout)


def normalise(item: ResearchItem, fetched_at: str) -> ResearchItem:
    if item.source not in item.sources:
        item.sources.insert(0, item.source)
    if not item.fetched_at:
        item.fetched_at = fetched_at
    if item.relevance is None:
        item.relevance = keyword_score(item.title, item.summary)
        item.relevance_kind = "keyword"
    return item


@no_gc()
def process(
    batches: Sequence[tuple[str, list[ResearchItem]]],
    index: DedupIndex,
    threshold: float,
    fetched_at: str,
    outcomes: dict[str, SourceOutcome],
) -> tuple[list[ResearchItem], int, int]:
    """Steps 1–3 of the module docstring; returns (new items, duplicates, below threshold)."""
    # One index for the cache and this batch: an item matching a batch item is merged into it
    # (one item, every source); one matching a cached item is dropped. ``index`` ends up holding
    # this batch's keys too (below-threshold items included: they are dropped from this cycle).
    kept: dict[str, ResearchItem] = {}
    duplicates = 0
    find_or_add = index.find_or_add  # (hot loop: 100,000 items in about a second)
    for name, items in batches:
        out = outcomes[name]
        for item in items:
            normalise(item, fetched_at)
            k = keys_from(item.id, item.title, item.url, item.arxiv_id, item.doi)
            owner = find_or_add(item.id, k)
            if owner is None:
                kept[item.id] = item
                continue
            out.duplicates += 1
            duplicates += 1
            host = kept.get(owner)
            if host is None:  # a cached item: it may gain this source (a sources update)
                index.note_sources(owner, item)
            else:
                grew = merge_into(host, item)
                index.add(item, owner, k)  # the duplicate's keys now lead to the kept item
                if grew:  # the kept item gained an arXiv id, DOI or URL
                    index.add(host, owner)
    new: list[ResearchItem] = []
    below = 0
    for item in kept.values():
        src = outcomes.get(item.source)
        if (item.relevance or 0.0) < threshold:
            below += 1
            if src:
                src.below_threshold += 1
            continue
        new.append(item)
        if src:
            src.new += 1
    return new, duplicates, below


def _competitor_scores(items: Sequence[ResearchItem]) -> list[CompetitorScore]:
    out = []
    for item in items:
        for n, raw in enumerate(item.extra.get("competitor_scores") or []):
            out.append(from_dict(CompetitorScore, raw, where=f"{item.id} competitor_scores[{n}]"))
    return out


async def run_cycle(
    settings: Settings,
    state_dir: Path | str,
    *,
    sources: Sequence[str] | None = None,
    source_objects: Mapping[str, Source] | None = None,
    since_hours: float | None = None,
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
    clients: dict[str, httpx.AsyncClient] | None = None,
    timeout: float | None = None,
    store: bool = True,
) -> CycleReport:
    """Fetch, dedup, filter and store one cycle (see the module docstring).

    Each source's window comes from its cursor (:mod:`bot.research.cursors`) unless
    ``since_hours`` is given; successful sources' cursors advance to ``now`` when ``store``."""
    started = time.monotonic()
    now = now or clock.now()
    names = list(sources if sources is not None else settings.sources)
    chosen: dict[str, Source] = {}
    for name in names:
        chosen[name] = (source_objects or {}).get(name) or get_source(name)
    timeout = settings.source_timeout_seconds if timeout is None else timeout
    warm_up()  # the shared TLS context, built before the sources start racing
    ctx = FetchContext(
        settings=settings,
        now=now,
        since_hours=settings.since_hours if since_hours is None else since_hours,
        env=dict(os.environ) if env is None else env,
        clients=dict(clients or {}),
        window_explicit=since_hours is not None,
    )
    outcomes = {name: SourceOutcome(name) for name in chosen}
    marks = cursors.load(state_dir)
    windows: dict[str, cursors.Window] = {}
    for name in chosen:
        if since_hours is not None:
            windows[name] = cursors.Window(name, float(since_hours), "override")
        else:
            windows[name] = cursors.window(name, marks, now, float(settings.since_hours))
    # one context per source (its own window); clients and warnings are shared objects
    contexts = {n: dataclasses.replace(ctx, since_hours=w.since_hours) for n, w in windows.items()}

    async def timed(name: str, src: Source) -> list[ResearchItem]:
        t0 = time.monotonic()
        try:
            return await _run_one(src, contexts[name], timeout)
        finally:
            outcomes[name].seconds = time.monotonic() - t0

    try:
        results = await asyncio.gather(*(timed(n, s) for n, s in chosen.items()), return_exceptions=True)
    finally:
        await ctx.aclose()
    batches: list[tuple[str, list[ResearchItem]]] = []
    for name, result in zip(chosen, results, strict=True):
        out = outcomes[name]
        out.warnings = ctx.warnings.get(name, [])
        if isinstance(result, BaseException):
            if isinstance(result, (KeyboardInterrupt, SystemExit)):
                raise result
            out.error = _describe(result, timeout)
            log.warning("research source %s failed: %s", name, out.error)
            continue
        out.fetched = len(result)
        batches.append((name, result))

    state = ResearchState(state_dir)
    index, count = cache.load_index(state)
    fetched_at = iso(now)
    new, duplicates, below = process(batches, index, settings.relevance_threshold, fetched_at, outcomes)
    report = CycleReport(
        outcomes=list(outcomes.values()),
        new_items=new,
        duplicates=duplicates,
        below_threshold=below,
        threshold=settings.relevance_threshold,
        seconds=0.0,
        started_at=fetched_at,
        windows={n: {"since_hours": w.since_hours, "from": w.reason} for n, w in windows.items()},
    )
    if store:
        _, report.sources_updated = cache.store(state, new, index.source_updates)
        if count + len(new) + report.sources_updated > settings.raw_cache_max_items:
            report.compaction = cache.compact(state, settings.raw_cache_max_items).to_dict()
        fetched = [i for _, b in batches for i in b]
        scores = _competitor_scores(fetched)
        prs_read = {
            int(i.extra["competitor_pr"]) for i in fetched if i.extra.get("competitor_pr") is not None
        }
        if scores or prs_read:
            from bot.research.competitors import save_scores

            report.competitor_scores = save_scores(state, scores, prs_read=prs_read)
        cursors.record(state_dir, now, {o.name: o.error for o in outcomes.values()})
    report.seconds = time.monotonic() - started
    return report


def fetch(settings: Settings, state_dir: Path | str, **kwargs: Any) -> CycleReport:
    """Synchronous :func:`run_cycle` for the CLI."""
    return asyncio.run(run_cycle(settings, state_dir, **kwargs))
