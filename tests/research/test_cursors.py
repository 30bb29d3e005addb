"""Per-source cursors: each source fetches from its last success minus its publication delay; a
failed source keeps its cursor; --since-hours overrides; a corrupt cursor file is an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import SourceError, StateError
from bot.research import cursors
from bot.research.sources.base import FetchContext
from bot.state import ResearchItem
from tests.research.helpers import cycle, settings_for

T0 = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


class Probe:
    """A source that records the window it was given (and fails when told to)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.windows: list[float] = []
        self.fail = False

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        self.windows.append(ctx.since_hours)
        if self.fail:
            raise SourceError("HTTP 503: unavailable", path=self.name)
        return []


def _run(tmp_path: Path, probes: dict[str, Probe], now: datetime, **kw):
    settings = settings_for({}, since_hours=6)
    return cycle(settings, tmp_path, sources=list(probes), source_objects=probes, now=now, **kw)


def test_windows_follow_cursors_with_overlap_and_failures_keep_theirs(tmp_path):
    arxiv, prs = Probe("arxiv"), Probe("github_prs")
    probes = {"arxiv": arxiv, "github_prs": prs}
    report = _run(tmp_path, probes, T0)
    # no cursor yet: since_hours + the source's publication delay (arXiv: days)
    assert arxiv.windows == [6 + cursors.OVERLAP_HOURS["arxiv"]] and arxiv.windows[0] >= 72
    assert report.windows["arxiv"]["from"] == "default"
    data = json.loads((tmp_path / "cursors.json").read_text())
    assert data["sources"]["arxiv"]["last_success"] == "2026-07-01T06:00:00Z"

    # six hours later arXiv fails: its cursor stays at T0, github_prs' moves on
    arxiv.fail = True
    report = _run(tmp_path, probes, T0 + timedelta(hours=6))
    assert report.errors == {"arxiv": "arxiv: HTTP 503: unavailable"}
    data = json.loads((tmp_path / "cursors.json").read_text())["sources"]
    assert data["arxiv"]["last_success"] == "2026-07-01T06:00:00Z" and "503" in data["arxiv"]["last_error"]
    assert data["github_prs"]["last_success"] == "2026-07-01T12:00:00Z"

    # a late run (9 h after that): arXiv reaches back past the failed run, no blind window
    arxiv.fail = False
    report = _run(tmp_path, probes, T0 + timedelta(hours=15))
    assert arxiv.windows[-1] == pytest.approx(15 + cursors.OVERLAP_HOURS["arxiv"])
    assert prs.windows[-1] == pytest.approx(9 + cursors.OVERLAP_HOURS["github_prs"])
    assert report.windows["github_prs"]["from"] == "cursor"


def test_since_hours_overrides_every_window(tmp_path):
    probes = {"arxiv": Probe("arxiv"), "rss": Probe("rss")}
    _run(tmp_path, probes, T0)
    report = _run(tmp_path, probes, T0 + timedelta(hours=1), since_hours=48)
    assert [p.windows[-1] for p in probes.values()] == [48, 48]
    assert report.windows["rss"] == {"since_hours": 48.0, "from": "override"}


def test_lookback_is_capped(tmp_path):
    probe = Probe("rss")
    _run(tmp_path, {"rss": probe}, T0)
    _run(tmp_path, {"rss": probe}, T0 + timedelta(days=400))
    assert probe.windows[-1] == cursors.MAX_LOOKBACK_HOURS


def test_corrupt_cursor_file_is_an_error_and_changes_nothing(tmp_path):
    (tmp_path / "cursors.json").write_text("{not json")
    probe = Probe("rss")
    with pytest.raises(StateError) as info:
        _run(tmp_path, {"rss": probe}, T0)
    assert "cursors.json" in str(info.value)
    assert (tmp_path / "cursors.json").read_text() == "{not json" and probe.windows == []
    (tmp_path / "cursors.json").write_text('{"sources": {"rss": {"last_success": "yesterday"}}}')
    with pytest.raises(StateError, match="rss.last_success"):
        _run(tmp_path, {"rss": probe}, T0)


def test_store_false_moves_no_cursor(tmp_path):
    _run(tmp_path, {"rss": Probe("rss")}, T0, store=False)
    assert not (tmp_path / "cursors.json").exists()


def test_a_cursor_in_the_future_is_not_trusted(tmp_path):
    """The clock was ahead at the last run (or moved back since): the stored cursor lies in the
    future, and "fetch from the cursor" would shrink the window to the bare overlap (2 h for PRs)
    — a blind window. Such a cursor is unknown: the default window, said in the report; the
    cursor then moves back to the real start of this run."""
    prs = Probe("github_prs")
    _run(tmp_path, {"github_prs": prs}, T0 + timedelta(days=10))
    report = _run(tmp_path, {"github_prs": prs}, T0)
    assert prs.windows[-1] == pytest.approx(6 + cursors.OVERLAP_HOURS["github_prs"])
    assert report.windows["github_prs"]["from"] == "default (cursor in the future)"
    data = json.loads((tmp_path / "cursors.json").read_text())["sources"]
    assert data["github_prs"]["last_success"] == "2026-07-01T06:00:00Z"
    _run(tmp_path, {"github_prs": prs}, T0 + timedelta(hours=5))
    assert prs.windows[-1] == pytest.approx(5 + cursors.OVERLAP_HOURS["github_prs"])
