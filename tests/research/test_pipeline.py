"""The cycle: concurrency, cross-source dedup, relevance threshold, raw cache store."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from bot.research import cache
from bot.research.keywords import keyword_score
from bot.state import ResearchItem, ResearchState, append_jsonl
from tests.research.conftest import MUON_ID, NOW
from tests.research.helpers import cycle, settings_for

ENV = {"TAVILY_API_KEY": "tvly-test-key"}


@pytest.fixture
def all_emus(arxiv_emu, openreview_emu, s2_emu, feed_emu, tavily_emu):
    return {
        "arxiv": arxiv_emu,
        "openreview": openreview_emu,
        "semantic_scholar": s2_emu,
        "rss": feed_emu,
        "tavily": tavily_emu,
    }


def test_same_paper_from_five_sources_is_one_item(all_emus, tmp_path):
    settings = settings_for(all_emus, arxiv_query_terms=["optimizer", "language model"])
    report = cycle(settings, tmp_path, now=NOW, env=ENV)
    assert not report.errors, report.errors
    muon = [i for i in report.new_items if i.arxiv_id == MUON_ID or "muon is scalable" in i.title.lower()]
    assert len(muon) == 1, [(i.id, i.title) for i in muon]
    item = muon[0]
    # arXiv (id), Semantic Scholar (arXiv id + DOI), RSS (pdf link), OpenReview and Tavily (title)
    assert set(item.sources) == {"arxiv", "semantic_scholar", "rss", "openreview", "tavily"}
    assert item.id == f"arxiv:{MUON_ID}"
    assert report.duplicates >= 4
    stored = ResearchState(tmp_path).raw_items()
    assert [i.id for i in stored] == [i.id for i in report.new_items]
    assert next(i for i in stored if i.id == item.id).sources == item.sources
    # the cycle's per-source counts add up
    d = report.to_dict()
    assert sum(s["new"] for s in d["sources"].values()) == d["new"]
    assert sum(s["duplicates"] for s in d["sources"].values()) == d["duplicates"]
    assert sum(s["below_threshold"] for s in d["sources"].values()) == d["below_threshold"]


def test_second_cycle_adds_nothing(all_emus, tmp_path):
    settings = settings_for(all_emus)
    first = cycle(settings, tmp_path, now=NOW, env=ENV)
    assert first.new_items
    lines = ResearchState(tmp_path).raw_cache_path.read_text().splitlines()
    second = cycle(settings, tmp_path, now=NOW, env=ENV)
    assert second.new_items == []
    assert second.duplicates >= len(first.new_items)
    assert ResearchState(tmp_path).raw_cache_path.read_text().splitlines() == lines


def test_relevance_threshold_drops_and_counts(all_emus, tmp_path):
    settings = settings_for(all_emus)
    report = cycle(settings, tmp_path, now=NOW, env=ENV)
    titles = {i.title for i in report.new_items}
    assert "Cooking with cast iron" not in titles  # keyword score 0
    assert "A Survey of Graph Neural Networks for Molecules" not in titles  # one weak term
    assert "Some unrelated shopping page" not in titles  # Tavily score 0.22
    assert report.below_threshold >= 3
    assert report.outcomes[[o.name for o in report.outcomes].index("rss")].below_threshold == 1
    assert all((i.relevance or 0) >= 0.4 for i in report.new_items)
    tav = [i for i in report.new_items if i.relevance_kind == "tavily"]
    assert tav and all("tavily" in i.sources for i in tav)
    # a lower threshold keeps more
    low = cycle(settings_for(all_emus, relevance_threshold=0.0), tmp_path / "low", now=NOW, env=ENV)
    assert low.below_threshold == 0 and len(low.new_items) > len(report.new_items)


def test_failing_and_hanging_sources_do_not_lose_the_others(all_emus, tmp_path):
    all_emus["openreview"].fail_next("500", times=20)
    all_emus["semantic_scholar"].fail_next("hang", times=20)
    settings = settings_for(all_emus)
    t0 = time.monotonic()
    # 3 s per source: room for the healthy sources on a loaded machine; the hanging one never answers
    report = cycle(settings, tmp_path, now=NOW, env=ENV, timeout=3.0)
    # a hang ceiling (10x the 3 s timeout; the hanging server never answers by itself): the
    # cut-off itself is proven by the "timed out" error below; the speed is benchmarks/research_cycle.py's
    assert time.monotonic() - t0 < 30
    assert set(report.errors) == {"openreview", "semantic_scholar"}
    assert "500" in report.errors["openreview"] and "timed out" in report.errors["semantic_scholar"]
    assert {i.source for i in report.new_items} >= {"arxiv", "rss", "tavily"}
    assert len(ResearchState(tmp_path).raw_items()) == len(report.new_items)


def test_sources_run_concurrently(all_emus, tmp_path):
    """Each server holds its first request until every source has sent one: sources that ran
    one after another would wait there until their timeout (an error); concurrent ones all
    get through. No clock involved (the speed figure is benchmarks/research_cycle.py's)."""
    waiting = {name: threading.Event() for name in all_emus}

    def hold_until_all_arrived(name: str):
        def hook(_req) -> None:
            waiting[name].set()
            for ev in waiting.values():
                ev.wait(20)

        return hook

    for name, emu in all_emus.items():
        emu.before_answer = hold_until_all_arrived(name)
    settings = settings_for(
        all_emus, arxiv_query_terms=["optimizer"], tavily_modes=["techniques"], source_timeout_seconds=10
    )
    report = cycle(settings, tmp_path, now=NOW, env=ENV)
    assert not report.errors, report.errors
    assert all(ev.is_set() for ev in waiting.values())


def test_keyword_score_is_as_documented():
    assert keyword_score("Parameter Golf notes") == pytest.approx(0.95)  # title: min(0.95, 1.5 × 0.8)
    assert keyword_score("x", "quantization of a language model") == pytest.approx(1 - 0.7 * 0.8)
    assert keyword_score("A transformer") < 0.4
    assert keyword_score("Sourdough") == 0
    assert keyword_score("muon", "") > keyword_score("", "muon")


def test_append_is_atomic_and_keeps_old_lines(tmp_path):
    state = ResearchState(tmp_path)
    good = ResearchItem(source="arxiv", id="arxiv:1", title="one")
    assert cache.append_items(state, [good]) == 1
    before = state.raw_cache_path.read_bytes()
    bad = ResearchItem(source="arxiv", id="arxiv:2", title="two", raw={"x": {1, 2}})  # not JSON-serialisable
    with pytest.raises(TypeError):
        cache.append_items(state, [ResearchItem(source="rss", id="rss:3", title="three"), bad])
    assert state.raw_cache_path.read_bytes() == before  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_compaction_bounds_the_cache_and_still_dedups(tmp_path):
    state = ResearchState(tmp_path)
    items = [
        ResearchItem(
            source="arxiv",
            id=f"arxiv:2501.{n:05d}",
            title=f"Paper number {n} about quantization",
            url=f"https://arxiv.org/abs/2501.{n:05d}",
            arxiv_id=f"2501.{n:05d}",
            fetched_at=f"2026-01-{n + 1:02d}T00:00:00Z",
        )
        for n in range(8)
    ]
    append_jsonl(state.raw_cache_path, items)
    append_jsonl(
        state.raw_cache_path, [ResearchItem(**{**items[7].__dict__, "sources": ["rss"]})]
    )  # a re-seen line
    graded = {items[6].id, items[5].id}
    rep = cache.compact(state, max_items=5, graded_ids=graded)
    kept = {i.id for i in state.raw_items()}
    assert rep.before_lines == 9 and rep.after_items == 5 and rep.evicted == 3
    # graded items are evicted first, then the oldest ungraded one
    assert kept == {items[n].id for n in (1, 2, 3, 4, 7)}
    assert next(i for i in state.raw_items() if i.id == items[7].id).sources == ["arxiv", "rss"]
    # evicted items are still recognised by their keys
    index, count = cache.load_index(state)
    assert count == 5
    again = ResearchItem(
        source="semantic_scholar", id="semantic_scholar:zz", title="x", arxiv_id="2501.00000"
    )
    assert index.find(again) == items[0].id
    seen = [json.loads(x) for x in cache.seen_path(state).read_text().splitlines()]
    assert {s["id"] for s in seen} == {items[0].id, items[5].id, items[6].id}


def test_pipeline_compacts_past_the_limit(all_emus, tmp_path):
    settings = settings_for(all_emus, raw_cache_max_items=3)
    report = cycle(settings, tmp_path, now=NOW, env=ENV)
    assert len(report.new_items) > 3
    assert report.compaction is not None and report.compaction["after_items"] == 3
    assert len(ResearchState(tmp_path).raw_items()) == 3
    again = cycle(settings, tmp_path, now=NOW, env=ENV)
    assert again.new_items == []  # compacted-away items are still duplicates


def test_unknown_source_is_an_input_error(tmp_path):
    from bot.errors import InputError

    with pytest.raises(InputError, match="unknown research source 'nope'"):
        asyncio.run(
            __import__("bot.research.pipeline", fromlist=["x"]).run_cycle(
                settings_for({}), tmp_path, sources=["nope"]
            )
        )
