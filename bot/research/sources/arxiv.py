"""arXiv API: Atom search over the configured categories and terms, newest submissions first.

``GET <arxiv_base_url>?search_query=(cat:A OR cat:B) AND (all:"t1" OR all:"t2")
&sortBy=submittedDate&sortOrder=descending&start=N&max_results=M``, parsed with feedparser
(arXiv namespace fields: ``arxiv:primary_category``, ``arxiv:doi``, ``arxiv:comment``,
``arxiv:journal_ref``). Pages are fetched until an entry is older than the window,
``arxiv_max_pages`` is reached or a page comes back short. arXiv asks for one call every three
seconds: :class:`Throttle` keeps ``arxiv_delay_seconds`` between calls (across cycles of one
process too). No key is needed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import feedparser

from bot.errors import SourceError
from bot.research.canonical import arxiv_id, doi
from bot.research.http import request_text
from bot.research.sources.base import FetchContext, clean, iso, parse_time
from bot.state import ResearchItem

NAME = "arxiv"


class Throttle:
    """At least ``gap`` seconds between the starts of consecutive calls (slots are reserved
    before sleeping, so concurrent callers queue up instead of racing)."""

    def __init__(self) -> None:
        self._last = float("-inf")

    async def wait(self, gap: float) -> None:
        now = time.monotonic()
        start = max(now, self._last + gap)
        self._last = start
        if start > now:
            await asyncio.sleep(start - now)

    def done(self) -> None:
        """Count the gap from the end of a call too (the server sees the request late)."""
        self._last = max(self._last, time.monotonic())


_THROTTLE = Throttle()


def build_query(categories: list[str], terms: list[str]) -> str:
    cats = " OR ".join(f"cat:{c}" for c in categories)
    words = " OR ".join(f'all:"{t}"' if " " in t else f"all:{t}" for t in terms)
    parts = [f"({p})" for p in (cats, words) if p]
    return " AND ".join(parts) or "all:language model"


def parse_feed(text: str, *, source: str = NAME) -> list[dict[str, Any]]:
    """arXiv Atom → entry dicts; SourceError for a body that is not an arXiv feed."""
    parsed = feedparser.parse(text)
    feed_ok = bool(parsed.get("feed")) or bool(parsed.entries)
    if parsed.get("bozo") and not parsed.entries:
        exc = parsed.get("bozo_exception")
        raise SourceError(f"malformed Atom feed ({type(exc).__name__}: {exc})", path=source)
    if not feed_ok:
        raise SourceError("not an Atom feed", path=source)
    for e in parsed.entries:
        if "api/errors" in str(e.get("id", "")):
            raise SourceError(f"arXiv API error: {clean(e.get('summary'))}", path=source)
    return list(parsed.entries)


def entry_to_item(e: Any) -> ResearchItem:
    raw_id = str(e.get("id", ""))
    aid = arxiv_id(raw_id)
    pdf = ""
    for link in e.get("links", []):
        if link.get("title") == "pdf" or link.get("type") == "application/pdf":
            pdf = link.get("href", "")
    tags = [t.get("term", "") for t in e.get("tags", []) if t.get("term")]
    primary = (e.get("arxiv_primary_category") or {}).get("term", "")
    return ResearchItem(
        source=NAME,
        id=f"arxiv:{aid or raw_id}",
        title=clean(e.get("title")),
        url=f"https://arxiv.org/abs/{aid}" if aid else raw_id,
        authors=[clean(a.get("name")) for a in e.get("authors", []) if a.get("name")],
        published=iso(parse_time(e.get("published"))),
        summary=clean(e.get("summary")),
        arxiv_id=aid,
        doi=doi(str(e.get("arxiv_doi", ""))),
        raw={
            "id": raw_id,
            "updated": e.get("updated", ""),
            "primary_category": primary,
            "categories": tags,
            "pdf": pdf,
            "comment": clean(e.get("arxiv_comment")),
            "journal_ref": clean(e.get("arxiv_journal_ref")),
        },
    )


class ArxivSource:
    name = NAME

    def __init__(self, throttle: Throttle | None = None) -> None:
        self.throttle = throttle or _THROTTLE

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        client = ctx.client(NAME)
        page_size = max(1, s.source_max_items)
        query = build_query(s.arxiv_categories, s.arxiv_query_terms)
        items: list[ResearchItem] = []
        for page in range(max(1, s.arxiv_max_pages)):
            await self.throttle.wait(s.arxiv_delay_seconds)
            try:
                text = await request_text(
                    client,
                    "GET",
                    s.arxiv_base_url,
                    source=NAME,
                    policy=ctx.policy,
                    params={
                        "search_query": query,
                        "sortBy": "submittedDate",
                        "sortOrder": "descending",
                        "start": page * page_size,
                        "max_results": page_size,
                    },
                )
            finally:
                self.throttle.done()
            entries = parse_feed(text)
            older = False
            for e in entries:
                item = entry_to_item(e)
                when = parse_time(item.published)
                if when is not None and when < ctx.since:
                    older = True
                    continue
                if ctx.in_window(when):
                    items.append(item)
            if older or len(entries) < page_size:
                break
        return items


SOURCE = ArxivSource()
