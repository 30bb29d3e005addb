"""/abort on a host without the promotion's state file (the GitHub commands runner)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import budget as budget_mod
from bot.compute.orphans import abort, abort_for_event, pr_of_run
from bot.compute.promote import make_run_id
from bot.compute.provider import PodSpec
from bot.compute.tracker import PodState
from bot.ledger import Ledger
from tests.compute.conftest import Repo, make_settings, provider
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer


def _spec(run_id: str) -> PodSpec:
    return PodSpec(
        run_id,
        deadline=time.time() + 600,
        gpu_count=8,
        gpu_type="NVIDIA H100 80GB HBM3",
        image="img:1",
        cloud_type="SECURE",
    )


def test_run_ids_encode_the_pr() -> None:
    now = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)
    assert pr_of_run(make_run_id(5, "ABCDEF0123", now)) == 5
    assert pr_of_run(make_run_id(51, "abcdef0123", now)) == 51
    assert pr_of_run(make_run_id(None, "abcdef0123", now)) is None
    assert pr_of_run("lost-1") is None


def test_abort_finds_the_prs_pods_through_the_provider_with_an_empty_state_file(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    state_path = repo.root / ".pgolf" / "pods.json"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text('{"pods": []}\n')  # this runner never saw the promotion start
    budget_path = repo.root / "budget.json"
    mine = make_run_id(5, repo.sha)
    other = make_run_id(51, repo.sha)  # pr51 must not match pr5
    budget_mod.reserve(budget_path, s, mine, 30.0, pr=5, sha=repo.sha)
    budget_mod.reserve(budget_path, s, other, 30.0, pr=51, sha=repo.sha)
    pod = p.create(_spec(mine))
    keep = p.create(_spec(other))
    time.sleep(1.1)  # let uptime accrue

    # the commands runner's entry point: the provider comes from the settings
    done = abort_for_event(root=repo.root, settings=s, pr=5)

    assert done == [mine]
    assert [q.id for q in emu.alive()] == [keep.id] and pod.id in emu.gone
    b = budget_mod.load(budget_path, s)
    assert [r.run_id for r in b.reservations] == [other]  # only PR 5's reservation settled
    assert len(b.runs) == 1 and b.runs[0].run_id == mine and b.runs[0].kind == "orphan"
    assert b.runs[0].note.startswith("aborted") and b.runs[0].seconds >= 1
    assert b.runs[0].cost_usd == pytest.approx(b.runs[0].seconds / 3600 * 8 * 2.99, abs=1e-5)
    assert b.spent == pytest.approx(b.runs[0].cost_usd)
    rows = Ledger.load(repo.root / "results.tsv").filter("runpod")
    assert len(rows) == 1 and rows[0].status == "crash" and rows[0].commit == repo.sha[:7]
    assert PodState(state_path).load() == []
    assert abort(repo.root, s, 5, p) == []  # idempotent: nothing left to stop
    assert len(budget_mod.load(budget_path, s).runs) == 1
