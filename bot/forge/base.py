"""The forge interface: what pgolf needs from GitHub (or from a plain local git repository).

Two implementations share it: :class:`bot.forge.github.GitHubForge` (PyGithub, GitHub App auth)
and :class:`bot.forge.local.LocalForge` (branches of a local repository, metadata in a JSON file).
Everything above this layer (events, sticky comments, dispatch, the experimenter, promotion) talks
to a :class:`Forge` and never to PyGithub directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ForgeError

# Repository roles that may run commands and approve promotions (the collaborator-permission
# endpoint's ``role_name``; its legacy ``permission`` folds maintain into write).
TRUSTED_PERMISSIONS = frozenset({"write", "maintain", "admin"})
PERMISSION_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
STATUS_STATES = ("pending", "success", "failure", "error")


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    body: str
    author: str
    head_sha: str
    head_ref: str
    head_repo: str  # owner/name of the repository the head branch lives in
    base_ref: str
    base_repo: str
    labels: tuple[str, ...] = ()
    state: str = "open"  # open | closed
    merged: bool = False
    url: str = ""
    draft: bool = False

    @property
    def is_fork(self) -> bool:
        return self.head_repo.lower() != self.base_repo.lower()

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "author": self.author,
            "head_sha": self.head_sha,
            "head_ref": self.head_ref,
            "head_repo": self.head_repo,
            "base_ref": self.base_ref,
            "labels": list(self.labels),
            "state": self.state,
            "merged": self.merged,
            "url": self.url,
            "is_fork": self.is_fork,
        }


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    author_is_bot: bool = False
    url: str = ""


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    author: str
    state: str = "open"
    body: str = ""
    url: str = ""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | removed | renamed
    additions: int = 0
    deletions: int = 0


@dataclass(frozen=True)
class StatusReport:
    """A commit status / check run: the local tier's verdict on a head SHA."""

    sha: str
    state: str  # pending | success | failure | error
    context: str = "pgolf/local"
    description: str = ""
    target_url: str = ""
    summary: str = ""  # Markdown for check runs (ignored by plain statuses)


@dataclass(frozen=True)
class Review:
    """A pull-request review: ``state`` is APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED."""

    user: str
    state: str
    user_type: str = "User"
    submitted_at: str = ""
    commit_id: str = ""


@dataclass(frozen=True)
class LabelEvent:
    """Who added (``labeled``) or removed (``unlabeled``) a label, from the issue's event log."""

    label: str
    action: str
    actor: str
    actor_type: str = "User"
    created_at: str = ""


@dataclass(frozen=True)
class WorkflowRun:
    """An Actions workflow run as the API reports it (never as its artifacts claim)."""

    id: int
    name: str
    path: str  # .github/workflows/<file>
    event: str
    conclusion: str  # success | failure | cancelled | … ("" while running)
    head_sha: str
    head_branch: str
    head_repo: str  # owner/name (a fork for a fork's pull request)
    pull_requests: tuple[int, ...] = ()  # empty for a fork's pull request (as on GitHub)


@dataclass
class ForgeInfo:
    kind: str  # "github" | "local"
    repo: str
    bot_login: str = ""
    auth: str = ""  # "app" | "token" | "local"
    extra: dict[str, Any] = field(default_factory=dict)


class Forge(ABC):
    """Pull requests, comments, labels, permissions and statuses of one repository."""

    repo: str  # owner/name (the local forge uses "local/<folder>")

    @abstractmethod
    def info(self) -> ForgeInfo: ...

    @property
    @abstractmethod
    def bot_login(self) -> str:
        """The login under which this forge writes (e.g. ``pgolf-bot[bot]``)."""

    # ---- pull requests
    @abstractmethod
    def get_pr(self, number: int) -> PullRequest: ...

    @abstractmethod
    def list_open_prs(self, branch_prefix: str = "") -> list[PullRequest]: ...

    @abstractmethod
    def changed_files(self, number: int) -> list[ChangedFile]: ...

    @abstractmethod
    def read_file(self, path: str, ref: str) -> bytes | None:
        """The bytes of ``path`` at ``ref`` (branch or SHA); None when it does not exist there."""

    @abstractmethod
    def open_pr(
        self, head: str, base: str, title: str, body: str, labels: list[str] | None = None
    ) -> PullRequest: ...

    @abstractmethod
    def merge_pr(self, number: int, sha: str, message: str = "") -> str:
        """Merge PR ``number`` only if its head is still ``sha``; returns the merge commit SHA."""

    # ---- comments
    @abstractmethod
    def list_comments(self, number: int) -> list[Comment]: ...

    @abstractmethod
    def create_comment(self, number: int, body: str) -> Comment: ...

    @abstractmethod
    def update_comment(self, number: int, comment_id: int, body: str) -> Comment: ...

    def find_comment(self, number: int, marker: str, author: str | None = None) -> Comment | None:
        """The first comment holding ``marker`` (written by ``author`` when given)."""
        for c in self.list_comments(number):
            if marker in c.body and (author is None or c.author == author):
                return c
        return None

    # ---- issues (the "pgolf alerts" issue); forges without issues say so
    def find_issues(self, label: str, state: str = "open") -> list[Issue]:
        """Issues (never pull requests) carrying ``label``."""
        from bot.errors import ForgeError

        raise ForgeError(f"the {type(self).__name__} has no issues")

    def create_issue(self, title: str, body: str, labels: list[str] | None = None) -> Issue:
        from bot.errors import ForgeError

        raise ForgeError(f"the {type(self).__name__} has no issues")

    # ---- labels
    @abstractmethod
    def labels(self, number: int) -> list[str]: ...

    @abstractmethod
    def add_label(self, number: int, label: str) -> None: ...

    @abstractmethod
    def remove_label(self, number: int, label: str) -> bool:
        """Remove ``label``; False when it was not there."""

    # ---- trust and statuses
    @abstractmethod
    def permission(self, user: str) -> str:
        """The user's role on the repository: none, read, triage, write, maintain or admin."""

    @abstractmethod
    def set_status(self, report: StatusReport) -> None: ...

    # ---- the standing research branch and its pull request (bot.research_review); optional:
    # a forge without them raises ForgeError, and review mode says so.
    def default_branch(self) -> str:
        raise ForgeError(f"{type(self).__name__} cannot tell the default branch")

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None, state: str | None = None
    ) -> PullRequest:
        raise ForgeError(f"{type(self).__name__} cannot edit pull requests")

    def put_branch_file(
        self,
        branch: str,
        base: str,
        path: str,
        data: bytes,
        message: str,
        *,
        expected_head: str | None = None,
    ) -> str:
        """Point ``branch`` at one new commit: ``base``'s tip with ``path`` set to ``data``.

        ``expected_head``: the branch's head must still be this, otherwise ForgeError and nothing
        changes; None: the branch is created, or taken over whatever it holds (the caller owns the
        branch name and has no open pull request on it). Returns the new head SHA."""
        raise ForgeError(f"{type(self).__name__} cannot write branches")

    def reviews(self, number: int) -> list[Review]:
        raise ForgeError(f"{type(self).__name__} cannot list reviews")

    def label_events(self, number: int) -> list[LabelEvent]:
        raise ForgeError(f"{type(self).__name__} cannot list label events")

    # ---- Actions (only a hosted forge has them)
    def workflow_run(self, run_id: int) -> WorkflowRun:
        from bot.errors import ForgeError

        raise ForgeError(f"{type(self).__name__} has no Actions workflow runs (run {run_id})")

    def run_artifact(self, run_id: int, name: str, max_bytes: int) -> bytes | None:
        """The zip archive of artifact ``name`` of run ``run_id`` (None: the run has none)."""
        from bot.errors import ForgeError

        raise ForgeError(f"{type(self).__name__} has no Actions artifacts (run {run_id}, {name})")
