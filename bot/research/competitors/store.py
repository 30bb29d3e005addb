"""``competitors.jsonl`` in the research state folder: one :class:`CompetitorScore` per line,
the latest line per ``key`` wins; boards for display."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.research.competitors.common import MNG, PG
from bot.research.competitors.modded import boards
from bot.research.competitors.standings import accepted
from bot.state import CompetitorScore, ResearchState, append_jsonl, to_dict


def save_scores(state: ResearchState, scores: Sequence[CompetitorScore]) -> int:
    """Append the scores that are new or changed (by ``key``); returns how many were written."""
    current = {c.key or c.name: to_dict(c) for c in state.competitors()}
    fresh = []
    for s in scores:
        if not s.key:
            s.key = f"{s.source}:{s.name}"
        if current.get(s.key) != to_dict(s):
            fresh.append(s)
            current[s.key] = to_dict(s)
    return append_jsonl(state.competitors_path, fresh)


def leaderboard(scores: Iterable[CompetitorScore], source: str = PG) -> list[CompetitorScore]:
    """Best first. parameter-golf: the accepted records (one row per submission, see
    :mod:`.standings`); modded-nanogpt: every board's rows, fastest first, board after board."""
    if source == MNG:
        return [s for rows in boards(scores).values() for s in rows]
    return (
        accepted(scores)
        if source == PG
        else sorted(
            (s for s in scores if s.source == source and s.val_bpb is not None),
            key=lambda s: (s.val_bpb or 0.0, s.date),
        )
    )


def score_json(s: CompetitorScore) -> dict[str, Any]:
    """The JSON object ``pgolf competitors parse`` prints (empty fields left out)."""
    data = to_dict(s)
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}
