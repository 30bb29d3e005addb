"""The promotion that a `promote` label starts runs the real gates (issue 12 item 6): dispatch
imports the parity gate plainly and promote() requires it, so a commit without its MLX twin is
refused before anything is spent — the gate used to be looked up optionally and to pass when a
script was absent."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bot.budget import init as budget_init
from bot.compute.promote import promote_for_event
from bot.config import Settings
from bot.errors import ComputeError, ParityError
from bot.forge.dispatch import run_event
from bot.forge.events import parse_payload
from bot.forge.github import GitHubForge
from bot.ledger import Ledger
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import AppKey, app_env, label_event

FAST = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)
ROOT = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_label_promotion_without_the_mlx_script_is_refused_before_spending(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, tmp_path: Path
) -> None:
    root = tmp_path / "research"
    (root / "training").mkdir(parents=True)
    (root / "training" / "train_gpt.py").write_text((ROOT / "training" / "train_gpt.py").read_text())
    (root / ".gitignore").write_text(".pgolf/\n")
    Ledger.init(root / "results.tsv")
    budget_init(root / "budget.json", FAST)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "exp: no MLX twin")
    sha = _git(root, "rev-parse", "HEAD")
    github_emu.add_pr(
        seeded, 8, head_sha=sha, head_ref="exp/no-mlx", files={"training/train_gpt.py": b"x = 3\n"}
    )
    settings = replace(FAST, pod_provider="local")
    forge = GitHubForge.from_env(settings, app_env(github_emu, app_key))
    event = parse_payload(label_event("promote", sha, sender="writer", number=8), "pull_request")
    # the entry point `pgolf command run` hands in: the real promote() and its real gates
    with pytest.raises(ParityError, match="training/train_gpt_mlx.py does not exist"):
        run_event(event, forge, settings, root, promote_hook=promote_for_event)
    budget = json.loads((root / "budget.json").read_text())
    assert budget["reservations"] == [] and budget["runs"] == [] and budget["spent"] == 0
    assert not (root / ".pgolf" / "localpods").exists()


def test_without_an_entry_point_dispatch_refuses(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, tmp_path: Path
) -> None:
    """The forge sits below compute and looks nothing up by name: no hook, no promotion."""
    root = tmp_path / "research"
    root.mkdir()
    Ledger.init(root / "results.tsv")
    budget_init(root / "budget.json", FAST)
    forge = GitHubForge.from_env(FAST, app_env(github_emu, app_key))
    head = seeded.issues[7].head_sha
    event = parse_payload(label_event("promote", head, sender="writer"), "pull_request")
    with pytest.raises(ComputeError, match="no promotion entry point was given"):
        run_event(event, forge, FAST, root)


def test_pgolf_command_run_hands_in_the_real_entry_point(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, tmp_path: Path
) -> None:
    """`pgolf command run` on a label event reaches the real promote() and its gates: here the
    commit is not in the folder's history, an input error (exit 2) — not 'no entry point' (20)."""
    from click.testing import CliRunner

    from bot.cli import cli
    from tests.forge.conftest import cli_env, write_event

    root = tmp_path / "research"
    root.mkdir()
    Ledger.init(root / "results.tsv")
    budget_init(root / "budget.json", FAST)
    head = seeded.issues[7].head_sha
    event = write_event(tmp_path / "event.json", label_event("promote", head, sender="writer"))
    env = cli_env(github_emu, app_key, PGOLF_POD_PROVIDER="local")
    res = CliRunner().invoke(
        cli, ["--repo", str(root), "command", "run", "--event", str(event), "--json"], env=env
    )
    assert res.exit_code == 2, res.output
    assert "no promotion entry point" not in res.output and "commit" in res.output
