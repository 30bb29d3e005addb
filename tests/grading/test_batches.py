"""Grading through the Message Batches API: submit, poll until ended, read JSONL results,
re-send errored/expired entries, budget before submitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.grading.grader import grade
from bot.llm import Usage, price_for
from bot.state import ResearchState
from tests.emulators.anthropic import AnthropicEmulator
from tests.grading.conftest import settings_for
from tests.grading.responders import grading_responder, request_items


def _paths(emu: AnthropicEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests]


def test_batch_lifecycle(repo: Path, emu: AnthropicEmulator, env: dict[str, str]) -> None:
    emu.polls_until_ended = 3
    emu.responder = grading_responder()
    run = grade(repo, settings_for(repo, grading_items_per_request=5), env)  # batches are the default
    assert run.mode == "batch" and run.graded == 12
    paths = _paths(emu)
    bid = run.batch["id"]
    assert paths[0] == "POST /v1/messages/batches"
    assert paths.count(f"GET /v1/messages/batches/{bid}") >= 3  # polled until ended
    assert paths[-1] == f"GET /v1/messages/batches/{bid}/results"
    assert "POST /v1/messages" not in paths  # nothing needed the Messages API
    assert run.batch["request_counts"]["succeeded"] == 3
    # Billed at the batch price, with the cache read by the later entries.
    batch_usage = run.cost["batch_usage"]
    assert run.cost["batch_requests"] == 3 and run.cost["requests"] == 0
    assert batch_usage["cache_read_input_tokens"] > 0
    price = price_for("claude-sonnet-4-6")[0]
    full = Usage(**batch_usage).cost(price)
    assert run.cost["usd"] == pytest.approx(full / 2, abs=1e-6)
    assert {m["tier"] for m in emu.messages} == {"batch"}


def test_errored_and_expired_entries_are_resent(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    emu.batch_outcome("grade-0000", "errored", "overloaded_error")
    emu.batch_outcome("grade-0002", "expired")
    run = grade(repo, settings_for(repo, grading_items_per_request=4), env)
    assert run.graded == 12 and run.ungradable == 0
    assert run.batch["request_counts"] == {
        "canceled": 0,
        "errored": 1,
        "expired": 1,
        "processing": 0,
        "succeeded": 1,
    }
    assert run.batch["resent"] == 8
    resent = [m for m in emu.messages if m["tier"] == "standard"]
    assert sorted(i["id"] for m in resent for i in request_items(m["body"])) == [  # type: ignore[arg-type]
        f"arxiv:2501.{n:05d}" for n in (0, 1, 2, 3, 8, 9, 10, 11)
    ]
    assert run.cost["requests"] == 2 and run.cost["batch_requests"] == 1


def test_invalid_request_entries_become_ungradable(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder()
    emu.batch_outcome("grade-0001", "errored", "invalid_request_error")
    run = grade(repo, settings_for(repo, grading_items_per_request=6), env)
    assert (run.graded, run.ungradable) == (6, 6)
    bad = [g for g in ResearchState(repo / "research").graded() if g.tier == "ungradable"]
    assert all(g.error.startswith("batch entry errored: invalid_request_error") for g in bad)


def test_malformed_batch_answer_is_retried_via_messages(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.responder = grading_responder(bad={"arxiv:2501.00007": 1})
    run = grade(repo, settings_for(repo), env)
    assert run.graded == 12 and run.retried == 1
    retry = [m for m in emu.messages if m["tier"] == "standard"]
    content = retry[0]["body"]["messages"][0]["content"]  # type: ignore[index]
    text = " ".join(b["text"] for b in content) if isinstance(content, list) else content
    assert len(retry) == 1 and "novelty: 9 is outside 0..3" in text


def test_timeout_cancels_the_batch_and_resends(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.polls_until_ended = 10_000  # never ends by itself
    emu.responder = grading_responder()
    run = grade(repo, settings_for(repo, grading_batch_timeout_seconds=0), env)
    paths = _paths(emu)
    assert f"POST /v1/messages/batches/{run.batch['id']}/cancel" in paths
    assert run.batch["request_counts"]["canceled"] == 2
    assert run.graded == 12 and run.cost["requests"] == 2  # both chunks re-sent through Messages


def test_budget_limits_what_is_submitted(repo: Path, emu: AnthropicEmulator, env: dict[str, str]) -> None:
    emu.responder = grading_responder()
    s = settings_for(repo, grading_items_per_request=3, grader_max_tokens=800)
    run = grade(repo, s, env, max_usd=0.025)
    submitted = len(emu.batches[run.batch["id"]].requests)
    assert 0 < submitted < 4 and run.stopped == "budget"
    assert run.graded == submitted * 3 and run.left == 12 - submitted * 3
