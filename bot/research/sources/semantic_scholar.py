"""Semantic Scholar Graph API: bulk paper search in a publication-date window.

``GET <semantic_scholar_base_url>/paper/search/bulk?query=<"t1" | "t2" | …>
&fields=…&publicationDateOrYear=<since>:<today>&sort=publicationDate:desc``. Publication dates
are days, so the ``since_hours`` window is applied at day granularity (a paper dated the first
day of the window is kept). ``x-api-key`` is sent when ``SEMANTIC_SCHOLAR_API_KEY`` is set; the
API also answers without a key (shared, stricter rate limit). Its 429s usually come without
``Retry-After``: the retry policy then backs off exponentially.
"""

from __future__ import annotations

from typing import Any

from bot.errors import SourceError
from bot.research.canonical import arxiv_id, doi
from bot.research.http import request_json
from bot.research.sources.base import FetchContext, clean, iso, parse_time
from bot.state import ResearchItem

NAME = "semantic_scholar"
FIELDS = (
    "paperId,title,abstract,url,authors,publicationDate,year,externalIds,venue,citationCount,openAccessPdf"
)


def build_query(terms: list[str]) -> str:
    return " | ".join(f'"{t}"' if " " in t else t for t in terms)


def paper_to_item(p: dict[str, Any]) -> ResearchItem:
    if not isinstance(p, dict) or not p.get("paperId") or not p.get("title"):
        raise SourceError("paper without paperId or title", path=NAME, field="data[].paperId")
    ext = p.get("externalIds") or {}
    aid = arxiv_id(str(ext.get("ArXiv") or ""))
    pdf = (p.get("openAccessPdf") or {}).get("url", "") if isinstance(p.get("openAccessPdf"), dict) else ""
    return ResearchItem(
        source=NAME,
        id=f"semantic_scholar:{p['paperId']}",
        title=clean(p.get("title")),
        url=str(p.get("url") or f"https://www.semanticscholar.org/paper/{p['paperId']}"),
        authors=[
            clean(a.get("name")) for a in p.get("authors") or [] if isinstance(a, dict) and a.get("name")
        ],
        published=iso(parse_time(p.get("publicationDate"))),
        summary=clean(p.get("abstract")),
        arxiv_id=aid,
        doi=doi(str(ext.get("DOI") or "")),
        raw={
            "venue": clean(p.get("venue")),
            "year": p.get("year"),
            "citationCount": p.get("citationCount"),
            "pdf": pdf,
            "externalIds": ext,
        },
    )


class SemanticScholarSource:
    name = NAME

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        key = ctx.key("SEMANTIC_SCHOLAR_API_KEY")
        headers = {"x-api-key": key} if key else {}
        client = ctx.client(NAME)
        window = f"{ctx.since.date().isoformat()}:{ctx.now.date().isoformat()}"
        data = await request_json(
            client,
            "GET",
            s.semantic_scholar_base_url.rstrip("/") + "/paper/search/bulk",
            source=NAME,
            policy=ctx.policy,
            headers=headers,
            params={
                "query": build_query(s.arxiv_query_terms),
                "fields": FIELDS,
                "publicationDateOrYear": window,
                "sort": "publicationDate:desc",
            },
        )
        papers = data.get("data") if isinstance(data, dict) else None
        if not isinstance(papers, list):
            raise SourceError("response has no 'data' list", path=NAME, field="data")
        out: list[ResearchItem] = []
        since_day = ctx.since.date()
        for p in papers[: max(1, s.source_max_items)]:
            item = paper_to_item(p)
            when = parse_time(item.published)
            if when is not None and when.date() < since_day:
                continue
            out.append(item)
        return out


SOURCE = SemanticScholarSource()
