"""Outsider attacks on presets/time budgets (review b16): each bad input is a clear error, before any probe."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import InputError
from bot.training.presets import Probe, size_run


@pytest.mark.parametrize("minutes", [math.nan, math.inf, -math.inf, 0.0, -3.0])
def test_size_run_refuses_a_budget_that_is_not_a_positive_finite_number(minutes: float) -> None:
    probe = Probe(steps=4, wall_s=10.0, step_ms=100.0, eval_ms=500.0, val_tokens=16384)
    with pytest.raises(InputError, match="minutes"):
        size_run(minutes * 60.0, probe, val_tokens=16384)


@pytest.mark.parametrize("minutes", [math.nan, math.inf, 0.0, -1.0])
def test_plan_run_refuses_a_bad_budget_before_probing(tmp_path: Path, minutes: float) -> None:
    """No script, no data in tmp_path: the budget is checked first, so the error names --minutes."""
    from bot.config import load_settings
    from bot.training.presets import plan_run

    with pytest.raises(InputError) as err:
        plan_run(tmp_path, load_settings(tmp_path, env={}), "smoke", minutes)
    assert err.value.field == "minutes"


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "0", "-2"])
def test_cli_minutes_must_be_a_positive_finite_number(tmp_path: Path, value: str) -> None:
    res = CliRunner().invoke(cli, ["--repo", str(tmp_path), "train", "local", "--minutes", value])
    assert res.exit_code == 2, res.output
    assert "'--minutes'" in res.output and "Traceback" not in res.output
    assert "training script not found" not in res.output
    assert not (tmp_path / ".pgolf").exists()  # nothing ran
