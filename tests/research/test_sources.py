"""Each source against its emulator: fields, the since_hours window, User-Agent, keys."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest

from bot.errors import SourceError
from bot.research.http import DEFAULT_USER_AGENT
from bot.research.sources.arxiv import parse_feed
from tests.research.conftest import MUON_DOI, MUON_ID, MUON_TITLE, NOW
from tests.research.helpers import fetch_one, settings_for


def test_arxiv_fields_window_and_query(arxiv_emu):
    items, _ = fetch_one("arxiv", settings_for({"arxiv": arxiv_emu}), now=NOW)
    by_id = {i.arxiv_id: i for i in items}
    assert set(by_id) == {MUON_ID, "2511.00001", "2511.00002"}  # the 72-hour-old paper is outside 6 h
    muon = by_id[MUON_ID]
    assert muon.id == f"arxiv:{MUON_ID}"  # no version
    assert muon.title == MUON_TITLE
    assert muon.url == f"https://arxiv.org/abs/{MUON_ID}"
    assert muon.authors == ["Jingyuan Liu", "Jianlin Su"]
    assert muon.doi == MUON_DOI.lower()
    assert muon.raw["primary_category"] == "cs.LG"
    assert muon.raw["pdf"].endswith(f"{MUON_ID}v2")
    assert muon.raw["comment"] == "22 pages"
    req = arxiv_emu.requests[0]
    assert req.header("user-agent") == DEFAULT_USER_AGENT
    q = req.q("search_query") or ""
    assert "cat:cs.LG" in q and 'all:"language model"' in q
    assert req.q("sortBy") == "submittedDate" and req.q("sortOrder") == "descending"


def test_arxiv_pages_with_politeness_gap(arxiv_emu):
    for n in range(5):
        arxiv_emu.add_paper(
            f"2511.1000{n}",
            f"Language model trick number {n}",
            "quantization",
            NOW - timedelta(minutes=20 * (n + 1)),
        )
    settings = settings_for(
        {"arxiv": arxiv_emu}, arxiv_delay_seconds=0.2, source_max_items=2, arxiv_max_pages=3
    )
    t0 = time.monotonic()
    items, _ = fetch_one("arxiv", settings, now=NOW)
    times = arxiv_emu.call_times
    assert len(times) == 3  # three full pages, max_arxiv_pages stops it
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 0.2 for g in gaps), gaps
    assert time.monotonic() - t0 < 2.0
    assert [int(r.q("start") or 0) for r in arxiv_emu.requests] == [0, 2, 4]
    assert len(items) == 6


def test_arxiv_stops_paging_at_window(arxiv_emu):
    settings = settings_for({"arxiv": arxiv_emu}, source_max_items=2, arxiv_max_pages=5)
    items, _ = fetch_one("arxiv", settings, now=NOW)
    # page 1: 2 in window; page 2: one in window, one older → stop (no third call)
    assert len(arxiv_emu.requests) == 2
    assert len(items) == 3


def test_arxiv_error_feed_is_a_source_error(arxiv_emu):
    import httpx

    text = httpx.get(arxiv_emu.url + "/api/query", params={"start": "-1"}).text
    with pytest.raises(SourceError, match="arXiv API error"):
        parse_feed(text)


def test_openreview_v2_notes(openreview_emu):
    settings = settings_for({"openreview": openreview_emu}, arxiv_query_terms=["optimizer", "language model"])
    items, _ = fetch_one("openreview", settings, now=NOW)
    titles = {i.title for i in items}
    assert titles == {
        "Muon is scalable for LLM training.",
        "Depth Recurrence Makes Small Language Models Deeper for Free",
    }
    muon = next(i for i in items if i.title.startswith("Muon"))
    assert muon.url.startswith("https://openreview.net/forum?id=")
    assert muon.raw["venue"] == "ICLR 2027 Conference Submission"
    assert muon.raw["pdf"].startswith("https://openreview.net/pdf/")
    assert muon.summary.startswith("Recently, the Muon optimizer")
    terms = [r.q("term") for r in openreview_emu.requests]
    assert sorted(terms) == ["language model", "optimizer"]  # one request per term, sent concurrently
    assert all(r.header("user-agent") == DEFAULT_USER_AGENT for r in openreview_emu.requests)


def test_semantic_scholar_window_and_key(s2_emu):
    s2_emu.api_keys = {"s2-secret"}
    settings = settings_for({"semantic_scholar": s2_emu})
    items, _ = fetch_one("semantic_scholar", settings, now=NOW, env={"SEMANTIC_SCHOLAR_API_KEY": "s2-secret"})
    assert {i.title for i in items} == {MUON_TITLE, "Tokenizer-free compression of language model weights"}
    muon = next(i for i in items if i.title == MUON_TITLE)
    assert muon.arxiv_id == MUON_ID and muon.doi == MUON_DOI.lower()
    req = s2_emu.requests[-1]
    assert req.header("x-api-key") == "s2-secret"
    lo, hi = (req.q("publicationDateOrYear") or "").split(":")
    assert hi == NOW.date().isoformat() and lo <= hi
    # without a key: no header sent, still answered
    fetch_one("semantic_scholar", settings, now=NOW, env={})
    assert s2_emu.requests[-1].header("x-api-key") is None
    # a wrong key is a clear error
    with pytest.raises(SourceError, match="403"):
        fetch_one("semantic_scholar", settings, now=NOW, env={"SEMANTIC_SCHOLAR_API_KEY": "wrong"})


def test_rss_and_atom_feeds(feed_emu):
    items, ctx = fetch_one("rss", settings_for({"rss": feed_emu}), now=NOW)
    titles = {i.title for i in items}
    assert titles == {
        "Why Muon works: a note",
        "Cooking with cast iron",
        "Parameter Golf: a new record at 1.06 val_bpb",
    }
    note = next(i for i in items if i.title.startswith("Why Muon"))
    assert note.arxiv_id == MUON_ID
    assert note.authors == ["Blogger"]
    assert "<b>" not in note.summary and "Muon optimizer" in note.summary
    atom = next(i for i in items if i.title.startswith("Parameter Golf"))
    assert atom.authors == ["Lab"] and atom.published
    assert not ctx.warnings


def test_rss_one_bad_feed_is_a_warning(feed_emu):
    settings = settings_for({"rss": feed_emu})
    settings = settings.__class__(
        **{**settings.__dict__, "rss_feeds": [*settings.rss_feeds, feed_emu.url + "/missing.xml"]}
    )
    items, ctx = fetch_one("rss", settings, now=NOW)
    assert len(items) == 3
    assert any("404" in w for w in ctx.warnings["rss"])


def test_tavily_three_modes_keep_score(tavily_emu):
    settings = settings_for({"tavily": tavily_emu})
    items, _ = fetch_one("tavily", settings, now=NOW, env={"TAVILY_API_KEY": "tvly-test-key"})
    modes = [s["query"] for s in tavily_emu.searches]
    assert len(modes) == 3
    papers = [b for b in tavily_emu.searches if "include_domains" in b]
    assert len(papers) == 1
    assert papers[0]["include_domains"] == ["arxiv.org", "openreview.net", "semanticscholar.org"]
    muon = next(i for i in items if "MUON" in i.title)
    assert muon.relevance == pytest.approx(0.91) and muon.relevance_kind == "tavily"
    assert muon.raw["mode"] == "techniques"
    req = tavily_emu.requests[0]
    assert req.header("authorization") == "Bearer tvly-test-key"
    assert req.header("user-agent") == DEFAULT_USER_AGENT
    since_day = (NOW - timedelta(hours=6)).date().isoformat()
    assert all(s["start_date"] == since_day for s in tavily_emu.searches)


def test_tavily_keyless_and_bad_key(tavily_emu):
    settings = settings_for({"tavily": tavily_emu}, tavily_modes=["competition"])
    items, _ = fetch_one("tavily", settings, now=NOW, env={})
    assert items and tavily_emu.requests[-1].header("x-tavily-access-mode") == "keyless"
    assert tavily_emu.requests[-1].header("authorization") is None
    with pytest.raises(SourceError, match="InvalidAPIKeyError"):
        fetch_one("tavily", settings, now=NOW, env={"TAVILY_API_KEY": "tvly-wrong"})


def test_tavily_unknown_mode(tavily_emu):
    settings = settings_for({"tavily": tavily_emu}, tavily_modes=["gossip"])
    with pytest.raises(SourceError, match="unknown mode"):
        fetch_one("tavily", settings, now=NOW)


def test_tavily_news_last_day(tavily_emu):
    settings = settings_for({"tavily_news": tavily_emu})
    items, _ = fetch_one(
        "tavily_news", settings, now=NOW, since_hours=24, env={"TAVILY_API_KEY": "tvly-test-key"}
    )
    assert [i.title for i in items] == ["OpenAI extends Parameter Golf deadline"]
    assert items[0].source == "tavily_news" and items[0].relevance == pytest.approx(0.83)
    assert items[0].published == (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # RFC 2822 parsed
    body = tavily_emu.searches[-1]
    assert body["topic"] == "news" and body["time_range"] == "day"


def test_parse_time_shapes():
    from bot.research.sources.base import iso, parse_time

    expect = "2026-11-26T14:00:00Z"
    for value in (
        "2026-11-26T14:00:00Z",
        "2026-11-26T15:00:00+01:00",
        "Thu, 26 Nov 2026 14:00:00 GMT",
        1795701600000,
    ):
        assert iso(parse_time(value)) == expect, value
    assert iso(parse_time("2026-11-26")) == "2026-11-26T00:00:00Z"
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_snapshot_is_bundled_and_windowed():
    from bot.research.sources.snapshot import load

    data = load()
    assert len(data["items"]) >= 8
    # a derived (cursor/default) window does not apply to a recording: everything, any day
    items, _ = fetch_one("snapshot", settings_for({}), since_hours=6)
    assert len(items) == len(data["items"])
    assert all(i.source == "snapshot" and i.raw["origin"] for i in items)
    # an explicit --since-hours window is measured back from as_of
    recent, _ = fetch_one("snapshot", settings_for({}), since_hours=24 * 30, window_explicit=True)
    assert 0 < len(recent) < len(items)
    assert all(i.published >= "2026-03-31" for i in recent)
