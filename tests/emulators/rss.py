"""Feed emulator: RSS 2.0 and Atom 1.0 feeds at any path.

``add_feed(path, kind="rss"|"atom", title=…)`` then ``add_entry(path, title, link, summary,
published, author=…)``. RSS items carry ``<pubDate>`` (RFC 822), ``<guid>``, ``<dc:creator>``
and ``<description>``; Atom entries carry ``<id>``, ``<published>``/``<updated>`` (RFC 3339),
``<author><name>``, ``<link rel="alternate">`` and ``<summary type="html">``. Served with the
feed's own content type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from bot import clock
from tests.emulators.base import Emulator, Request, Response


@dataclass
class Entry:
    title: str
    link: str
    summary: str
    published: datetime | None
    author: str = ""
    guid: str = ""


@dataclass
class Feed:
    path: str
    kind: str
    title: str
    entries: list[Entry] = field(default_factory=list)


class FeedEmulator(Emulator):
    name = "rss"

    def __init__(self) -> None:
        super().__init__()
        self.feeds: dict[str, Feed] = {}
        self.add_route("GET", r"/.*", self._serve)

    def add_feed(self, path: str, kind: str = "rss", title: str = "A research blog") -> str:
        assert kind in ("rss", "atom")
        self.feeds[path] = Feed(path, kind, title)
        return self.url + path

    def add_entry(
        self,
        path: str,
        title: str,
        link: str,
        summary: str,
        published: datetime | None,
        *,
        author: str = "",
        guid: str = "",
    ) -> Entry:
        e = Entry(title, link, summary, published, author, guid or link)
        self.feeds[path].entries.append(e)
        return e

    def _serve(self, req: Request) -> Response:
        feed = self.feeds.get(req.path)
        if feed is None:
            return self.not_found(req)
        if feed.kind == "rss":
            return Response(200, self._rss(feed), {}, "application/rss+xml; charset=utf-8")
        return Response(200, self._atom(feed), {}, "application/atom+xml; charset=utf-8")

    def _rss(self, feed: Feed) -> str:
        items = []
        for e in feed.entries:
            date = (
                f"      <pubDate>{format_datetime(e.published.astimezone(UTC), usegmt=True)}</pubDate>\n"
                if e.published
                else ""
            )
            author = f"      <dc:creator>{escape(e.author)}</dc:creator>\n" if e.author else ""
            items.append(
                "    <item>\n"
                f"      <title>{escape(e.title)}</title>\n"
                f"      <link>{escape(e.link)}</link>\n"
                f'      <guid isPermaLink="false">{escape(e.guid)}</guid>\n'
                f"{date}{author}"
                f"      <description>{escape(e.summary)}</description>\n"
                "    </item>\n"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
            "  <channel>\n"
            f"    <title>{escape(feed.title)}</title>\n"
            f"    <link>{escape(self.url)}</link>\n"
            f"    <description>{escape(feed.title)}</description>\n"
            f'    <atom:link href={quoteattr(self.url + feed.path)} rel="self" type="application/rss+xml"/>\n'
            f"{''.join(items)}"
            "  </channel>\n</rss>\n"
        )

    def _atom(self, feed: Feed) -> str:
        def ts(dt: datetime) -> str:
            return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        entries = []
        for e in feed.entries:
            date = (
                f"    <published>{ts(e.published)}</published>\n    <updated>{ts(e.published)}</updated>\n"
                if e.published
                else ""
            )
            author = f"    <author><name>{escape(e.author)}</name></author>\n" if e.author else ""
            entries.append(
                "  <entry>\n"
                f"    <title>{escape(e.title)}</title>\n"
                f'    <link rel="alternate" type="text/html" href={quoteattr(e.link)}/>\n'
                f"    <id>{escape(e.guid)}</id>\n"
                f"{date}{author}"
                f'    <summary type="html">{escape(e.summary)}</summary>\n'
                "  </entry>\n"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">\n'
            f"  <title>{escape(feed.title)}</title>\n"
            f'  <link href={quoteattr(self.url + feed.path)} rel="self"/>\n'
            f"  <id>{escape(self.url + feed.path)}</id>\n"
            f"  <updated>{ts(clock.now())}</updated>\n"
            f"{''.join(entries)}"
            "</feed>\n"
        )
