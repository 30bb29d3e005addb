"""The gates a promotion passes before anything is spent: trust, the pinned commit, the
artifact limit and MLX/PyTorch parity; and the challenge SOTA the result is compared with."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.artifact import measure_artifact
from bot.config import Settings
from bot.errors import ArtifactError, InputError, ParityError, TrustError
from bot.ledger import Ledger

ParityGate = Callable[[Path, str], None]  # (repo, sha) → None or raise ParityError


def resolve_sha(repo: Path, sha: str) -> str:
    """The full commit id of ``sha`` in ``repo``; InputError when it is not a commit there."""
    if not re.fullmatch(r"[0-9a-fA-F]{7,40}", sha or ""):
        raise InputError(f"{sha!r} is not a commit SHA", field="sha")
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise InputError(f"commit {sha} is not in {repo}", field="sha")
    return proc.stdout.strip()


def file_at(repo: Path, sha: str, path: str) -> bytes | None:
    proc = subprocess.run(["git", "-C", str(repo), "show", f"{sha}:{path}"], capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def check_trust(trust: Any, sha: str) -> None:
    """``trust`` is None (a local user at their own keyboard), a bool, or a decision object
    with ``allowed``/``reason`` (and optionally the approved ``sha``, which must match)."""
    if trust is None:
        return
    if isinstance(trust, bool):
        if not trust:
            raise TrustError("promotion not approved")
        return
    if not getattr(trust, "allowed", False):
        raise TrustError(f"promotion not approved: {getattr(trust, 'reason', '') or 'untrusted actor'}")
    approved = getattr(trust, "sha", "") or getattr(trust, "head_sha", "")
    if approved and not (approved.startswith(sha) or sha.startswith(approved)):
        raise TrustError(f"approval was for {approved[:12]}, not {sha[:12]}: the head moved")


def artifact_gate(repo: Path, sha: str, ledger: Ledger, settings: Settings, tmp: Path) -> list[str]:
    """Refuse a commit whose Tier 1 artifact (or, lacking one, its code) is over the limit."""
    notes: list[str] = []
    local = [
        r
        for r in ledger.rows
        if r.tier == "local" and len(r.commit) >= 7 and sha.lower().startswith(r.commit.lower())
    ]
    measured = [r for r in local if r.artifact_bytes is not None]
    if measured:
        row = measured[-1]
        if (row.artifact_bytes or 0) > settings.artifact_limit_bytes:
            raise ArtifactError(
                f"Tier 1 artifact of {sha[:7]} is {row.artifact_bytes} bytes, over the "
                f"{settings.artifact_limit_bytes}-byte limit",
                path=settings.results_path,
            )
        notes.append(f"artifact gate: Tier 1 measured {row.artifact_bytes} bytes")
        return notes
    code = file_at(repo, sha, settings.training_script)
    if code is None:
        raise InputError(f"{settings.training_script} does not exist at {sha[:12]}", field="sha")
    script = tmp / "train_gpt.py"
    script.write_bytes(code)
    report = measure_artifact(script, [], limit=settings.artifact_limit_bytes)
    if not report.ok:
        raise ArtifactError(f"training script alone is {report.total_bytes} bytes, over the limit")
    notes.append(f"artifact gate: no Tier 1 row for {sha[:7]}; code alone is {report.total_bytes} bytes")
    return notes


def default_parity_gate(settings: Settings) -> ParityGate:
    """Run ``bot.training.parity.run_parity`` on both scripts at the SHA (skipped if absent)."""

    def gate(repo: Path, sha: str) -> None:
        try:
            from bot.training.parity import run_parity  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return
        torch_src = file_at(repo, sha, settings.training_script)
        mlx_src = file_at(repo, sha, settings.mlx_script)
        if torch_src is None or mlx_src is None:
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="pgolf-parity-") as d:
            t, m = Path(d) / "train_gpt.py", Path(d) / "train_gpt_mlx.py"
            t.write_bytes(torch_src)
            m.write_bytes(mlx_src)
            res = run_parity(t, m)
        if not getattr(res, "ok", False):
            raise ParityError(f"parity gate failed: {getattr(res, 'message', res)}")

    return gate


def read_sota(program: Path) -> float | None:
    """The challenge SOTA from program.md's ``**SOTA: X bpb. …**`` line (None if absent)."""
    from bot.program import SOTA_RE

    try:
        m = SOTA_RE.search(program.read_text(encoding="utf-8"))
        return float(m.group("sota")) if m else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None
