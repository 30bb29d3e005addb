"""promote.yml's five jobs on one machine (shared by tests/compute/test_promote_split.py and
benchmarks/promote_split.py): a bare git "origin" holding a research repository and PR #7's head
as ``refs/pull/7/head``; every job works in its own fresh clone of the default branch with the
PR's objects fetched (as the workflow's checkout + "Import the head commit" steps do); the files
between jobs are real files; GitHub is the emulator (through PyGithub), RunPod the emulator
(through the runpod SDK), the pod a real sshd on loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from bot.budget import Budget, from_json
from bot.cli import cli
from bot.compute.observed import RecordingProvider, ReplayProvider, write_observations
from bot.compute.reaper import ReapReport, reap
from bot.compute.runpod import RunPodProvider
from bot.config import load_settings
from bot.forge import sticky
from bot.forge.ledger_commit import ledger_commit
from bot.ledger import Ledger
from tests.compute.conftest import FAKE_TRAIN, git
from tests.emulators.github import GitHubEmulator, Repo
from tests.emulators.sshd import SSHServer
from tests.forge.conftest import REPO, AppKey, cli_env, comment_event

ROOT = Path(__file__).resolve().parents[2]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
HEADER = "commit\ttier\tval_bpb\tartifact_bytes\tmemory_gb\tstatus\tpromoted\tcost_usd\tdescription\n"


def overrides(sshd: SSHServer, podfs: Path, **extra: Any) -> dict[str, str]:
    base: dict[str, Any] = {
        "pod_workdir": str(podfs),
        "pod_ssh_user": sshd.user,
        # the pod trains the stand-in (the real scripts are for the parity gate)
        "pod_train_command": f"{sys.executable} training/fake_train.py",
        "tier2_min_interval_seconds": 0,
        "pod_ready_timeout_seconds": 20,
        "pod_ssh_timeout_seconds": 20,
        "max_wallclock_seconds": 5,
        "pod_eval_slack_seconds": 10,
        "pod_deadline_seconds": 600,
        "hourly_rate_usd": 20.0,
        "pod_setup_command": "echo setup",
        "github_seconds_between_requests": 0,
        "github_seconds_between_writes": 0,
    }
    base.update(extra)
    return {k: str(v) for k, v in base.items()}


@dataclass
class Scene:
    tmp: Path
    bare: Path
    sha: str  # PR #7's head
    over: dict[str, str]

    def checkout(self, job: str) -> Path:
        """A job's workspace: the default branch, plus the PR head as objects only."""
        ck = self.tmp / job
        n = 1
        while ck.exists():  # the same job again (a re-run): a fresh workspace
            n += 1
            ck = self.tmp / f"{job}-{n}"
        subprocess.run(["git", "clone", "-q", str(self.bare), str(ck)], check=True)
        git(ck, "fetch", "-q", "--no-tags", "origin", "refs/pull/7/head")
        return ck

    def pgolf(self, ck: Path, *args: str, env: dict[str, str] | None = None) -> Result:
        flags = [x for k, v in self.over.items() for x in ("-c", f"{k}={v}")]
        return CliRunner().invoke(cli, ["--repo", str(ck), *flags, *args], env={**GIT_ENV, **(env or {})})

    def committed(self, path: str = "budget.json") -> str:
        return git(self.bare, "show", f"main:{path}")

    def budget(self) -> Budget:
        return from_json(json.loads(self.committed()), "origin:budget.json")

    def runpod_rows(self) -> list[Any]:
        (self.tmp / "final.tsv").write_text(self.committed("results.tsv") + "\n")
        return Ledger.load(self.tmp / "final.tsv").filter("runpod")


def make_scene(tmp: Path, sshd: SSHServer, *, mlx_edit: tuple[str, str] | None = None, **extra: Any) -> Scene:
    """``mlx_edit`` (old, new) changes the PR's MLX script (a pair that fails the parity gate)."""
    tmp.mkdir(parents=True, exist_ok=True)
    seed = tmp / "seed"
    (seed / "training").mkdir(parents=True)
    for name in ("train_gpt.py", "train_gpt_mlx.py"):
        (seed / "training" / name).write_bytes((ROOT / "training" / name).read_bytes())
    (seed / "training" / "fake_train.py").write_text(FAKE_TRAIN)
    (seed / ".gitignore").write_text(".pgolf/\n")
    (seed / "results.tsv").write_text(HEADER)
    (seed / "budget.json").write_text(
        json.dumps(
            {
                "version": 1,
                "total_credits": 100.0,
                "reserve_floor": 10.0,
                "spent": 0.0,
                "last_tier2_start": None,
                "runs": [],
                "reservations": [],
            }
        )
    )
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "baseline")
    bare = tmp / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(seed, "push", "-q", str(bare), "main")
    # PR #7: a change to the stand-in (and, optionally, a diverging MLX script)
    git(seed, "checkout", "-q", "-b", "exp/wider")
    with (seed / "training" / "fake_train.py").open("a") as fh:
        fh.write("# wider\n")
    if mlx_edit is not None:
        mlx = (seed / "training" / "train_gpt_mlx.py").read_text()
        assert mlx.count(mlx_edit[0]) == 1
        (seed / "training" / "train_gpt_mlx.py").write_text(mlx.replace(*mlx_edit))
    git(seed, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-q", "-am", "exp: wider MLP")
    sha = git(seed, "rev-parse", "HEAD")
    git(seed, "push", "-q", str(bare), "HEAD:refs/pull/7/head")
    return Scene(tmp, bare, sha, overrides(sshd, tmp / "podfs", **extra))


def reaper_tick(
    scene: Scene, sshd: SSHServer, name: str, now: float | None = None
) -> tuple[ReapReport, ReapReport]:
    """reaper.yml: the reap job (RunPod only) observes and terminates from its clone, the book job
    replays those observations from another clone and commits. Returns both reports."""
    reap_ck = scene.checkout(f"{name}-reap")
    s = load_settings(reap_ck, env={}, overrides=scene.over)
    recorder = RecordingProvider(
        RunPodProvider(
            ssh_user=sshd.user, workdir=scene.over["pod_workdir"], poll_interval=0.1, retry_wait=0.05
        )
    )
    import time

    at = time.time() if now is None else now
    seen = reap(reap_ck, s, recorder, now=at)
    obs = scene.tmp / f"{name}-observations.json"
    write_observations(obs, recorder.observations(at))
    book_ck = scene.checkout(f"{name}-book")
    bs = load_settings(book_ck, env={}, overrides=scene.over)
    replay = ReplayProvider.load(obs)
    booked = reap(book_ck, bs, replay, now=replay.now)
    ledger_commit(book_ck, "reaper", bs, env=GIT_ENV)
    return seen, booked


# ----------------------------------------------------------------------------- the jobs
def github(gh: GitHubEmulator, key: AppKey, sha: str) -> Repo:
    repo = gh.add_repo(REPO, files={"README.md": b"hi\n"})
    gh.set_permission(repo, "maintainer", "maintain")
    gh.add_app(4242, key.public_pem, slug="pgolf-bot", installations=[77], repos=[repo])
    gh.add_pr(repo, 7, head_sha=sha, head_ref="exp/wider", files={"training/fake_train.py": b"#\n"})
    return repo


def stickies(gh: GitHubEmulator) -> list[str]:
    return [c.body for c in gh.comments_on(REPO, 7) if c.user == "pgolf-bot[bot]" and sticky.MARKER in c.body]


def plan_and_gate(scene: Scene, gh: GitHubEmulator, key: AppKey) -> tuple[Path, Path]:
    """The plan job (App key) and the gate job (nothing held): plan.json and verdict.json."""
    files = scene.tmp / "files"
    files.mkdir(exist_ok=True)
    ev = files / "event.json"
    ev.write_text(json.dumps(comment_event(f"/promote {scene.sha}")))
    plan_ck = scene.checkout("plan")
    res = scene.pgolf(plan_ck, "promote", "plan", "--event", str(ev), "--out", str(files / "plan.json"),
                      env=cli_env(gh, key))  # fmt: skip
    assert res.exit_code == 0, res.output
    gate_ck = scene.checkout("gate")
    res = scene.pgolf(gate_ck, "promote", "gate", "--plan", str(files / "plan.json"), "--out",
                      str(files / "verdict.json"), env={"PGOLF_SANDBOX": "required"})  # fmt: skip
    assert res.exit_code == 0, res.output
    return files / "plan.json", files / "verdict.json"


def reserve(scene: Scene, gh: GitHubEmulator, key: AppKey, plan: Path, verdict: Path) -> Path:
    out = plan.parent / "reservation.json"
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()  # the plan job's output, as promote.yml
    res = scene.pgolf(scene.checkout("reserve"), "promote", "reserve", "--plan", str(plan), "--plan-sha256",
                      digest, "--verdict", str(verdict), "--out", str(out), env=cli_env(gh, key))  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def settle(scene: Scene, gh: GitHubEmulator, key: AppKey, ticket: Path, outcome: Path) -> dict[str, Any]:
    ck = scene.checkout("settle")
    # what promote.yml does: the paid job declares the outcome's SHA-256 in its job outputs
    digest = hashlib.sha256(outcome.read_bytes()).hexdigest() if outcome.exists() else ""
    res = scene.pgolf(ck, "promote", "settle", "--reservation", str(ticket), "--reservation-sha256",
                      hashlib.sha256(ticket.read_bytes()).hexdigest(), "--outcome", str(outcome),
                      "--outcome-sha256", digest, "--json", env=cli_env(gh, key))  # fmt: skip
    assert res.exit_code == 0, res.output
    done = scene.pgolf(ck, "ledger", "commit", "-m", "promotion", env=cli_env(gh, key))
    assert done.exit_code == 0, done.output
    return dict(json.loads(res.stdout))


PAID_DRIVER = """
import sys
from bot.cli import cli
sys.exit(cli.main(sys.argv[1:], prog_name="pgolf"))
"""


def kill_paid_mid_training(scene: Scene, ticket_path: Path, ticket: Any) -> Path:
    """Run the paid job (`pgolf promote run`, a real subprocess holding only the RunPod key) and
    SIGKILL it once seed 1 is training: no finally, no atexit, no outcome. Returns where the
    outcome would have been."""
    ck = scene.checkout("paid")
    outcome = ticket_path.parent / "outcome.json"
    flags = [x for k, v in scene.over.items() for x in ("-c", f"{k}={v}")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GH_APP", "GITHUB_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-c", PAID_DRIVER, "--repo", str(ck), *flags, "promote", "run", "--reservation",
         str(ticket_path), "--out", str(outcome)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    seed_log = ck / ".pgolf" / "runs" / ticket.run_id / "train_seed1.log"
    end = time.monotonic() + 120
    while time.monotonic() < end and not (seed_log.exists() and "step:1/3" in seed_log.read_text()):
        if proc.poll() is not None:
            raise AssertionError(f"the paid job ended before training: {proc.communicate()}")
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)  # no finally, no atexit: the pod lives on
    proc.communicate(timeout=30)
    return outcome
