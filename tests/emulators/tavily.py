"""Tavily API emulator: ``POST /search`` as tavily-python calls it.

Auth: ``Authorization: Bearer tvly-…`` checked against ``api_keys`` (wrong key → 401
``{"detail": {"error": "Unauthorized: missing or invalid API key."}}``); a keyless call
(``X-Tavily-Access-Mode: keyless``, no Authorization) is accepted while ``allow_keyless``.
Results come from ``add_result(topic, title, url, content, score, published_date=None)``;
the answer echoes ``query``, honours ``topic``, ``max_results``, ``include_domains``,
``time_range``/``start_date`` (for results with a ``published_date``) and reports
``response_time``. Error bodies use Tavily's ``{"detail": {"error": …}}`` shape. ``searches``
records each request's JSON body.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from bot import clock
from tests.emulators.base import Emulator, Request, Response, json_response

RANGES = {"day": 1, "d": 1, "week": 7, "w": 7, "month": 30, "m": 30, "year": 365, "y": 365}


class TavilyEmulator(Emulator):
    name = "tavily"

    def __init__(self) -> None:
        super().__init__()
        self.api_keys: set[str] = {"tvly-test-key"}
        self.allow_keyless = True
        self.results: list[dict[str, Any]] = []
        self.searches: list[dict[str, Any]] = []
        self.add_route("POST", "/search", self._search)

    def add_result(
        self,
        topic: str,
        title: str,
        url: str,
        content: str,
        score: float,
        published_date: str | None = None,
        query_hint: str = "",
    ) -> dict[str, Any]:
        r: dict[str, Any] = {
            "topic": topic,
            "title": title,
            "url": url,
            "content": content,
            "score": score,
            "raw_content": None,
            "favicon": None,
            "query_hint": query_hint,
        }
        if published_date:
            r["published_date"] = published_date
        self.results.append(r)
        return r

    def _search(self, req: Request) -> Response:
        auth = req.header("authorization") or ""
        if auth:
            key = auth.removeprefix("Bearer ").strip()
            if key not in self.api_keys:
                return json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, 401)
        elif not (self.allow_keyless and req.header("x-tavily-access-mode") == "keyless"):
            return json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, 401)
        try:
            body = req.json()
        except ValueError:
            return json_response({"detail": {"error": "Invalid JSON body"}}, 400)
        if not isinstance(body, dict) or not body.get("query"):
            return json_response({"detail": {"error": "Query is missing."}}, 400)
        self.searches.append(body)
        topic = body.get("topic") or "general"
        hits = [r for r in self.results if r["topic"] == topic]
        if body.get("include_domains"):
            doms = body["include_domains"]
            hits = [r for r in hits if any((urlsplit(r["url"]).hostname or "").endswith(d) for d in doms)]
        cutoff = None
        if body.get("time_range") in RANGES:
            cutoff = (clock.now() - timedelta(days=RANGES[body["time_range"]])).date().isoformat()
        if body.get("start_date"):
            cutoff = max(cutoff or "", body["start_date"])
        if cutoff:
            hits = [r for r in hits if not r.get("published_date") or r["published_date"][:10] >= cutoff]
        hits = [r for r in hits if not r["query_hint"] or r["query_hint"].lower() in body["query"].lower()]
        hits.sort(key=lambda r: -r["score"])
        hits = hits[: int(body.get("max_results") or 5)]
        results = [{k: v for k, v in r.items() if k not in ("topic", "query_hint")} for r in hits]
        return json_response(
            {
                "query": body["query"],
                "follow_up_questions": None,
                "answer": None,
                "images": [],
                "results": results,
                "response_time": 0.42,
                "request_id": f"req-{len(self.searches)}",
            }
        )

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"detail": {"error": "Your request has been blocked due to excessive requests."}}
        return {"detail": {"error": f"Internal error ({status})"}}
