"""Overruns are loud, the kill switch stops paid runs, training logs are folded and inert."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import budget as budget_mod
from bot.cli import cli
from bot.compute.notify import ForgeReporter
from bot.compute.promote import promote
from bot.config import Settings
from bot.forge import sticky
from bot.forge.local import LocalForge
from tests.compute.conftest import OK, Repo, make_settings, provider
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer


def write_budget(root: Path, credits: float = 500.0, floor: float = 50.0) -> Path:
    path = root / "budget.json"
    path.write_text(json.dumps({
        "version": 1, "total_credits": credits, "reserve_floor": floor, "spent": 0.0,
        "last_tier2_start": None, "runs": [], "reservations": [],
    }))  # fmt: skip
    return path


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    r = CliRunner().invoke(
        cli, ["--repo", str(root), "-c", "tier2_min_interval_seconds=0", *args], env=env or {}
    )
    return r.exit_code, r.output


def test_overrun_is_booked_marked_and_blocks_until_credits_are_raised(tmp_path: Path) -> None:
    path = write_budget(tmp_path)
    assert run(tmp_path, "budget", "reserve", "--run-id", "r1", "--usd", "400")[0] == 0
    # $500 against a $400 reservation: 25 h at $20/h for 8 GPUs
    code, out = run(tmp_path, "budget", "settle", "--run-id", "r1", "--seconds", "90000")
    assert code == 0 and "OVERRUN: $500.00 against $400.00 reserved (+$100.00)" in out
    assert "new reservations blocked" in out
    b = budget_mod.load(path, status_settings())
    rec = b.runs[0]
    assert rec.overrun and rec.reserved_usd == 400 and rec.cost_usd == pytest.approx(500)
    assert b.spent == pytest.approx(500) and b.available == pytest.approx(-50)

    code, out = run(tmp_path, "budget", "check")
    assert code == 1
    assert "after an overrun: run r1 cost $500.00 against $400.00 reserved" in out
    assert "raise total_credits" in out
    code, out = run(tmp_path, "budget", "status", "--json")
    status = json.loads(out)
    assert status["available"] == pytest.approx(-50) and status["can_submit"] is False
    assert status["overruns"] == [
        {"run_id": "r1", "cost_usd": 500.0, "reserved_usd": 400.0, "overrun_usd": 100.0}
    ]
    code, out = run(tmp_path, "budget", "reserve", "--run-id", "r2", "--usd", "1")
    assert code == 6 and "overrun" in out and budget_mod.load(path, status_settings()).reservations == []

    data = json.loads(path.read_text())
    data["total_credits"] = 700.0  # a maintainer raises the credits
    path.write_text(json.dumps(data))
    code, out = run(tmp_path, "budget", "check")
    assert code == 0 and out.startswith("OK")
    # a settle within the reservation is no overrun
    assert run(tmp_path, "budget", "reserve", "--run-id", "r3", "--usd", "10")[0] == 0
    code, out = run(tmp_path, "budget", "settle", "--run-id", "r3", "--seconds", "360")
    assert code == 0 and "OVERRUN" not in out
    assert not budget_mod.load(path, status_settings()).runs[-1].overrun


def status_settings() -> Settings:
    return Settings()


def test_overrun_of_a_promotion_reaches_the_sticky_comment(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    # The in-pod deadline of 1 s is what the reservation covers; the promotion's own teardown
    # (wait, SSH, terminate) runs past it, so the wall-clock cost exceeds the reservation.
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path, pod_deadline_seconds=1, pod_ready_timeout_seconds=5)
    forge = LocalForge(repo.root)
    pr = forge.open_pr("main", "main", "exp", "body").number
    res = promote(
        repo.root, s, provider=provider(s), pr=pr, sha=repo.sha, **OK,
        reporter=ForgeReporter(forge, pr, approved_by="alice"),
    )  # fmt: skip
    b = budget_mod.load(repo.root / "budget.json", s)
    assert res.overrun and b.runs[0].overrun and b.runs[0].cost_usd > b.runs[0].reserved_usd
    assert res.budget_warning.startswith("OVERRUN: $")
    body = sticky.find_sticky(forge, pr)
    assert body is not None and res.budget_warning in body.body and "[!WARNING]" in body.body
    assert res.budget_warning in res.comment


def test_pause_refuses_every_reservation_until_resumed(tmp_path: Path) -> None:
    path = write_budget(tmp_path)
    code, out = run(tmp_path, "pause", "--reason", "runaway spend", env={"GITHUB_ACTOR": "maintainer"})
    assert code == 0 and "paused by maintainer" in out
    assert run(tmp_path, "pause", "--check")[0] == 1
    code, out = run(tmp_path, "budget", "check")
    assert code == 1 and "Paused by maintainer" in out and "runaway spend" in out
    code, out = run(tmp_path, "budget", "reserve", "--run-id", "r1", "--usd", "1")
    assert code == 6 and budget_mod.load(path, status_settings()).reservations == []
    # even a free ($0, local provider) reservation is refused
    with pytest.raises(budget_mod.BudgetBlocked, match="Paused"):
        budget_mod.reserve(path, status_settings(), "r0", 0.0, free=True)
    assert run(tmp_path, "pause", "--off")[0] == 0
    assert run(tmp_path, "pause", "--check")[0] == 0
    assert run(tmp_path, "budget", "reserve", "--run-id", "r1", "--usd", "1")[0] == 0
    # the repository variable alone also stops a workflow at its first step
    code, out = run(tmp_path, "pause", "--check", env={"PGOLF_PAUSED": "true"})
    assert code == 1 and "paused setting is true (repository variable PGOLF_PAUSED" in out
    code, out = run(tmp_path, "budget", "check", env={"PGOLF_PAUSED": "true"})
    assert code == 1 and "kill switch" in out
    assert run(tmp_path, "pause", "--check", env={"PGOLF_PAUSED": "false"})[0] == 0


HOSTILE = r"""
import sys, time, pathlib
print("step:1/3 train_loss:3.0", flush=True)
print("::error file=x::forged annotation", flush=True)
print("::add-mask::hide-everything", flush=True)
print("::endgroup::", flush=True)
print("::stop-commands::mine", flush=True)
print("<script>alert(1)</script>", flush=True)
log = pathlib.Path(sys.argv[1]) / "run1" / "train_seed1.log"
log.parent.mkdir(parents=True)
with log.open("w") as fh:
    for i in range(3):
        fh.write(f"seed-log line {i}\n"); fh.flush(); time.sleep(0.3)
time.sleep(1.0)
sys.exit(3)
"""


def test_logs_are_folded_with_commands_off_and_summarised(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    summary = tmp_path / "summary.md"
    script = tmp_path / "hostile.py"
    script.write_text(HOSTILE)
    env = {
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    t0 = time.monotonic()
    code, out = run(
        tmp_path, "logs", "stream", "--title", "Tier 2 training", "--follow", str(runs), "--tail", "5",
        "--", sys.executable, str(script), str(runs), env=env,
    )  # fmt: skip
    assert code == 3  # the command's own exit status
    assert time.monotonic() - t0 < 60
    lines = out.splitlines()
    assert lines[0] == "::group::Tier 2 training"
    m = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", lines[1])
    assert m is not None
    token = m.group(1)
    assert lines[-2:] == [f"::{token}::", "::endgroup::"]
    body = lines[2:-2]
    for hostile in ("::error file=x::forged annotation", "::add-mask::hide-everything", "::endgroup::"):
        assert hostile in body  # shown, but inside the stop-commands span: never obeyed
    assert "[train_seed1.log] seed-log line 2" in body  # the followed training log, streamed
    text = summary.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "seed-log line 2" in text and "step:1/3" not in text  # only the last 5 lines
    assert "https://github.com/o/r/actions/runs/42#artifacts" in text
    # two runs never share a token
    _, out2 = run(tmp_path, "logs", "stream", "--", sys.executable, "-c", "print(1)", env=env)
    assert token not in out2


def test_the_sticky_comment_links_the_run_and_its_artifact(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.compute.outcome import PromoteResult, SeedResult
    from bot.ledger import Ledger

    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    forge = LocalForge(repo.root)
    pr = forge.open_pr("main", "main", "exp", "body").number
    result = PromoteResult("pr1-abc-1", pr, repo.sha, "runpod", "keep", val_bpb=1.2, cost_usd=1.0)
    result.seeds = [SeedResult(seed=1, rc=0, log="x", val_bpb=1.2)]
    ForgeReporter(forge, pr).final(result, Ledger.load(repo.root / "results.tsv"))
    found = sticky.find_sticky(forge, pr)
    assert found is not None
    assert "[workflow run](https://github.com/o/r/actions/runs/77)" in found.body
    assert "[logs and result JSON](https://github.com/o/r/actions/runs/77#artifacts)" in found.body


SKEWED = r"""
import os, sys, time, pathlib
log = pathlib.Path(sys.argv[1]) / "run2" / "train_seed1.log"
log.parent.mkdir(parents=True)
for i in range(3):
    with log.open("a") as fh:
        fh.write(f"pod line {i}\n")
    os.utime(log, (1_000_000_000 + i, 1_000_000_000 + i))  # rsync -t keeps the pod's clock (here: 2001)
    time.sleep(0.6)
time.sleep(1.0)
"""


def test_followed_logs_do_not_depend_on_anyones_clock(tmp_path: Path) -> None:
    """Pod logs arrive by rsync with the pod's mtimes: a pod clock behind the runner's (or a
    runner clock ahead) hid every line when "new" meant "mtime after we started". New means new
    to this run: a log that was not there, or grew; an old run's log is never replayed."""
    runs = tmp_path / "runs"
    (runs / "run1").mkdir(parents=True)
    old = runs / "run1" / "train_seed1.log"
    old.write_text("old run line\n")
    future = time.time() + 10 * 365 * 86400
    os.utime(old, (future, future))  # even an old log stamped in the future stays old
    script = tmp_path / "skewed.py"
    script.write_text(SKEWED)
    code, out = run(
        tmp_path, "logs", "stream", "--title", "t", "--follow", str(runs), "--",
        sys.executable, str(script), str(runs), env={},
    )  # fmt: skip
    assert code == 0, out
    assert "[train_seed1.log] pod line 2" in out and "[train_seed1.log] pod line 0" in out
    assert "old run line" not in out
