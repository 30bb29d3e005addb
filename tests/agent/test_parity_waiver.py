"""check_parity's waiver for a declared MLX-only change (issue 12 item 6): it passes with a
warning and is marked never promotable; an undeclared divergence fails; the promotion gate (which
has no waiver) refuses the same commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent.validate import (
    CheckContext,
    Validator,
    check_import,
    check_parity,
    check_patch,
    check_scope,
)
from bot.compute.gates import default_parity_gate
from bot.config import load_settings
from bot.errors import ParityError
from tests.agent.conftest import git
from tests.agent.test_validate import A, B, candidate, edit

RELU2 = "mx.square(mx.maximum(self.fc(x), 0))"


def _diverging_mlx(repo: Path) -> str:
    return edit(repo, B, RELU2, "mx.maximum(self.fc(x), 0)")


def test_a_declared_mlx_only_divergence_passes_with_a_warning_and_is_not_promotable(repo: Path) -> None:
    s = load_settings(repo, env={})
    cand = candidate(repo, {B: _diverging_mlx(repo)}, mlx_only=True)
    r = Validator(repo, s, checks=[check_scope, check_patch, check_import, check_parity]).validate(cand)
    assert r.ok, r.message()
    parity = r.checks[-1]
    assert parity.name == "parity" and "MLX-only (declared)" in parity.detail
    assert "not promotable" in parity.detail and "blocks.0" in parity.detail
    assert parity.data["mlx_only_waived"] is True and parity.data["ok"] is False


def test_the_same_divergence_undeclared_fails_naming_the_layer(repo: Path) -> None:
    s = load_settings(repo, env={})
    torch_comment = edit(repo, A, "import os\n", "import os  # unchanged maths\n")
    cand = candidate(repo, {A: torch_comment, B: _diverging_mlx(repo)})
    r = Validator(repo, s, checks=[check_scope, check_patch, check_import, check_parity]).validate(cand)
    assert not r.ok and r.failure is not None and r.failure.name == "parity"
    assert (
        "MLX and PyTorch disagree" in r.failure.detail
        and "first diverging layer: blocks.0" in r.failure.detail
    )
    assert "mlx_only_waived" not in r.failure.data


@pytest.mark.parametrize("mlx_only", [True, False])
def test_a_pair_that_cannot_be_compared(repo: Path, tmp_path: Path, mlx_only: bool) -> None:
    s = load_settings(repo, env={})
    cand = candidate(repo, {B: _diverging_mlx(repo)}, mlx_only=mlx_only)
    ctx = CheckContext(repo, s, cand, tmp_path)
    ctx.cache["parity"] = {"error": "train_gpt_mlx.py: fails to load: ImportError: mlx.nn"}
    out = check_parity(ctx)
    assert out.ok is mlx_only
    assert "could not compare the scripts" in out.detail and "mlx.nn" in out.detail
    assert ("not promotable" in out.detail) is mlx_only


def test_the_promotion_gate_has_no_waiver(repo: Path) -> None:
    (repo / B).write_text(_diverging_mlx(repo))
    git(repo, "commit", "-qam", "mlx-only: relu instead of relu^2")
    sha = git(repo, "rev-parse", "HEAD")
    with pytest.raises(ParityError, match="first diverging layer blocks.0"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)
