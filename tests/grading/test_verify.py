"""Verification of tier-A items: arXiv abstract page (httpx), Tavily extract and search
(tavily-python), re-grade (offline or Claude) and the implementation brief."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.grading.pdftext import extract_text
from bot.grading.verify import verify
from bot.program import template
from bot.program_inputs import gather_inputs
from bot.state import GradedItem, ResearchItem, ResearchState, append_jsonl
from tests.emulators.anthropic import AnthropicEmulator, text_block, tool_block
from tests.emulators.base import Emulator, Request, Response
from tests.emulators.tavily_extract import TavilyExtractEmulator
from tests.grading.conftest import settings_for

ABS_PAGE = """<html><head><title>[2501.00001] Int6 QAT</title></head><body>
<h1 class="title mathjax"><span class="descriptor">Title:</span>Int6 Quantization-Aware Training for Tiny LMs</h1>
<blockquote class="abstract mathjax"><span class="descriptor">Abstract:</span>
We train 20M-parameter models with int6 QAT and zstd. The artifact shrinks by 25% and val bpb improves by 0.012.
Training is 3% slower per step.</blockquote>
<table><tr><td class="tablecell comments mathjax">12 pages, code at github.com/x/int6</td></tr></table>
</body></html>"""

WEB_TEXT = "Blog: EMA of weights during warmdown. On a 16 MB model the EMA lowered val_bpb by 0.004 at no extra step time."


def make_pdf(lines: list[str], tj: bytes = b"") -> bytes:
    """A minimal one-page PDF whose content stream (Flate-compressed) shows ``lines``."""

    def lit(text: str) -> bytes:
        return (
            b"("
            + text.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            + b")"
        )

    ops = (
        b"BT /F1 10 Tf 72 720 Td "
        + b" T* ".join(lit(line) + b" Tj" for line in lines)
        + b" T* "
        + tj
        + b" ET"
    )
    data = zlib.compress(ops)
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        + b"4 0 obj\n<< /Length "
        + str(len(data)).encode()
        + b" /Filter /FlateDecode >>\nstream\n"
        + data
        + b"\nendstream\nendobj\n"
        + b"5 0 obj\n<< /Length 4 /Filter /DCTDecode >>\nstream\n\xff\xd8\xff\xe0\nendstream\nendobj\n%%EOF\n"
    )


PDF = make_pdf(
    [
        "3 Method",
        "We replace CastedLinear weights by int6 (per-row scales) during the last 30% of steps.",
        "Results: val_bpb 1.1873 (-0.012).",
    ],
    tj=b"[(Ker) -20 (ning) -400 (works)] TJ",
)


class ArxivAbs(Emulator):
    name = "arxiv-abs"

    def __init__(self) -> None:
        super().__init__()
        self.add_route("GET", r"/abs/(?P<id>[0-9.v]+)", self._abs)
        self.add_route("GET", r"/pdf/(?P<id>[0-9.v]+)", self._pdf)
        self.add_route(
            "GET",
            r"/blog/ema",
            lambda req: Response(200, f"<html><body><p>{WEB_TEXT}</p></body></html>", {}, "text/html"),
        )

    pdf_down = False

    def _pdf(self, req: Request) -> Response:
        if self.pdf_down:
            return Response(503, "<html>busy</html>", {}, "text/html")
        if req.params["id"] != "2501.00001":
            return Response(404, "<html>not found</html>", {}, "text/html")
        return Response(200, PDF, {}, "application/pdf")

    def _abs(self, req: Request) -> Response:
        if req.params["id"] != "2501.00001":
            return Response(404, "<html>not found</html>", {}, "text/html")
        return Response(200, ABS_PAGE, {}, "text/html; charset=utf-8")


@pytest.fixture
def servers() -> Iterator[tuple[ArxivAbs, TavilyExtractEmulator]]:
    a, t = ArxivAbs(), TavilyExtractEmulator()
    a.start()
    t.start()
    t.pages[f"{a.url}/blog/ema"] = WEB_TEXT
    t.add_result("general", "EMA for speedruns", "https://other.example/ema", "EMA helps short runs", 0.9)
    yield a, t
    a.stop()
    t.stop()


@pytest.fixture
def tier_a(repo: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator]) -> Path:
    blog = f"{servers[0].url}/blog"
    items = [
        ResearchItem(
            source="arxiv",
            id="arxiv:2501.00001",
            title="Int6 QAT for tiny LMs",
            url="https://arxiv.org/abs/2501.00001",
            arxiv_id="2501.00001",
            summary="int6 QAT",
        ),
        ResearchItem(
            source="rss",
            id="rss:ema",
            title="EMA of weights during warmdown",
            url=f"{blog}/ema",
            summary="EMA",
        ),
        ResearchItem(source="rss", id="rss:meh", title="Something average", url=f"{blog}/meh", summary="x"),
    ]
    (repo / "research" / "raw_cache.jsonl").write_text("")
    append_jsonl(repo / "research" / "raw_cache.jsonl", items)
    scores = {
        "bpb_impact": 2,
        "size_compatibility": 3,
        "time_compatibility": 1,
        "implementability": 3,
        "novelty": 2,
    }
    append_jsonl(
        repo / "research" / "graded.jsonl",
        [
            GradedItem(
                item_id="arxiv:2501.00001",
                title=items[0].title,
                url=items[0].url,
                scores=scores,
                total=11,
                tier="A",
                category="quantization",
                content_hash="c1",
            ),
            GradedItem(
                item_id="rss:ema",
                title=items[1].title,
                url=items[1].url,
                scores=scores,
                total=10,
                tier="A",
                category="schedule",
                content_hash="c2",
            ),
            GradedItem(
                item_id="rss:meh",
                title=items[2].title,
                scores=scores,
                total=7,
                tier="B",
                category="other",
                content_hash="c3",
            ),
        ],
    )
    return repo


def _settings(root: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator]):  # type: ignore[no-untyped-def]
    return settings_for(root, arxiv_abs_base_url=servers[0].url, tavily_base_url=servers[1].url)


def test_offline_verification_writes_briefs(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator]
) -> None:
    env = {"TAVILY_API_KEY": "tvly-test-key"}
    run = verify(tier_a, _settings(tier_a, servers), env)
    assert run.mode == "offline" and run.candidates == 2 and len(run.verified) == 2
    briefs = {b.item_id: b for b in ResearchState(tier_a / "research").verified()}
    q = briefs["arxiv:2501.00001"]
    assert q.brief.startswith("**Status:** verified\n") and q.extra["status"] == "verified"
    # the brief names what the item itself says, not a category template
    assert "**Change in train_gpt.py:** as the item describes it: Int6 QAT for tiny LMs" in q.brief
    assert "We train 20M-parameter models with int6 QAT and zstd." in q.brief
    assert "step time — Training is 3% slower per step." in q.brief
    assert re.search(r"bytes — [^;]*(20M-parameter|artifact shrinks)", q.brief)  # the item's words
    assert "Change the export path" not in q.brief  # the old quantization template
    assert "val bpb improves by 0.012" in q.brief  # a figure taken from the full text
    assert q.extra["full_text_source"].endswith("/abs/2501.00001 + " + servers[0].url + "/pdf/2501.00001")
    assert q.extra["full_text_chars"] > 200
    assert q.score_before == 11 and q.score_after == sum(q.extra["scores"].values())
    assert f"Score 11 → {q.score_after} of 15" in q.brief
    e = briefs["rss:ema"]
    assert e.extra["full_text_source"] == f"tavily extract {servers[0].url}/blog/ema"
    assert e.corroboration == ["https://other.example/ema"]
    assert servers[1].extracts[0]["urls"] == [f"{servers[0].url}/blog/ema"]
    assert "rss:meh" not in briefs  # tier B is not verified
    # Unchanged items are not verified twice.
    again = verify(tier_a, _settings(tier_a, servers), env)
    assert again.skipped == 2 and again.verified == []


def test_verified_section_in_program_md(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator]
) -> None:
    verify(tier_a, _settings(tier_a, servers), {}, top=1)
    (tier_a / "program.md").write_text(template())
    section = gather_inputs(tier_a, _settings(tier_a, servers)).sections["VERIFIED"]
    assert "Int6 QAT for tiny LMs" in section and "**Change in train_gpt.py:**" in section


def test_fetch_failures_are_warnings(tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator]) -> None:
    servers[1].pages.clear()
    s = settings_for(tier_a, arxiv_abs_base_url="http://127.0.0.1:9", tavily_base_url=servers[1].url)
    run = verify(tier_a, s, {"TAVILY_API_KEY": "tvly-test-key"}, top=2)
    assert len(run.verified) == 2
    assert any("arXiv page" in w for w in run.warnings) and any(
        "Tavily extract failed" in w for w in run.warnings
    )
    briefs = {b.item_id: b for b in run.verified}
    q = briefs["arxiv:2501.00001"]  # arXiv unreachable: the brief says so, arxiv.org is not tried
    assert (
        q.extra["full_text_source"] == "arXiv unreachable" and "no full text (arXiv unreachable)" in q.brief
    )
    # without the full text nothing is verified: it says so, and names only what the summary says
    assert q.brief.startswith("**Status:** unverified: full text unreachable\n")
    assert q.extra["status"] == "unverified: full text unreachable" and run.unverified == 1
    assert "bytes — not stated by the item" in q.brief
    e = briefs["rss:ema"]  # Tavily failed: a plain GET of the page, HTML stripped
    assert e.extra["full_text_source"] == f"{servers[0].url}/blog/ema"
    assert "lowered val_bpb by 0.004" in e.brief


def _answer(item_id: str, **over: object) -> list[dict[str, object]]:
    g: dict[str, object] = {
        "item_id": item_id,
        "bpb_impact": 3,
        "size_compatibility": 3,
        "time_compatibility": 1,
        "implementability": 3,
        "novelty": 2,
        "category": "quantization",
        "rationale": "confirmed",
        "change": "Add int6 fake-quant in CastedLinear for the last 30% of steps; int6 pack in export.",
        "bytes_effect": "-25% weight bytes",
        "step_time_effect": "+3% per step",
        "val_bpb_effect": "-0.012 reported",
        "risks": "outlier channels",
    }
    g.update(over)
    return [tool_block("record_verification", {"grades": [g]})]


def test_llm_verification_with_one_retry(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator], emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.answer_with([text_block("looks good")], _answer("arxiv:2501.00001"))
    run = verify(tier_a, _settings(tier_a, servers), {**env, "TAVILY_API_KEY": "tvly-test-key"}, top=1)
    assert run.mode == "anthropic" and len(run.verified) == 1
    b = run.verified[0]
    assert b.grader == "anthropic:claude-sonnet-4-6" and (b.score_before, b.score_after) == (11, 12)
    assert "CastedLinear" in b.brief and "-25% weight bytes" in b.brief and "outlier channels" in b.brief
    sent = emu.messages[-1]["body"]
    user = " ".join(b["text"] for b in sent["messages"][0]["content"])  # type: ignore[index]
    assert "val bpb improves by 0.012" in user and "https://other.example/ema" in user
    assert "rejected" in user and sent["system"][-1]["cache_control"] == {"type": "ephemeral"}  # type: ignore[index]
    assert run.cost["requests"] == 2


def test_llm_verification_counts_against_the_daily_cap(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator], emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    from bot.grading.ledger_state import GradingState

    emu.answer_with(_answer("arxiv:2501.00001"))
    gs = GradingState(tier_a / "research")
    run = verify(tier_a, _settings(tier_a, servers), {**env, "TAVILY_API_KEY": "tvly-test-key"}, top=1)
    assert len(run.verified) == 1 and gs.spent_today() == pytest.approx(run.cost["usd"])
    # today's cap already spent (by grading): verification sends nothing
    s = settings_for(
        tier_a,
        arxiv_abs_base_url=servers[0].url,
        tavily_base_url=servers[1].url,
        grading_daily_max_usd=gs.spent_today(),
    )
    (tier_a / "research" / "verified.jsonl").write_text("")
    sent = len(emu.messages)
    again = verify(tier_a, s, {**env, "TAVILY_API_KEY": "tvly-test-key"}, top=1)
    assert again.stopped == "budget" and again.verified == [] and len(emu.messages) == sent


def test_llm_verification_invalid_twice_is_skipped(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator], emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.answer_with(_answer("arxiv:2501.00001", novelty=5), _answer("arxiv:2501.00001", risks=""))
    run = verify(tier_a, _settings(tier_a, servers), env, top=1)
    assert run.verified == [] and any("invalid answer twice" in w for w in run.warnings)
    assert ResearchState(tier_a / "research").verified() == []


def test_pdf_text_extraction() -> None:
    text = extract_text(PDF)
    assert text.splitlines() == [
        "3 Method",
        "We replace CastedLinear weights by int6 (per-row scales) during the last 30% of steps.",
        "Results: val_bpb 1.1873 (-0.012).",
        "Kerning works",
    ]
    assert extract_text(b"<html>not a pdf</html>") == ""
    garbage = make_pdf(["\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 5])
    assert extract_text(garbage) == ""  # unreadable font encodings are refused, not returned


def test_llm_sees_the_pdf_method_section(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator], emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.answer_with(_answer("arxiv:2501.00001"))
    verify(tier_a, _settings(tier_a, servers), env, top=1)
    user = " ".join(b["text"] for b in emu.messages[-1]["body"]["messages"][0]["content"])  # type: ignore[index]
    assert "int6 (per-row scales) during the last 30% of steps" in user


def test_an_abstract_without_its_pdf_is_not_verified(
    tier_a: Path, servers: tuple[ArxivAbs, TavilyExtractEmulator]
) -> None:
    """The arXiv abstract page answers but the PDF does not: what was read is the abstract — the
    same text the item (an arXiv listing) was graded on. That proves nothing more: the brief
    says "unverified: full text unreachable" and why, never "verified"."""
    servers[0].pdf_down = True
    run = verify(tier_a, _settings(tier_a, servers), {}, top=1)
    (q,) = [b for b in run.verified if b.item_id == "arxiv:2501.00001"]
    assert q.brief.startswith("**Status:** unverified: full text unreachable\n"), q.brief
    assert q.extra["status"] == "unverified: full text unreachable" and run.unverified == 1
    assert "abstract only" in q.extra["full_text_source"] and "/pdf/2501.00001" in q.extra["full_text_source"]
    assert any("arXiv PDF" in w for w in run.warnings)
