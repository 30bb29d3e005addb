"""Tavily scheduled search through tavily-python, in three modes, keeping Tavily's score.

Modes (setting ``tavily_modes`` picks which run; each is one ``/search`` call):

============  ==========================================================================
techniques    new training/compression techniques for small language models
competition   Parameter Golf / modded-nanogpt news, leaderboards and records
papers        papers on arXiv, OpenReview and Semantic Scholar about the same
============  ==========================================================================

The window: ``start_date`` is the first day of ``since_hours``; results that carry a
``published_date`` outside the window are dropped (general-topic results carry none and are
kept; dedup stops them coming back). The client is ``AsyncTavilyClient`` given pgolf's own
``httpx.AsyncClient`` (its User-Agent, ``base_url`` = ``tavily_base_url``): the SDK's documented
``client`` argument. ``TAVILY_API_KEY`` from the environment is sent as a bearer token; without
it the SDK's keyless mode is used (search is one of the keyless endpoints).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
from tavily import AsyncTavilyClient
from tavily.errors import (
    BadRequestError,
    ForbiddenError,
    InvalidAPIKeyError,
    UsageLimitExceededError,
)
from tavily.errors import TimeoutError as TavilyTimeout

from bot.errors import SourceError
from bot.research.canonical import arxiv_id, doi
from bot.research.http import make_client
from bot.research.sources.base import FetchContext, clean, gather_all, iso, parse_time
from bot.state import ResearchItem

NAME = "tavily"


@dataclass(frozen=True)
class Mode:
    name: str
    query: str
    topic: str = "general"
    include_domains: tuple[str, ...] = ()


MODES: dict[str, Mode] = {
    "techniques": Mode(
        "techniques",
        "new techniques for training small language models faster or compressing them: "
        "quantization, optimizers like Muon, parameter sharing, test-time training",
    ),
    "competition": Mode(
        "competition",
        "OpenAI Parameter Golf challenge val_bpb record OR modded-nanogpt speedrun record",
    ),
    "papers": Mode(
        "papers",
        "paper efficient small language model training compression bits per byte",
        include_domains=("arxiv.org", "openreview.net", "semanticscholar.org"),
    ),
}


def make_tavily(ctx: FetchContext, source: str, base_url: str) -> tuple[AsyncTavilyClient, httpx.AsyncClient]:
    key = ctx.key("TAVILY_API_KEY")
    headers = {} if key else {"X-Tavily-Access-Mode": "keyless"}
    http = ctx.clients.get(source) or make_client(
        base_url=base_url,
        timeout=ctx.settings.source_timeout_seconds,
        agent=ctx.settings.research_user_agent,
        headers=headers,
    )
    client = AsyncTavilyClient(api_key=key or None, api_base_url=base_url, client=http)
    return client, http


def result_to_item(r: dict[str, Any], *, source: str, mode: str, query: str) -> ResearchItem:
    if not isinstance(r, dict) or not r.get("url"):
        raise SourceError("result without url", path=source, field="results[].url")
    url = str(r["url"])
    score = r.get("score")
    relevance = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    digest = hashlib.sha1(url.encode()).hexdigest()[:16]
    return ResearchItem(
        source=source,
        id=f"{source}:{digest}",
        title=clean(r.get("title")) or url,
        url=url,
        published=iso(parse_time(r.get("published_date"))),
        summary=clean(r.get("content"))[:4000],
        relevance=None if relevance is None else max(0.0, min(1.0, relevance)),
        relevance_kind="tavily" if relevance is not None else "",
        arxiv_id=arxiv_id(url) if "arxiv.org" in url else "",
        doi=doi(url),
        raw={"mode": mode, "query": query, "score": score},
    )


async def search(
    client: AsyncTavilyClient, *, source: str, ctx: FetchContext, **kwargs: Any
) -> dict[str, Any]:
    """One SDK search, with SDK exceptions turned into SourceError (429/5xx retried)."""
    policy = ctx.policy
    attempt = 0
    while True:
        try:
            data = await client.search(timeout=ctx.settings.source_timeout_seconds, **kwargs)
        except (UsageLimitExceededError, httpx.HTTPStatusError) as exc:
            status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else 429
            if (status == 429 or status >= 500) and attempt < policy.retries:
                await asyncio.sleep(policy.backoff_seconds * (2**attempt))
                attempt += 1
                continue
            what = "usage limit / rate limited (429)" if status == 429 else f"HTTP error {status}"
            if isinstance(exc, httpx.HTTPStatusError) and "html" in exc.response.headers.get(
                "content-type", ""
            ):
                what += " (an HTML page)"
            raise SourceError(f"{what} after {attempt + 1} attempt(s)", path=source) from None
        except (InvalidAPIKeyError, ForbiddenError, BadRequestError) as exc:
            raise SourceError(f"refused: {type(exc).__name__}: {exc}", path=source) from None
        except (TavilyTimeout, TimeoutError, httpx.TimeoutException):
            raise SourceError("timed out", path=source) from None
        except UnicodeDecodeError:
            raise SourceError("body is not UTF-8", path=source) from None
        except json.JSONDecodeError as exc:
            raise SourceError(f"malformed JSON ({exc.msg})", path=source) from None
        except httpx.HTTPError as exc:
            raise SourceError(f"request failed: {type(exc).__name__}: {exc}", path=source) from None
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise SourceError("response has no 'results' list", path=source, field="results")
        return data


def published_in_window(ctx: FetchContext, value: Any) -> bool:
    """Whether a result's ``published_date`` falls in the window. A bare day (``2026-11-27``,
    what general-topic results carry) is kept when that day meets the window, as Tavily's own
    ``start_date`` filter does; read as midnight it would drop today's results after 06:00."""
    when = parse_time(value)
    text = str(value or "").strip()
    if when is not None and len(text) == 10 and text[4] == "-":
        return ctx.since.date() <= when.date() <= ctx.now.date()
    return ctx.in_window(when)


class TavilySource:
    name = NAME

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        unknown = [m for m in s.tavily_modes if m not in MODES]
        if unknown:
            raise SourceError(
                f"unknown mode(s) {unknown}; known: {sorted(MODES)}", path=NAME, field="tavily_modes"
            )
        client, http = make_tavily(ctx, NAME, s.tavily_base_url)

        async def run(mode: Mode) -> list[ResearchItem]:
            kwargs: dict[str, Any] = {
                "query": mode.query,
                "topic": mode.topic,
                "search_depth": "basic",
                "max_results": min(20, max(1, s.source_max_items)),
                "start_date": ctx.since.date().isoformat(),
            }
            if mode.include_domains:
                kwargs["include_domains"] = list(mode.include_domains)
            data = await search(client, source=NAME, ctx=ctx, **kwargs)
            got = [result_to_item(r, source=NAME, mode=mode.name, query=mode.query) for r in data["results"]]
            dates = [r.get("published_date") for r in data["results"]]
            return [i for i, d in zip(got, dates, strict=True) if published_in_window(ctx, d)]

        try:
            pages = await gather_all(run(MODES[m]) for m in s.tavily_modes)  # modes at once
            return [item for page in pages for item in page]
        finally:
            if NAME not in ctx.clients:
                await http.aclose()


SOURCE = TavilySource()
