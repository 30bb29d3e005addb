"""Tavily emulator with ``POST /extract`` added to the research emulator's ``/search``.

``/extract`` as documented and as tavily-python calls it: body ``{"urls": [...] | "url",
"format", "extract_depth", ...}``, key in ``Authorization: Bearer tvly-…``; answer
``{"results": [{"url", "raw_content", "images"}], "failed_results": [{"url", "error"}],
"response_time", "request_id"}``. Pages are served from :attr:`pages` (url → text); any other URL
lands in ``failed_results``. Errors use Tavily's ``{"detail": {"error": …}}`` shape (401 bad key,
400 bad body; 429 and others through the base class fault switches).
"""

from __future__ import annotations

from typing import Any

from tests.emulators.base import Request, Response, json_response
from tests.emulators.tavily import TavilyEmulator


class TavilyExtractEmulator(TavilyEmulator):
    name = "tavily-extract"

    def __init__(self) -> None:
        super().__init__()
        self.allow_keyless = False
        self.pages: dict[str, str] = {}
        self.extracts: list[dict[str, Any]] = []
        self.add_route("POST", "/extract", self._extract)

    def _extract(self, req: Request) -> Response:
        key = (req.header("authorization") or "").removeprefix("Bearer ").strip()
        if key not in self.api_keys:
            return json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, 401)
        try:
            body = req.json()
        except ValueError:
            return json_response({"detail": {"error": "Invalid JSON body"}}, 400)
        urls = body.get("urls") if isinstance(body, dict) else None
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            return json_response({"detail": {"error": "urls is missing."}}, 400)
        self.extracts.append(body)
        results: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for url in urls:
            if url in self.pages:
                results.append({"url": url, "raw_content": self.pages[url], "images": []})
            else:
                failed.append({"url": url, "error": "Failed to fetch url"})
        return json_response(
            {
                "results": results,
                "failed_results": failed,
                "response_time": 0.2,
                "request_id": f"req-x{len(self.extracts)}",
            }
        )
