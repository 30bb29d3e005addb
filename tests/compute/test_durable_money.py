"""Durable money: a promote runner SIGKILLed at any stage leaves no dollar unrecorded on the
default branch once the reaper has ticked (real git remotes, real subprocess, RunPod emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compute.killed_runner import run_stage
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer


@pytest.mark.parametrize("stage", ["reserved", "created", "train", "terminate", "ledger"])
def test_killed_promote_runner_is_booked_by_the_next_reaper_tick(
    stage: str, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    out = run_stage(stage, emu, sshd, tmp_path)
    assert out.killed
    assert out.unrecorded_usd == 0, out.to_dict()
    assert out.open_reservations == 0 and out.pods_alive == 0, out.to_dict()
    if stage == "ledger":  # promote() had settled and committed the cost: nothing left to reap
        assert out.reaper_actions == [] and out.crash_rows == 0 and out.overbooked_usd < 0.05, out.to_dict()
        return
    assert out.crash_rows == 1, out.to_dict()
    # the first tick (at the real "now") leaves a promotion that may still run alone
    assert not any(a.startswith("now:") for a in out.reaper_actions), out.reaper_actions
    if stage in ("train", "terminate"):  # RunPod still knows the pod: its billed time
        assert out.billed_usd > 0 and any("(billed)" in a for a in out.reaper_actions)
        assert out.overbooked_usd < 0.05, out.to_dict()  # rounded up by seconds, not by the worst case
    elif stage == "created":  # alive, maybe still booting: billed time, or the capped wall clock
        assert any("(billed)" in a or "(wall clock)" in a for a in out.reaper_actions), out.reaper_actions
    else:  # no pod was ever rented ("reserved"), and RunPod cannot tell: the worst case is booked
        assert any("(worst case)" in a for a in out.reaper_actions), out.reaper_actions


def test_completed_promotion_needs_no_reaper(emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path) -> None:
    out = run_stage(None, emu, sshd, tmp_path)
    assert out.unrecorded_usd == 0 and out.open_reservations == 0 and out.reaper_actions == []
    assert out.booked_usd > 0 and out.crash_rows == 0
    assert out.reservation_commit_s is not None and out.reservation_commit_s > 0


def test_budget_commands_commit_each_step_to_the_default_branch(tmp_path: Path) -> None:
    """The split workflow's verbs: reserve --commit (before renting), set-pod --commit, settle
    --commit with the cost the paid job reports; a reservation that cannot be committed is
    released (nothing may be rented on it)."""
    import json as _json
    import subprocess

    from click.testing import CliRunner

    from bot import budget as budget_mod
    from bot.cli import cli
    from bot.config import Settings
    from tests.compute.killed_runner import committed_budget, make_remote

    bare, runner, _ = make_remote(tmp_path)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }

    def pgolf(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(
            cli, ["--repo", str(runner), "-c", "tier2_min_interval_seconds=0", *args], env=env
        )
        return r.exit_code, r.output

    code, out = pgolf(
        "budget",
        "reserve",
        "--run-id",
        "r1",
        "--usd",
        "15",
        "--pr",
        "3",
        "--deadline-seconds",
        "2700",
        "--commit",
    )
    assert code == 0, out
    res = committed_budget(bare, Settings()).reservations
    assert [r.run_id for r in res] == ["r1"] and res[0].deadline and res[0].pr == 3
    assert pgolf("budget", "set-pod", "--run-id", "r1", "--pod-id", "pod9", "--commit")[0] == 0
    assert committed_budget(bare, Settings()).reservations[0].pod_id == "pod9"
    code, out = pgolf(
        "budget", "settle", "--run-id", "r1", "--seconds", "700", "--cost-usd", "4.2", "--commit"
    )
    assert code == 0, out
    b = committed_budget(bare, Settings())
    assert b.reservations == [] and b.runs[0].cost_usd == 4.2 and b.runs[0].pod_id == "pod9"

    subprocess.run(
        ["git", "-C", str(runner), "remote", "set-url", "origin", str(tmp_path / "gone.git")], check=True
    )
    code, out = pgolf("budget", "reserve", "--run-id", "r2", "--usd", "15", "--commit")
    assert code != 0
    local = _json.loads((runner / "budget.json").read_text())
    assert [r["run_id"] for r in local["reservations"]] == []  # released: not durable, not rentable
    assert budget_mod.load(runner / "budget.json", Settings()).spent == 4.2
