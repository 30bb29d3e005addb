"""OpenReview API v2: note search, one request per query term (concurrently).

``GET <openreview_base_url>/notes/search?term=<t>&type=terms&content=all&source=forum
&sort=cdate:desc&limit=N``. API v2 notes keep every content field as ``{"value": …}``
(``content.title.value``, ``content.abstract.value``, ``content.authors.value``,
``content.venue.value``, ``content.pdf.value``); dates are epoch milliseconds (``pdate`` when
published, else ``cdate``/``tcdate``). Anonymous access is allowed; no key is read.
"""

from __future__ import annotations

from typing import Any

from bot.errors import SourceError
from bot.research.canonical import arxiv_id
from bot.research.http import request_json
from bot.research.sources.base import FetchContext, clean, gather_all, iso, parse_time
from bot.state import ResearchItem

NAME = "openreview"
SITE = "https://openreview.net"


def value(content: dict[str, Any], key: str) -> Any:
    """``content[key].value`` (API v2), tolerating the v1 shape ``content[key]``."""
    v = content.get(key)
    if isinstance(v, dict):
        return v.get("value")
    return v


def note_to_item(note: dict[str, Any]) -> ResearchItem:
    if not isinstance(note, dict) or not isinstance(note.get("content"), dict):
        raise SourceError("note without a content object", path=NAME, field="notes[].content")
    content = note["content"]
    nid = str(note.get("forum") or note.get("id") or "")
    title = clean(value(content, "title"))
    if not nid or not title:
        raise SourceError("note without id or title", path=NAME, field="notes[].id")
    authors = value(content, "authors") or []
    pdf = str(value(content, "pdf") or "")
    if pdf.startswith("/"):
        pdf = SITE + pdf
    when = parse_time(note.get("pdate") or note.get("cdate") or note.get("tcdate"))
    return ResearchItem(
        source=NAME,
        id=f"openreview:{nid}",
        title=title,
        url=f"{SITE}/forum?id={nid}",
        authors=[clean(a) for a in authors if isinstance(a, str)],
        published=iso(when),
        summary=clean(value(content, "abstract") or value(content, "TL;DR")),
        arxiv_id=arxiv_id(str(value(content, "arxiv") or "")),
        raw={
            "venue": clean(value(content, "venue")),
            "venueid": clean(value(content, "venueid")),
            "pdf": pdf,
            "keywords": value(content, "keywords") or [],
            "invitations": note.get("invitations") or [],
        },
    )


class OpenReviewSource:
    name = NAME

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        client = ctx.client(NAME)
        base = s.openreview_base_url.rstrip("/")

        async def search(term: str) -> list[ResearchItem]:
            data = await request_json(
                client,
                "GET",
                f"{base}/notes/search",
                source=NAME,
                policy=ctx.policy,
                params={
                    "term": term,
                    "type": "terms",
                    "content": "all",
                    "source": "forum",
                    "sort": "cdate:desc",
                    "limit": s.source_max_items,
                },
            )
            notes = data.get("notes") if isinstance(data, dict) else None
            if not isinstance(notes, list):
                raise SourceError("response has no 'notes' list", path=NAME, field="notes")
            return [note_to_item(note) for note in notes]

        # one request per term, all at once
        pages = await gather_all(search(t) for t in s.arxiv_query_terms)
        out: dict[str, ResearchItem] = {}
        for page in pages:
            for item in page:
                if item.published and ctx.in_window(parse_time(item.published)):
                    out.setdefault(item.id, item)
        return list(out.values())


SOURCE = OpenReviewSource()
