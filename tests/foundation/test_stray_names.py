"""Stray setting names (unknown, in another section's table, given twice) and the reaper
workflow's commands, which warn and run on the defaults rather than keep a leaked pod billing —
except where they would write a file a misspelt path setting meant to move (third review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import budget as budget_mod
from bot.cli import cli
from bot.config import StrayName, load_settings


def pgolf(root: Path, *args: str) -> object:
    return CliRunner().invoke(cli, ["--repo", str(root), *args], env={})


@pytest.mark.parametrize(
    "text",
    [
        "[tool.pgolf.paths]\npaused = true\n",  # a kill switch in another section's table
        "[tool.pgolf]\npaused = true\n[tool.pgolf.pod]\npaused = true\n",  # given twice
        "[tool.pgolf]\nPAUSED = true\n",  # misspelt
    ],
)
def test_a_misplaced_kill_switch_stops_spending_and_never_the_reaper(tmp_path: Path, text: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(StrayName):
        load_settings(tmp_path, env={})  # every command that may spend
    s = load_settings(tmp_path, env={}, sections=("pod", "paths"))
    assert s.unknown_names and s.paused is False  # the reaper warns and runs on the defaults
    r = pgolf(tmp_path, "pods", "reap", "--provider", "local", "--dry-run", "--json")
    assert r.exit_code == 0 and "runs on the defaults" in r.stderr, r.output
    assert pgolf(tmp_path, "pause", "--check").exit_code == 0
    assert pgolf(tmp_path, "results", "show").exit_code == 3


def test_a_misspelt_budget_path_never_writes_a_second_budget(tmp_path: Path) -> None:
    """`budget_pth = "ledger/budget.json"`: `pause --reason` wrote a fresh ./budget.json (and
    `ledger commit` pushed it) while the real, paused ledger sat unread."""
    real = tmp_path / "ledger" / "budget.json"
    real.parent.mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.pgolf]\nbudget_path = "ledger/budget.json"\n')
    s = load_settings(tmp_path, env={})
    budget_mod.pause(real, s, "me", "stop")
    (tmp_path / "pyproject.toml").write_text('[tool.pgolf.paths]\nbudget_pth = "ledger/budget.json"\n')
    for args in (["pause", "--reason", "x"], ["pause", "--off"], ["ledger", "commit", "-m", "t"]):
        r = pgolf(tmp_path, *args)
        assert r.exit_code == 3 and "did you mean 'budget_path'" in r.output, (args, r.output)
    assert not (tmp_path / "budget.json").exists()
    assert json.loads(real.read_text())["paused"]  # untouched
    # the read-only check still runs (on the default path, and says so)
    r = pgolf(tmp_path, "pause", "--check")
    assert r.exit_code == 0 and "runs on the defaults" in r.stderr
