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

import importlib

from bot.errors import InputError
from bot.research.sources.base import FetchContext, Source

SOURCE_NAMES = (
    "arxiv",
    "openreview",
    "semantic_scholar",
    "github_prs",
    "github_leaderboard",
    "rss",
    "tavily",
    "github_code",
    "tavily_news",
    "snapshot",
)

__all__ = ["SOURCE_NAMES", "FetchContext", "Source", "get_source"]


def get_source(name: str) -> Source:
    if name not in SOURCE_NAMES:
        raise InputError(f"unknown research source '{name}'; known: {', '.join(SOURCE_NAMES)}")
    module = importlib.import_module(f"bot.research.sources.{name}")
    source: Source = module.SOURCE
    return source
