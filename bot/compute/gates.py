"""The gates a promotion passes before anything is spent: trust, the pinned commit, the
artifact limit and MLX/PyTorch parity; and the challenge SOTA the result is compared with."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.artifact import measure_artifact
from bot.config import Settings
from bot.errors import ArtifactError, InputError, ParityError, TrustError
from bot.ledger import Ledger
from bot.safeenv import clean_env

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


PARITY_TIMEOUT_S = 900.0


def parity_subprocess(
    torch_script: Path, mlx_script: Path, *, cwd: Path, timeout: float = PARITY_TIMEOUT_S
) -> dict[str, Any]:
    """``pgolf train parity --json`` on the two scripts in a fresh interpreter whose environment
    holds no credential (the scripts are PR code; their module-level code runs on import).

    Returns the parity result's ``to_dict()``; raises ParityError when the scripts cannot be
    compared (a script that fails to load, a crash, a timeout)."""
    env = clean_env({"PYTHONDONTWRITEBYTECODE": "1"})
    argv = [sys.executable, "-P", "-m", "bot", "--repo", str(cwd), "train", "parity"]
    argv += ["--torch", str(torch_script), "--mlx", str(mlx_script), "--json"]
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ParityError(f"parity gate took over {timeout:.0f} s") from exc
    data: Any = None
    # The JSON document is the last thing printed (indented: it starts at a line "{"); anything
    # the scripts print on import comes before it.
    lines = proc.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("{")]
    if starts:
        with contextlib.suppress(ValueError):
            data = json.loads("\n".join(lines[starts[-1] :]))
    if not isinstance(data, dict) or "ok" not in data:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ParityError(
            "parity gate could not compare the scripts (exit "
            f"{proc.returncode}): " + (" | ".join(detail) or "no output")
        )
    return data


def default_parity_gate(settings: Settings, *, timeout: float = PARITY_TIMEOUT_S) -> ParityGate:
    """Run the MLX/PyTorch parity gate on both scripts at the SHA (skipped if either is absent).

    The scripts are written to a scratch folder and compared by ``pgolf train parity --json`` in a
    subprocess with a credential-free environment (:func:`parity_subprocess`): PR code never runs
    inside this process, next to the forge and RunPod credentials."""

    def gate(repo: Path, sha: str) -> None:
        torch_src = file_at(repo, sha, settings.training_script)
        mlx_src = file_at(repo, sha, settings.mlx_script)
        if torch_src is None or mlx_src is None:
            return
        with tempfile.TemporaryDirectory(prefix="pgolf-parity-") as d:
            folder = Path(d)
            t, m = folder / "train_gpt.py", folder / "train_gpt_mlx.py"
            t.write_bytes(torch_src)
            m.write_bytes(mlx_src)
            res = parity_subprocess(t, m, cwd=folder, timeout=timeout)
        if not res.get("ok"):
            layer = res.get("first_diverging_layer") or "unknown"
            raise ParityError(
                f"parity gate failed at {sha[:12]}: first diverging layer {layer}: {res.get('message', '')}"
            )

    return gate


def read_sota(program: Path) -> float | None:
    """The challenge SOTA from program.md's ``**SOTA: X bpb. …**`` line (None if absent)."""
    from bot.program import SOTA_RE

    try:
        m = SOTA_RE.search(program.read_text(encoding="utf-8"))
        return float(m.group("sota")) if m else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None
