"""Fixtures for the research tests: emulators seeded with one realistic set of items, and
settings pointing every source at them (tiny politeness gap, backoff and timeouts)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.emulators.arxiv import ArxivEmulator
from tests.emulators.base import Emulator
from tests.emulators.openreview import OpenReviewEmulator
from tests.emulators.rss import FeedEmulator
from tests.emulators.semantic_scholar import SemanticScholarEmulator
from tests.emulators.tavily import TavilyEmulator
from tests.frozen import FROZEN_NOW

NOW = FROZEN_NOW  # the pinned clock (tests/conftest.py): fixtures never use the real date
HOUR = timedelta(hours=1)


def _reset(emu: Emulator) -> None:
    """Servers live for the session (stopping one costs 0.5 s); tests get them clean."""
    emu.clear_faults()
    emu.latency = 0.0
    emu.before_answer = None
    emu.requests.clear()


# One paper that every source reports in its own way (dedup must make it one item).
MUON_ID = "2502.16982"
MUON_TITLE = "Muon is Scalable for LLM Training"
MUON_ABSTRACT = (
    "Recently, the Muon optimizer based on matrix orthogonalization has demonstrated strong results "
    "in training small-scale language models. We scale Muon up and report 2x compute efficiency."
)
MUON_DOI = "10.48550/arXiv.2502.16982"


@pytest.fixture(scope="session")
def _arxiv_emu_server() -> Iterator[ArxivEmulator]:
    emu = ArxivEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def arxiv_emu(_arxiv_emu_server: ArxivEmulator) -> Iterator[ArxivEmulator]:
    emu = _arxiv_emu_server
    _reset(emu)
    emu.papers.clear()
    emu.call_times.clear()
    emu.add_paper(
        MUON_ID,
        MUON_TITLE,
        MUON_ABSTRACT,
        NOW - 2 * HOUR,
        version=2,
        authors=["Jingyuan Liu", "Jianlin Su"],
        categories=["cs.LG", "cs.CL"],
        doi=MUON_DOI,
        comment="22 pages",
    )
    emu.add_paper(
        "2511.00001",
        "Int6 Quantization with GPTQ for Tiny Language Models",
        "We compress small transformer language models to 6 bits per weight with GPTQ and lose 0.002 bits per byte.",
        NOW - 3 * HOUR,
        categories=["cs.LG"],
    )
    emu.add_paper(
        "2511.00002",
        "A Survey of Graph Neural Networks for Molecules",
        "Graph networks for chemistry; a language model appears once.",
        NOW - 4 * HOUR,
        categories=["cs.LG"],
    )
    emu.add_paper(
        "2510.09999",
        "Old Quantization Work on Language Models",
        "Quantization of language models, published long before the window.",
        NOW - 72 * HOUR,
        categories=["cs.LG"],
    )
    yield emu
    _reset(emu)


@pytest.fixture(scope="session")
def _openreview_emu_server() -> Iterator[OpenReviewEmulator]:
    emu = OpenReviewEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def openreview_emu(_openreview_emu_server: OpenReviewEmulator) -> Iterator[OpenReviewEmulator]:
    emu = _openreview_emu_server
    _reset(emu)
    emu.notes.clear()
    emu.add_note(
        "Muon is scalable for LLM training.",
        MUON_ABSTRACT,
        NOW - 1 * HOUR,
        authors=["Anonymous"],
        keywords=["optimizer", "muon"],
    )
    emu.add_note(
        "Depth Recurrence Makes Small Language Models Deeper for Free",
        "Parameter sharing through depth recurrence improves language modeling at fixed size.",
        NOW - 2 * HOUR,
        keywords=["parameter sharing", "language model"],
    )
    emu.add_note(
        "An old optimizer paper",
        "An optimizer study from last year.",
        NOW - 400 * HOUR,
        keywords=["optimizer"],
    )
    yield emu
    _reset(emu)


@pytest.fixture(scope="session")
def _s2_emu_server() -> Iterator[SemanticScholarEmulator]:
    emu = SemanticScholarEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def s2_emu(_s2_emu_server: SemanticScholarEmulator) -> Iterator[SemanticScholarEmulator]:
    emu = _s2_emu_server
    _reset(emu)
    emu.papers.clear()
    emu.api_keys = set()
    emu.add_paper(
        "Muon is Scalable for LLM Training",
        MUON_ABSTRACT,
        NOW.date().isoformat(),
        arxiv=MUON_ID,
        doi=MUON_DOI,
        authors=["Jingyuan Liu"],
    )
    emu.add_paper(
        "Tokenizer-free compression of language model weights",
        "Model compression for language model weights with entropy coding.",
        NOW.date().isoformat(),
        doi="10.1000/xyz123",
    )
    emu.add_paper("Ancient language model paper", "A language model from 2019.", "2019-05-01")
    yield emu
    _reset(emu)


@pytest.fixture(scope="session")
def _feed_emu_server() -> Iterator[FeedEmulator]:
    emu = FeedEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def feed_emu(_feed_emu_server: FeedEmulator) -> Iterator[FeedEmulator]:
    emu = _feed_emu_server
    _reset(emu)
    emu.feeds.clear()
    emu.add_feed("/blog/feed.xml", "rss", "ML blog")
    emu.add_entry(
        "/blog/feed.xml",
        "Why Muon works: a note",
        f"https://arxiv.org/pdf/{MUON_ID}v1.pdf",
        "<p>A short note about the <b>Muon optimizer</b> paper.</p>",
        NOW - 1 * HOUR,
        author="Blogger",
    )
    emu.add_entry(
        "/blog/feed.xml",
        "Cooking with cast iron",
        "https://example.org/cast-iron?utm_source=rss",
        "Nothing to do with machine learning.",
        NOW - 2 * HOUR,
    )
    emu.add_entry(
        "/blog/feed.xml",
        "Old post about quantization",
        "https://example.org/old",
        "quantization",
        NOW - 100 * HOUR,
    )
    emu.add_feed("/news/atom.xml", "atom", "Lab news")
    emu.add_entry(
        "/news/atom.xml",
        "Parameter Golf: a new record at 1.06 val_bpb",
        "https://example.org/pg-record",
        "A new parameter golf record with GPTQ and depth recurrence.",
        NOW - 3 * HOUR,
        author="Lab",
    )
    yield emu
    _reset(emu)


@pytest.fixture(scope="session")
def _tavily_emu_server() -> Iterator[TavilyEmulator]:
    emu = TavilyEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def tavily_emu(_tavily_emu_server: TavilyEmulator) -> Iterator[TavilyEmulator]:
    emu = _tavily_emu_server
    _reset(emu)
    emu.results.clear()
    emu.searches.clear()
    emu.api_keys = {"tvly-test-key"}
    emu.allow_keyless = True
    emu.add_result(
        "general",
        "MUON IS SCALABLE FOR LLM TRAINING",
        "https://huggingface.co/papers/2502.16982",
        MUON_ABSTRACT,
        0.91,
    )
    emu.add_result(
        "general", "Some unrelated shopping page", "https://shop.example.com/x", "buy things", 0.22
    )
    emu.add_result(
        "general",
        "Parameter Golf leaderboard update",
        "https://github.com/openai/parameter-golf",
        "The leaderboard top is now 1.0611 val_bpb.",
        0.77,
        published_date=(NOW - 2 * HOUR).strftime("%Y-%m-%d"),
    )
    emu.add_result(
        "news",
        "OpenAI extends Parameter Golf deadline",
        "https://news.example.com/pg-deadline",
        "The Parameter Golf challenge deadline moves.",
        0.83,
        published_date=(NOW - 1 * HOUR).strftime("%a, %d %b %Y %H:%M:%S GMT"),
    )
    emu.add_result(
        "news",
        "Week-old news",
        "https://news.example.com/old",
        "Old parameter golf news.",
        0.9,
        published_date=(NOW - 30 * HOUR).isoformat(),
    )
    yield emu
    _reset(emu)
