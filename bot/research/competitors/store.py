"""``competitors.jsonl`` in the research state folder: one :class:`CompetitorScore` per line,
the latest line per ``key`` wins; boards for display."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from bot import clock
from bot.research.competitors.common import MNG, PG, SCRAPED_FIELDS, STATUS_CLOSED, flat_text
from bot.research.competitors.modded import boards
from bot.research.competitors.standings import accepted
from bot.state import CompetitorScore, ResearchState, append_jsonl, to_dict

_PR_KEY = re.compile(rf"^{re.escape(PG)}:pr#(\d+):")


def save_scores(
    state: ResearchState, scores: Sequence[CompetitorScore], *, prs_read: Iterable[int] = ()
) -> int:
    """Append the scores that are new or changed (by ``key``); returns how many were written.

    The scores of one PR (keys ``parameter-golf:pr#N:…``) read in one fetch are everything that
    PR claims now: a score stored earlier for that PR and not read again (a body claim the PR
    replaced by a record folder, a folder it renamed or removed) is stored again as ``closed``
    with ``extra.superseded``, so it can never outlive the PR as an open claim. ``prs_read``:
    PRs read in this fetch, whether or not they claim anything now (a PR that dropped its claim).
    Every scraped text field is stored as one plain line (:func:`flattened`)."""
    stored = state.competitors()
    current = {c.key or c.name: to_dict(c) for c in stored}
    fresh = []
    # what a competitor wrote is stored one line per field: a title carrying line breaks, a fake
    # SOTA line or terminal escapes never reaches program.md, a prompt or a terminal as more
    # than one plain line of data
    scores = [flattened(s) for s in scores]
    for s in scores:
        if not s.key:
            s.key = f"{s.source}:{s.name}"
        if current.get(s.key) != to_dict(s):
            fresh.append(s)
            current[s.key] = to_dict(s)
    now_read = {s.key for s in scores}
    prs = {m.group(1) for s in scores if (m := _PR_KEY.match(s.key))} | {str(n) for n in prs_read}
    for old in stored:
        m = _PR_KEY.match(old.key)
        if m and m.group(1) in prs and old.key not in now_read and old.status != STATUS_CLOSED:
            gone = replace(old, status=STATUS_CLOSED, extra={**old.extra, "superseded": clock.stamp()})
            fresh.append(gone)
    return append_jsonl(state.competitors_path, fresh)


def flattened(s: CompetitorScore) -> CompetitorScore:
    """``s`` with its scraped text fields made one plain line each (:func:`.common.flat_text`)."""
    changes: dict[str, Any] = {
        f: flat_text(getattr(s, f)) for f in SCRAPED_FIELDS if isinstance(getattr(s, f), str)
    }
    return replace(s, **changes) if any(getattr(s, f) != v for f, v in changes.items()) else s


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
