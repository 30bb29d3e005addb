"""The validation checks one by one, on real git and the real training scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent import gitops
from bot.agent.validate import (
    Candidate,
    Validator,
    check_artifact,
    check_import,
    check_patch,
    check_scope,
)
from bot.config import load_settings
from bot.ledger import Ledger, make_row
from tests.agent.conftest import git

A, B = "training/train_gpt.py", "training/train_gpt_mlx.py"


def candidate(repo: Path, edits: dict[str, str], mlx_only: bool = False) -> Candidate:
    base = git(repo, "rev-parse", "HEAD")
    originals = {rel: gitops.show_file(repo, base, rel) for rel in (A, B)}
    files = {**originals, **edits}
    changed = {k: v for k, v in files.items() if v != originals[k]}
    diff = gitops.diff_trees(repo, base, gitops.build_tree(repo, base, changed)) if changed else ""
    return Candidate(base, files, originals, diff, mlx_only)


def edit(repo: Path, rel: str, old: str, new: str) -> str:
    text = (repo / rel).read_text()
    assert text.count(old) == 1
    return text.replace(old, new)


def test_scope_rules(repo: Path) -> None:
    s = load_settings(repo, env={})
    v = Validator(repo, s, checks=[check_scope])
    one = {A: edit(repo, A, '"WARMDOWN_ITERS", 1200', '"WARMDOWN_ITERS", 1500')}
    r = v.validate(candidate(repo, one))
    assert not r.ok and "make the same change in training/train_gpt_mlx.py" in r.message()
    r = v.validate(candidate(repo, one, mlx_only=True))
    assert not r.ok and "MLX-only proposal must not change training/train_gpt.py" in r.message()
    mlx = {B: edit(repo, B, '"WARMDOWN_ITERS", 1200', '"WARMDOWN_ITERS", 1500')}
    assert v.validate(candidate(repo, mlx, mlx_only=True)).ok
    assert not v.validate(candidate(repo, {})).ok


def test_patch_reproduces_the_files_and_rejects_a_stale_diff(repo: Path) -> None:
    s = load_settings(repo, env={})
    both = {
        A: edit(repo, A, '"WARMDOWN_ITERS", 1200', '"WARMDOWN_ITERS", 1500'),
        B: edit(repo, B, '"WARMDOWN_ITERS", 1200', '"WARMDOWN_ITERS", 1500'),
    }
    good = candidate(repo, both)
    r = Validator(repo, s, checks=[check_scope, check_patch]).validate(good)
    assert r.ok and "applies cleanly" in r.checks[-1].detail
    stale = Candidate(good.base_sha, good.files, good.originals, good.diff.replace("1200", "1100"), False)
    r = Validator(repo, s, checks=[check_patch]).validate(stale)
    assert (
        not r.ok
        and r.failure is not None
        and r.failure.name == "patch"
        and "git apply failed" in r.failure.detail
    )


def test_artifact_gate_uses_the_last_measured_weights(repo: Path) -> None:
    s = load_settings(repo, env={})
    code = len((repo / A).read_bytes())
    bigger = {
        A: (repo / A).read_text() + "# " + "x" * 5000 + "\n",
        B: (repo / B).read_text() + "# padding\n",
    }
    v = Validator(repo, s, checks=[check_scope, check_patch, check_artifact])
    r = v.validate(candidate(repo, bigger))
    assert r.ok and "code bytes only" in r.checks[-1].detail
    # a measured artifact 1000 bytes under the limit: +5003 bytes of code no longer fit
    Ledger.append(
        repo / "results.tsv",
        make_row(
            commit="abcdef1",
            tier="local",
            val_bpb=3.7,
            artifact_bytes=s.artifact_limit_bytes - 1000,
            memory_gb=1.0,
            status="keep",
            description="baseline seed=1",
        ),
    )
    r = v.validate(candidate(repo, bigger))
    f = r.failure
    assert f is not None and f.name == "artifact" and "OVER LIMIT by 4003 B" in f.detail
    assert (
        f.data["code_delta"] == 5003
        and f.data["estimated_total_bytes"] == s.artifact_limit_bytes - 1000 + 5003
    )
    # the weights are the measured artifact minus the base script's code: the candidate's code on top
    assert f.data["code_bytes"] == code + 5003
    assert f.data["estimated_weight_bytes"] == s.artifact_limit_bytes - 1000 - code
    assert f.data["headroom"] == -4003


def test_import_runs_candidate_code_without_secrets(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    monkeypatch.setenv("GH_APP_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----")
    probe = (
        "import os as _os\n"
        "_leaked = [k for k in ('ANTHROPIC_API_KEY', 'GH_APP_PRIVATE_KEY') if k in _os.environ]\n"
        "assert not _leaked, _leaked\n"
    )
    fut = "from __future__ import annotations\n"
    files = {rel: (repo / rel).read_text().replace(fut, fut + probe, 1) for rel in (A, B)}
    assert all(probe in t for t in files.values())
    s = load_settings(repo, env={})
    r = Validator(repo, s, checks=[check_scope, check_patch, check_import]).validate(candidate(repo, files))
    assert r.ok, r.message()
    assert "training/train_gpt.py: imported" in r.checks[-1].detail
    broken = {A: (repo / A).read_text() + "\nraise RuntimeError('boom at import')\n", B: files[B]}
    r = Validator(repo, s, checks=[check_scope, check_patch, check_import]).validate(candidate(repo, broken))
    assert not r.ok and "boom at import" in r.message() and "RuntimeError" in r.message()
