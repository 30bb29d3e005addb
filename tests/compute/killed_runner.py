"""A promote runner killed with SIGKILL at each stage, then the scheduled reaper on a fresh
checkout of the default branch: how many dollars RunPod billed that the committed ledger does
not hold? (Shared by tests/compute/test_durable_money.py and benchmarks/durable_money.py.)

Everything is real: a bare git remote in a temporary folder (the "default branch"), the runner's
clone, the promote process (a real subprocess running :func:`bot.compute.promote.promote` with
``ledger_commit_reservations`` on) against the RunPod emulator and a pod over real SSH, SIGKILL,
and the reaper's own clone that commits what it settles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot.compute.provider import pod_name
from bot.compute.reaper import reap
from bot.compute.runpod import RunPodProvider
from bot.config import Settings, load_settings
from bot.forge.ledger_commit import ledger_commit
from bot.ledger import Ledger
from tests.compute.conftest import git, make_repo
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer

ROOT = Path(__file__).resolve().parents[2]

# The stages of bot.compute.promote.promote's on_stage hook, plus "ledger": promote() returned
# (pod terminated, cost settled in the runner's checkout) but the final ledger commit never ran.
STAGES = ("reserved", "created", "ship", "train", "terminate", "ledger")

DRIVER = """\
import json, sys, time
from pathlib import Path
from bot.compute.promote import promote
from bot.compute.runpod import RunPodProvider
from tests.compute.conftest import OK
from bot.config import load_settings
from bot.forge.ledger_commit import ledger_commit

root, sha, kill_at, marker = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
s = load_settings(root, env={}, overrides=json.loads(sys.argv[5]))
p = RunPodProvider(ssh_user=s.pod_ssh_user, workdir=s.pod_workdir, poll_interval=0.1, retry_wait=0.05)

def stage(name):
    if name == kill_at:
        marker.write_text(name)
        time.sleep(3600)

r = promote(root, s, provider=p, pr=7, sha=sha, seeds=1, on_stage=stage, **OK)
print(json.dumps({"status": r.status, "cost": r.cost_usd, "timings": r.timings}), flush=True)
stage("ledger")
ledger_commit(root, "promotion", s)
"""


@dataclass
class StageOutcome:
    stage: str
    run_id: str
    killed: bool
    billed_usd: float  # what RunPod charged for the run's pod(s)
    booked_usd: float  # what the default branch's budget.json holds for the run
    unrecorded_usd: float  # billed − booked when positive (must be 0)
    overbooked_usd: float  # booked − billed when positive (the worst case, when RunPod forgot)
    open_reservations: int
    pods_alive: int
    crash_rows: int
    reaper_actions: list[str]
    reservation_commit_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def settings_for(root: Path, sshd: SSHServer, podfs: Path) -> dict[str, Any]:
    return {
        "pod_workdir": str(podfs),
        "pod_ssh_user": sshd.user,
        "pod_train_command": f"{sys.executable} {{script}}",
        "tier2_min_interval_seconds": 0,
        "pod_ready_timeout_seconds": 20,
        "pod_ssh_timeout_seconds": 20,
        "max_wallclock_seconds": 5,
        "pod_eval_slack_seconds": 10,
        "pod_deadline_seconds": 600,
        "hourly_rate_usd": 20.0,
        "pod_setup_command": "echo setup",
        "ledger_commit_reservations": True,
    }


def make_remote(tmp: Path) -> tuple[Path, Path, str]:
    """A bare "origin" holding a research repository, and the promote runner's clone of it."""
    seed = make_repo(tmp / "seed")
    bare = tmp / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(seed.root, "remote", "add", "origin", str(bare))
    git(seed.root, "add", "-A")
    git(seed.root, "commit", "-q", "-m", "the local row")
    git(seed.root, "push", "-q", "origin", "main")
    runner = tmp / "runner"
    subprocess.run(["git", "clone", "-q", str(bare), str(runner)], check=True)
    return bare, runner, git(runner, "rev-parse", "HEAD")


def committed_budget(bare: Path, settings: Settings) -> budget_mod.Budget:
    text = subprocess.run(
        ["git", "-C", str(bare), "show", "main:budget.json"], check=True, capture_output=True, text=True
    ).stdout
    return budget_mod.from_json(json.loads(text), "origin:budget.json")


def run_stage(stage: str | None, emu: RunPodEmulator, sshd: SSHServer, tmp: Path) -> StageOutcome:
    """Promote, SIGKILL the runner at ``stage`` (None: let it finish), then the reaper's ticks."""
    tmp.mkdir(parents=True, exist_ok=True)
    bare, runner, sha = make_remote(tmp)
    overrides = settings_for(runner, sshd, tmp / "podfs")
    marker = tmp / "killed-at"
    env = dict(os.environ, PYTHONPATH=str(ROOT), GIT_AUTHOR_NAME="t", GIT_COMMITTER_NAME="t")
    env.update({"GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_EMAIL": "t@example.com"})
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(runner), sha, stage or "-", str(marker), json.dumps(overrides)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = False
    end = time.monotonic() + 240
    while time.monotonic() < end:
        if stage and marker.exists():
            os.kill(proc.pid, signal.SIGKILL)  # no finally, no atexit, no signal handler runs
            killed = True
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    else:
        os.kill(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the promote runner neither reached {stage!r} nor finished")
    out, err = proc.communicate(timeout=60)
    if stage and not killed:
        raise AssertionError(f"the runner ended before {stage!r}: rc {proc.returncode}\n{out}\n{err[-3000:]}")
    if not stage and proc.returncode != 0:
        raise AssertionError(f"the runner failed: rc {proc.returncode}\n{out}\n{err[-3000:]}")
    commit_s = json.loads(out.splitlines()[0])["timings"].get("reservation_commit_seconds") if out else None

    time.sleep(1.2)  # RunPod counts uptime in whole seconds: let the killed run's pod accrue some
    # The reaper: a fresh checkout of the default branch, no state file, RunPod through the SDK.
    s = load_settings(runner, env={}, overrides=overrides)
    before = committed_budget(bare, s)
    opened = [r.run_id for r in before.reservations] + [r.run_id for r in before.runs]
    assert len(opened) == 1, f"one run expected on the default branch, found {opened}"
    run_id = opened[0]
    reaper_root = tmp / "reaper"
    subprocess.run(["git", "clone", "-q", str(bare), str(reaper_root)], check=True)
    rs = load_settings(reaper_root, env={}, overrides=overrides)
    provider = RunPodProvider(
        ssh_user=sshd.user, workdir=str(tmp / "podfs"), poll_interval=0.1, retry_wait=0.05
    )
    actions: list[str] = []
    first = reap(reaper_root, rs, provider)  # now: the promotion could still be running
    actions += [f"now: {a.reason} ({a.settled})" for a in first.actions]
    res = next((r for r in before.reservations if r.run_id == run_id), None)
    if res is not None:
        later = budget_mod.parse_iso(res.deadline).timestamp() + rs.reaper_settle_grace_seconds + 60
        tick = reap(reaper_root, rs, provider, now=later)
        assert tick.ok, tick.to_dict()
        actions += [f"after the deadline: {a.reason} ({a.settled})" for a in tick.actions]
    ledger_commit(reaper_root, "reaper", rs)

    after = committed_budget(bare, s)
    billed = emu.billed_usd(pod_name(run_id))
    booked = sum(r.cost_usd for r in after.runs if r.run_id == run_id)
    rows_text = subprocess.run(
        ["git", "-C", str(bare), "show", "main:results.tsv"], check=True, capture_output=True, text=True
    ).stdout
    (tmp / "final.tsv").write_text(rows_text)
    crash_rows = sum(1 for r in Ledger.load(tmp / "final.tsv").filter("runpod") if r.status == "crash")
    return StageOutcome(
        stage=stage or "none (completed)",
        run_id=run_id,
        killed=killed,
        billed_usd=round(billed, 6),
        booked_usd=round(booked, 6),
        unrecorded_usd=round(max(0.0, billed - booked), 6),
        overbooked_usd=round(max(0.0, booked - billed), 6),
        open_reservations=len(after.reservations),
        pods_alive=len([p for p in emu.alive() if p.name == pod_name(run_id)]),
        crash_rows=crash_rows,
        reaper_actions=actions,
        reservation_commit_s=commit_s,
    )
