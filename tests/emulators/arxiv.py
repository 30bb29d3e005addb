"""arXiv API emulator: ``GET /api/query`` answering Atom 1.0 with the arXiv namespace.

Seed with :meth:`ArxivEmulator.add_paper`. The query parser understands what pgolf sends:
``cat:X`` terms (any), ``all:word`` / ``all:"a phrase"`` terms (any, in title or abstract),
``sortBy=submittedDate`` / ``sortOrder``, ``start`` and ``max_results``. A bad ``start`` or
``max_results`` answers 400 with arXiv's error feed (an entry whose id is
``http://arxiv.org/api/errors#…``). ``call_times`` records the monotonic time of each call (for
politeness-gap assertions).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from bot import clock
from tests.emulators.base import Emulator, Request, Response

ATOM = "application/atom+xml; charset=UTF-8"


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Paper:
    arxiv_id: str
    title: str
    summary: str
    published: datetime
    authors: list[str] = field(default_factory=lambda: ["Ada Lovelace"])
    categories: list[str] = field(default_factory=lambda: ["cs.LG"])
    version: int = 1
    doi: str = ""
    comment: str = ""
    journal_ref: str = ""
    updated: datetime | None = None


class ArxivEmulator(Emulator):
    name = "arxiv"

    def __init__(self) -> None:
        super().__init__()
        self.papers: list[Paper] = []
        self.call_times: list[float] = []
        self.add_route("GET", "/api/query", self._query)

    def add_paper(self, arxiv_id: str, title: str, summary: str, published: datetime, **kw: object) -> Paper:
        p = Paper(arxiv_id, title, summary, published, **kw)  # type: ignore[arg-type]
        self.papers.append(p)
        return p

    # ------------------------------------------------------------------ serving
    def _matches(self, p: Paper, query: str) -> bool:
        cats = re.findall(r"cat:([\w.\-]+)", query)
        terms = [a or b for a, b in re.findall(r'all:"([^"]+)"|all:([\w\-]+)', query)]
        if cats and not any(c in p.categories for c in cats):
            return False
        text = f"{p.title} {p.summary}".lower()
        return not terms or any(t.lower() in text for t in terms)

    def _query(self, req: Request) -> Response:
        self.call_times.append(time.monotonic())
        query = req.q("search_query", "") or ""
        try:
            start = int(req.q("start", "0") or 0)
            size = int(req.q("max_results", "10") or 10)
            if start < 0 or size < 0:
                raise ValueError
        except ValueError:
            return Response(
                400, self._error_feed("start and max_results must be non-negative integers"), {}, ATOM
            )
        hits = [p for p in self.papers if self._matches(p, query)]
        if (req.q("sortBy") or "") == "submittedDate":
            hits.sort(key=lambda p: p.published, reverse=(req.q("sortOrder") or "descending") == "descending")
        page = hits[start : start + size]
        return Response(200, self._feed(query, page, len(hits), start, size), {}, ATOM)

    def _feed(self, query: str, papers: list[Paper], total: int, start: int, size: int) -> str:
        now = _ts(clock.now())
        entries = "".join(self._entry(p) for p in papers)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom">\n'
            f"  <id>https://arxiv.org/api/{abs(hash(query)) % 10**12}</id>\n"
            f"  <title>arXiv Query: search_query={escape(query)}&amp;start={start}&amp;max_results={size}</title>\n"
            f"  <updated>{now}</updated>\n"
            f'  <link href={quoteattr(self.url + "/api/query")} type="application/atom+xml"/>\n'
            f"  <opensearch:itemsPerPage>{size}</opensearch:itemsPerPage>\n"
            f"  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
            f"  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
            f"{entries}</feed>\n"
        )

    def _entry(self, p: Paper) -> str:
        vid = f"{p.arxiv_id}v{p.version}"
        cats = "".join(
            f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>\n' for c in p.categories
        )
        authors = "".join(f"    <author>\n      <name>{escape(a)}</name>\n    </author>\n" for a in p.authors)
        extra = ""
        if p.comment:
            extra += f"    <arxiv:comment>{escape(p.comment)}</arxiv:comment>\n"
        if p.journal_ref:
            extra += f"    <arxiv:journal_ref>{escape(p.journal_ref)}</arxiv:journal_ref>\n"
        if p.doi:
            extra += f"    <arxiv:doi>{escape(p.doi)}</arxiv:doi>\n"
            extra += f'    <link title="doi" href="https://doi.org/{escape(p.doi)}" rel="related"/>\n'
        return (
            "  <entry>\n"
            f"    <id>http://arxiv.org/abs/{vid}</id>\n"
            f"    <title>{escape(p.title)}</title>\n"
            f"    <updated>{_ts(p.updated or p.published)}</updated>\n"
            f'    <link href="https://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>\n'
            f'    <link title="pdf" href="https://arxiv.org/pdf/{vid}" rel="related" type="application/pdf"/>\n'
            f"    <summary>{escape(p.summary)}</summary>\n"
            f"{cats}"
            f"    <published>{_ts(p.published)}</published>\n"
            f'    <arxiv:primary_category term="{p.categories[0]}"/>\n'
            f"{extra}{authors}"
            "  </entry>\n"
        )

    def _error_feed(self, message: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">\n'
            "  <title>arXiv Query: error</title>\n"
            "  <id>https://arxiv.org/api/error</id>\n"
            "  <opensearch:totalResults>1</opensearch:totalResults>\n"
            "  <entry>\n"
            "    <id>http://arxiv.org/api/errors#incorrect_id_format</id>\n"
            "    <title>Error</title>\n"
            f"    <summary>{escape(message)}</summary>\n"
            "  </entry>\n"
            "</feed>\n"
        )

    def error_body(self, status: int) -> object:
        return {"error": f"HTTP {status}"}
