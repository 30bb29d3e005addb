"""Every failure switch of the emulators, against every HTTP source.

Transient faults (one 429 with or without Retry-After, one 500/503) are retried and the source
still answers; persistent ones and broken bodies (malformed, truncated, HTML, non-UTF-8) are a
SourceError that says what happened; a server that never answers is cut off by the pipeline's
per-source timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.errors import SourceError
from tests.research.conftest import NOW
from tests.research.helpers import cycle, fetch_one, settings_for

SOURCES = ["arxiv", "openreview", "semantic_scholar", "rss", "tavily", "tavily_news"]
FIXTURE = {
    "arxiv": "arxiv_emu",
    "openreview": "openreview_emu",
    "semantic_scholar": "s2_emu",
    "rss": "feed_emu",
    "tavily": "tavily_emu",
    "tavily_news": "tavily_emu",
}


@pytest.fixture(params=SOURCES)
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, Any]]:
    name = request.param
    emu = request.getfixturevalue(FIXTURE[name])
    settings = settings_for({name: emu}, tavily_modes=["techniques"], arxiv_query_terms=["optimizer"])
    if name == "rss":
        settings = settings.__class__(**{**settings.__dict__, "rss_feeds": settings.rss_feeds[:1]})
    yield name, emu, settings


ENV = {"TAVILY_API_KEY": "tvly-test-key"}


def _fetch(name: str, settings: Any) -> list[Any]:
    items, _ = fetch_one(name, settings, now=NOW, since_hours=24, env=ENV)
    return items


def test_baseline_answers(target):
    name, _emu, settings = target
    assert _fetch(name, settings), name


def _clean_run(name: str, emu: Any, settings: Any) -> tuple[list[str], int]:
    """A fault-free fetch: its item ids and how many requests it takes."""
    items = _fetch(name, settings)
    n = len(emu.requests)
    emu.requests.clear()
    return sorted(i.id for i in items), n


@pytest.mark.parametrize("retry_after", ["0", None])
def test_one_429_is_retried(target, retry_after):
    name, emu, settings = target
    ids, n = _clean_run(name, emu, settings)
    emu.fail_next("429", retry_after=retry_after)
    t0 = time.monotonic()
    items = _fetch(name, settings)
    assert ids and sorted(i.id for i in items) == ids  # nothing lost to the fault
    assert len(emu.requests) == n + 1  # exactly one retry: the refused request again
    if retry_after is None:
        assert time.monotonic() - t0 >= settings.source_backoff_seconds  # backed off


@pytest.mark.parametrize("kind", ["500", "503"])
def test_one_server_error_is_retried(target, kind):
    name, emu, settings = target
    ids, n = _clean_run(name, emu, settings)
    emu.fail_next(kind)
    items = _fetch(name, settings)
    assert ids and sorted(i.id for i in items) == ids
    assert len(emu.requests) == n + 1  # exactly one retry


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("429", r"429"),
        ("500", r"500"),
        ("html", r"HTML"),
        ("malformed", r"malformed|not an? "),
        ("truncated", r"cut short|RemoteProtocolError|incomplete"),
        ("non_utf8", r"UTF-8"),
    ],
)
def test_persistent_fault_is_a_clear_source_error(target, kind, message):
    name, emu, settings = target
    emu.fail_next(kind, times=20)
    with pytest.raises(SourceError, match=message):
        _fetch(name, settings)
    if kind in ("429", "500", "html"):
        assert len(emu.requests) == settings.source_retries + 1  # retried, then gave up


def test_hang_is_cut_off_by_the_pipeline(target, tmp_path):
    name, emu, settings = target
    emu.fail_next("hang", times=20)
    t0 = time.monotonic()
    report = cycle(settings, tmp_path, sources=[name], now=NOW, since_hours=24, env=ENV, timeout=0.5)
    elapsed = time.monotonic() - t0
    assert elapsed < 10  # hang ceiling (20x the timeout); "timed out" below proves the cut-off
    assert "timed out" in report.errors[name]
    assert not report.new_items
