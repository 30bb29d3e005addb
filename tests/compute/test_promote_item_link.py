"""The RunPod row names the pinned commit's subject and its research item (calibration link)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.forge.local import LocalForge
from bot.grading.calibration import item_refs
from bot.ledger import Ledger
from tests.compute.conftest import git, make_repo


def test_runpod_row_carries_commit_subject_and_item_tag(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo").root
    git(root, "commit", "-q", "--amend", "-m", "exp: int6 export", "-m", "Research-Item: arxiv:1234.5678")
    git(root, "branch", "exp/int6")
    forge = LocalForge(root)
    pr = forge.open_pr("exp/int6", "main", "exp: int6", "body").number
    args = ["--repo", str(root), "-c", "pod_train_env=FAKE_MODE=ok", "-c", f"pod_train_command={sys.executable} {{script}}",
            "-c", "pod_setup_command=true", "-c", "forge=local",
            "promote", "--pr", str(pr), "--provider", "local", "--skip-parity", "--json"]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["status"] == "keep"
    row = Ledger.load(root / "results.tsv").filter("runpod")[0]
    assert row.description.startswith(f"PR #{pr} — exp: int6 export [item:arxiv:1234.5678] ")
    assert item_refs(row.description) == ["arxiv:1234.5678"]
