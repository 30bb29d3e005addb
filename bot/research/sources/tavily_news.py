"""Tavily breaking news: topic ``news``, the last day, one query (setting ``tavily_news_query``).

Run hourly by ``pgolf research breaking`` (not part of the six-hourly ``fetch`` by default).
Keeps Tavily's score and the article's ``published_date``; anything older than the window
(``since_hours``, at most 24 h for this source) is dropped.
"""

from __future__ import annotations

from bot.research.sources.base import FetchContext
from bot.research.sources.tavily import make_tavily, published_in_window, result_to_item, search
from bot.state import ResearchItem

NAME = "tavily_news"


class TavilyNewsSource:
    name = NAME

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        client, http = make_tavily(ctx, NAME, s.tavily_base_url)
        try:
            data = await search(
                client,
                source=NAME,
                ctx=ctx,
                query=s.tavily_news_query,
                topic="news",
                time_range="day",
                search_depth="basic",
                max_results=min(20, max(1, s.source_max_items)),
            )
        finally:
            if NAME not in ctx.clients:
                await http.aclose()
        out = []
        for r in data["results"]:
            item = result_to_item(r, source=NAME, mode="news", query=s.tavily_news_query)
            if published_in_window(ctx, r.get("published_date")):
                out.append(item)
        return out


SOURCE = TavilyNewsSource()
