"""A bundled JSON snapshot of research items, for the offline demo and for tests.

The file (setting ``research_snapshot_path``; empty means ``bot/research/data/snapshot.json``)
is ``{"as_of": "<ISO time>", "items": [<ResearchItem fields>…]}``. A recording has no "new since
the last run": by default every item is returned, whatever today's date or the source's cursor
(so offline use works outside the demo, on any day). Only an explicit ``--since-hours`` window
applies, measured back from ``as_of`` (not from the clock). Each item keeps its original ``source`` name (``arxiv``, ``tavily``…) in ``raw.origin``
and is reported as coming from ``snapshot``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from bot.errors import SourceError
from bot.research.sources.base import FetchContext, parse_time
from bot.state import ResearchItem, from_dict

NAME = "snapshot"


def load(path: str = "") -> dict[str, Any]:
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
            where = path
        else:
            ref = resources.files("bot.research").joinpath("data/snapshot.json")
            text = ref.read_text(encoding="utf-8")
            where = "bot/research/data/snapshot.json"
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read snapshot: {exc}", path=path or NAME) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"not JSON ({exc.msg}, line {exc.lineno})", path=where) from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise SourceError("expected an object with an 'items' list", path=where, field="items")
    data["_where"] = where
    return data


class SnapshotSource:
    name = NAME

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        data = load(ctx.settings.research_snapshot_path)
        where = data["_where"]
        as_of = parse_time(data.get("as_of")) or ctx.now
        since = as_of - timedelta(hours=ctx.since_hours)
        out = []
        for n, raw in enumerate(data["items"]):
            item = from_dict(ResearchItem, raw, where=f"{where} items[{n}]")
            when = parse_time(item.published)
            if ctx.window_explicit and when is not None and not (since <= when <= as_of):
                continue
            item.raw = {**item.raw, "origin": item.source}
            item.source = NAME
            out.append(item)
        return out


SOURCE = SnapshotSource()
