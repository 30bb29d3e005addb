"""Research sources: one module per source, each exposing ``SOURCE`` (see :mod:`.base`).

=================  ==================================================================
arxiv              arXiv API (Atom), categories × query terms, 3-second politeness gap
openreview         OpenReview API v2 note search
semantic_scholar   Semantic Scholar Graph API bulk search in a publication-date window
github_prs         PRs of the watched repositories (PyGithub); challenge records scored
github_leaderboard the challenge README's Leaderboard tables (PyGithub contents API)
rss                RSS 2.0 / Atom feeds (``rss_feeds``)
tavily             Tavily search (tavily-python), three modes, Tavily's own score
github_code        GitHub code search (PyGithub) for the challenge's terms
tavily_news        Tavily topic-news search of the last day (``pgolf research breaking``)
snapshot           a bundled JSON snapshot of items (offline demo)
=================  ==================================================================
"""

from __future__ import annotations

from bot.errors import InputError
from bot.research.sources import (
    arxiv,
    github_code,
    github_leaderboard,
    github_prs,
    openreview,
    rss,
    semantic_scholar,
    snapshot,
    tavily,
    tavily_news,
)
from bot.research.sources.base import FetchContext, Source

SOURCES: dict[str, Source] = {
    "arxiv": arxiv.SOURCE,
    "openreview": openreview.SOURCE,
    "semantic_scholar": semantic_scholar.SOURCE,
    "github_prs": github_prs.SOURCE,
    "github_leaderboard": github_leaderboard.SOURCE,
    "rss": rss.SOURCE,
    "tavily": tavily.SOURCE,
    "github_code": github_code.SOURCE,
    "tavily_news": tavily_news.SOURCE,
    "snapshot": snapshot.SOURCE,
}
SOURCE_NAMES = tuple(SOURCES)

__all__ = ["SOURCES", "SOURCE_NAMES", "FetchContext", "Source", "get_source"]


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise InputError(f"unknown research source '{name}'; known: {', '.join(SOURCE_NAMES)}")
    return SOURCES[name]
