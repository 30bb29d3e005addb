"""The raw cache: line encoding, dedup keys, compaction under concurrent appends, sources updates."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import random
import string
import time
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StateError
from bot.research import cache
from bot.research.canonical import title_block, title_key
from bot.research.dedup import DedupIndex, keys_of
from bot.research.pipeline import SourceOutcome, process
from bot.state import ResearchItem, ResearchState, append_jsonl, latest_by, to_line
from tests.research.conftest import MUON_ID, NOW
from tests.research.helpers import cycle, settings_for

# ---------------------------------------------------------------------------- line encoding


def _random_text(rng: random.Random) -> str:
    alphabet = string.printable + 'é—ß“”\u00a0\u2028"\\\x00\x1f😀'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 25)))


def test_line_is_byte_identical_to_to_line() -> None:
    rng = random.Random(7)
    for n in range(2000):
        item = ResearchItem(
            source=_random_text(rng),
            id=_random_text(rng),
            title=_random_text(rng),
            url=rng.choice(["", _random_text(rng)]),
            authors=[_random_text(rng) for _ in range(rng.randrange(3))],
            published=rng.choice(["", "2026-01-01T00:00:00Z"]),
            summary=_random_text(rng),
            relevance=rng.choice([None, 0.5, 1 / 3, 1e-9, 0.0, 1.0, 2, float("nan")]),
            relevance_kind=rng.choice(["", "keyword", "tavily"]),
            sources=[_random_text(rng) for _ in range(rng.randrange(3))],
            arxiv_id=rng.choice(["", "2501.00001"]),
            doi=rng.choice(["", "10.1/x"]),
            fetched_at=rng.choice(["", "2026-11-27T00:00:00Z"]),
            raw=rng.choice([{}, {"b": [1, {"z": 1, "a": None}], "a": "x"}]),
            extra=rng.choice(
                [
                    {},
                    {"also": [f"rss:{n}"]},
                    {"also": ["x"], "competitor_scores": [{"val_bpb": 1.2, "name": "n"}]},
                    {"zeta": {"b": 1, "a": 2}, "aa": 1},
                    {"title": "ignored: a field wins over extra"},
                ]
            ),
        )
        assert cache._line(item) == to_line(item), item


def test_unserialisable_items_fail_like_to_line() -> None:
    item = ResearchItem(source="arxiv", id="arxiv:1", title="t", raw={"x": {1, 2}})
    with pytest.raises(TypeError):
        to_line(item)
    with pytest.raises(TypeError):
        cache._line(item)


def test_title_key_and_block_fast_paths_match_the_definitions() -> None:
    import re
    import unicodedata

    def slow_key(title: str) -> str:
        folded = unicodedata.normalize("NFKD", title)
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        return re.sub(r"[^a-z0-9]+", " ", folded.lower()).strip()

    def slow_block(key: str) -> str:
        first_two = " ".join(key.split(" ", 2)[:2])
        return f"{' '.join(re.findall(r'[0-9]+', key))}|{first_two}|{len(key) // 10}"

    rng = random.Random(3)
    for _ in range(5000):
        text = _random_text(rng)
        assert title_key(text) == slow_key(text), text
        key = title_key(text)
        assert title_block(key) == slow_block(key), key
    assert title_key("Llama-2: Open FOUNDATION models!") == "llama 2 open foundation models"
    assert title_key("Über Ñandú—modèles") == "uber nandu modeles"


def test_dedup_semantics_are_kept() -> None:
    index = DedupIndex()
    base = ResearchItem(
        source="arxiv",
        id="arxiv:2501.00001",
        title="Sparse quantized transformers for tiny language models",
        url="https://arxiv.org/abs/2501.00001",
        arxiv_id="2501.00001",
        doi="10.1000/ABC",
    )
    index.add(base)
    same = [
        ResearchItem(source="s2", id="s2:1", title="x", arxiv_id="2501.00001"),
        ResearchItem(source="rss", id="rss:1", title="x", url="http://www.arxiv.org/pdf/2501.00001v3.pdf"),
        ResearchItem(
            source="rss", id="rss:2", title="x", url="https://arxiv.org/abs/2501.00001?utm_source=a"
        ),
        ResearchItem(source="s2", id="s2:2", title="x", doi="10.1000/abc"),
        ResearchItem(
            source="tavily", id="t:1", title="SPARSE quantized Transformers for tiny language models!"
        ),
        ResearchItem(
            source="tavily", id="t:2", title="Sparse quantized transformers for tiny language model"
        ),
    ]
    for item in same:
        assert index.find(item) == base.id, item
    different = [
        ResearchItem(source="s2", id="s2:3", title="Sparse quantized transformers for tiny vision models 2"),
        ResearchItem(
            source="rss", id="rss:3", title="x", url="https://evil.example/arxiv.org/abs/2501.00001"
        ),
        ResearchItem(source="s2", id="s2:4", title="Notes"),
    ]
    for item in different:
        assert index.find(item) is None, item
    # numbered titles are different papers, even when nearly identical
    index.add(ResearchItem(source="arxiv", id="a:7", title="Ablation study of tiny language models 12"))
    assert (
        index.find(ResearchItem(source="x", id="x:1", title="Ablation study of tiny language models 13"))
        is None
    )
    assert (
        index.find(ResearchItem(source="x", id="x:2", title="Ablation study of tiny language model 12"))
        == "a:7"
    )
    assert keys_of(base).block == title_block(title_key(base.title))


def test_lazy_blocks_keep_compacted_titles_matchable(tmp_path: Path) -> None:
    state = ResearchState(tmp_path)
    cache.seen_path(state).write_text(
        json.dumps(
            {"id": "arxiv:1", "keys": ["id:arxiv:1", "title:depth recurrence for small language models"]}
        )
        + "\n"
    )
    index, count = cache.load_index(state)
    assert count == 0 and len(index) == 1
    near = ResearchItem(source="rss", id="rss:9", title="Depth recurrence for small language model")
    assert index.find(near) == "arxiv:1"


def test_bad_cache_lines_name_file_and_line(tmp_path: Path) -> None:
    state = ResearchState(tmp_path)
    good = to_line(ResearchItem(source="arxiv", id="arxiv:1", title="one"))
    for bad, message in (
        ('{"id": }', "line 2: not JSON"),
        ('{"id": 1}', "line 2: expected an object with a string id"),
        ("[1, 2]", "line 2: expected an object with a string id"),
        ('{"id": "x", "title": 3}', "line 2: identity fields must be strings"),
        ('{"id": "x"} trailing', "line 2: not JSON"),
    ):
        state.raw_cache_path.write_text(good + "\n" + bad + "\n")
        with pytest.raises(StateError, match=message) as err:
            cache.load_index(state)
        assert str(state.raw_cache_path) in str(err.value)
    state.raw_cache_path.write_text(" " + good + "  \n\n")  # odd whitespace is still JSON
    assert cache.load_index(state)[1] == 1


# ---------------------------------------------------------------------- compaction vs appends

WRITERS = 3
BATCHES = 25


def _appender(state_dir: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    state = ResearchState(state_dir)
    start.wait(30)
    for b in range(BATCHES):
        items = [
            ResearchItem(
                source="arxiv",
                id=f"w{worker}:{b}:{j}",
                title=f"Worker {worker} batch {b} item {j} about quantization",
                fetched_at=f"2026-01-01T00:{b:02d}:{j:02d}Z",
            )
            for j in range(3)
        ]
        # a re-seen line of an earlier item, so every compaction has lines to merge and rewrites
        items.append(ResearchItem(source="rss", id=f"w{worker}:0:0", title="re-seen", sources=["rss"]))
        cache.append_items(state, items)


def _compactor(
    state_dir: str,
    start: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    runs: multiprocessing.sharedctypes.Synchronized,  # type: ignore[type-arg]
) -> None:
    state = ResearchState(state_dir)
    start.wait(30)
    while not stop.is_set():
        cache.compact(state, max_items=40, graded_ids=set())
        runs.value += 1
    cache.compact(state, max_items=40, graded_ids=set())


def test_compaction_never_loses_a_concurrent_append(tmp_path: Path) -> None:
    """Three processes append while a fourth compacts in a loop (evicting and merging each
    time): every appended id ends up in the cache or in the seen-keys file."""
    ctx = multiprocessing.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    runs = ctx.Value("i", 0)
    writers = [ctx.Process(target=_appender, args=(str(tmp_path), w, start)) for w in range(WRITERS)]
    compactor = ctx.Process(target=_compactor, args=(str(tmp_path), start, stop, runs))
    for p in [*writers, compactor]:
        p.start()
    time.sleep(0.5)  # let the interpreters start, then release them together
    start.set()
    for p in writers:
        p.join(120)
    stop.set()
    compactor.join(120)
    assert all(p.exitcode == 0 for p in [*writers, compactor]), [p.exitcode for p in [*writers, compactor]]
    state = ResearchState(tmp_path)
    in_cache = {i.id for i in state.raw_items()}
    in_seen = {owner for owner, _ in cache.read_seen(state)}
    expected = {f"w{w}:{b}:{j}" for w in range(WRITERS) for b in range(BATCHES) for j in range(3)}
    lost = expected - in_cache - in_seen
    assert not lost, sorted(lost)[:10]
    assert len(in_cache) <= 40
    assert runs.value >= 3  # compactions really ran while the appends did
    # every id appears once after the final compaction; the re-seen items remember both sources
    lines = [json.loads(x) for x in state.raw_cache_path.read_text().splitlines()]
    assert len(lines) == len({x["id"] for x in lines})
    for x in lines:
        if x["id"].endswith(":0:0"):
            assert x["sources"] == ["arxiv", "rss"]


def test_compaction_keeps_lines_it_does_not_change(tmp_path: Path) -> None:
    state = ResearchState(tmp_path)
    odd = '{"id": "rss:odd", "source": "rss", "title": "Kept \\u00e9 as written", "zz_future_field": [1]}'
    state.raw_cache_path.write_text(
        odd + "\n" + to_line(ResearchItem(source="arxiv", id="a:1", title="one", sources=["arxiv"])) + "\n"
    )
    append_jsonl(state.raw_cache_path, [ResearchItem(source="s2", id="a:1", title="one", sources=["s2"])])
    rep = cache.compact(state, max_items=10, graded_ids=set())
    assert rep.before_lines == 3 and rep.after_items == 2 and rep.evicted == 0
    lines = state.raw_cache_path.read_text().splitlines()
    assert lines[0] == odd  # byte for byte
    assert json.loads(lines[1])["sources"] == ["arxiv", "s2"]
    assert [i.id for i in state.raw_items()] == ["rss:odd", "a:1"]


# ----------------------------------------------------------------------------- sources updates


def _dedup_store(state: ResearchState, batches: list[tuple[str, list[ResearchItem]]]) -> tuple[int, int, int]:
    index, _ = cache.load_index(state)
    outcomes = {name: SourceOutcome(name) for name, _ in batches}
    new, dups, _below = process(batches, index, 0.0, "2026-11-27T00:00:00Z", outcomes)
    appended, updated = cache.store(state, new, index.source_updates)
    return appended, dups, updated


def _paper(source: str, iid: str, **kw: Any) -> ResearchItem:
    return ResearchItem(
        source=source, id=iid, title="Int6 quantization with GPTQ for tiny language models", **kw
    )


def test_a_cached_item_gains_a_later_source(tmp_path: Path) -> None:
    state = ResearchState(tmp_path)
    first = _paper("arxiv", "arxiv:2511.00001", arxiv_id="2511.00001", url="https://arxiv.org/abs/2511.00001")
    assert _dedup_store(state, [("arxiv", [first])]) == (1, 0, 0)
    size = state.raw_cache_path.stat().st_size

    # the same paper, later, from two other sources: no new item, one small sources update
    later = [
        ("rss", [_paper("rss", "rss:1", url="https://arxiv.org/abs/2511.00001?utm_source=feed")]),
        ("semantic_scholar", [_paper("semantic_scholar", "semantic_scholar:9", arxiv_id="2511.00001")]),
    ]
    assert _dedup_store(state, later) == (0, 2, 1)
    lines = state.raw_cache_path.read_text().splitlines()
    assert len(lines) == 2
    (latest,) = latest_by(state.raw_items(), lambda i: i.id)  # what grading reads
    assert latest.id == first.id and latest.url == first.url
    assert latest.sources == ["arxiv", "rss", "semantic_scholar"]

    # reported again by known sources: nothing written
    again = [("rss", [_paper("rss", "rss:1", url="https://arxiv.org/abs/2511.00001")])]
    assert _dedup_store(state, again) == (0, 1, 0)
    assert state.raw_cache_path.read_text().splitlines() == lines
    assert state.raw_cache_path.stat().st_size > size

    # compaction folds the update into one line per item
    rep = cache.compact(state, max_items=10, graded_ids=set())
    assert rep.after_items == 1 and rep.before_lines == 2
    (only,) = state.raw_items()
    assert only.sources == ["arxiv", "rss", "semantic_scholar"]


def test_sources_update_uses_the_latest_line_under_the_lock(tmp_path: Path) -> None:
    state = ResearchState(tmp_path)
    first = _paper("arxiv", "arxiv:2511.00001", arxiv_id="2511.00001", summary="old")
    _dedup_store(state, [("arxiv", [first])])
    index, _ = cache.load_index(state)
    # meanwhile another writer appends a newer line of the same item (a new summary, a new source)
    newer = _paper(
        "arxiv", "arxiv:2511.00001", arxiv_id="2511.00001", summary="newer", sources=["openreview"]
    )
    cache.append_items(state, [newer])
    outcomes = {"rss": SourceOutcome("rss"), "openreview": SourceOutcome("openreview")}
    batch = [
        ("rss", [_paper("rss", "rss:1", arxiv_id="2511.00001")]),
        ("openreview", [_paper("openreview", "openreview:1", arxiv_id="2511.00001")]),
    ]
    new, _dups, _ = process(batch, index, 0.0, "now", outcomes)
    assert new == [] and index.source_updates == {first.id: ["rss", "openreview"]}
    assert cache.store(state, new, index.source_updates) == (0, 1)
    (latest,) = latest_by(state.raw_items(), lambda i: i.id)
    assert latest.summary == "newer"
    assert latest.sources == ["arxiv", "openreview", "rss"]


def test_compacted_away_items_get_no_update(tmp_path: Path) -> None:
    state = ResearchState(tmp_path)
    items = [_paper("arxiv", f"arxiv:2511.0000{n}", arxiv_id=f"2511.0000{n}") for n in range(3)]
    for n, item in enumerate(items):
        item.title = f"Paper {n} on int6 quantization of tiny models"
        item.fetched_at = f"2026-01-0{n + 1}T00:00:00Z"
    _dedup_store(state, [("arxiv", items)])
    cache.compact(state, max_items=2, graded_ids=set())  # evicts the oldest
    before = state.raw_cache_path.read_bytes()
    assert _dedup_store(state, [("rss", [_paper("rss", "rss:1", arxiv_id="2511.00000")])]) == (0, 1, 0)
    assert state.raw_cache_path.read_bytes() == before


def test_cycle_reports_sources_updates(arxiv_emu: Any, s2_emu: Any, feed_emu: Any, tmp_path: Path) -> None:
    only_arxiv = settings_for({"arxiv": arxiv_emu}, arxiv_query_terms=["optimizer", "language model"])
    first = cycle(only_arxiv, tmp_path, now=NOW)
    muon = next(i for i in first.new_items if i.arxiv_id == MUON_ID)
    assert muon.sources == ["arxiv"]
    emus = {"arxiv": arxiv_emu, "semantic_scholar": s2_emu, "rss": feed_emu}
    second = cycle(settings_for(emus, arxiv_query_terms=["optimizer", "language model"]), tmp_path, now=NOW)
    assert muon.id not in {i.id for i in second.new_items}
    assert second.sources_updated >= 1 and second.to_dict()["sources_updated"] == second.sources_updated
    stored = {i.id: i for i in latest_by(ResearchState(tmp_path).raw_items(), lambda i: i.id)}
    assert stored[muon.id].sources == ["arxiv", "semantic_scholar", "rss"]
    third = cycle(settings_for(emus, arxiv_query_terms=["optimizer", "language model"]), tmp_path, now=NOW)
    assert third.new_items == [] and third.sources_updated == 0
