"""program.md and the research state at git revisions, for change reports (:mod:`bot.program_changes`).

A revision is anything ``git rev-parse`` accepts; ``None`` (or :data:`WORKTREE`) is the working
copy. Reading never changes the repository. A revision that does not resolve is an
:class:`InputError` naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from bot import program_changes as pc
from bot.config import Settings
from bot.errors import InputError
from bot.git import run as run_git

WORKTREE = "WORKTREE"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_git(root, *args)


def resolve(root: Path, rev: str) -> str:
    proc = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise InputError(f"not a commit in {root}: {rev!r}", field="revision")
    return proc.stdout.decode().strip()


def read_at(root: Path, rev: str | None, rel: str) -> bytes | None:
    """The bytes of ``rel`` at ``rev`` (None/WORKTREE: the working copy); None when absent."""
    if rev is None or rev == WORKTREE:
        p = root / rel
        return p.read_bytes() if p.is_file() else None
    proc = _git(root, "cat-file", "blob", f"{rev}:{rel}")
    return proc.stdout if proc.returncode == 0 else None


def state_files(root: Path, settings: Settings, revs: tuple[str | None, ...]) -> list[str]:
    """The ``*.jsonl`` research-state files present at any of ``revs`` (relative paths)."""
    state = settings.state_dir.strip("/")
    found: set[str] = set()
    for rev in revs:
        if rev is None or rev == WORKTREE:
            folder = root / state
            if folder.is_dir():
                found |= {p.relative_to(root).as_posix() for p in folder.rglob("*.jsonl") if p.is_file()}
        else:
            proc = _git(root, "ls-tree", "-r", "--name-only", rev, "--", state)
            if proc.returncode == 0:
                found |= {ln for ln in proc.stdout.decode().splitlines() if ln.endswith(".jsonl")}
    return sorted(found)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def changes_between(
    root: Path | str, settings: Settings, rev_a: str | None = "HEAD", rev_b: str | None = None
) -> pc.ProgramChanges:
    """What changed in program.md (and rows added to the research state) from ``rev_a`` to ``rev_b``."""
    root = Path(root)
    revs = tuple(None if r in (None, WORKTREE) else resolve(root, str(r)) for r in (rev_a, rev_b))
    a, b = revs
    prog = settings.program_path
    where = Path(os.path.normpath(settings.path("program_path", root).absolute()))
    top = Path(os.path.normpath(root.absolute()))
    if not where.is_relative_to(top):
        raise InputError(
            f"{prog} is outside the repository {root}: git cannot read it at a revision",
            field="program_path",
        )
    prog = where.relative_to(top).as_posix()
    files = state_files(root, settings, revs)
    state = pc.state_changes({f: read_at(root, a, f) for f in files}, {f: read_at(root, b, f) for f in files})
    return pc.compare(_text(read_at(root, a, prog)), _text(read_at(root, b, prog)), state)


def new_cycles(before: bytes | None, after: bytes | None) -> list[str]:
    """The research cycles (``extra.cycle``… or ``fetched_at``) of raw-cache rows new in ``after``."""
    old = set((before or b"").splitlines())
    cycles: list[str] = []
    for line in (after or b"").splitlines():
        if not line.strip() or line in old:
            continue
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(rec, dict):
            continue
        extra_obj = rec.get("extra")
        extra: dict[str, object] = extra_obj if isinstance(extra_obj, dict) else {}
        value = next(
            (extra.get(k) for k in ("cycle", "cycle_id", "research_cycle", "run_id") if extra.get(k)), None
        )
        value = value or rec.get("fetched_at")
        if value and str(value) not in cycles:
            cycles.append(str(value))
    return cycles


# --------------------------------------------------------------------------- review state
# The last research-review outcome (bot.research_review writes it); read here, on the core floor,
# so that the ledger commit message and the dashboard can show it without importing the workflow.
REVIEW_STATE = "review.json"


def review_state_path(root: Path | str, settings: Settings) -> Path:
    return settings.path("state_dir", root) / REVIEW_STATE


def read_review_state(root: Path | str, settings: Settings) -> dict[str, Any]:
    """The last review outcome ({} when none, or when the file is not a JSON object)."""
    p = review_state_path(root, settings)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
