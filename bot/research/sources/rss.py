"""RSS 2.0 and Atom feeds from the ``rss_feeds`` list, parsed with feedparser.

Each feed is fetched with pgolf's client (its User-Agent), then parsed from the text: RSS
``<item>`` (title, link, description, pubDate, dc:creator/author) and Atom ``<entry>`` (title,
link, summary/content, published/updated, author) both become items. Feeds are fetched at
once. An entry without any date is kept (dedup keeps it from coming back). One failing feed is
a warning; the source fails only when every feed fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import feedparser

from bot.errors import SourceError
from bot.research.canonical import arxiv_id, canonical_url, doi
from bot.research.http import looks_like_html, request_text
from bot.research.sources.base import FetchContext, clean, iso, parse_time
from bot.state import ResearchItem

NAME = "rss"


def parse(text: str, feed_url: str) -> list[ResearchItem]:
    if looks_like_html(text):
        raise SourceError("expected a feed, got an HTML page", path=feed_url)
    parsed = feedparser.parse(text)
    if parsed.get("bozo") and not parsed.entries:
        exc = parsed.get("bozo_exception")
        raise SourceError(f"malformed feed ({type(exc).__name__}: {exc})", path=feed_url)
    if not parsed.get("version") and not parsed.entries:
        raise SourceError("not an RSS or Atom feed", path=feed_url)
    feed_title = clean(parsed.feed.get("title"))
    out = []
    for e in parsed.entries:
        out.append(entry_to_item(e, feed_url, feed_title))
    return out


def _when(e: Any) -> str:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        if e.get(key):
            return iso(parse_time(e.get(key)))
    return ""


def entry_to_item(e: Any, feed_url: str, feed_title: str) -> ResearchItem:
    link = str(e.get("link") or "")
    native = str(e.get("id") or link or e.get("title") or "")
    digest = hashlib.sha1(f"{feed_url}|{native}".encode()).hexdigest()[:16]
    summary = e.get("summary") or ""
    if not summary and e.get("content"):
        summary = e["content"][0].get("value", "")
    authors = [clean(a.get("name")) for a in e.get("authors", []) if a.get("name")]
    if not authors and e.get("author"):
        authors = [clean(e.get("author"))]
    text = f"{link} {native}"
    return ResearchItem(
        source=NAME,
        id=f"rss:{digest}",
        title=clean(e.get("title")),
        url=link,
        authors=authors,
        published=_when(e),
        summary=clean(_strip_tags(summary))[:4000],
        arxiv_id=arxiv_id(link) if "arxiv.org" in link else "",
        doi=doi(text),
        raw={
            "feed": feed_url,
            "feed_title": feed_title,
            "entry_id": native,
            "canonical": canonical_url(link),
        },
    )


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


class RssSource:
    name = NAME

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        feeds = ctx.settings.rss_feeds
        if not feeds:
            return []
        client = ctx.client(NAME)

        async def one(url: str) -> list[ResearchItem] | SourceError:
            try:
                text = await request_text(client, "GET", url, source=f"{NAME} {url}", policy=ctx.policy)
                return parse(text, url)
            except SourceError as exc:
                return exc

        items: list[ResearchItem] = []
        errors: list[str] = []
        for result in await asyncio.gather(*(one(u) for u in feeds)):  # every feed at once
            if isinstance(result, SourceError):
                errors.append(str(result))
                ctx.warn(NAME, str(result))
                continue
            for item in result:
                when = parse_time(item.published)
                if when is None or ctx.in_window(when):
                    items.append(item)
        if errors and len(errors) == len(feeds):
            raise SourceError("every feed failed: " + "; ".join(errors), path=NAME)
        return items


SOURCE = RssSource()
