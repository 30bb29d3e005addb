"""OpenReview API v2 emulator: ``GET /notes/search`` and ``GET /notes``.

Notes are API v2 shaped: ``{"id", "forum", "cdate", "tcdate", "mdate", "pdate", "invitations",
"signatures", "readers", "content": {"title": {"value": …}, "abstract": {"value": …},
"authors": {"value": […]}, "venue": {"value": …}, "pdf": {"value": "/pdf/<hash>.pdf"}, …}}``
with epoch-millisecond dates. Search matches ``term`` in title/abstract/keywords,
``sort=cdate:desc`` sorts, ``limit``/``offset`` page. Errors use OpenReview's body
``{"name": …, "message": …, "status": …}``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from tests.emulators.base import Emulator, Request, Response, json_response


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class OpenReviewEmulator(Emulator):
    name = "openreview"

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[dict[str, Any]] = []
        self.add_route("GET", "/notes/search", self._search)
        self.add_route("GET", "/notes", self._list)

    def add_note(
        self,
        title: str,
        abstract: str,
        created: datetime,
        *,
        authors: list[str] | None = None,
        venue: str = "ICLR 2027 Conference Submission",
        keywords: list[str] | None = None,
        note_id: str | None = None,
    ) -> dict[str, Any]:
        nid = note_id or hashlib.sha1(title.encode()).hexdigest()[:10]
        ms = _ms(created)
        note = {
            "id": nid,
            "forum": nid,
            "cdate": ms,
            "tcdate": ms,
            "mdate": ms + 1000,
            "tmdate": ms + 1000,
            "pdate": None,
            "odate": ms,
            "number": len(self.notes) + 1,
            "invitations": ["ICLR.cc/2027/Conference/-/Submission"],
            "domain": "ICLR.cc/2027/Conference",
            "signatures": ["ICLR.cc/2027/Conference/Submission1/Authors"],
            "readers": ["everyone"],
            "writers": ["ICLR.cc/2027/Conference"],
            "content": {
                "title": {"value": title},
                "abstract": {"value": abstract},
                "authors": {"value": authors or ["Anonymous"]},
                "authorids": {"value": ["~Anonymous1"]},
                "keywords": {"value": keywords or []},
                "venue": {"value": venue},
                "venueid": {"value": "ICLR.cc/2027/Conference/Submission"},
                "pdf": {"value": f"/pdf/{hashlib.sha1(nid.encode()).hexdigest()}.pdf"},
                "primary_area": {"value": "foundation or frontier models"},
            },
        }
        self.notes.append(note)
        return note

    def _page(self, req: Request, notes: list[dict[str, Any]]) -> Response:
        try:
            limit = int(req.q("limit", "1000") or 1000)
            offset = int(req.q("offset", "0") or 0)
        except ValueError:
            return json_response(
                {"name": "ValidationError", "message": "limit must be an integer", "status": 400}, 400
            )
        if (req.q("sort") or "").startswith("cdate"):
            notes = sorted(notes, key=lambda n: n["cdate"], reverse=(req.q("sort") or "").endswith(":desc"))
        return json_response({"notes": notes[offset : offset + limit], "count": len(notes)})

    def _search(self, req: Request) -> Response:
        term = (req.q("term") or "").lower()
        if not term:
            return json_response(
                {"name": "ValidationError", "message": "term is required", "status": 400}, 400
            )

        def text(n: dict[str, Any]) -> str:
            c = n["content"]
            return " ".join(
                [c["title"]["value"], c["abstract"]["value"], " ".join(c["keywords"]["value"])]
            ).lower()

        return self._page(req, [n for n in self.notes if term in text(n)])

    def _list(self, req: Request) -> Response:
        mintcdate = int(req.q("mintcdate", "0") or 0)
        return self._page(req, [n for n in self.notes if n["tcdate"] >= mintcdate])

    def error_body(self, status: int) -> Any:
        names = {429: "RateLimitError", 500: "InternalServerError", 503: "ServiceUnavailable"}
        return {
            "name": names.get(status, "Error"),
            "message": "Too many requests: 60 per minute" if status == 429 else f"HTTP {status}",
            "status": status,
        }
