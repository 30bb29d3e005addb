from __future__ import annotations

import json
import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import budget, clock
from bot.config import load_settings
from bot.errors import BudgetBlocked, BudgetError, InputError

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def settings(**env: str):
    return load_settings("/nonexistent", env={f"PGOLF_{k.upper()}": v for k, v in env.items()})


def test_cost_formula() -> None:
    assert budget.run_cost(3600, 8, 20) == pytest.approx(20.0)
    assert budget.run_cost(600, 8, 20) == pytest.approx(20 / 6)
    assert budget.run_cost(1800, 1, 20) == pytest.approx(1.25)
    with pytest.raises(InputError, match="seconds"):
        budget.run_cost(-1, 8, 20)


def test_missing_file_shows_defaults_and_is_created_on_first_write(tmp_path: Path) -> None:
    p = tmp_path / "budget.json"
    s = settings()
    b = budget.load(p, s)
    assert not b.exists and b.total_credits == 500 and b.reserve_floor == 50 and not p.exists()
    budget.reserve(p, s, "run-1", 10.0, now=T0)
    data = json.loads(p.read_text())
    assert data["total_credits"] == 500 and data["reservations"][0]["run_id"] == "run-1"


def test_reserve_settle_release_cycle(tmp_path: Path) -> None:
    p = tmp_path / "budget.json"
    s = settings()
    budget.reserve(p, s, "run-1", 15.0, pr=7, sha="abc", now=T0)
    b = budget.load(p, s)
    assert b.reserved == 15 and b.last_tier2_start == clock.stamp(T0)
    rec = budget.settle(p, s, "run-1", 900, 8, 20)
    assert rec.cost_usd == pytest.approx(5.0) and rec.pr == 7 and rec.sha == "abc"
    b = budget.load(p, s)
    assert b.spent == pytest.approx(5.0) and b.reservations == [] and len(b.runs) == 1
    with pytest.raises(BudgetError, match="no open reservation"):
        budget.settle(p, s, "run-1", 1)
    budget.reserve(p, s, "run-2", 15.0, now=T0 + timedelta(hours=2))
    budget.release(p, s, "run-2")
    b = budget.load(p, s)
    assert b.reservations == [] and b.spent == pytest.approx(5.0)
    with pytest.raises(BudgetBlocked, match="already used"):
        budget.reserve(p, s, "run-1", 1.0, now=T0 + timedelta(hours=5))


def test_can_submit_rules(tmp_path: Path) -> None:
    s = settings()
    b = budget.defaults(s)
    assert budget.can_submit(b, s, T0).allowed
    b.last_tier2_start = clock.stamp(T0 - timedelta(minutes=30))
    d = budget.can_submit(b, s, T0)
    assert not d.allowed and d.reason.startswith("Rate limited:") and "30 min" in d.reason
    assert budget.can_submit(b, settings(tier2_min_interval_seconds="0"), T0).allowed
    b.last_tier2_start = clock.stamp(T0 - timedelta(hours=2))
    b.spent = 420.0
    b.runs = [budget.RunRecord("r", 420.0)]
    d = budget.can_submit(b, s, T0)
    assert d.allowed and d.warning  # 80 left < 2 × 50
    b.spent = 455.0
    d = budget.can_submit(b, s, T0)
    assert not d.allowed and "reserve floor" in d.reason


def test_reserve_refuses_what_would_cross_the_floor(tmp_path: Path) -> None:
    p = tmp_path / "budget.json"
    s = settings(tier2_min_interval_seconds="0", total_compute_credits="100")
    budget.reserve(p, s, "a", 30.0, now=T0)
    with pytest.raises(BudgetBlocked, match="below the reserve floor"):
        budget.reserve(p, s, "b", 30.0, now=T0)
    budget.reserve(p, s, "c", 20.0, now=T0)
    b = budget.load(p, s)
    assert b.reserved == 50 and b.available == 0


def _race(path: str, run_id: str, interval: str, q: mp.Queue) -> None:
    s = settings(tier2_min_interval_seconds=interval, total_compute_credits="200")
    try:
        budget.reserve(path, s, run_id, 40.0)
        q.put((run_id, "ok"))
    except BudgetBlocked as exc:
        q.put((run_id, str(exc)))


@pytest.mark.parametrize("interval,expected_ok", [("3600", 1), ("0", 3)])
def test_simultaneous_reservations_with_real_processes(
    tmp_path: Path, interval: str, expected_ok: int
) -> None:
    p = tmp_path / "budget.json"
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(p), f"run-{i}", interval, q)) for i in range(8)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(60)
    results = [q.get(timeout=5) for _ in procs]
    oks = [r for r in results if r[1] == "ok"]
    # rate limit on: one; off: (200 − 50) // 40 = 3 fit above the floor.
    assert len(oks) == expected_ok
    b = budget.load(p, settings(total_compute_credits="200"))
    assert len(b.reservations) == expected_ok
    assert b.remaining - b.reserved >= b.reserve_floor


@pytest.mark.parametrize(
    "content,needle",
    [
        ('{"total_credits": 500, "reserve_floor": 50, "spent": 0, "runs": [', "not valid JSON"),
        ("", "empty"),
        ('{"total_credits": "500", "reserve_floor": 50, "spent": 0}', "field 'total_credits'"),
        ('{"total_credits": -5, "reserve_floor": 0, "spent": 0}', "field 'total_credits'.*negative"),
        ('{"total_credits": 500, "reserve_floor": 50, "spent": -3, "runs": []}', "field 'spent'.*negative"),
        ('{"total_credits": 500, "reserve_floor": 50, "spent": 10, "runs": []}', "does not match"),
        ('{"total_credits": 500, "reserve_floor": -1, "spent": 0}', "field 'reserve_floor'"),
        (
            '{"total_credits": 500, "reserve_floor": 50, "spent": 0, "runs": [{"run_id": "x", "cost_usd": -2}]}',
            "cost_usd",
        ),
        ("[1, 2]", "JSON object"),
        (
            '{"total_credits": 500, "reserve_floor": 50, "spent": 0, "reservations": [{"run_id": "x", "max_usd": 5, "created": "yesterday"}]}',
            "created",
        ),
    ],
)
def test_corrupt_budget_is_an_error_and_never_rewritten(tmp_path: Path, content: str, needle: str) -> None:
    p = tmp_path / "budget.json"
    p.write_text(content)
    s = settings()
    with pytest.raises(BudgetError, match=needle) as info:
        budget.load(p, s)
    assert str(p) in str(info.value)
    for op in (
        lambda: budget.reserve(p, s, "r", 1.0),
        lambda: budget.settle(p, s, "r", 1.0),
        lambda: budget.release(p, s, "r"),
        lambda: budget.record_spend(p, s, "r", 1.0),
    ):
        with pytest.raises(BudgetError):
            op()
    assert p.read_text() == content


def test_orphan_spend(tmp_path: Path) -> None:
    p = tmp_path / "budget.json"
    s = settings()
    budget.record_spend(p, s, "orphan-pod1", 3.5, pod_id="pod1", seconds=630)
    b = budget.load(p, s)
    assert b.spent == pytest.approx(3.5) and b.runs[0].kind == "orphan"


def test_free_reservation_is_booked_but_never_rate_limits(tmp_path: Path) -> None:
    p = tmp_path / "budget.json"
    s = settings()
    budget.reserve(p, s, "local-1", 0.0, free=True, now=T0)
    budget.reserve(p, s, "local-2", 0.0, free=True, now=T0)  # no rate limit between free runs
    assert budget.can_submit(budget.load(p, s), s, T0).allowed  # a paid run is not blocked
    budget.reserve(p, s, "paid", 10.0, now=T0)
    rec = budget.settle(p, s, "local-1", 120, 2, 0.0)
    assert rec.cost_usd == 0 and rec.seconds == 120
    b = budget.load(p, s)
    assert [r.run_id for r in b.runs] == ["local-1"] and b.spent == 0
    assert {r.run_id: r.rate_limited for r in b.reservations} == {"local-2": False, "paid": True}
    with pytest.raises(InputError, match="\\$0"):
        budget.reserve(p, s, "local-3", 5.0, free=True, now=T0)


def test_a_real_overspend_stays_readable_and_blocks(tmp_path: Path) -> None:
    p = tmp_path / "budget.json"
    s = settings(tier2_min_interval_seconds="0")
    budget.reserve(p, s, "big", 100.0, now=T0)
    rec = budget.settle(p, s, "big", 100_000, 8, 20)  # ran far past its reservation
    assert rec.cost_usd > 500
    b = budget.load(p, s)  # still readable: the records are consistent
    assert b.remaining < 0
    d = budget.can_submit(b, s, T0)
    assert not d.allowed and d.reason.startswith("Overspent")
    with pytest.raises(BudgetBlocked, match="Overspent"):
        budget.reserve(p, s, "next", 1.0, now=T0)
