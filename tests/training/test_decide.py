from __future__ import annotations

import pytest

from bot.training.local import decide
from bot.training.logparse import TrainResult


def res(bpb: float) -> TrainResult:
    return TrainResult(val_bpb=bpb, val_loss=None, tag="int6_zstd_roundtrip")


def test_qualifies_needs_gate_and_noise() -> None:
    d = decide(res(1.90), baseline=2.0, noise=0.005, script_shrank=False, gate_pct=3.0)
    assert d.outcome == "qualifies" and d.status == "keep" and d.improvement_pct == pytest.approx(5.0)
    # 3 % better but the measured noise is bigger than the improvement
    assert decide(res(1.93), 2.0, 0.04, False, 3.0).outcome == "discard"
    # noise never measured: cannot qualify
    d = decide(res(1.80), 2.0, None, False, 3.0)
    assert d.outcome == "discard" and "not measured" in d.reason


def test_keep_simplification_within_noise() -> None:
    d = decide(res(2.004), 2.0, 0.003, script_shrank=True, gate_pct=3.0)
    assert d.outcome == "keep" and d.status == "keep"
    assert decide(res(2.004), 2.0, 0.003, script_shrank=False, gate_pct=3.0).outcome == "discard"
    # worse beyond noise: discard even if shorter
    d = decide(res(2.02), 2.0, 0.003, script_shrank=True, gate_pct=3.0)
    assert d.outcome == "discard" and "worse" in d.reason


def test_discard_small_gain_and_no_baseline() -> None:
    assert decide(res(1.99), 2.0, 0.001, False, 3.0).outcome == "discard"
    d = decide(res(1.0), None, None, False, 3.0)
    assert d.outcome == "discard" and "baseline" in d.reason


def test_crash() -> None:
    d = decide(None, 2.0, 0.01, True, 3.0)
    assert d.outcome == "crash" and d.status == "crash"
