"""Fresh-eyes attacks on Tier 2 money, logs and submissions (issue 15 review).

Each test reproduces a defect an unlucky user or an attacker could hit; real git remotes in
temporary folders, no monkeypatching.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot import budget as budget_mod
from bot.config import Settings
from bot.errors import LedgerError
from bot.forge.ledger_commit import ledger_commit

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin"},
    ).stdout.strip()


def _remote_with_budget(tmp_path: Path, s: Settings) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    budget_mod.init(seed / "budget.json", s)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    git(seed, "push", "-q", "origin", "main")
    return bare


def _clone(bare: Path, name: str) -> Path:
    path = bare.parent / name
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True, capture_output=True)
    return path


def _committed(bare: Path, s: Settings) -> budget_mod.Budget:
    text = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "main:budget.json"], check=True, capture_output=True
    ).stdout
    return budget_mod.from_json(__import__("json").loads(text), "remote budget.json")


@pytest.mark.parametrize("interval", [0, 3600])
def test_two_runners_racing_for_the_last_dollars_never_both_commit(tmp_path: Path, interval: int) -> None:
    """Two promotions of different PRs run on two runners (promote.yml's concurrency group is
    per PR). Each reserves against its own checkout, where the money is still there; the second
    reservation commit must be refused (the promotion then rents nothing), never merged into a
    default branch that holds more reservations than the credits above the floor."""
    s = Settings(total_compute_credits=100.0, runpod_min_reserve=50.0, tier2_min_interval_seconds=interval,
                 ledger_push_attempts=3)  # fmt: skip
    bare = _remote_with_budget(tmp_path, s)
    a, b = _clone(bare, "a"), _clone(bare, "b")
    budget_mod.reserve(a / "budget.json", s, "pr1-aaaaaaa-1", 30.0, pr=1)
    budget_mod.reserve(b / "budget.json", s, "pr2-bbbbbbb-1", 30.0, pr=2)  # b's checkout is stale
    assert ledger_commit(a, "reserve a", s, env=ENV).pushed
    with pytest.raises(LedgerError, match="pr2-bbbbbbb-1"):
        ledger_commit(b, "reserve b", s, env=ENV, sleep=lambda _: None)
    on_main = _committed(bare, s)
    assert [r.run_id for r in on_main.reservations] == ["pr1-aaaaaaa-1"]
    assert on_main.remaining - on_main.reserved >= on_main.reserve_floor


def test_a_reservation_is_not_merged_past_a_pause_on_the_default_branch(tmp_path: Path) -> None:
    """A maintainer runs `pgolf pause` (committed) while a runner with a stale checkout reserves:
    the kill switch must win, not be silently merged around."""
    s = Settings(tier2_min_interval_seconds=0, ledger_push_attempts=2)
    bare = _remote_with_budget(tmp_path, s)
    maint, runner = _clone(bare, "maint"), _clone(bare, "runner")
    budget_mod.pause(maint / "budget.json", s, by="maintainer", reason="incident")
    assert ledger_commit(maint, "pause", s, env=ENV).pushed
    budget_mod.reserve(runner / "budget.json", s, "pr3-ccccccc-1", 20.0, pr=3)
    with pytest.raises(LedgerError, match="[Pp]aused"):
        ledger_commit(runner, "reserve", s, env=ENV, sleep=lambda _: None)
    assert _committed(bare, s).reservations == []


def test_settling_on_a_stale_checkout_still_merges(tmp_path: Path) -> None:
    """The admission check is for new reservations only: settling (or a reservation already on
    the default branch) must keep merging even when the budget is below the floor."""
    s = Settings(total_compute_credits=100.0, runpod_min_reserve=50.0, tier2_min_interval_seconds=3600,
                 ledger_push_attempts=3)  # fmt: skip
    bare = _remote_with_budget(tmp_path, s)
    a, b = _clone(bare, "a"), _clone(bare, "b")
    budget_mod.reserve(a / "budget.json", s, "pr1-aaaaaaa-1", 40.0, pr=1)
    assert ledger_commit(a, "reserve a", s, env=ENV).pushed
    git(b, "pull", "-q", "origin", "main")
    # main moves on (an overrun elsewhere: theirs is now below the floor)
    budget_mod.settle(a / "budget.json", s, "pr1-aaaaaaa-1", 3600, 8, 20.0, cost_usd=45.0)
    assert ledger_commit(a, "settle a", s, env=ENV).pushed
    budget_mod.record_spend(b / "budget.json", s, "orphan-1", 1.0, pod_id="p1")
    assert ledger_commit(b, "orphan", s, env=ENV, sleep=lambda _: None).pushed
    assert _committed(bare, s).spent == pytest.approx(46.0)


def test_two_runners_within_the_rate_limit_only_one_tier2_start_lands(tmp_path: Path) -> None:
    """Plenty of money, one Tier 2 start per hour: of two stale runners exactly one proceeds."""
    s = Settings(total_compute_credits=1000.0, runpod_min_reserve=50.0, tier2_min_interval_seconds=3600,
                 ledger_push_attempts=3)  # fmt: skip
    bare = _remote_with_budget(tmp_path, s)
    a, b = _clone(bare, "a"), _clone(bare, "b")
    from bot import clock

    with clock.pinned("2030-01-01T10:00:00Z"):
        budget_mod.reserve(a / "budget.json", s, "pr1-aaaaaaa-1", 30.0, pr=1)
    with clock.pinned("2030-01-01T10:20:00Z"):
        budget_mod.reserve(b / "budget.json", s, "pr2-bbbbbbb-1", 30.0, pr=2)
    assert ledger_commit(a, "reserve a", s, env=ENV).pushed
    with pytest.raises(LedgerError, match="rate limited"):
        ledger_commit(b, "reserve b", s, env=ENV, sleep=lambda _: None)
    assert [r.run_id for r in _committed(bare, s).reservations] == ["pr1-aaaaaaa-1"]


HOSTILE_TRAIN = """\
import os
bpb = os.environ.get("FAKE_BPB", "1e999")
print("Code size: 4000 bytes", flush=True)
print("Total submission size int8+zlib: 15000000 bytes", flush=True)
print(f"final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:{bpb}", flush=True)
"""


@pytest.mark.parametrize("bpb", ["1e999", "-0.5"])
def test_training_printing_an_impossible_val_bpb_is_a_crash_row_not_an_exception(
    tmp_path: Path, bpb: str
) -> None:
    """PR code prints ``val_bpb:1e999`` (inf) or a negative score: the promotion must end as a
    crash row with its reason (settled, commented), not raise out of promote() after the pod
    is gone with no row, no result.json and no final comment."""
    import sys

    from bot.compute.localpod import LocalPodProvider
    from bot.compute.promote import promote
    from bot.ledger import Ledger
    from tests.compute.conftest import make_repo

    repo = make_repo(tmp_path / "repo", HOSTILE_TRAIN)
    s = repo.settings(pod_provider="local", pod_train_command=f"{sys.executable} {{script}}",
                      max_wallclock_seconds=5, pod_eval_slack_seconds=10, pod_setup_command="true",
                      pod_train_env=[f"FAKE_BPB={bpb}"])  # fmt: skip
    res = promote(repo.root, s, provider=LocalPodProvider(repo.root / ".pgolf/localpods"), pr=4, sha=repo.sha)
    assert res.status == "crash" and "val_bpb" in res.error
    rows = Ledger.load(repo.root / "results.tsv").filter("runpod")
    assert [r.status for r in rows] == ["crash"]
    assert (Path(res.run_dir) / "result.json").is_file()
