"""Helpers shared by the research tests."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.research.pipeline import CycleReport, run_cycle
from bot.research.sources import FetchContext, get_source
from bot.state import ResearchItem


def make_settings(**over: Any) -> Settings:
    base = Settings(
        arxiv_delay_seconds=0.0,
        source_retries=2,
        source_backoff_seconds=0.05,
        source_timeout_seconds=5.0,
        sources=[],
        rss_feeds=[],
    )
    return dataclasses.replace(base, **over)


def settings_for(emus: dict[str, Any], **over: Any) -> Settings:
    """Settings whose base URLs point at the given emulators (keys = source names)."""
    urls: dict[str, Any] = {}
    for name, emu in emus.items():
        if name == "arxiv":
            urls["arxiv_base_url"] = emu.url + "/api/query"
        elif name == "openreview":
            urls["openreview_base_url"] = emu.url
        elif name == "semantic_scholar":
            urls["semantic_scholar_base_url"] = emu.base_url
        elif name == "rss":
            urls["rss_feeds"] = [emu.url + p for p in emu.feeds]
        elif name in ("tavily", "tavily_news"):
            urls["tavily_base_url"] = emu.url
        elif name in ("github_prs", "github_code", "github_leaderboard"):
            urls["github_api_url"] = emu.url
    return make_settings(sources=list(emus), **{**urls, **over})


def fetch_one(
    name: str,
    settings: Settings,
    *,
    now: datetime | None = None,
    since_hours: float = 6,
    env: dict[str, str] | None = None,
    window_explicit: bool = False,
) -> tuple[list[ResearchItem], FetchContext]:
    """Run one source directly (no pipeline); returns its items and the context (warnings)."""
    ctx = FetchContext(
        settings=settings,
        now=now or datetime.now(UTC),
        since_hours=since_hours,
        env=env or {},
        window_explicit=window_explicit,
    )

    async def go() -> list[ResearchItem]:
        try:
            return await get_source(name).fetch(ctx)
        finally:
            await ctx.aclose()

    return asyncio.run(go()), ctx


def cycle(settings: Settings, state_dir: Path, **kw: Any) -> CycleReport:
    kw.setdefault("env", {})
    return asyncio.run(run_cycle(settings, state_dir, **kw))
