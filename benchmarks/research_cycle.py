"""Research cycle figures (issue 4). Prints a few lines, then one JSON line.

1. ``full_cycle_s`` — every emulated source (arXiv, OpenReview, Semantic Scholar, RSS, Tavily,
   GitHub PRs, GitHub code search) answering each request after 1.0 s; target ≤ 1.5 s.
   The sources issue their independent requests concurrently (query terms, feeds, Tavily modes,
   watched repositories); the GitHub sources are seeded so that each needs one round trip.
2. ``hang_cycle_s`` — the same with arXiv never answering, per-source timeout 2.0 s; target
   ≤ timeout + 0.5 s, and every other source's items saved.
3. ``dedup_store_s`` / ``peak_rss_mb`` — 100,000 synthetic items, 30 % of them duplicates of
   others reported by another source (same arXiv id, same URL with tracking parameters, or the
   same title re-cased/re-punctuated); normalise + dedup + relevance + atomic append; target
   ≤ 3 s and ≤ 500 MB peak RSS of this process. ``second_run_new`` — the same 100,000 items
   again against the stored cache: target 0 new. Keyword scoring is on (items from sources
   without a score of their own are scored).

Run: ``.venv/bin/python benchmarks/research_cycle.py``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import clock
from bot.research import cache
from bot.research.pipeline import SourceOutcome, process, run_cycle
from bot.research.sources import get_source
from bot.state import ResearchItem, ResearchState
from tests.emulators.arxiv import ArxivEmulator
from tests.emulators.github import GitHubEmulator
from tests.emulators.openreview import OpenReviewEmulator
from tests.emulators.rss import FeedEmulator
from tests.emulators.semantic_scholar import SemanticScholarEmulator
from tests.emulators.tavily import TavilyEmulator
from tests.research.helpers import settings_for

LATENCY = 1.0
TIMEOUT = 2.0
N_ITEMS = 100_000
DUP_FRACTION = 0.30


def seed(now: datetime) -> dict[str, object]:
    ax = ArxivEmulator().start()
    ax.add_paper(
        "2511.00001",
        "Int6 Quantization with GPTQ for Tiny Language Models",
        "quantization",
        now - timedelta(hours=1),
    )
    orv = OpenReviewEmulator().start()
    orv.add_note(
        "Depth recurrence for small language models", "parameter sharing optimizer", now - timedelta(hours=1)
    )
    s2 = SemanticScholarEmulator().start()
    s2.add_paper(
        "Compressing language model weights", "model compression quantization", now.date().isoformat()
    )
    feeds = FeedEmulator().start()
    for path in ("/a.xml", "/b.xml"):
        feeds.add_feed(path)
        feeds.add_entry(
            path,
            f"Parameter Golf news {path}",
            f"https://example.org{path}",
            "val_bpb record",
            now - timedelta(hours=1),
        )
    tav = TavilyEmulator().start()
    tav.add_result("general", "Muon optimizer results", "https://example.org/muon", "Muon", 0.9)
    gh = GitHubEmulator().start()
    for repo in ("openai/parameter-golf", "KellerJordan/modded-nanogpt", "karpathy/autoresearch"):
        gh.add_repo(repo, files={"README.md": b"# repo\n"})
    gh.add_pr(
        "KellerJordan/modded-nanogpt", title="New speedrun record with Muon quantization", author="someone"
    )
    return {
        "arxiv": ax,
        "openreview": orv,
        "semantic_scholar": s2,
        "rss": feeds,
        "tavily": tav,
        "github_prs": gh,
        "github_code": gh,
    }


def run(
    emus: dict[str, object], state: Path, now: datetime, timeout: float
) -> tuple[float, dict[str, object]]:
    settings = settings_for(emus, source_retries=0, source_timeout_seconds=timeout)
    env = {"TAVILY_API_KEY": "tvly-test-key", "GITHUB_TOKEN": emus["github_prs"].add_token("bench")}  # type: ignore[attr-defined]
    t0 = time.monotonic()
    report = asyncio.run(run_cycle(settings, state, now=now, env=env, timeout=timeout))
    return time.monotonic() - t0, report.to_dict()


def synthetic(n: int, dup_fraction: float, rng: random.Random) -> list[tuple[str, list[ResearchItem]]]:
    unique = int(n * (1 - dup_fraction))
    words = [
        "sparse",
        "quantized",
        "recurrent",
        "tiny",
        "fast",
        "deep",
        "gated",
        "low-rank",
        "mixed",
        "adaptive",
    ]
    base: list[ResearchItem] = []
    for i in range(unique):
        a, b = rng.choice(words), rng.choice(words)
        base.append(
            ResearchItem(
                source="arxiv",
                id=f"arxiv:{2500 + i // 90000}.{i % 90000:05d}",
                title=f"{a.title()} {b} transformers for language model compression, study {i}",
                url=f"https://arxiv.org/abs/{2500 + i // 90000}.{i % 90000:05d}",
                arxiv_id=f"{2500 + i // 90000}.{i % 90000:05d}",
                summary=f"We study {a} and {b} quantization of small language models; variant {i}.",
                relevance=0.5 + (i % 5) / 10,  # as scored by its source (keyword scoring: see below)
                relevance_kind="keyword",
            )
        )
    dups: list[ResearchItem] = []
    for j in range(n - unique):
        orig = base[rng.randrange(unique)]
        kind = j % 3
        if kind == 0:  # Semantic Scholar: same arXiv id
            dups.append(
                ResearchItem(
                    source="semantic_scholar",
                    id=f"semantic_scholar:{j}",
                    title=orig.title,
                    arxiv_id=orig.arxiv_id,
                    relevance=0.6,
                )
            )
        elif kind == 1:  # a feed: same URL with tracking parameters
            dups.append(
                ResearchItem(
                    source="rss",
                    id=f"rss:{j}",
                    title=orig.title + " (blog)",
                    url=orig.url + "?utm_source=rss",
                    relevance=0.6,
                )
            )
        else:  # Tavily: the same title, re-cased and re-punctuated
            dups.append(
                ResearchItem(
                    source="tavily",
                    id=f"tavily:{j}",
                    title=orig.title.upper() + ".",
                    url=f"https://mirror.example/{j}",
                    relevance=0.7,
                    relevance_kind="tavily",
                )
            )
    batches = [("arxiv", base)]
    rng.shuffle(dups)
    third = len(dups) // 3
    batches += [
        ("semantic_scholar", dups[:third]),
        ("rss", dups[third : 2 * third]),
        ("tavily", dups[2 * third :]),
    ]
    return batches


def dedup_store(
    state_dir: Path, batches: list[tuple[str, list[ResearchItem]]]
) -> tuple[float, float, int, int]:
    t0, c0 = time.monotonic(), time.process_time()
    state = ResearchState(state_dir)
    index, _count = cache.load_index(state)
    outcomes = {name: SourceOutcome(name) for name, _ in batches}
    new, dups, _below = process(batches, index, 0.4, "2026-11-27T00:00:00Z", outcomes)
    cache.store(state, new, index.source_updates)  # as the pipeline stores: items + sources updates
    return time.monotonic() - t0, time.process_time() - c0, len(new), dups


def keyword_rate(n: int = 20_000) -> float:
    """Microseconds of CPU per keyword-scored item (title + abstract)."""
    from bot.research.keywords import keyword_score

    c0 = time.process_time()
    for i in range(n):
        keyword_score(
            f"Int6 quantization with GPTQ for tiny language models, study {i}",
            "We compress small transformer language models to 6 bits per weight and lose 0.002 bits per byte.",
        )
    return (time.process_time() - c0) / n * 1e6


def main() -> None:
    for name in ("arxiv", "openreview", "semantic_scholar", "rss", "tavily", "github_prs", "github_code"):
        get_source(name)  # imports are not part of a cycle
    now = clock.now()
    emus = seed(now)
    servers = list({id(e): e for e in emus.values()}.values())
    for e in servers:  # cancelled requests make the emulator threads print BrokenPipe tracebacks
        e._server.handle_error = lambda request, address: None  # type: ignore[attr-defined]
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for e in servers:
            e.latency = LATENCY  # type: ignore[attr-defined]
        full_s, full = run(emus, Path(tmp) / "full", now, timeout=10.0)
        print(
            f"full cycle, every source answering after {LATENCY} s: {full_s:.2f} s; new={full['new']} errors={full['errors']}"
        )
        emus["arxiv"].fail_next("hang", times=100)  # type: ignore[attr-defined]
        hang_s, hang = run(emus, Path(tmp) / "hang", now, timeout=TIMEOUT)
        print(
            f"arXiv never answering (timeout {TIMEOUT} s): {hang_s:.2f} s; saved={hang['new']} errors={list(hang['errors'])}"
        )
        for e in servers:
            e.stop()  # type: ignore[attr-defined]
        del emus, servers
        gc.collect()

        batches = synthetic(N_ITEMS, DUP_FRACTION, random.Random(4))
        total = sum(len(b) for _, b in batches)
        first_s, first_cpu, first_new, first_dups = dedup_store(Path(tmp) / "dedup", batches)
        print(
            f"dedup+store of {total:,} items: {first_s:.2f} s ({first_cpu:.2f} s CPU), {first_new:,} new, {first_dups:,} duplicates"
        )
        del batches
        gc.collect()
        batches = synthetic(N_ITEMS, DUP_FRACTION, random.Random(4))
        second_s, second_cpu, second_new, second_dups = dedup_store(Path(tmp) / "dedup", batches)
        print(
            f"second run over the same items: {second_s:.2f} s ({second_cpu:.2f} s CPU), {second_new} new, {second_dups:,} duplicates"
        )
        del batches
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kw_us = keyword_rate()
        print(f"keyword scoring: {kw_us:.1f} µs CPU per item; peak RSS {peak_mb:.0f} MB")
    figures = {
        "full_cycle_s": round(full_s, 3),
        "full_cycle_target_s": 1.5,
        "full_cycle_errors": len(full["errors"]),  # type: ignore[arg-type]
        "hang_cycle_s": round(hang_s, 3),
        "hang_cycle_target_s": TIMEOUT + 0.5,
        "hang_others_saved": hang["new"],
        "hang_failed_sources": sorted(hang["errors"]),  # type: ignore[arg-type]
        "dedup_items": total,
        "dedup_store_s": round(first_s, 3),
        "dedup_store_target_s": 3.0,
        "dedup_store_cpu_s": round(first_cpu, 3),
        "dedup_new": first_new,
        "dedup_duplicates": first_dups,
        "second_run_new": second_new,
        "second_run_s": round(second_s, 3),
        "keyword_score_us_per_item": round(kw_us, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "peak_rss_target_mb": 500,
    }
    figures["ok"] = bool(
        full_s <= 1.5
        and not full["errors"]
        and hang_s <= TIMEOUT + 0.5
        and hang["errors"]
        and list(hang["errors"]) == ["arxiv"]  # type: ignore[arg-type]
        and int(hang["new"]) > 0  # type: ignore[call-overload]
        and first_s <= 3.0
        and first_dups >= int(N_ITEMS * DUP_FRACTION) - 1
        and second_new == 0
        and peak_mb <= 500
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
