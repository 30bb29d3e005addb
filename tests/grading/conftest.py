"""Fixtures for grading tests: a research repo on disk and the Anthropic emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.ledger import Ledger, make_row
from bot.state import CompetitorScore, ResearchItem, append_jsonl
from tests.emulators.anthropic import AnthropicEmulator

ITEM_TEXTS = [
    (
        "Int6 quantization-aware training with zstd export",
        "We quantize weights to int6 with QAT and compress with zstd, saving 20% of bytes; perplexity improves by 1%. Code is available on github.com/a/b.",
    ),
    (
        "Muon optimizer with Newton-Schulz orthogonalization",
        "Muon updates with Newton-Schulz iterations converge faster for small transformers; loss improves 2%.",
    ),
    (
        "Sliding window evaluation for language models",
        "Evaluating with a sliding window at test time lowers bits per byte by 0.02 on small models.",
    ),
    (
        "A 70B mixture of experts trained for 30 days",
        "We scale up to 70B parameters and train on 15 trillion tokens over 30 days of GPU-hours.",
    ),
    (
        "Warmdown schedule for short training runs",
        "A simple learning-rate warmdown for speedrun-style training; a drop-in hyperparameter change.",
    ),
    (
        "Byte-level BPE tokenizer with a vocabulary of 4096",
        "A larger SentencePiece vocabulary reduces tokens per byte on FineWeb.",
    ),
    (
        "Fused Triton kernels for faster attention",
        "Custom CUDA kernels raise throughput 1.3x; requires the flashlib library.",
    ),
    ("Dataset deduplication of FineWeb shards", "Deduplicated data improves loss by 0.5% at equal steps."),
    ("Grouped-query attention with QK-norm", "GQA with QK norm and RoPE for small models."),
    ("Test-time training on the validation context", "TTT adapts at evaluation time and lowers bpb by 3%."),
    (
        "Depth recurrence: looped transformer blocks",
        "Sharing layers across depth (looped blocks) saves parameters; perplexity parity at 40% fewer parameters.",
    ),
    (
        "EMA of weights during warmdown",
        "An exponential moving average of weights (EMA) improves final loss by 0.3%.",
    ),
]


def make_items(n: int = 12, prefix: str = "arxiv:2501.") -> list[ResearchItem]:
    out = []
    for i in range(n):
        title, summary = ITEM_TEXTS[i % len(ITEM_TEXTS)]
        out.append(
            ResearchItem(
                source="arxiv",
                id=f"{prefix}{i:05d}",
                title=f"{title} ({i})" if i >= len(ITEM_TEXTS) else title,
                url=f"https://arxiv.org/abs/2501.{i:05d}",
                summary=summary,
                published="2026-11-20T00:00:00Z",
            )
        )
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "research").mkdir(parents=True)
    append_jsonl(root / "research" / "raw_cache.jsonl", make_items())
    Ledger.init(root / "results.tsv")
    return root


def settings_for(root: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"grading_batch_poll_seconds": "0", "llm_retry_max_wait_seconds": "0.05"}
    base.update({k: str(v) for k, v in overrides.items()})
    return load_settings(root, env={}, overrides=base)


@pytest.fixture
def emu() -> Iterator[AnthropicEmulator]:
    e = AnthropicEmulator(polls_until_ended=2)
    e.start()
    yield e
    e.stop()


@pytest.fixture
def env(emu: AnthropicEmulator) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": emu.api_key, "ANTHROPIC_BASE_URL": emu.url}


def add_row(root: Path, **kw: Any) -> None:
    defaults: dict[str, Any] = {
        "commit": "abc1234",
        "tier": "local",
        "val_bpb": 1.25,
        "artifact_bytes": 15_000_000,
        "memory_gb": 10.0,
        "status": "keep",
        "description": "",
    }
    defaults.update(kw)
    Ledger.append(root / "results.tsv", make_row(**defaults))


def add_competitors(root: Path) -> None:
    append_jsonl(
        root / "research" / "competitors.jsonl",
        [
            CompetitorScore(
                source="parameter-golf",
                name="Int6 QAT + zstd",
                key="pg:a",
                val_bpb=1.1500,
                techniques="int6 QAT, zstd-22, sliding window eval",
                author="alice",
                date="2026-11-01",
                status="record",  # accepted: only accepted records reach the grading context
                provenance="leaderboard",
            ),
            CompetitorScore(
                source="parameter-golf",
                name="Naive baseline",
                key="pg:b",
                val_bpb=1.2244,
                techniques="int8 + zlib",
                author="openai",
                date="2026-10-01",
                status="record",
                provenance="leaderboard",
            ),
        ],
    )
