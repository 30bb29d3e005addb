"""The proposal archive: every idea the experimenter tried, with its full diff, in the research state.

Two places under the research state folder (setting ``state_dir``, default ``research/``):

``proposals.jsonl``
    One :class:`Proposal` per line, appended atomically. Later lines with the same ``slug``
    supersede earlier ones (a PR that is later merged gets a second line with status ``merged``).
``proposals/<slug>.patch``
    The proposal's full diff against its base commit (``git diff`` format, applies with
    ``git apply``), written for *every* proposal, opened, crashed or stopped, so a discarded idea
    is never lost even when its branch is deleted.

Statuses: ``opened`` (PR opened), ``dry-run`` (validated, not pushed), ``crash`` (validation
failed twice; nothing pushed), ``stopped`` (the spend cap, or an Anthropic API failure that outlasted the retries, ended the
conversation), ``declined``
(the model found nothing worth doing), ``merged`` (a winner merged into the baseline),
``merge-pr`` (a merge PR was opened because branch protection requires review).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot import clock
from bot.errors import StateError
from bot.fileio import atomic_write_text
from bot.state import append_jsonl, iter_jsonl, to_dict

PROPOSALS = "proposals.jsonl"
PATCH_DIR = "proposals"
STATUSES = ("opened", "dry-run", "crash", "stopped", "declined", "merged", "merge-pr")


@dataclass
class CheckOutcome:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Proposal:
    slug: str
    status: str
    item_id: str = ""
    item_title: str = ""
    item_grade: str = ""  # e.g. "A 12/15"
    title: str = ""
    category: str = ""
    proposer: str = "offline"  # "offline" or "anthropic:<model>"
    hypothesis: str = ""
    change: str = ""
    expected_bytes: str = ""
    expected_step_time: str = ""
    expected_val_bpb: str = ""
    mlx_only: bool = False
    mlx_only_reason: str = ""
    branch: str = ""
    base_sha: str = ""
    head_sha: str = ""
    pr: int | None = None
    pr_url: str = ""
    labels: list[str] = field(default_factory=list)
    patch_path: str = ""
    files: list[str] = field(default_factory=list)
    reason: str = ""  # why it crashed / stopped / was declined
    attempts: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    cost_usd: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=clock.stamp)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = PROPOSALS) -> Proposal:
        if not isinstance(data, dict):
            raise StateError("expected a JSON object", path=where)
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = dict(data.get("extra") or {})
        for k, v in data.items():
            if k == "extra":
                continue
            if k in known:
                kwargs[k] = v
            else:
                extra[k] = v
        for name in ("slug", "status"):
            if not isinstance(kwargs.get(name), str) or not kwargs[name]:
                raise StateError("missing or not a string", path=where, field=name)
        if "cost_usd" in kwargs:
            cost = kwargs["cost_usd"]
            if isinstance(cost, bool) or not isinstance(cost, (int, float)):
                raise StateError("not a number", path=where, field="cost_usd")
            kwargs["cost_usd"] = float(cost)
        if (
            "pr" in kwargs
            and kwargs["pr"] is not None
            and (isinstance(kwargs["pr"], bool) or not isinstance(kwargs["pr"], int))
        ):
            raise StateError("not an integer", path=where, field="pr")
        return cls(**kwargs, extra=extra)

    @property
    def created_date(self) -> date | None:
        try:
            return datetime.strptime(self.created_at[:10], "%Y-%m-%d").date()
        except ValueError:
            return None


class ProposalArchive:
    """``<state_dir>/proposals.jsonl`` and ``<state_dir>/proposals/*.patch``."""

    def __init__(self, state_dir: Path | str, root: Path | str | None = None):
        self.dir = Path(state_dir)
        self.root = Path(root) if root is not None else None

    @property
    def path(self) -> Path:
        return self.dir / PROPOSALS

    def patch_path(self, slug: str) -> Path:
        return self.dir / PATCH_DIR / f"{slug}.patch"

    def all(self) -> list[Proposal]:
        """Every line, in file order."""
        return [
            Proposal.from_dict(data, f"{self.path}:{n}")
            for n, data in iter_jsonl(self.path, encoding="utf-8")
        ]

    def latest(self) -> list[Proposal]:
        """The newest record per slug, in order of last appearance."""
        seen: dict[str, Proposal] = {}
        for p in self.all():
            seen.pop(p.slug, None)
            seen[p.slug] = p
        return list(seen.values())

    def get(self, slug: str) -> Proposal | None:
        for p in reversed(self.all()):
            if p.slug == slug:
                return p
        return None

    def find_by_pr(self, pr: int) -> Proposal | None:
        for p in reversed(self.all()):
            if p.pr == pr:
                return p
        return None

    def slugs(self) -> set[str]:
        return {p.slug for p in self.all()}

    def tried_items(self) -> set[str]:
        """Research items any proposal came from (whatever its outcome)."""
        return {p.item_id for p in self.all() if p.item_id}

    def spend_on(self, day: date) -> float:
        """LLM dollars spent by proposals created on ``day`` (UTC)."""
        return sum(p.cost_usd for p in self.latest() if p.created_date == day)

    def write_patch(self, slug: str, diff: str) -> str:
        """Archive ``diff`` as ``proposals/<slug>.patch``; returns its path relative to the repo."""
        patch = self.patch_path(slug)
        atomic_write_text(patch, diff if diff.endswith("\n") else diff + "\n")
        if self.root is not None:
            try:
                return patch.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                pass
        return (Path(self.dir.name) / PATCH_DIR / patch.name).as_posix()

    def save(self, proposal: Proposal, diff: str | None = None) -> Proposal:
        """Write the patch (when given) and append the record; returns the record as stored."""
        if proposal.status not in STATUSES:
            raise StateError(
                f"unknown proposal status {proposal.status!r}", path=str(self.path), field="status"
            )
        if diff is not None and diff.strip():
            proposal.patch_path = self.write_patch(proposal.slug, diff)
        append_jsonl(self.path, [proposal])
        return proposal

    def update(self, slug: str, **changes: Any) -> Proposal:
        """Append a new line for ``slug`` with ``changes`` applied to its latest record."""
        current = self.get(slug)
        if current is None:
            raise StateError(f"no proposal with slug {slug!r}", path=str(self.path))
        data = current.to_dict()
        data.update(changes)
        data["updated_at"] = clock.stamp()
        return self.save(Proposal.from_dict(data, str(self.path)))


def dump(proposals: Iterable[Proposal]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in proposals]
