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
