"""Faults: each ends with no pod left running and budget.json correct."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot import budget as budget_mod
from bot.compute.orphans import abort
from bot.compute.promote import promote
from bot.compute.reaper import reap
from bot.compute.tracker import PodState
from bot.config import Settings
from bot.errors import BudgetBlocked
from bot.ledger import Ledger
from tests.compute.conftest import OK, Repo, make_settings, provider
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer, free_port

H100_SECURE_8 = 8 * 2.99  # the emulator's costPerHr for 8 × H100 SXM, secure cloud


def assert_clean(repo: Repo, s: Settings, emu: RunPodEmulator, runs: int = 1) -> budget_mod.Budget:
    """No pod alive, no open reservation, spent == sum of run records, state file empty."""
    assert emu.alive() == []
    b = budget_mod.load(repo.root / "budget.json", s)
    assert b.reservations == []
    assert len(b.runs) == runs
    assert b.spent == pytest.approx(sum(r.cost_usd for r in b.runs))
    assert PodState(repo.root / ".pgolf/pods.json").load() == []
    return b


def crash_row(repo: Repo) -> Any:
    rows = Ledger.load(repo.root / "results.tsv").filter("runpod")
    assert len(rows) == 1 and rows[0].status == "crash"
    return rows[0]


def orchestrator(repo: Repo, s: Settings) -> subprocess.Popen[bytes]:
    """``promote()`` in a child process (lighter than the full CLI, same code path)."""
    overrides = {k: getattr(s, k) for k in (
        "pod_workdir", "pod_ssh_user", "pod_train_command", "tier2_min_interval_seconds", "max_wallclock_seconds",
        "pod_eval_slack_seconds", "pod_train_env", "pod_deadline_seconds", "pod_setup_command")}  # fmt: skip
    code = (
        "import sys; from pathlib import Path; from bot.config import load_settings;"
        "from bot.compute.factory import make_provider; from bot.compute.promote import promote;"
        f"root = Path({str(repo.root)!r}); s = load_settings(root, env={{}}, overrides={overrides!r});"
        "from bot.compute.tracker import Interrupted\n"
        "from tests.compute.conftest import OK\n"
        f"try: promote(root, s, provider=make_provider(s, root), pr=7, sha={repo.sha!r}, **OK)\n"
        "except Interrupted as e: sys.exit(128 + e.signum)  # as `pgolf promote` does"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def training_started(repo: Repo) -> bool:
    return any("step:1/3" in p.read_text() for p in (repo.root / ".pgolf/runs").glob("*/train_seed1.log"))


def hanging_settings(repo: Repo, sshd: SSHServer, tmp_path: Path, cap_s: int) -> Settings:
    """Training that never ends by itself, under a ``cap_s`` wall-clock cap and eval slack."""
    return make_settings(
        repo,
        sshd,
        tmp_path,
        pod_train_env=["FAKE_MODE=hang"],
        max_wallclock_seconds=cap_s,
        pod_eval_slack_seconds=cap_s,
    )


@pytest.mark.slow
def test_abort_sends_sigterm_pod_terminated_and_settled(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = make_settings(repo, sshd, tmp_path, pod_train_env=["FAKE_MODE=hang"], max_wallclock_seconds=30)
    proc = orchestrator(repo, s)
    aborted: list[str] = []
    try:
        wait_for(lambda: training_started(repo), 60, "training to start")
        assert len(emu.alive()) == 1
        t0 = time.monotonic()
        # /abort of the PR: the orchestrator runs on this host, so abort sends it SIGTERM
        stopper = threading.Thread(target=lambda: aborted.extend(abort(repo.root, s, 7, provider(s))))
        stopper.start()
        # a hang ceiling (10x the 5 s target; the figure is benchmarks/abort_latency.py's)
        wait_for(lambda: emu.alive() == [], 50, "the pod to be terminated after SIGTERM")
        took = time.monotonic() - t0
        stopper.join(30)
        assert len(aborted) == 1
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took <= 50
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()
    b = assert_clean(repo, s, emu)
    assert b.runs[0].cost_usd > 0 and "Interrupted" in b.runs[0].note
    assert "SIGTERM" in crash_row(repo).description


@pytest.mark.slow
def test_sigkill_mid_run_then_reaper_cleans_up(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = hanging_settings(repo, sshd, tmp_path, 2)
    proc = orchestrator(repo, s)
    try:
        wait_for(lambda: training_started(repo), 60, "training to start")
    finally:
        proc.kill()  # SIGKILL: no handler, no finally
        proc.wait()
    assert len(emu.alive()) == 1  # leaked, as SIGKILL must
    state = PodState(repo.root / ".pgolf/pods.json").load()
    assert len(state) == 1 and state[0].owner_alive() is False
    before = budget_mod.load(repo.root / "budget.json", s)
    assert len(before.reservations) == 1  # the worst case stays held until someone books it
    # dry run changes nothing
    dry = reap(repo.root, s, provider(s), dry_run=True)
    assert [a.reason for a in dry.actions] == [f"owner process {proc.pid} is gone"]
    assert len(emu.alive()) == 1
    report = reap(repo.root, s, provider(s))
    assert report.ok and len(report.actions) == 1
    b = assert_clean(repo, s, emu)
    run = b.runs[0]
    assert run.kind == "orphan" and run.pod_id == report.actions[0].pod_id
    pod = emu.gone[run.pod_id]
    assert pod.removed_by == "api"
    assert run.cost_usd == pytest.approx(run.seconds / 3600 * H100_SECURE_8, abs=1e-5)
    assert "reaped" in crash_row(repo).description


def test_ssh_never_comes_up(
    repo: Repo, sshd: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = RunPodEmulator(ssh_port=free_port(), boot_delay=0.0).start()  # published port, nothing listening
    try:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", e.url)
        monkeypatch.setenv("RUNPOD_API_KEY", e.add_key())
        s = make_settings(repo, sshd, tmp_path, pod_ssh_timeout_seconds=2)
        res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
        assert res.status == "crash" and "did not come up" in res.error
        assert res.terminated
        b = assert_clean(repo, s, e)
        assert b.runs[0].cost_usd == pytest.approx(res.pod_seconds / 3600 * H100_SECURE_8, rel=1e-3)
        crash_row(repo)
    finally:
        e.stop()


def test_ssh_port_never_published_times_out_and_terminates(
    repo: Repo, sshd: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = RunPodEmulator(ssh_port=sshd.port, boot_delay=3600).start()
    try:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", e.url)
        monkeypatch.setenv("RUNPOD_API_KEY", e.add_key())
        s = make_settings(repo, sshd, tmp_path, pod_ready_timeout_seconds=1)
        res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
        assert res.status == "crash" and "not ready after" in res.error and "not published" in res.error
        assert_clean(repo, s, e)
    finally:
        e.stop()


def test_training_crash_writes_crash_row_with_log_tail(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = make_settings(repo, sshd, tmp_path, pod_train_env=["FAKE_MODE=crash"])
    res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert res.status == "crash" and "exited with status 1" in res.error
    assert "illegal memory access" in res.log_tail and "illegal memory access" in res.comment
    assert_clean(repo, s, emu)
    row = crash_row(repo)
    assert "illegal memory access" in row.description and row.cost_usd is not None and row.cost_usd >= 0
    assert Ledger.load(repo.root / "results.tsv").filter("local")[0].promoted == "yes"


def test_wallclock_cap_hit_kills_training(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = hanging_settings(repo, sshd, tmp_path, 1)
    t0 = time.monotonic()
    res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert time.monotonic() - t0 < 60  # hang ceiling: the hard limit is 2 s; "hard limit" proves it
    assert res.status == "crash" and "hard limit of 2 s" in res.error
    assert res.seeds[0].rc == 124
    assert_clean(repo, s, emu)
    crash_row(repo)


def test_terminate_fails_once_is_retried(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = make_settings(repo, sshd, tmp_path, pod_train_env=["FAKE_MODE=ok"])
    emu.fail_op("podTerminate", 1)
    res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert res.status == "keep" and res.terminated
    assert emu.count("podTerminate") == 2
    assert_clean(repo, s, emu)


def test_two_promotions_budget_allows_one(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    (repo.root / "budget.json").write_text(
        '{"version": 1, "total_credits": 15.0, "reserve_floor": 10.0, "spent": 0.0, "runs": [], "reservations": []}'
    )
    s = make_settings(repo, sshd, tmp_path, pod_train_env=["FAKE_MODE=ok"], tier2_min_interval_seconds=0)
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        barrier.wait()
        try:
            outcomes.append(promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK))
        except BudgetBlocked as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    blocked = [o for o in outcomes if isinstance(o, BudgetBlocked)]
    done = [o for o in outcomes if not isinstance(o, BudgetBlocked)]
    assert len(blocked) == 1 and len(done) == 1, outcomes
    assert "reserve floor" in str(blocked[0])
    assert len(emu.gone) == 1 and emu.count("podFindAndDeployOnDemand") == 1
    b = assert_clean(repo, s, emu)
    assert b.remaining >= b.reserve_floor


def test_auth_failure_refuses_cleanly(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "rp_wrong")
    s = make_settings(repo, sshd, tmp_path)
    res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert res.status == "crash" and "authentication failed" in res.error
    assert "rp_wrong" not in res.error and "rp_wrong" not in Path(res.run_dir, "promote.log").read_text()
    b = assert_clean(repo, s, emu)
    assert b.runs[0].cost_usd == 0.0  # no pod was ever created


def test_no_capacity_is_a_crash_without_cost(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    emu.capacity = 0
    s = make_settings(repo, sshd, tmp_path)
    res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert "no longer any instances available" in res.error
    b = assert_clean(repo, s, emu)
    assert b.runs[0].cost_usd == 0.0
