"""Fixtures for Tier 2 tests: a real sshd on loopback, the RunPod emulator, a research repo."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.compute.gates import operator_approval, waived_parity_gate
from bot.compute.runpod import RunPodProvider
from bot.config import Settings, load_settings
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer, sshd_available

FAKE_TRAIN = '''\
"""A stand-in for train_gpt.py: prints the upstream log lines; behaviour from FAKE_MODE."""
import os, sys, time
mode = os.environ.get("FAKE_MODE", "ok")
seed = int(os.environ.get("SEED", "1"))
cap = float(os.environ.get("MAX_WALLCLOCK_SECONDS", "0"))
print(f"run_id:{os.environ.get('RUN_ID')} seed:{seed} cap:{cap}", flush=True)
print("secret_seen:" + str(any(k in os.environ for k in ("RUNPOD_API_KEY", "GITHUB_TOKEN"))), flush=True)
for step in range(1, 4):
    print(f"step:{step}/3 train_loss:{3.0 - step * 0.1:.4f} train_time:{step * 10}ms step_avg:10.00ms", flush=True)
    time.sleep(float(os.environ.get("FAKE_STEP_SLEEP", "0.05")))
if mode == "crash":
    print("Traceback (most recent call last):", flush=True)
    print("RuntimeError: CUDA error: an illegal memory access was encountered", flush=True)
    sys.exit(1)
if mode == "hang":
    time.sleep(3600)
os.makedirs("logs", exist_ok=True)
open(f"logs/{os.environ.get('RUN_ID')}.txt", "w").write("log of " + str(seed) + "\\n")
open("final_model.int8.ptz", "wb").write(os.urandom(1000))
bpb = 1.2000 - 0.0010 * (seed % 3)
loss = bpb * 1.6929
print("peak memory allocated: 10184 MiB reserved: 10200 MiB", flush=True)
print("Code size: 4000 bytes", flush=True)
print("Total submission size int8+zlib: 15000000 bytes", flush=True)
print(f"final_int8_zlib_roundtrip_exact val_loss:{loss:.8f} val_bpb:{bpb:.8f}", flush=True)
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Repo:
    root: Path
    sha: str

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.root, env={}, overrides=overrides)


def make_repo(root: Path, train_src: str = FAKE_TRAIN) -> Repo:
    (root / "training").mkdir(parents=True)
    (root / "training" / "train_gpt.py").write_text(train_src)
    (root / ".gitignore").write_text(".pgolf/\n")
    (root / "results.tsv").write_text(
        "commit\ttier\tval_bpb\tartifact_bytes\tmemory_gb\tstatus\tpromoted\tcost_usd\tdescription\n"
    )
    (root / "budget.json").write_text(json.dumps({
        "version": 1, "total_credits": 100.0, "reserve_floor": 10.0, "spent": 0.0,
        "last_tier2_start": None, "runs": [], "reservations": [],
    }))  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "exp: fewer layers, more width")
    sha = git(root, "rev-parse", "HEAD")
    row = f"{sha[:7]}\tlocal\t1.300000\t15000000\t12.0\tkeep\tno\t0.00\texp: fewer layers\n"
    with (root / "results.tsv").open("a") as fh:
        fh.write(row)
    return Repo(root, sha)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    if not sshd_available():
        # a failure under CI=true (tests/strict.py): setup.sh installs them
        pytest.skip("openssh-server/rsync not installed (scripts/setup.sh installs them)")
    server = SSHServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def emu(sshd: SSHServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunPodEmulator]:
    e = RunPodEmulator(ssh_port=sshd.port, authorized_keys=sshd.authorized_keys, boot_delay=0.3)
    e.start()
    monkeypatch.setenv("RUNPOD_API_BASE_URL", e.url)
    monkeypatch.setenv("RUNPOD_API_KEY", e.add_key())
    yield e
    e.stop()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "research")


def make_settings(repo: Repo, sshd: SSHServer, tmp_path: Path, **extra: Any) -> Settings:
    base: dict[str, Any] = {
        "pod_workdir": str(tmp_path / "podfs"),
        "pod_ssh_user": sshd.user,
        "pod_train_command": f"{sys.executable} {{script}}",
        "tier2_min_interval_seconds": 0,
        "pod_ready_timeout_seconds": 10,
        "pod_ssh_timeout_seconds": 10,
        "max_wallclock_seconds": 5,
        "pod_eval_slack_seconds": 10,
        "pod_deadline_seconds": 600,
        "hourly_rate_usd": 20.0,
        # the default setup pip-installs and downloads data: here, only show the substitution
        "pod_setup_command": "echo setup train_shards={train_shards}",
    }
    base.update(extra)
    return repo.settings(**base)


def provider(settings: Settings, **kw: Any) -> RunPodProvider:
    return RunPodProvider(
        ssh_user=settings.pod_ssh_user,
        workdir=settings.pod_workdir,
        poll_interval=kw.pop("poll_interval", 0.1),
        retry_wait=kw.pop("retry_wait", 0.05),
        **kw,
    )


# promote() has no permissive defaults: every test states its trust decision and parity gate.
# The fake training script above has no MLX twin, so these tests waive parity explicitly.
OK_TRUST = operator_approval("", "pgolf-test")
OK_PARITY = waived_parity_gate("test fixture: FAKE_TRAIN has no MLX twin")
OK = {"trust": OK_TRUST, "parity_gate": OK_PARITY}
