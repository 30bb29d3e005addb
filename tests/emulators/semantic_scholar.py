"""Semantic Scholar Graph API emulator: ``/graph/v1/paper/search`` and ``/paper/search/bulk``.

Papers are Graph API shaped (``paperId``, ``externalIds`` with ``ArXiv``/``DOI``, ``title``,
``abstract``, ``url``, ``venue``, ``year``, ``publicationDate`` "YYYY-MM-DD", ``authors``
[{authorId, name}], ``citationCount``, ``openAccessPdf``); only the requested ``fields`` (plus
``paperId``) are returned. ``publicationDateOrYear=A:B`` filters (either side may be empty);
bulk search understands ``a | b`` and quoted phrases and ``sort=publicationDate:desc``, and pages
with a continuation ``token``. ``api_keys`` (when set) are the accepted ``x-api-key`` values: a
wrong key answers 403 ``{"message": "Forbidden"}``. 429 bodies are the service's own, and come
without ``Retry-After`` unless a test asks for one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tests.emulators.base import Emulator, Request, Response, json_response

PREFIX = "/graph/v1"


class SemanticScholarEmulator(Emulator):
    name = "semantic_scholar"

    def __init__(self) -> None:
        super().__init__()
        self.papers: list[dict[str, Any]] = []
        self.api_keys: set[str] = set()
        self.page_size = 1000
        self.add_route("GET", PREFIX + "/paper/search/bulk", self._bulk)
        self.add_route("GET", PREFIX + "/paper/search", self._search)

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def add_paper(
        self,
        title: str,
        abstract: str,
        publication_date: str,
        *,
        arxiv: str = "",
        doi: str = "",
        authors: list[str] | None = None,
        venue: str = "arXiv.org",
    ) -> dict[str, Any]:
        pid = hashlib.sha1(title.encode()).hexdigest()
        ext: dict[str, Any] = {"CorpusId": int(pid[:7], 16)}
        if arxiv:
            ext["ArXiv"] = arxiv
        if doi:
            ext["DOI"] = doi
        paper = {
            "paperId": pid,
            "externalIds": ext,
            "url": f"https://www.semanticscholar.org/paper/{pid}",
            "title": title,
            "abstract": abstract,
            "venue": venue,
            "year": int(publication_date[:4]),
            "publicationDate": publication_date,
            "citationCount": 0,
            "openAccessPdf": {"url": f"https://arxiv.org/pdf/{arxiv}" if arxiv else "", "status": "GREEN"},
            "authors": [
                {"authorId": str(100 + n), "name": a} for n, a in enumerate(authors or ["A. Author"])
            ],
        }
        self.papers.append(paper)
        return paper

    # ------------------------------------------------------------------ serving
    def _auth(self, req: Request) -> Response | None:
        key = req.header("x-api-key")
        if key is not None and self.api_keys and key not in self.api_keys:
            return json_response({"message": "Forbidden"}, 403)
        return None

    def _filter(self, req: Request, terms: list[str]) -> list[dict[str, Any]] | Response:
        window = req.q("publicationDateOrYear") or ""
        lo, hi = "", ""
        if window:
            if not re.fullmatch(r"(\d{4}(-\d{2}(-\d{2})?)?)?:(\d{4}(-\d{2}(-\d{2})?)?)?", window):
                return json_response({"error": f"Unacceptable publicationDateOrYear: {window}"}, 400)
            lo, hi = window.split(":")
        out = []
        for p in self.papers:
            d = p["publicationDate"] or ""
            if lo and d < lo:
                continue
            if hi and d[: len(hi)] > hi:
                continue
            text = f"{p['title']} {p['abstract']}".lower()
            if terms and not any(t in text for t in terms):
                continue
            out.append(p)
        return out

    def _project(self, req: Request, papers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fields = [f for f in (req.q("fields") or "title").split(",") if f]
        return [{"paperId": p["paperId"], **{f: p.get(f) for f in fields}} for p in papers]

    def _terms(self, query: str) -> list[str]:
        parts = re.findall(r'"([^"]+)"|([^\s|+"]+)', query)
        return [(a or b).lower() for a, b in parts if (a or b) and (a or b) not in ("|", "+")]

    def _bulk(self, req: Request) -> Response:
        denied = self._auth(req)
        if denied:
            return denied
        got = self._filter(req, self._terms(req.q("query") or ""))
        if isinstance(got, Response):
            return got
        sort = req.q("sort") or ""
        if sort.startswith("publicationDate"):
            got.sort(key=lambda p: p["publicationDate"] or "", reverse=sort.endswith(":desc"))
        start = int(req.q("token") or 0)
        page = got[start : start + self.page_size]
        token = str(start + self.page_size) if start + self.page_size < len(got) else None
        return json_response({"total": len(got), "token": token, "data": self._project(req, page)})

    def _search(self, req: Request) -> Response:
        denied = self._auth(req)
        if denied:
            return denied
        query = req.q("query") or ""
        if not query:
            return json_response({"error": "Missing required parameter: query"}, 400)
        got = self._filter(req, [query.lower()])
        if isinstance(got, Response):
            return got
        offset, limit = int(req.q("offset", "0") or 0), int(req.q("limit", "10") or 10)
        page = got[offset : offset + limit]
        body: dict[str, Any] = {"total": len(got), "offset": offset, "data": self._project(req, page)}
        if offset + limit < len(got):
            body["next"] = offset + limit
        return json_response(body)

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {
                "message": "Too Many Requests. Please wait and try again or apply for a key for higher "
                "rate limits. https://www.semanticscholar.org/product/api#api-key-form",
                "code": "429",
            }
        return {"message": "Internal Server Error"} if status >= 500 else {"message": f"HTTP {status}"}
