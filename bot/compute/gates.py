"""The gates a promotion passes before anything is spent: trust, the pinned commit, the
artifact limit and MLX/PyTorch parity; and the challenge SOTA the result is compared with."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import git as gitops
from bot.artifact import measure_artifact
from bot.config import Settings
from bot.errors import GateFailed, InputError, ParityError, TrustError
from bot.forge.events import Approval
from bot.ledger import Ledger
from bot.training.parity import parity_in_sandbox

ParityGate = Callable[[Path, str], str]  # (repo, sha) → a note for the log, or raise ParityError


def resolve_sha(repo: Path, sha: str) -> str:
    """The full commit id of ``sha`` in ``repo``; InputError when it is not a commit there."""
    if not re.fullmatch(r"[0-9a-fA-F]{7,40}", sha or ""):
        raise InputError(f"{sha!r} is not a commit SHA", field="sha")
    full = gitops.resolve(repo, sha)
    if full is None:
        raise InputError(f"commit {sha} is not in {repo}", field="sha")
    return full


def file_at(repo: Path, sha: str, path: str) -> bytes | None:
    """The bytes of ``path`` at commit ``sha`` (None when it is not there)."""
    proc = gitops.run(repo, "show", f"{sha}:{path}")
    return proc.stdout if proc.returncode == 0 else None


def operator_approval(sha: str, actor: str = "") -> Approval:
    """The approval of the operator running ``pgolf promote`` at their own keyboard (the CLI has
    already checked ``--actor``'s permission on the forge when one is given)."""
    who = actor or "the local operator"
    return Approval(True, f"approved by {who} at the command line", sha, actor)


def check_trust(trust: Approval | None, sha: str) -> None:
    """``trust`` is a decision object with ``allowed``/``reason`` and, optionally, the approved
    ``sha`` (which must match). Anything else — ``None``, a bare bool, a missing decision — is a
    refusal: promotion fails closed."""
    if trust is None or isinstance(trust, bool) or not hasattr(trust, "allowed"):
        raise TrustError(
            f"promotion not approved: no trust decision was given ({type(trust).__name__}); "
            "pass the forge's decision or gates.operator_approval()"
        )
    if trust.allowed is not True:
        raise TrustError(f"promotion not approved: {getattr(trust, 'reason', '') or 'untrusted actor'}")
    approved = getattr(trust, "sha", "") or getattr(trust, "head_sha", "")
    if approved and not gitops.same_commit(approved, sha):
        raise TrustError(f"approval was for {approved[:12]}, not {sha[:12]}: the head moved")


def artifact_gate(repo: Path, sha: str, ledger: Ledger, settings: Settings, tmp: Path) -> list[str]:
    """Refuse a commit whose Tier 1 artifact (or, lacking one, its code) is over the limit."""
    notes: list[str] = []
    local = [
        r
        for r in ledger.rows
        if r.tier == "local" and len(r.commit) >= 7 and gitops.same_commit(r.commit, sha)
    ]
    measured = [r for r in local if r.artifact_bytes is not None]
    if measured:
        row = measured[-1]
        if (row.artifact_bytes or 0) > settings.artifact_limit_bytes:
            raise GateFailed(
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
        raise GateFailed(f"training script alone is {report.total_bytes} bytes, over the limit")
    notes.append(f"artifact gate: no Tier 1 row for {sha[:7]}; code alone is {report.total_bytes} bytes")
    return notes


PARITY_TIMEOUT_S = 900.0


def parity_verdict(
    settings: Settings, torch_src: bytes, mlx_src: bytes, *, timeout: float = PARITY_TIMEOUT_S
) -> dict[str, Any]:
    """The parity gate on the two scripts inside :mod:`bot.sandbox` (they are PR code: their
    module-level code runs on import), re-validated on this side; ParityError when the scripts
    cannot be compared (a script that fails to load, a crash, a timeout, a malformed verdict)."""
    data = parity_in_sandbox(settings, torch_src, mlx_src, timeout=timeout)
    if "error" in data:
        raise ParityError(f"parity gate could not compare the scripts: {data['error']}")
    return data


def default_parity_gate(settings: Settings, *, timeout: float = PARITY_TIMEOUT_S) -> ParityGate:
    """The MLX/PyTorch parity gate on both scripts at the SHA, run in the sandbox.

    Fails closed: a script missing at the commit is a ParityError naming it, as is a divergence
    or a pair that cannot be compared. Returns the note the promotion log records."""

    def gate(repo: Path, sha: str) -> str:
        sources: dict[str, bytes] = {}
        for key in ("training_script", "mlx_script"):
            rel = getattr(settings, key)
            src = file_at(repo, sha, rel)
            if src is None:
                raise ParityError(
                    f"parity gate refused {sha[:12]}: {rel} does not exist at that commit "
                    "(both training scripts are needed to compare them)",
                    field=key,
                )
            sources[key] = src
        res = parity_verdict(settings, sources["training_script"], sources["mlx_script"], timeout=timeout)
        if not res.get("ok"):
            layer = res.get("first_diverging_layer") or "unknown"
            raise ParityError(
                f"parity gate failed at {sha[:12]}: first diverging layer {layer}: {res.get('message', '')}"
            )
        return f"parity gate: passed ({res.get('message', '')}; sandbox: {res.get('sandbox', '?')})"

    return gate


def waived_parity_gate(reason: str) -> ParityGate:
    """An explicit, logged waiver (``pgolf promote --skip-parity`` by the operator)."""
    if not reason.strip():
        raise InputError("a parity waiver needs a reason", field="parity_gate")

    def gate(repo: Path, sha: str) -> str:
        return f"parity gate: WAIVED for {sha[:12]} ({reason})"

    return gate


def read_sota(program: Path) -> float | None:
    """The challenge SOTA from program.md's ``**SOTA: X bpb. …**`` line (None if absent)."""
    from bot.program import SOTA_RE

    try:
        m = SOTA_RE.search(program.read_text(encoding="utf-8"))
        return float(m.group("sota")) if m else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None
