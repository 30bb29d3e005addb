"""A synthetic research repository of any size, written through pgolf's own writers.

Used by the report benchmark and tests (``make_sample_repo(root, rows=1000)``): ledger rows
go through :func:`bot.ledger.make_row` and one atomic write, budget runs through
:func:`bot.budget.reserve`/:func:`bot.budget.settle`, research records through
:func:`bot.state.append_jsonl`. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import budget as budget_mod
from bot.config import Settings
from bot.fileio import atomic_write_bytes
from bot.ledger import HEADER, make_row
from bot.state import CompetitorScore, GradedItem, ResearchItem, ResearchState, VerifiedBrief, append_jsonl

IDEAS = (
    "int6 quantization of MLP weights",
    "sliding window eval stride 64",
    "EMA of weights",
    "MLP 3x width",
    "11 layers",
    "muon momentum 0.97",
    "warmdown 3000 iterations",
    "leaky relu squared",
    "bigram hash embedding",
    "weight decay 0.04",
    "partial RoPE",
    "zstd level 22 export",
)


def _sha(seed: int, i: int) -> str:
    return hashlib.sha1(f"{seed}:{i}".encode()).hexdigest()


def make_sample_repo(
    root: Path | str,
    rows: int = 40,
    *,
    seed: int = 0,
    settings: Settings | None = None,
    runs: int | None = None,
    research_items: int = 60,
    cycles: int = 3,
) -> Path:
    """Write results.tsv, budget.json and a research state folder under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    settings = settings or Settings(tier2_min_interval_seconds=0)
    rng = random.Random(seed)
    lines = [HEADER]
    promoted: list[tuple[str, float]] = []
    base = 1.95
    for i in range(rows):
        sha = _sha(seed, i)
        if i % 10 == 0:
            bpb = base + rng.gauss(0, 0.004)
            row = make_row(
                commit=sha[:12],
                tier="local",
                val_bpb=round(bpb, 6),
                artifact_bytes=15_800_000,
                memory_gb=3.1,
                status="keep",
                description=f"baseline seed={i}",
            )
        elif i % 7 == 3 and promoted:
            commit, local = promoted.pop(0)
            bpb = 1.2244 - (1.95 - local) * 0.8 + rng.gauss(0, 0.003)
            row = make_row(
                commit=commit,
                tier="runpod",
                val_bpb=round(bpb, 6),
                artifact_bytes=15_900_000 - rng.randrange(0, 500_000),
                memory_gb=70.0,
                status="keep" if bpb < 1.22 else "discard",
                promoted="yes",
                cost_usd=round(rng.uniform(2.5, 4.5), 2),
                description=f"promoted {commit[:7]}",
            )
        elif i % 17 == 5:
            row = make_row(
                commit=sha[:12],
                tier="local",
                val_bpb=None,
                artifact_bytes=None,
                memory_gb=None,
                status="crash",
                description=f"{rng.choice(IDEAS)} (OOM)",
            )
        else:
            bpb = base - rng.uniform(-0.02, 0.08) - i * 0.00005
            good = bpb < base * 0.97
            row = make_row(
                commit=sha[:12],
                tier="local",
                val_bpb=round(bpb, 6),
                artifact_bytes=15_000_000 + rng.randrange(0, 990_000),
                memory_gb=3.2,
                status="keep" if good else "discard",
                promoted="pending" if good else "no",
                description=f"{rng.choice(IDEAS)} #{i}",
            )
            if good:
                promoted.append((sha[:12], bpb))
        lines.append(row.raw_line())
    atomic_write_bytes(root / "results.tsv", ("\n".join(lines) + "\n").encode("utf-8"))

    bpath = root / "budget.json"
    budget_mod.init(bpath, settings)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    n_runs = runs if runs is not None else max(0, min(60, rows // 8))
    for k in range(n_runs):
        when = start + timedelta(hours=2 * k)
        rid = f"run-{k:04d}"
        try:
            budget_mod.reserve(bpath, settings, rid, 5.0, pr=100 + k, sha=_sha(seed, k * 7 + 3), now=when)
        except Exception:
            break  # reached the reserve floor: the burn-down stops there, as it would for real
        budget_mod.settle(
            bpath,
            settings,
            rid,
            seconds=rng.uniform(500, 900),
            pod_id=f"pod{k}",
            start=budget_mod.iso(when),
            end=budget_mod.iso(when + timedelta(minutes=15)),
        )

    state = ResearchState(root / settings.state_dir)
    state.dir.mkdir(parents=True, exist_ok=True)
    sources = ("arxiv", "openreview", "semantic_scholar", "github_prs", "rss", "tavily")
    items = [
        ResearchItem(
            source=sources[j % len(sources)],
            id=f"{sources[j % len(sources)]}:{j}",
            title=f"Paper {j}: {rng.choice(IDEAS)}",
            url=f"https://example.org/{j}",
            extra={"cycle": f"2026-03-0{1 + j % max(cycles, 1)}T00"} if cycles else {},
        )
        for j in range(research_items)
    ]
    append_jsonl(state.raw_cache_path, items)
    graded = []
    for j, it in enumerate(items):
        total = rng.randrange(2, 16)
        tier = "A" if total >= 12 else "B" if total >= 8 else "C"
        if j % 23 == 22:
            tier = "ungradable"
        graded.append(
            GradedItem(
                item_id=it.id,
                title=it.title,
                url=it.url,
                source=it.source,
                total=total,
                tier=tier,
                category=rng.choice(("quantization", "architecture", "optimizer")),
            )
        )
    append_jsonl(state.graded_path, graded)
    append_jsonl(
        state.verified_path,
        [
            VerifiedBrief(item_id=g.item_id, title=g.title, url=g.url, brief="do X")
            for g in graded
            if g.tier == "A"
        ][:5],
    )
    append_jsonl(
        state.competitors_path,
        [
            CompetitorScore(
                source="parameter-golf",
                name="Naive Baseline",
                key="pg:naive",
                val_bpb=1.2244,
                date="2026-03-17",
                track="record",
                author="openai",
                status="record",
                provenance="leaderboard",
            ),
            CompetitorScore(
                source="parameter-golf",
                name="SmearGate BOS fix",
                key="pg:smear",
                val_bpb=1.0614,
                date="2026-04-29",
                track="record",
                pr=1234,
                author="someone",
                status="record",
                provenance="leaderboard",
            ),
            CompetitorScore(
                source="modded-nanogpt", name="Record 1", key="mn:1", record_minutes=2.99, date="2025-01-01"
            ),
        ],
    )
    return root
