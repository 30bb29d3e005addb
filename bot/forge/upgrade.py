"""``pgolf init --upgrade``: bring an existing research repository's workflows to this pgolf.

A research repository keeps the workflows `pgolf init` wrote, maybe edited by its owner. An
upgrade must not silently drop those edits, so each file is a three-way merge (``git merge-file``):

* **ours** — the file in the repository now;
* **base** — the template it was made from: the copy init recorded under ``.github/pgolf-base/``
  (written since issue 13), else, for repositories made by an older init, the shipped past
  template (``bot/templates/history/*``) that is identical to it or, when it was edited, closest
  to it;
* **theirs** — this pgolf's template.

An unedited file is replaced; an edited one is merged; where both sides changed the same lines
the file keeps conflict markers (``<<<<<<< yours`` … ``>>>>>>> pgolf``) and the upgrade reports it
(exit 1) for the owner to resolve. A file with no known base at all is a whole-file conflict.
Every change is shown as a unified diff; ``dry_run`` writes nothing.

State files get a schema version and are migrated: ``budget.json`` carries ``"version"`` (added
when missing; a newer version than this pgolf knows is an error, never rewritten), the research
state folder carries ``schema.json``.
"""

from __future__ import annotations

import difflib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot.config import Settings
from bot.errors import BudgetError, InputError
from bot.fileio import atomic_write_bytes
from bot.forge.scaffold import BASE_DIR, MANIFEST_NAME, manifest_bytes, templates, workflow_templates
from bot.git import run as run_git

STATE_SCHEMA = 1
STATE_SCHEMA_FILE = "schema.json"


@dataclass
class FileChange:
    path: str
    action: str  # added | replaced | merged | conflict | unchanged
    diff: str = ""
    base: str = ""  # where the base came from


@dataclass
class UpgradeResult:
    root: Path
    files: list[FileChange] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def conflicts(self) -> list[str]:
        return [f.path for f in self.files if f.action == "conflict"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "dry_run": self.dry_run,
            "files": [f.__dict__ for f in self.files],
            "migrations": self.migrations,
            "conflicts": self.conflicts,
        }


def _targets() -> dict[str, bytes]:
    """Repository path → this pgolf's template bytes."""
    out = {f".github/workflows/{name}": data for name, data in workflow_templates().items()}
    out[".github/pgolf-app-manifest.json"] = manifest_bytes()
    return out


def _history(rel: str) -> list[tuple[str, bytes]]:
    """Past shipped versions of the template at repository path ``rel``."""
    folder = templates() / "history"
    if not folder.is_dir():
        return []
    sub = f"workflows/{Path(rel).name}" if rel.startswith(".github/workflows/") else MANIFEST_NAME
    found = []
    for version in sorted(folder.iterdir(), key=lambda p: p.name):
        candidate = version / sub
        if candidate.is_file():
            found.append((f"pgolf {version.name}", candidate.read_bytes()))
    return found


def base_for(root: Path, rel: str, ours: bytes) -> tuple[bytes | None, str]:
    """The template ``ours`` was made from (and where it came from), or (None, "")."""
    recorded = root / BASE_DIR / rel.removeprefix(".github/")
    if recorded.is_file():
        return recorded.read_bytes(), "recorded by init"
    past = _history(rel)
    for label, data in past:
        if data == ours:
            return data, label
    if not past:
        return None, ""
    text = ours.decode("utf-8", "replace").splitlines()

    def score(item: tuple[str, bytes]) -> float:
        return difflib.SequenceMatcher(None, item[1].decode("utf-8", "replace").splitlines(), text).ratio()

    label, data = max(past, key=score)
    return (data, f"{label} (closest; the file was edited)") if score((label, data)) >= 0.5 else (None, "")


def merge3(ours: bytes, base: bytes | None, theirs: bytes) -> tuple[bytes, bool]:
    """``git merge-file`` of ours/base/theirs; (result, clean)."""
    with tempfile.TemporaryDirectory(prefix="pgolf-upgrade-") as d:
        paths = []
        for name, data in (("ours", ours), ("base", base or b""), ("theirs", theirs)):
            p = Path(d) / name
            p.write_bytes(data)
            paths.append(str(p))
        labels = ("-L", "yours", "-L", "pgolf (old)", "-L", "pgolf (new)")
        proc = run_git(d, "merge-file", "-p", *labels, *paths)
    if proc.returncode < 0 or proc.returncode > 127:
        raise InputError(f"git merge-file failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout, proc.returncode == 0


def _diff(rel: str, old: bytes | None, new: bytes) -> str:
    a = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = new.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"a/{rel}", f"b/{rel}"))


def migrate_state(root: Path, settings: Settings, dry_run: bool) -> list[str]:
    done: list[str] = []
    path = settings.path("budget_path", root)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BudgetError(f"cannot migrate: {exc}", path=str(path)) from None
        if not isinstance(data, dict):
            raise BudgetError("cannot migrate: top level is not an object", path=str(path))
        version = data.get("version")
        if isinstance(version, int) and version > budget_mod.VERSION:
            raise BudgetError(
                f"schema version {version} is newer than this pgolf knows ({budget_mod.VERSION}); upgrade pgolf",
                path=str(path),
            )
        if version is None:
            budget_mod.from_json(data, str(path))  # valid before it is touched
            data = {"version": budget_mod.VERSION, **data}
            if not dry_run:
                atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
            done.append(f"{settings.budget_path}: schema version {budget_mod.VERSION} added")
    state = settings.path("state_dir", root)
    marker = state / STATE_SCHEMA_FILE
    if marker.is_file():
        try:
            have = json.loads(marker.read_text(encoding="utf-8")).get("schema")
        except (OSError, ValueError, AttributeError):
            raise InputError("not a JSON object with 'schema'", path=str(marker)) from None
        if isinstance(have, int) and have > STATE_SCHEMA:
            raise InputError(
                f"research state schema {have} is newer than this pgolf ({STATE_SCHEMA})", path=str(marker)
            )
    else:
        if not dry_run:
            state.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(marker, (json.dumps({"schema": STATE_SCHEMA}) + "\n").encode())
        done.append(f"{settings.state_dir.rstrip('/')}/{STATE_SCHEMA_FILE}: schema {STATE_SCHEMA} recorded")
    return done


def upgrade(root: Path | str, settings: Settings | None = None, *, dry_run: bool = False) -> UpgradeResult:
    s = settings or Settings()
    root = Path(root).expanduser().resolve()
    if not (root / ".github" / "workflows").is_dir():
        raise InputError(
            "not a research repository made by `pgolf init` (no .github/workflows)", path=str(root)
        )
    out = UpgradeResult(root, dry_run=dry_run)
    writes: list[tuple[Path, bytes]] = []
    for rel, new in sorted(_targets().items()):
        target = root / rel
        ours = target.read_bytes() if target.is_file() else None
        if ours is None:
            out.files.append(FileChange(rel, "added", _diff(rel, None, new)))
            writes.append((target, new))
        elif ours == new:
            out.files.append(FileChange(rel, "unchanged"))
        else:
            base, where = base_for(root, rel, ours)
            if base is not None and base == ours:
                out.files.append(FileChange(rel, "replaced", _diff(rel, ours, new), where))
                writes.append((target, new))
            else:
                merged, clean = merge3(ours, base, new)
                action = "conflict" if not clean else "unchanged" if merged == ours else "merged"
                out.files.append(FileChange(rel, action, _diff(rel, ours, merged), where or "unknown"))
                writes.append((target, merged))
        writes.append((root / BASE_DIR / rel.removeprefix(".github/"), new))
    out.migrations = migrate_state(root, s, dry_run)
    if not dry_run:
        for path, data in writes:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_bytes() != data:
                atomic_write_bytes(path, data)
    return out
