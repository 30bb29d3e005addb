"""The LLM grader through the Messages API against the emulator: batching items, caching,
skip-unchanged, validation with one retry, budget stop, 429/529 retries, offline fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import GradingError
from bot.grading.grader import RUNS_LOG, grade
from bot.grading.prompt import build_prompt, load_context
from bot.llm import estimate_cost
from bot.state import ResearchState, append_jsonl
from tests.emulators.anthropic import AnthropicEmulator, text_block, tool_block
from tests.grading.conftest import add_row, make_items, settings_for
from tests.grading.responders import grading_responder, request_items


def _messages(emu: AnthropicEmulator) -> list[dict[str, object]]:
    return [m for m in emu.messages if m["tier"] == "standard"]


def test_grades_several_items_per_request_with_a_cached_prefix(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    run = grade(repo, settings_for(repo, grading_items_per_request=5), env, use_batches=False)
    assert (run.mode, run.graded, run.ungradable) == ("messages", 12, 0)
    sent = _messages(emu)
    assert [len(request_items(m["body"])) for m in sent] == [5, 5, 2]  # type: ignore[arg-type]
    usages = [m["usage"] for m in sent]
    assert usages[0]["cache_creation_input_tokens"] > 1024 and usages[0]["cache_read_input_tokens"] == 0  # type: ignore[index]
    assert all(u["cache_read_input_tokens"] == usages[0]["cache_creation_input_tokens"] for u in usages[1:])  # type: ignore[index]
    graded = {g.item_id: g for g in ResearchState(repo / "research").graded()}
    assert len(graded) == 12
    g = graded["arxiv:2501.00000"]
    assert (
        g.grader == "anthropic:claude-sonnet-4-6" and g.total == sum(g.scores.values()) and g.max_total == 15
    )
    assert g.tier in ("A", "B", "C") and g.context_version == run.context_version and g.content_hash
    assert "selection_bonus" in g.extra
    log = [json.loads(x) for x in (repo / "research" / RUNS_LOG).read_text().splitlines()]
    assert log[-1]["run_id"] == run.run_id and log[-1]["cost"]["usage"]["cache_read_input_tokens"] > 0
    assert log[-1]["cost"]["usd"] == pytest.approx(run.cost["usd"])


def test_no_cache_setting_sends_no_breakpoint(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    grade(repo, settings_for(repo, grading_use_cache=False), env, use_batches=False)
    assert all(m["usage"]["cache_read_input_tokens"] == 0 for m in emu.messages)  # type: ignore[index]
    assert "cache_control" not in json.dumps(emu.messages[0]["body"])


def test_skip_unchanged_then_regrade_what_changed(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    s = settings_for(repo)
    grade(repo, s, env, use_batches=False)
    n = len(emu.messages)
    again = grade(repo, s, env, use_batches=False)
    assert (again.skipped, again.graded) == (12, 0) and len(emu.messages) == n  # nothing sent
    # One item's content changes: only it is re-graded.
    item = make_items()[3]
    item.summary += " Updated abstract."
    append_jsonl(repo / "research" / "raw_cache.jsonl", [item])
    third = grade(repo, s, env, use_batches=False)
    assert (third.skipped, third.graded) == (11, 1)
    assert [i["id"] for i in request_items(emu.messages[-1]["body"])] == [item.id]  # type: ignore[arg-type]
    # The context changes in a way immaterial to these items (all graded "quantization"): an
    # architecture experiment fails. Nothing is re-graded although the prompt changed.
    add_row(repo, commit="dead123", status="discard", description="SwiGLU 3x")
    fourth = grade(repo, s, env, use_batches=False)
    assert fourth.graded == 0 and fourth.skipped == 12 and fourth.context_version != third.context_version
    # A quantization experiment is material to every quantization item: all are re-graded.
    add_row(repo, commit="beef456", status="discard", description="int6 QAT with zstd")
    fifth = grade(repo, s, env, use_batches=False)
    assert fifth.graded == 12 and fifth.regraded_for == {
        "a quantization experiment was added to the ledger": 12
    }
    # Switched off: re-grades everything although nothing changed.
    assert grade(repo, settings_for(repo, grading_skip_unchanged=False), env, use_batches=False).graded == 12


def test_out_of_range_answer_is_retried_once_then_accepted(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder(bad={"arxiv:2501.00002": 1})
    run = grade(repo, settings_for(repo), env, use_batches=False)
    assert (run.graded, run.ungradable, run.retried) == (12, 0, 1)
    sent = [m["body"] for m in _messages(emu)]
    assert len(sent) == 3  # 10 + 2 items, and the retry right after the first request
    retry = sent[1]
    assert [i["id"] for i in request_items(retry)] == ["arxiv:2501.00002"]  # type: ignore[arg-type]
    content = retry["messages"][0]["content"]  # type: ignore[index]
    assert "novelty: 9 is outside 0..3" in " ".join(b["text"] for b in content)
    g = {g.item_id: g for g in ResearchState(repo / "research").graded()}["arxiv:2501.00002"]
    assert g.scores["novelty"] <= 3


def test_invalid_twice_is_ungradable_with_reason(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder(bad={"arxiv:2501.00002": 2})
    run = grade(repo, settings_for(repo), env, use_batches=False)
    assert (run.graded, run.ungradable) == (11, 1)
    g = {g.item_id: g for g in ResearchState(repo / "research").graded()}["arxiv:2501.00002"]
    assert g.tier == "ungradable" and g.scores == {} and g.total == 0
    assert "novelty: 9 is outside 0..3" in g.error
    # Ungradable items are tried again on the next run.
    emu.responder = grading_responder()
    assert grade(repo, settings_for(repo), env, use_batches=False).graded == 1


def test_text_answer_then_malformed_tool_input(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    (repo / "research" / "raw_cache.jsonl").write_text("")
    append_jsonl(repo / "research" / "raw_cache.jsonl", make_items(2))
    emu.answer_with(
        [text_block("Both look promising!")], [tool_block("record_grades", {"grades": {"oops": 1}})]
    )
    run = grade(repo, settings_for(repo), env, use_batches=False)
    assert run.ungradable == 2 and run.graded == 0
    errors = sorted(g.error for g in ResearchState(repo / "research").graded())
    assert all("no record_grades tool call" in e and "no 'grades' list" in e for e in errors)


def test_budget_stops_cleanly_and_keeps_what_was_graded(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    s = settings_for(repo, grading_items_per_request=4, grader_max_tokens=1000)
    # Room for one worst-case request and a bit: the first goes out, then the run stops.
    first = build_prompt(load_context(repo, s), s.grader_model).params(s.grader_model, 1000, make_items()[:4])
    budget = estimate_cost(first) * 1.5
    run = grade(repo, s, env, use_batches=False, max_usd=budget)
    assert run.stopped == "budget" and run.graded == 4 and run.left == 8
    assert 0 < run.cost["usd"] <= budget and len(emu.messages) == 1
    assert any(f"budget of ${budget:.2f} reached; 8 item(s) left" in w for w in run.warnings)
    assert len(ResearchState(repo / "research").graded()) == 4
    # The next run (more budget) picks up the rest only.
    rest = grade(repo, s, env, use_batches=False, max_usd=1.0)
    assert (rest.skipped, rest.graded) == (4, 8)


def test_budget_too_small_for_anything_is_an_error(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    with pytest.raises(GradingError, match="too small for even one grading request"):
        grade(repo, settings_for(repo), env, use_batches=False, max_usd=0.0001)
    assert emu.requests == [] and ResearchState(repo / "research").graded() == []
    assert (repo / "research" / RUNS_LOG).exists()  # the attempt is still logged


@pytest.mark.parametrize("status", ["429", "529"])
def test_rate_limit_and_overload_are_retried(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str], status: str
) -> None:
    emu.responder = grading_responder()
    emu.fail_next(status, times=2, retry_after="0")
    run = grade(repo, settings_for(repo), env, use_batches=False)
    assert run.graded == 12 and run.cost["retries"] == 2
    assert [r["status"] for r in run.cost["retry_log"]] == [int(status)] * 2


def test_api_unavailable_falls_back_to_offline(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    emu.fail_next("529", times=50, retry_after="0")
    run = grade(repo, settings_for(repo, llm_max_retries=1), env, use_batches=False)
    assert run.graded == 12 and "HTTP 529" in run.fell_back
    assert {g.grader for g in ResearchState(repo / "research").graded()} == {"offline"}


def test_bad_key_falls_back_to_offline(repo: Path, emu: AnthropicEmulator) -> None:
    run = grade(
        repo,
        settings_for(repo),
        {"ANTHROPIC_API_KEY": "wrong", "ANTHROPIC_BASE_URL": emu.url},
        use_batches=False,
    )
    assert "HTTP 401" in run.fell_back and run.graded == 12


def test_no_key_grades_offline(repo: Path) -> None:
    run = grade(repo, settings_for(repo), {})
    assert run.mode == "offline" and run.graded == 12 and run.cost == {}
    assert all(g.grader == "offline" for g in ResearchState(repo / "research").graded())
    assert grade(repo, settings_for(repo), {}).skipped == 12


def test_cap_per_run_grades_new_items_first(repo: Path) -> None:
    s = settings_for(repo)
    grade(repo, s, {})
    stale = sum(1 for g in ResearchState(repo / "research").graded() if g.category == "architecture")
    assert stale >= 2
    add_row(
        repo, commit="dead123", status="discard", description="SwiGLU 3x"
    )  # architecture grades are stale
    fresh = make_items(2, prefix="rss:new-")
    fresh[1].published = "2026-11-26T00:00:00Z"  # newer than fresh[0]
    append_jsonl(repo / "research" / "raw_cache.jsonl", fresh)
    run = grade(repo, settings_for(repo, grading_max_items_per_run=3), {})
    assert [g.item_id for g in run.grades][:2] == ["rss:new-00001", "rss:new-00000"]
    assert run.graded == 3 and run.left == 2 + stale - 3
    assert any(f"{2 + stale - 3} item(s) wait for a later run (at most 3 per run)" in w for w in run.warnings)


def test_the_key_never_reaches_state_or_logs(repo: Path, emu: AnthropicEmulator, env: dict[str, str]) -> None:
    emu.responder = grading_responder()
    emu.fail_next("429", retry_after="0")
    grade(repo, settings_for(repo), env)
    for f in (repo / "research").iterdir():
        assert emu.api_key not in f.read_text(), f.name
