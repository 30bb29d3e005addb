"""Grading that costs what it should: re-grade only on material change, a daily cap across
runs, batches collected by a later run, reports that say which grader ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import clock
from bot.grading.grader import grade
from bot.grading.ledger_state import FILE, GradingState
from bot.state import CompetitorScore, ResearchState, append_jsonl
from tests.emulators.anthropic import AnthropicEmulator
from tests.grading.conftest import add_row, settings_for
from tests.grading.responders import grading_responder

DAY = "2026-12-01T10:00:00Z"


def _record(root: Path, bpb: float, key: str) -> None:
    append_jsonl(
        root / "research" / "competitors.jsonl",
        [
            CompetitorScore(
                source="parameter-golf",
                name=key,
                key=key,
                val_bpb=bpb,
                status="record",
                provenance="leaderboard",
            )
        ],
    )


def test_one_unrelated_ledger_row_regrades_nothing(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    """Reproduces the report (one appended row re-graded every item), then the fix."""
    emu.responder = grading_responder()
    s = settings_for(repo)
    _record(repo, 1.0800, "pg:a")
    first = grade(repo, s, env, use_batches=False)
    assert first.graded == 12
    sent = len(emu.messages)
    # an unrelated row: a local architecture experiment (every item here is graded "quantization")
    add_row(repo, commit="aaa1111", description="SwiGLU 3x MLP", status="keep", val_bpb=1.30)
    second = grade(repo, s, env, use_batches=False)
    assert (second.graded, second.skipped) == (0, 12) and len(emu.messages) == sent
    assert second.context_version != first.context_version  # the prompt did change
    # a competitor record within the noise floor: still nothing
    _record(repo, 1.0795, "pg:b")
    assert grade(repo, s, env, use_batches=False).graded == 0
    # the best accepted record moves by more than the floor: material to every item
    _record(repo, 1.0600, "pg:c")
    third = grade(repo, s, env, use_batches=False)
    assert third.graded == 12
    assert list(third.regraded_for) == [
        "the best competitor record moved beyond the noise floor (0.0020 bpb)"
    ]
    # an open claim is not a record: it moves nothing
    append_jsonl(
        repo / "research" / "competitors.jsonl",
        [CompetitorScore(source="parameter-golf", name="c", key="pg:claim", val_bpb=0.9, status="claim")],
    )
    assert grade(repo, s, env, use_batches=False).graded == 0


def test_daily_cap_holds_across_runs(repo: Path, emu: AnthropicEmulator, env: dict[str, str]) -> None:
    emu.responder = grading_responder()
    with clock.pinned(DAY):
        s = settings_for(
            repo, grading_items_per_request=3, grader_max_tokens=800, grading_daily_max_usd=0.025
        )
        first = grade(repo, s, env, use_batches=False, max_usd=0.03)  # the day's cap is tighter
        assert 0 < first.graded < 12 and first.stopped == "daily cap"
        spent = GradingState(repo / "research").spent_today()
        assert spent == pytest.approx(first.cost["usd"], abs=1e-6) and 0 < spent <= 0.025
        sent = len(emu.messages)
        second = grade(repo, s, env, use_batches=False, max_usd=0.03)  # a new run, same day
        assert second.stopped == "daily cap" and second.graded == 0 and len(emu.messages) == sent
        assert second.left == 12 - first.graded
        assert GradingState(repo / "research").spent_today() == pytest.approx(spent)
        s0 = settings_for(repo, grading_daily_max_usd=0.0)
        third = grade(repo, s0, env, use_batches=False)
        assert third.stopped == "daily cap" and any("cap of $0.00 is spent" in w for w in third.warnings)
    with clock.pinned("2026-12-02T10:00:00Z"):  # a new day: the cap is fresh
        assert grade(repo, s, env, use_batches=False, max_usd=0.03).graded > 0
    data = json.loads((repo / "research" / FILE).read_text())
    assert set(data["spend"]) == {"2026-12-01", "2026-12-02"}


class Killed(BaseException):
    """The job's timeout killing the process."""


def test_a_batch_left_polling_is_collected_by_the_next_run(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.polls_until_ended = 2
    emu.responder = grading_responder()
    s = settings_for(repo, grading_items_per_request=6)

    def killed(_seconds: float) -> None:
        raise Killed

    with pytest.raises(Killed):
        grade(repo, s, env, sleep=killed)  # dies while polling its batch
    pending = GradingState(repo / "research").pending()
    assert len(pending) == 1 and sum(len(v) for v in pending[0]["requests"].values()) == 12
    assert ResearchState(repo / "research").graded() == []
    bid = pending[0]["id"]
    run = grade(repo, s, env)
    assert run.collected == [bid] and run.graded == 12
    assert [r.path for r in emu.requests if r.method == "POST"] == ["/v1/messages/batches"]  # paid once
    assert GradingState(repo / "research").pending() == []
    assert GradingState(repo / "research").spent_today() == pytest.approx(run.cost["usd"], abs=1e-6)


def test_a_batch_still_running_keeps_its_items_waiting(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    emu.polls_until_ended = 10_000
    emu.responder = grading_responder()
    s = settings_for(repo, grading_items_per_request=6)

    def killed(_seconds: float) -> None:
        raise Killed

    with pytest.raises(Killed):
        grade(repo, s, env, sleep=killed)
    run = grade(repo, s, env)
    assert run.graded == 0 and run.left == 12 and run.stopped == "batch pending"
    assert len([r for r in emu.requests if r.method == "POST"]) == 1  # nothing re-sent
    # its estimate counts against today's cap until it is collected
    assert GradingState(repo / "research").spent_today() > 0


def test_fallback_reports_the_offline_grader(repo: Path, emu: AnthropicEmulator, env: dict[str, str]) -> None:
    emu.responder = grading_responder()
    emu.fail_next("529", times=50, retry_after="0")
    run = grade(repo, settings_for(repo, llm_max_retries=1), env)
    assert run.fell_back and run.mode == "offline" and run.model == "offline"
    assert run.graders == {"offline": 12}
    log = json.loads((repo / "research" / "grading_runs.jsonl").read_text().splitlines()[-1])
    assert log["mode"] == "offline" and log["graders"] == {"offline": 12}


def test_corrupt_grading_state_is_an_error_not_a_reset(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    from bot.errors import StateError

    (repo / "research" / FILE).write_text('{"spend": {"2026-12-01": "lots"}}')
    with pytest.raises(StateError, match="grading_state.json"):
        grade(repo, settings_for(repo), env)
    assert (repo / "research" / FILE).read_text() == '{"spend": {"2026-12-01": "lots"}}'


def test_a_batch_collected_after_midnight_is_charged_to_the_day_that_reserved_it(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    """Day 1, 23:58: a run submits a batch (its estimate reserved against day 1's cap) and is
    killed while polling. Day 2: earlier runs have spent nearly all of day 2's cap; a run after
    midnight collects the batch. The batch's dollars go to day 1, which reserved them: day 2's
    recorded spend stays within its cap (it never held a reservation for that batch)."""
    emu.responder = grading_responder()
    emu.polls_until_ended = 10_000
    s = settings_for(repo, grading_items_per_request=6, grading_daily_max_usd=0.05)

    def killed(_seconds: float) -> None:
        raise Killed

    with clock.pinned("2026-12-01T23:58:00Z"), pytest.raises(Killed):
        grade(repo, s, env, sleep=killed, limit=6)
    (pending,) = GradingState(repo / "research").pending()
    assert pending["created_at"].startswith("2026-12-01") and pending["estimate_usd"] > 0
    with clock.pinned("2026-12-02T00:05:00Z"):
        GradingState(repo / "research").add_spend(0.0495)  # day 2's earlier runs
        emu.polls_until_ended = 0
        run = grade(repo, s, env, limit=0)
        assert run.collected == [pending["id"]] and run.graded == 6
    spend = json.loads((repo / "research" / FILE).read_text())["spend"]
    assert spend["2026-12-02"] == pytest.approx(0.0495)  # within day 2's cap of $0.05
    assert spend["2026-12-01"] == pytest.approx(run.cost["usd"], abs=1e-6)  # the batch


@pytest.mark.parametrize(
    "body",
    [
        '{"spend": {"2026-12-01": -100.0}}',  # a negative day would lift the cap by $100
        '{"spend": {"2026-12-01": NaN}}',
        '{"spend": {"2026-12-01": Infinity}}',
        '{"spend": {}, "pending_batches": [{"id": "msgbatch_x", "estimate_usd": -5}]}',
        '{"spend": {}, "pending_batches": [{"id": "msgbatch_x", "estimate_usd": "cheap"}]}',
        '{"spend": {}, "pending_batches": [{"id": "msgbatch_x", "requests": ["arxiv:1"]}]}',
        '{"spend": {}, "pending_batches": [{"id": "msgbatch_x", "requests": {"grade-0000": "arxiv:1"}}]}',
    ],
    ids=["negative", "nan", "inf", "negative-estimate", "string-estimate", "requests-list", "requests-str"],
)
def test_a_grading_state_that_would_lift_the_cap_is_an_error(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str], body: str
) -> None:
    from bot.errors import StateError

    path = repo / "research" / FILE
    path.write_text(body)
    with clock.pinned(DAY), pytest.raises(StateError, match="grading_state.json"):
        grade(repo, settings_for(repo), env)
    assert path.read_text() == body and emu.messages == []


def test_a_saved_batch_that_expired_or_errored_is_resent_once_by_the_next_run(
    repo: Path, emu: AnthropicEmulator, env: dict[str, str]
) -> None:
    """The run that paid for a batch was killed; by the next run the batch has ended with one
    entry expired and one errored (overloaded): the next run re-sends exactly those items
    through the Messages API, keeps the succeeded ones, and leaves nothing pending."""
    emu.polls_until_ended = 10_000
    emu.responder = grading_responder()
    s = settings_for(repo, grading_items_per_request=4)

    def killed(_seconds: float) -> None:
        raise Killed

    with clock.pinned(DAY), pytest.raises(Killed):
        grade(repo, s, env, sleep=killed)
    (pending,) = GradingState(repo / "research").pending()
    emu.batch_outcome("grade-0000", "expired")
    emu.batch_outcome("grade-0001", "errored", "overloaded_error")
    emu.polls_until_ended = 0
    with clock.pinned(DAY):
        run = grade(repo, s, env)
    assert run.collected == [pending["id"]] and run.graded == 12 and run.ungradable == 0
    assert run.cost["batch_requests"] == 1 and run.cost["requests"] == 2  # 8 items re-sent, in 2
    assert [r.path for r in emu.requests if r.method == "POST"].count("/v1/messages/batches") == 1
    assert GradingState(repo / "research").pending() == []
    with clock.pinned(DAY):
        # each recorded request is rounded to a micro-dollar: the sum may differ by one per request
        assert GradingState(repo / "research").spent_today() == pytest.approx(run.cost["usd"], abs=5e-6)
