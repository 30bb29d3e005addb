"""A stateful GitHub REST API emulator on 127.0.0.1 for PyGithub (and httpx) clients.

Point PyGithub at it with ``Github(auth=..., base_url=gh.url)`` (or ``GITHUB_API_URL=gh.url``).
It speaks the documented wire format for the parts pgolf uses: repositories, pull requests
(Link-paginated lists, files, merge), contents at a ref (base64), git refs/commits, issue
comments, labels, collaborator permission, commit statuses and check runs, self-hosted runner
registration tokens, code and issue search, GitHub App installation tokens (JWT verified against the App's RSA public key, tokens
with ``expires_at``; an expired or unknown token answers 401 ``Bad credentials``), ``/rate_limit``,
``X-RateLimit-*`` headers on every answer, primary rate-limit exhaustion (403 with
``X-RateLimit-Remaining: 0``) and secondary rate limits (403 or 429 with ``Retry-After``).

Seeding is plain Python (see ``/work/notes/github_emulator.md``)::

    gh = GitHubEmulator().start()
    repo = gh.add_repo("openai/parameter-golf", files={"README.md": b"hi"})
    gh.add_user("alice")
    gh.set_permission(repo, "alice", "write")
    pr = gh.add_pr(repo, 7, head_ref="exp/rope", files={"train_gpt.py": b"print(1)"}, author="alice")
    token = gh.add_token("alice")               # a personal/Actions token acting as alice
    app = gh.add_app(1234, public_key_pem, installations=[42], repos=[repo])
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt

from tests.emulators.base import Emulator, Handler, Request, Response, json_response

PERMISSION_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
# The legacy ``permission`` field of the collaborator-permission answer folds these.
LEGACY_PERMISSION = {
    "none": "none",
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode("utf-8"))
    return h.hexdigest()


def _blob_sha(data: bytes) -> str:
    return _sha(f"blob {len(data)}\0".encode(), data)


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User" | "Bot" | "Organization"


@dataclass
class Commit:
    sha: str
    tree: dict[str, bytes]
    parents: list[str]
    message: str
    author: str
    date: float


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    user: str
    created_at: float
    updated_at: float
    author_association: str = "NONE"


@dataclass
class Issue:
    number: int
    title: str
    body: str
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    closed_at: float | None = None
    is_pr: bool = False
    # pull request fields
    head_ref: str = ""
    head_sha: str = ""
    head_repo: str = ""
    base_ref: str = "main"
    base_sha: str = ""
    draft: bool = False
    merged: bool = False
    merge_commit_sha: str | None = None
    author_association: str = "NONE"


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # name -> color
    permissions: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # PR number -> reviews
    issue_events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # labeled/unlabeled
    installation_id: int | None = None
    fork_of: str | None = None
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # Actions workflow runs
    artifacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # run artifacts (+ "_zip")

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Token:
    value: str
    login: str
    expires_at: float | None = None
    installation_id: int | None = None
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class App:
    id: int
    slug: str
    public_key: str
    installations: list[int] = field(default_factory=list)


@dataclass
class RateBucket:
    limit: int
    remaining: int
    reset: float


class GitHubEmulator(Emulator):
    """The GitHub REST API, in memory. Thread-safe; every mutation happens under one lock."""

    name = "github"

    def __init__(self, *, token_ttl: float = 3600.0, core_limit: int = 5000, search_limit: int = 30):
        super().__init__()
        self.state_lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.apps: dict[int, App] = {}
        self.token_ttl = token_ttl
        self.core_limit = core_limit
        self.search_limit = search_limit
        self.require_auth = False
        self.issued_tokens: list[Token] = []
        self.runner_registrations: list[tuple[str, str]] = []  # (repository, registration token)
        self._ids = itertools.count(1000)
        self._buckets: dict[tuple[str, str], RateBucket] = {}
        self._secondary: list[tuple[int, int, str]] = []  # (times, status, retry_after)
        self._clock_offset = 0.0
        self._register_routes()

    # ================================================================== seeding API
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (expires tokens without sleeping)."""
        self._clock_offset += seconds

    def next_id(self) -> int:
        return next(self._ids)

    def add_user(self, login: str, type: str = "User") -> User:
        with self.state_lock:
            if login not in self.users:
                self.users[login] = User(login, self.next_id(), type)
            return self.users[login]

    def add_repo(
        self,
        full_name: str,
        *,
        files: dict[str, bytes] | None = None,
        default_branch: str = "main",
        private: bool = False,
        fork_of: str | None = None,
    ) -> Repo:
        owner, name = full_name.split("/", 1)
        with self.state_lock:
            self.add_user(owner)
            repo = Repo(owner, name, self.next_id(), default_branch, private, fork_of=fork_of)
            self.repos[full_name] = repo
            repo.permissions[owner] = "admin"
            root = self._make_commit(repo, dict(files or {}), [], "initial commit", owner)
            repo.branches[default_branch] = root.sha
            return repo

    def repo(self, repo: Repo | str) -> Repo:
        return repo if isinstance(repo, Repo) else self.repos[repo]

    def set_permission(self, repo: Repo | str, user: str, level: str) -> None:
        if level not in PERMISSION_LEVELS:
            raise ValueError(f"permission {level!r} not in {PERMISSION_LEVELS}")
        with self.state_lock:
            self.add_user(user)
            self.repo(repo).permissions[user] = level

    def push(
        self,
        repo: Repo | str,
        branch: str,
        files: dict[str, bytes | None],
        *,
        message: str = "update",
        author: str | None = None,
        base: str | None = None,
    ) -> str:
        """Commit ``files`` (None deletes a path) on top of ``branch`` (or ``base`` for a new one)."""
        r = self.repo(repo)
        with self.state_lock:
            parent_sha = r.branches.get(branch) or r.branches[base or r.default_branch]
            tree = dict(r.commits[parent_sha].tree)
            for path, data in files.items():
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = data
            c = self._make_commit(r, tree, [parent_sha], message, author or r.owner)
            r.branches[branch] = c.sha
            for issue in r.issues.values():  # keep open PRs on this branch in step
                if (
                    issue.is_pr
                    and issue.state == "open"
                    and issue.head_ref == branch
                    and issue.head_repo == r.full_name
                ):
                    issue.head_sha = c.sha
            return c.sha

    def file_at(self, repo: Repo | str, ref: str, path: str) -> bytes | None:
        r = self.repo(repo)
        sha = self._resolve(r, ref)
        return None if sha is None else r.commits[sha].tree.get(path)

    def add_pr(
        self,
        repo: Repo | str,
        number: int | None = None,
        *,
        head_sha: str | None = None,
        files: dict[str, bytes | None] | None = None,
        head_ref: str = "exp/experiment",
        base: str | None = None,
        author: str = "alice",
        head_repo: str | None = None,
        title: str = "Experiment",
        body: str = "",
        labels: list[str] | None = None,
        draft: bool = False,
        author_association: str | None = None,
        created_at: float | None = None,
        state: str = "open",
        merged: bool = False,
    ) -> Issue:
        """Open a PR whose head commit is ``base`` + ``files``. ``head_repo`` names a fork.

        ``head_sha`` forces the head commit id (the tree is still ``base`` + ``files``);
        ``created_at`` (epoch seconds) back-dates it; ``state="closed"``/``merged=True`` closes it
        (a merged seed PR does not change the base branch).
        """
        r = self.repo(repo)
        with self.state_lock:
            self.add_user(author)
            base = base or r.default_branch
            base_sha = r.branches[base]
            tree = dict(r.commits[base_sha].tree)
            for path, data in (files or {}).items():
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = data
            c = self._make_commit(r, tree, [base_sha], title, author, sha=head_sha)
            if head_repo is None or head_repo == r.full_name:
                r.branches[head_ref] = c.sha
                head_repo = r.full_name
            else:
                fork = self.repos.get(head_repo) or self.add_repo(head_repo, fork_of=r.full_name)
                fork.commits[c.sha] = c
                fork.branches[head_ref] = c.sha
            number = number if number is not None else self._next_issue_number(r)
            if number in r.issues:
                raise ValueError(f"issue/PR #{number} already exists in {r.full_name}")
            now = self.now() if created_at is None else created_at
            assoc = author_association or self._association(r, author)
            if assoc == "NONE":  # this PR makes them a (first-time) contributor
                assoc = "FIRST_TIME_CONTRIBUTOR"
            pr = Issue(
                number,
                title,
                body,
                author,
                labels=list(labels or []),
                created_at=now,
                updated_at=now,
                is_pr=True,
                head_ref=head_ref,
                head_sha=c.sha,
                head_repo=head_repo,
                base_ref=base,
                base_sha=base_sha,
                draft=draft,
                author_association=assoc,
            )
            for name in pr.labels:
                r.labels.setdefault(name, "ededed")
            if merged or state == "closed":
                pr.state, pr.closed_at, pr.merged = "closed", now, merged
            r.issues[number] = pr
            return pr

    def move_head(
        self, repo: Repo | str, number: int, files: dict[str, bytes | None], message: str = "more"
    ) -> str:
        """Push a new commit to a PR's head (a ``synchronize``); returns the new head SHA."""
        r = self.repo(repo)
        with self.state_lock:
            pr = r.issues[number]
            if pr.head_repo == r.full_name:
                return self.push(r, pr.head_ref, files, message=message, author=pr.user)
            fork = self.repos[pr.head_repo]
            fork.commits.setdefault(pr.head_sha, r.commits[pr.head_sha])
            sha = self.push(fork, pr.head_ref, files, message=message, author=pr.user)
            r.commits[sha] = fork.commits[sha]
            pr.head_sha = sha
            return sha

    # ------------------------------------------------------------------ Actions
    # Which workflow FILE GitHub runs for an event (docs: "Events that trigger workflows"): for
    # pull_request the file of the PR's merge commit, i.e. the PR's own version (a fork PR brings
    # its own workflow file); for workflow_run, issue_comment, schedule, push to the default
    # branch, the file on the default branch.
    FILE_FROM_DEFAULT_BRANCH = frozenset({"workflow_run", "issue_comment", "schedule", "workflow_dispatch"})

    def workflow_file_for(
        self, repo: Repo | str, event: str, path: str, *, pr: int | None = None
    ) -> bytes | None:
        r = self.repo(repo)
        if event in ("pull_request", "pull_request_review") and pr is not None:
            return r.commits[r.issues[pr].head_sha].tree.get(path)
        return self.file_at(r, r.default_branch, path)

    def comment_payload(self, repo: Repo | str, comment: Comment) -> dict[str, Any]:
        """The ``issue_comment`` (created) webhook payload GitHub sends for ``comment``."""
        r = self.repo(repo)
        issue = r.issues[comment.issue]
        return {
            "action": "created",
            "issue": self._issue_json(r, issue),
            "comment": self._comment_json(r, comment),
            "repository": self._repo_json(r),
            "sender": self._user_json(comment.user),
        }

    def add_workflow_run(
        self,
        repo: Repo | str,
        *,
        name: str,
        path: str,
        event: str,
        head_sha: str,
        head_branch: str,
        head_repo: str | None = None,
        conclusion: str | None = "success",
        artifacts: dict[str, dict[str, bytes]] | None = None,
        expired: bool = False,
    ) -> int:
        """A completed workflow run with artifacts (name -> {file name: bytes}, zipped as GitHub
        serves them). Like GitHub, a run of a fork's PR lists no ``pull_requests``."""
        r = self.repo(repo)
        with self.state_lock:
            run_id = self.next_id()
            head_repo = head_repo or r.full_name
            prs = []
            if event.startswith("pull_request") and head_repo == r.full_name:
                for i in r.issues.values():
                    if i.is_pr and i.state == "open" and i.head_sha == head_sha:
                        prs.append(
                            {
                                "number": i.number,
                                "head": {"ref": i.head_ref, "sha": i.head_sha},
                                "base": {"ref": i.base_ref, "sha": i.base_sha},
                            }
                        )
            now = _iso(self.now())
            r.runs[run_id] = {
                "id": run_id,
                "name": name,
                "path": path,
                "event": event,
                "status": "completed",
                "conclusion": conclusion,
                "head_sha": head_sha,
                "head_branch": head_branch,
                "head_repository": {"full_name": head_repo},
                "pull_requests": prs,
                "run_number": len(r.runs) + 1,
                "run_attempt": 1,
                "created_at": now,
                "updated_at": now,
            }
            for art_name, files in (artifacts or {}).items():
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                    for fname, data in files.items():
                        z.writestr(fname, data)
                aid = self.next_id()
                r.artifacts[aid] = {
                    "id": aid,
                    "run_id": run_id,
                    "name": art_name,
                    "expired": expired,
                    "head_sha": head_sha,
                    "_zip": buf.getvalue(),
                    "_sig": secrets.token_hex(8),
                }
            return run_id

    def add_issue(
        self,
        repo: Repo | str,
        title: str,
        body: str = "",
        author: str = "alice",
        labels: list[str] | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state_lock:
            self.add_user(author)
            now = self.now()
            issue = Issue(
                self._next_issue_number(r),
                title,
                body,
                author,
                labels=list(labels or []),
                created_at=now,
                updated_at=now,
            )
            issue.author_association = self._association(r, author)
            r.issues[issue.number] = issue
            return issue

    def add_comment(self, repo: Repo | str, number: int, body: str, user: str = "alice") -> Comment:
        r = self.repo(repo)
        with self.state_lock:
            self.add_user(user)
            now = self.now()
            c = Comment(self.next_id(), number, body, user, now, now, self._association(r, user))
            r.comments[c.id] = c
            return c

    def comments_on(self, repo: Repo | str, number: int) -> list[Comment]:
        r = self.repo(repo)
        with self.state_lock:
            return [c for c in r.comments.values() if c.issue == number]

    def add_review(
        self,
        repo: Repo | str,
        number: int,
        user: str,
        state: str,
        *,
        body: str = "",
        commit_id: str | None = None,
    ) -> dict[str, Any]:
        """Submit a review on PR ``number`` (``state``: APPROVED, CHANGES_REQUESTED, COMMENTED)."""
        if state not in ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"):
            raise ValueError(f"review state {state!r}")
        r = self.repo(repo)
        with self.state_lock:
            self.add_user(user)
            pr = r.issues[number]
            review = {
                "id": self.next_id(),
                "user": user,
                "body": body,
                "state": state,
                "commit_id": commit_id or pr.head_sha,
                "submitted_at": self.now(),
                "author_association": self._association(r, user),
            }
            r.reviews.setdefault(number, []).append(review)
            return review

    def label_issue(
        self, repo: Repo | str, number: int, label: str, actor: str, *, remove: bool = False
    ) -> None:
        """A person (or bot) adds or removes a label through the web UI: the label and its event."""
        r = self.repo(repo)
        with self.state_lock:
            self.add_user(actor)
            issue = r.issues[number]
            if remove:
                if label in issue.labels:
                    issue.labels.remove(label)
                    self._record_label_event(r, number, label, "unlabeled", actor)
            elif label not in issue.labels:
                r.labels.setdefault(label, "ededed")
                issue.labels.append(label)
                self._record_label_event(r, number, label, "labeled", actor)

    def _record_label_event(self, r: Repo, number: int, label: str, event: str, actor: str) -> None:
        r.issue_events.setdefault(number, []).append(
            {
                "id": self.next_id(),
                "event": event,
                "label": label,
                "actor": actor or r.owner,
                "created_at": self.now(),
            }
        )

    def add_token(self, login: str, *, ttl: float | None = None, value: str | None = None) -> str:
        """A user (or GITHUB_TOKEN-like) token acting as ``login``; ``ttl`` None = never expires."""
        with self.state_lock:
            self.add_user(login, "Bot" if login.endswith("[bot]") else "User")
            value = value or f"ghp_{_sha(login, str(self.next_id()))[:36]}"
            self.tokens[value] = Token(value, login, None if ttl is None else self.now() + ttl)
            return value

    def add_app(
        self,
        app_id: int,
        public_key_pem: str | bytes,
        *,
        slug: str = "pgolf-bot",
        installations: list[int] | None = None,
        repos: list[Repo | str] | None = None,
    ) -> App:
        """Register a GitHub App; its installations cover ``repos`` (first installation id)."""
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        with self.state_lock:
            app = App(app_id, slug, pem, list(installations or [self.next_id()]))
            self.apps[app_id] = app
            self.add_user(f"{slug}[bot]", "Bot")
            for repo in repos or []:
                self.repo(repo).installation_id = app.installations[0]
            return app

    def expire_tokens(self) -> None:
        """Expire every installation token now (a long GPU run outlived them)."""
        with self.state_lock:
            for t in self.tokens.values():
                if t.installation_id is not None:
                    t.expires_at = self.now() - 1

    def set_rate_limit(self, remaining: int, *, reset_in: float = 60.0, resource: str = "core") -> None:
        """Set the remaining quota of every token (and anonymous) for ``resource``."""
        with self.state_lock:
            self._default_remaining = (resource, remaining, self.now() + reset_in)
            for key, bucket in self._buckets.items():
                if key[1] == resource:
                    bucket.remaining = remaining
                    bucket.reset = self.now() + reset_in

    def secondary_rate_limit(self, times: int = 1, *, retry_after: int = 1, status: int = 403) -> None:
        """The next ``times`` requests answer a secondary rate limit (403 or 429) with Retry-After."""
        if status not in (403, 429):
            raise ValueError("secondary rate limits answer 403 or 429")
        with self.state_lock:
            self._secondary.append((times, status, str(retry_after)))

    def requests_to(self, method: str, path_fragment: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and path_fragment in r.path]

    # ================================================================== internals
    _default_remaining: tuple[str, int, float] | None = None

    def _make_commit(
        self,
        repo: Repo,
        tree: dict[str, bytes],
        parents: list[str],
        message: str,
        author: str,
        sha: str | None = None,
    ) -> Commit:
        now = self.now()
        digest = sha or _sha(
            json.dumps(sorted((k, _blob_sha(v)) for k, v in tree.items())),
            *parents,
            message,
            str(now),
            str(self.next_id()),
        )
        c = Commit(digest, tree, parents, message, author, now)
        repo.commits[digest] = c
        return c

    def _next_issue_number(self, r: Repo) -> int:
        return max(r.issues, default=0) + 1

    def _association(self, r: Repo, login: str) -> str:
        if login == r.owner:
            return "OWNER"
        if r.permissions.get(login, "none") in ("triage", "write", "maintain", "admin"):
            return "COLLABORATOR"
        authored = [i for i in r.issues.values() if i.is_pr and i.user == login]
        if any(i.merged for i in authored):
            return "CONTRIBUTOR"
        return "FIRST_TIME_CONTRIBUTOR" if authored else "NONE"

    def _resolve(self, r: Repo, ref: str | None) -> str | None:
        if not ref:
            return r.branches.get(r.default_branch)
        for prefix in ("refs/heads/", "heads/"):
            if ref.startswith(prefix):
                ref = ref[len(prefix) :]
        if ref in r.branches:
            return r.branches[ref]
        if ref in r.commits:
            return ref
        matches = [s for s in r.commits if len(ref) >= 7 and s.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    # ------------------------------------------------------------------ JSON shapes
    def _user_json(self, login: str) -> dict[str, Any]:
        u = self.users.get(login) or self.add_user(login)
        return {
            "login": u.login,
            "id": u.id,
            "node_id": f"U_{u.id}",
            "type": u.type,
            "site_admin": False,
            "url": f"{self.url}/users/{u.login}",
            "html_url": f"https://github.com/{u.login}",
        }

    def _repo_json(self, r: Repo) -> dict[str, Any]:
        return {
            "id": r.id,
            "node_id": f"R_{r.id}",
            "name": r.name,
            "full_name": r.full_name,
            "owner": self._user_json(r.owner),
            "private": r.private,
            "fork": r.fork_of is not None,
            "default_branch": r.default_branch,
            "url": f"{self.url}/repos/{r.full_name}",
            "html_url": f"https://github.com/{r.full_name}",
            "clone_url": f"https://github.com/{r.full_name}.git",
            "description": None,
            "visibility": "private" if r.private else "public",
        }

    def _label_json(self, r: Repo, name: str) -> dict[str, Any]:
        return {
            "id": int(_sha(r.full_name, name)[:8], 16),
            "name": name,
            "color": r.labels.get(name, "ededed"),
            "default": False,
            "description": None,
            "url": f"{self.url}/repos/{r.full_name}/labels/{name}",
        }

    def _issue_json(self, r: Repo, i: Issue) -> dict[str, Any]:
        kind = "pulls" if i.is_pr else "issues"
        data: dict[str, Any] = {
            "id": r.id * 100000 + i.number,
            "node_id": f"I_{r.id}_{i.number}",
            "number": i.number,
            "title": i.title,
            "body": i.body,
            "state": i.state,
            "user": self._user_json(i.user),
            "labels": [self._label_json(r, n) for n in i.labels],
            "comments": len([c for c in r.comments.values() if c.issue == i.number]),
            "created_at": _iso(i.created_at),
            "updated_at": _iso(i.updated_at),
            "closed_at": _iso(i.closed_at) if i.closed_at else None,
            "author_association": i.author_association,
            "url": f"{self.url}/repos/{r.full_name}/issues/{i.number}",
            "html_url": f"https://github.com/{r.full_name}/{'pull' if i.is_pr else 'issues'}/{i.number}",
            "repository_url": f"{self.url}/repos/{r.full_name}",
        }
        if i.is_pr:
            data["pull_request"] = {
                "url": f"{self.url}/repos/{r.full_name}/pulls/{i.number}",
                "html_url": f"https://github.com/{r.full_name}/pull/{i.number}",
                "merged_at": _iso(i.updated_at) if i.merged else None,
            }
        del kind
        return data

    def _pr_json(self, r: Repo, i: Issue) -> dict[str, Any]:
        head_repo = self.repos.get(i.head_repo)
        head_owner = i.head_repo.split("/")[0] if i.head_repo else r.owner
        data = self._issue_json(r, i)
        data.pop("pull_request", None)
        data.update(
            {
                "url": f"{self.url}/repos/{r.full_name}/pulls/{i.number}",
                "html_url": f"https://github.com/{r.full_name}/pull/{i.number}",
                "issue_url": f"{self.url}/repos/{r.full_name}/issues/{i.number}",
                "draft": i.draft,
                "merged": i.merged,
                "merged_at": _iso(i.updated_at) if i.merged else None,
                "mergeable": None if i.merged else True,
                "mergeable_state": "clean",
                "merge_commit_sha": i.merge_commit_sha,
                "head": {
                    "label": f"{head_owner}:{i.head_ref}",
                    "ref": i.head_ref,
                    "sha": i.head_sha,
                    "user": self._user_json(head_owner),
                    "repo": self._repo_json(head_repo) if head_repo else None,
                },
                "base": {
                    "label": f"{r.owner}:{i.base_ref}",
                    "ref": i.base_ref,
                    "sha": r.branches.get(i.base_ref, i.base_sha),
                    "user": self._user_json(r.owner),
                    "repo": self._repo_json(r),
                },
                "commits": 1,
                "additions": 0,
                "deletions": 0,
                "changed_files": len(self._diff(r, i)),
            }
        )
        return data

    def _comment_json(self, r: Repo, c: Comment) -> dict[str, Any]:
        return {
            "id": c.id,
            "node_id": f"IC_{c.id}",
            "body": c.body,
            "user": self._user_json(c.user),
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
            "author_association": c.author_association,
            "url": f"{self.url}/repos/{r.full_name}/issues/comments/{c.id}",
            "html_url": f"https://github.com/{r.full_name}/pull/{c.issue}#issuecomment-{c.id}",
            "issue_url": f"{self.url}/repos/{r.full_name}/issues/{c.issue}",
        }

    def _commit_json(self, r: Repo, c: Commit) -> dict[str, Any]:
        return {
            "sha": c.sha,
            "node_id": f"C_{c.sha}",
            "url": f"{self.url}/repos/{r.full_name}/commits/{c.sha}",
            "html_url": f"https://github.com/{r.full_name}/commit/{c.sha}",
            "commit": {
                "message": c.message,
                "author": {
                    "name": c.author,
                    "email": f"{c.author}@users.noreply.github.com",
                    "date": _iso(c.date),
                },
                "committer": {
                    "name": c.author,
                    "email": f"{c.author}@users.noreply.github.com",
                    "date": _iso(c.date),
                },
                "tree": {"sha": _sha("tree", c.sha)},
                "url": f"{self.url}/repos/{r.full_name}/git/commits/{c.sha}",
            },
            "author": self._user_json(c.author),
            "committer": self._user_json(c.author),
            "parents": [{"sha": p, "url": f"{self.url}/repos/{r.full_name}/commits/{p}"} for p in c.parents],
        }

    def _diff(self, r: Repo, i: Issue) -> list[dict[str, Any]]:
        base = r.commits.get(i.base_sha) or r.commits[r.branches[i.base_ref]]
        head = r.commits.get(i.head_sha) or self.repos[i.head_repo].commits[i.head_sha]
        out: list[dict[str, Any]] = []
        for path in sorted(set(base.tree) | set(head.tree)):
            old, new = base.tree.get(path), head.tree.get(path)
            if old == new:
                continue
            status = "added" if old is None else "removed" if new is None else "modified"
            old_lines = (old or b"").decode("utf-8", "replace").splitlines()
            new_lines = (new or b"").decode("utf-8", "replace").splitlines()
            adds = len([x for x in new_lines if x not in old_lines])
            dels = len([x for x in old_lines if x not in new_lines])
            patch = "\n".join(
                [f"@@ -1,{len(old_lines)} +1,{len(new_lines)} @@"]
                + [f"-{x}" for x in old_lines]
                + [f"+{x}" for x in new_lines]
            )
            out.append(
                {
                    "sha": _blob_sha(new if new is not None else old or b""),
                    "filename": path,
                    "status": status,
                    "additions": adds,
                    "deletions": dels,
                    "changes": adds + dels,
                    "patch": patch,
                    "blob_url": f"https://github.com/{r.full_name}/blob/{i.head_sha}/{path}",
                    "raw_url": f"https://github.com/{r.full_name}/raw/{i.head_sha}/{path}",
                    "contents_url": f"{self.url}/repos/{r.full_name}/contents/{path}?ref={i.head_sha}",
                }
            )
        return out

    # ------------------------------------------------------------------ plumbing
    def error_body(self, status: int) -> Any:
        return {
            "message": {401: "Bad credentials", 404: "Not Found"}.get(status, f"HTTP {status}"),
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        }

    def _err(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return json_response(
            {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)},
            status,
            headers,
        )

    def _not_found(self) -> Response:
        return self._err(404, "Not Found")

    def _forbidden(self) -> Response:
        return self._err(403, "Resource not accessible by integration")

    def _invalid(self, errors: list[dict[str, Any]]) -> Response:
        """GitHub's 422 "Validation Failed" body with its list of field errors."""
        return json_response({"message": "Validation Failed", "errors": errors}, 422)

    def _comment_body(self, req: Request) -> tuple[str, Response | None]:
        """An issue comment's ``body`` from the request, or the 422 GitHub answers for it."""
        body = (req.json() or {}).get("body")
        if not isinstance(body, str) or not body:
            return "", self._invalid([{"resource": "IssueComment", "field": "body", "code": "missing_field"}])
        if len(body) > 65536:
            too_long = {
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }
            return "", self._invalid([too_long])
        return body, None

    def _paginate(
        self, req: Request, items: list[Any], *, wrap: dict[str, Any] | None = None, key: str = "items"
    ) -> Response:
        per_page = max(1, min(100, int(req.q("per_page") or 30)))
        page = max(1, int(req.q("page") or 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(p: int, rel: str) -> str:
            query = {k: v[0] for k, v in req.query.items()}
            query.update({"page": str(p), "per_page": str(per_page)})
            return f'<{self.url}{req.path}?{urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        body: Any = chunk if wrap is None else {**wrap, key: chunk}
        return json_response(body, 200, headers)

    def _identity(self, req: Request) -> tuple[Token | None, Response | None]:
        auth = req.header("authorization")
        if not auth:
            return None, None
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.count(".") == 2:
            return None, None  # a JWT: checked by the App endpoints
        if scheme.lower() not in ("token", "bearer"):
            return None, self._err(401, "Bad credentials")
        with self.state_lock:
            token = self.tokens.get(value)
            if token is None or (token.expires_at is not None and token.expires_at <= self.now()):
                return None, self._err(401, "Bad credentials")
            return token, None

    def _rate(self, req: Request, token: Token | None) -> tuple[RateBucket, str, str]:
        resource = "search" if req.path.startswith("/search/") else "core"
        who = token.value if token else f"anon:{req.header('x-forwarded-for') or '127.0.0.1'}"
        limit = self.search_limit if resource == "search" else (self.core_limit if token else 60)
        with self.state_lock:
            bucket = self._buckets.get((who, resource))
            if bucket is None:
                bucket = RateBucket(limit, limit, self.now() + (60 if resource == "search" else 3600))
                d = self._default_remaining
                if d is not None and d[0] == resource:
                    bucket.remaining, bucket.reset = d[1], d[2]
                self._buckets[(who, resource)] = bucket
            if bucket.reset <= self.now():
                bucket.remaining, bucket.reset = (
                    bucket.limit,
                    self.now() + (60 if resource == "search" else 3600),
                )
            return bucket, resource, who

    def _rate_headers(self, bucket: RateBucket, resource: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.remaining)),
            "X-RateLimit-Reset": str(int(bucket.reset - self._clock_offset) + 1),
            "X-RateLimit-Used": str(bucket.limit - max(0, bucket.remaining)),
            "X-RateLimit-Resource": resource,
        }

    def api(self, method: str, pattern: str, *, auth: str = "read") -> Any:
        """Register a REST route: auth in {"read", "write", "none"}; adds rate limiting."""

        def deco(fn: Handler) -> Handler:
            def wrapped(req: Request) -> Response:
                token, error = self._identity(req)
                if error is not None:
                    return error
                if auth == "none":
                    return fn(req)
                if token is None and (auth == "write" or self.require_auth):
                    return self._err(401, "Requires authentication")
                with self.state_lock:
                    if self._secondary:
                        times, status, retry_after = self._secondary[0]
                        if times <= 1:
                            self._secondary.pop(0)
                        else:
                            self._secondary[0] = (times - 1, status, retry_after)
                        return self._err(
                            status,
                            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                            {"Retry-After": retry_after},
                        )
                    bucket, resource, _ = self._rate(req, token)
                    if bucket.remaining <= 0:
                        who = (
                            f"installation ID {token.installation_id}"
                            if token and token.installation_id
                            else "user"
                        )
                        return self._err(
                            403, f"API rate limit exceeded for {who}.", self._rate_headers(bucket, resource)
                        )
                    bucket.remaining -= 1
                    req.params["_login"] = token.login if token else ""
                    req.params["_token"] = token.value if token else ""
                resp = fn(req)
                resp.headers.update(self._rate_headers(bucket, resource))
                return resp

            self.add_route(method, pattern, wrapped)
            return fn

        return deco

    def _repo_or_404(self, req: Request) -> Repo | None:
        return self.repos.get(f"{req.params['owner']}/{req.params['repo']}")

    def _writable_repo(self, req: Request) -> Repo | Response:
        """The request's repository if the caller may write to it, else the 404/403 answer."""
        r = self._repo_or_404(req)
        if r is None:
            return self._not_found()
        if not self._can_write(r, req):
            return self._forbidden()
        return r

    def _issue_or_error(
        self, req: Request, *, pull: bool = False, write: bool = False
    ) -> tuple[Repo, Issue] | Response:
        """The repository and issue (a pull request when ``pull``) named by the request, or the
        404 (no such repo/issue) / 403 (``write`` and the caller may not write) answer."""
        r = self._repo_or_404(req)
        issue = r.issues.get(int(req.params["number"])) if r else None
        if r is None or issue is None or (pull and not issue.is_pr):
            return self._not_found()
        if write and not self._can_write(r, req):
            return self._forbidden()
        return r, issue

    def _can_write(self, r: Repo, req: Request) -> bool:
        login = req.params.get("_login", "")
        token = self.tokens.get(req.params.get("_token", ""))
        if token is not None and token.installation_id is not None:
            return r.installation_id == token.installation_id
        return PERMISSION_LEVELS.index(r.permissions.get(login, "none")) >= PERMISSION_LEVELS.index("triage")

    def _verify_jwt(self, req: Request) -> tuple[App | None, Response | None]:
        auth = req.header("authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer":
            return None, self._err(401, "A JSON web token could not be decoded")
        try:
            unverified = jwt.decode(value, options={"verify_signature": False})
            app = self.apps.get(int(unverified.get("iss", 0)))
            if app is None:
                return None, self._err(401, "Integration not found")
            claims = jwt.decode(
                value,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError:
            return None, self._err(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            )
        except (jwt.InvalidTokenError, ValueError):
            return None, self._err(401, "A JSON web token could not be decoded")
        if int(claims["exp"]) - int(claims["iat"]) > 660:
            return None, self._err(401, "Expiration time' claim ('exp') is too far in the future")
        return app, None

    def _jwt_app(self, req: Request) -> App | Response:
        """The GitHub App whose JWT signs the request, or the 401 answer."""
        app, error = self._verify_jwt(req)
        if error is not None or app is None:
            return error or self._err(401, "Bad credentials")
        return app

    def _app_installation(self, req: Request) -> tuple[App, int] | Response:
        """The JWT's App and the installation id in the path (404 when not the App's)."""
        app = self._jwt_app(req)
        if isinstance(app, Response):
            return app
        iid = int(req.params["iid"])
        if iid not in app.installations:
            return self._not_found()
        return app, iid

    # ------------------------------------------------------------------ routes
    def _register_routes(self) -> None:
        R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"

        @self.api("GET", "/rate_limit", auth="none")
        def rate_limit(req: Request) -> Response:
            token, error = self._identity(req)
            if error is not None:
                return error
            core, _, _ = self._rate(req, token)
            search, _, _ = self._rate(Request("GET", "/search/x", {}, req.headers, b""), token)

            def res(b: RateBucket) -> dict[str, int]:
                return {
                    "limit": b.limit,
                    "remaining": max(0, b.remaining),
                    "reset": int(b.reset - self._clock_offset) + 1,
                    "used": b.limit - max(0, b.remaining),
                }

            body = {"resources": {"core": res(core), "search": res(search)}, "rate": res(core)}
            return json_response(body, 200, self._rate_headers(core, "core"))

        # ---- GitHub App
        @self.api("GET", "/app", auth="none")
        def get_app(req: Request) -> Response:
            app = self._jwt_app(req)
            if isinstance(app, Response):
                return app
            return json_response(
                {
                    "id": app.id,
                    "slug": app.slug,
                    "name": app.slug,
                    "owner": self._user_json(next(iter(self.users))),
                }
            )

        @self.api("GET", R + "/installation", auth="none")
        def repo_installation(req: Request) -> Response:
            app = self._jwt_app(req)
            if isinstance(app, Response):
                return app
            r = self._repo_or_404(req)
            if r is None or r.installation_id not in app.installations:
                return self._not_found()
            return json_response(
                {
                    "id": r.installation_id,
                    "app_id": app.id,
                    "account": self._user_json(r.owner),
                    "target_type": "User",
                }
            )

        @self.api("GET", r"/app/installations/(?P<iid>\d+)", auth="none")
        def get_installation(req: Request) -> Response:
            found = self._app_installation(req)
            if isinstance(found, Response):
                return found
            app, iid = found
            return json_response(
                {
                    "id": iid,
                    "app_id": app.id,
                    "target_type": "User",
                    "account": self._user_json(next(iter(self.users))),
                }
            )

        @self.api("POST", r"/app/installations/(?P<iid>\d+)/access_tokens", auth="none")
        def access_token(req: Request) -> Response:
            found = self._app_installation(req)
            if isinstance(found, Response):
                return found
            app, iid = found
            with self.state_lock:
                value = f"ghs_{_sha(str(iid), str(self.next_id()), str(self.now()))[:36]}"
                perms = (req.json() or {}).get("permissions") or {
                    "contents": "write",
                    "pull_requests": "write",
                    "issues": "write",
                }
                tok = Token(value, f"{app.slug}[bot]", self.now() + self.token_ttl, iid, perms)
                self.tokens[value] = tok
                self.issued_tokens.append(tok)
                # expires_at is in real time even when the emulator clock is advanced
                expires = tok.expires_at - self._clock_offset if tok.expires_at is not None else None
            return json_response(
                {
                    "token": value,
                    "expires_at": _iso(expires or 0),
                    "permissions": perms,
                    "repository_selection": "selected",
                },
                201,
            )

        # ---- users
        @self.api("GET", "/user")
        def me(req: Request) -> Response:
            login = req.params.get("_login")
            if not login:
                return self._err(401, "Requires authentication")
            token = self.tokens.get(req.params["_token"])
            if token is not None and token.installation_id is not None:
                return self._forbidden()
            return json_response(self._user_json(login))

        @self.api("GET", r"/users/(?P<login>[^/]+)")
        def user(req: Request) -> Response:
            if req.params["login"] not in self.users:
                return self._not_found()
            return json_response(self._user_json(req.params["login"]))

        # ---- repos
        @self.api("GET", R)
        def get_repo(req: Request) -> Response:
            r = self._repo_or_404(req)
            return json_response(self._repo_json(r)) if r else self._not_found()

        @self.api("GET", R + r"/collaborators/(?P<user>[^/]+)/permission")
        def permission(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            user = req.params["user"]
            if user not in self.users:
                return self._not_found()
            level = r.permissions.get(user, "none" if r.private else "read")
            body = {
                "permission": LEGACY_PERMISSION[level],
                "role_name": level,
                "user": {
                    **self._user_json(user),
                    "permissions": {
                        "admin": level == "admin",
                        "maintain": level in ("maintain", "admin"),
                        "push": level in ("write", "maintain", "admin"),
                        "triage": level != "none" and level != "read",
                        "pull": level != "none",
                    },
                },
            }
            return json_response(body)

        @self.api("GET", R + r"/branches/(?P<branch>.+)")
        def branch(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None or req.params["branch"] not in r.branches:
                return self._err(404, "Branch not found")
            c = r.commits[r.branches[req.params["branch"]]]
            return json_response(
                {"name": req.params["branch"], "commit": self._commit_json(r, c), "protected": False}
            )

        @self.api("GET", R + r"/commits/(?P<ref>[^/]+)")
        def get_commit(req: Request) -> Response:
            r = self._repo_or_404(req)
            sha = self._resolve(r, req.params["ref"]) if r else None
            if r is None or sha is None:
                return self._err(422 if r else 404, f"No commit found for SHA: {req.params['ref']}")
            return json_response(self._commit_json(r, r.commits[sha]))

        @self.api("GET", R + r"/git/commits/(?P<sha>[0-9a-f]+)")
        def git_commit(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None or req.params["sha"] not in r.commits:
                return self._not_found()
            c = r.commits[req.params["sha"]]
            return json_response(
                {
                    **self._commit_json(r, c)["commit"],
                    "sha": c.sha,
                    "parents": [{"sha": p} for p in c.parents],
                }
            )

        @self.api("GET", R + r"/git/(?:ref|refs)/(?P<ref>heads/.+)")
        def get_ref(req: Request) -> Response:
            r = self._repo_or_404(req)
            name = req.params["ref"][len("heads/") :]
            if r is None or name not in r.branches:
                return self._not_found()
            return json_response(self._ref_json(r, name))

        # ---- self-hosted runners: a registration token (POST, repository Administration: write)
        @self.api("POST", R + r"/actions/runners/registration-token", auth="write")
        def runner_registration_token(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            token = self.tokens.get(req.params.get("_token", ""))
            admin = r.permissions.get(req.params.get("_login", ""), "none") == "admin"
            if (token is not None and token.installation_id is not None) or not admin:
                return self._err(403, "Resource not accessible by personal access token")
            value = base64.b32encode(secrets.token_bytes(18)).decode().rstrip("=")  # 29 upper-case
            with self.state_lock:
                self.runner_registrations.append((r.full_name, value))
            return json_response({"token": value, "expires_at": _iso(self.now() + 3600)}, 201)

        @self.api("POST", R + r"/git/refs", auth="write")
        def create_ref(req: Request) -> Response:
            r = self._writable_repo(req)
            if isinstance(r, Response):
                return r
            body = req.json() or {}
            ref, sha = str(body.get("ref", "")), str(body.get("sha", ""))
            if not ref.startswith("refs/heads/") or sha not in r.commits:
                return self._err(422, "Reference update failed")
            name = ref[len("refs/heads/") :]
            if name in r.branches:
                return self._err(422, "Reference already exists")
            with self.state_lock:
                r.branches[name] = sha
            return json_response(self._ref_json(r, name), 201)

        @self.api("PATCH", R + r"/git/refs/(?P<ref>heads/.+)", auth="write")
        def update_ref(req: Request) -> Response:
            r = self._repo_or_404(req)
            name = req.params["ref"][len("heads/") :]
            if r is None or name not in r.branches:
                return self._not_found()
            if not self._can_write(r, req):
                return self._forbidden()
            body = req.json() or {}
            sha = str(body.get("sha", ""))
            if sha not in r.commits:
                return self._err(422, "Object does not exist")
            if not body.get("force") and r.branches[name] not in self._ancestors(r, sha):
                return self._err(422, "Update is not a fast forward")
            with self.state_lock:
                r.branches[name] = sha
                for issue in r.issues.values():  # open PRs from this branch follow it
                    if (
                        issue.is_pr
                        and issue.state == "open"
                        and issue.head_ref == name
                        and issue.head_repo == r.full_name
                    ):
                        issue.head_sha = sha
            return json_response(self._ref_json(r, name))

        @self.api("DELETE", R + r"/git/refs/(?P<ref>heads/.+)", auth="write")
        def delete_ref(req: Request) -> Response:
            r = self._repo_or_404(req)
            name = req.params["ref"][len("heads/") :]
            if r is None or name not in r.branches:
                return self._err(422, "Reference does not exist")
            with self.state_lock:
                del r.branches[name]
            return Response(204, b"")

        @self.api("GET", R + r"/contents/(?P<path>.*)")
        def contents(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            sha = self._resolve(r, req.q("ref"))
            if sha is None:
                return self._err(404, f"No commit found for the ref {req.q('ref')}")
            tree = r.commits[sha].tree
            path = req.params.get("path", "").strip("/")
            ref = req.q("ref") or r.default_branch
            if path in tree:
                data = tree[path]
                return json_response(self._content_json(r, path, data, ref))
            prefix = path + "/" if path else ""
            children = sorted({p[len(prefix) :].split("/")[0] for p in tree if p.startswith(prefix)})
            if not children:
                return self._not_found()
            listing = []
            for child in children:
                full = prefix + child
                if full in tree:
                    listing.append(
                        {
                            k: v
                            for k, v in self._content_json(r, full, tree[full], ref).items()
                            if k not in ("content", "encoding")
                        }
                    )
                else:
                    listing.append(
                        {
                            "type": "dir",
                            "name": child,
                            "path": full,
                            "sha": _sha("tree", full),
                            "size": 0,
                            "url": f"{self.url}/repos/{r.full_name}/contents/{full}?ref={ref}",
                        }
                    )
            return json_response(listing)

        @self.api("PUT", R + r"/contents/(?P<path>.+)", auth="write")
        def put_contents(req: Request) -> Response:
            r = self._writable_repo(req)
            if isinstance(r, Response):
                return r
            body = req.json() or {}
            path = req.params["path"]
            branch_name = body.get("branch") or r.default_branch
            current = self.file_at(r, branch_name, path) if branch_name in r.branches else None
            if current is not None and body.get("sha") != _blob_sha(current):
                return self._err(409, f"{path} does not match {body.get('sha')}")
            try:
                data = base64.b64decode(body["content"], validate=True)
            except (KeyError, ValueError):
                return self._err(422, "content is not valid Base64")
            sha = self.push(
                r,
                branch_name,
                {path: data},
                message=str(body.get("message", "update")),
                author=req.params.get("_login") or r.owner,
            )
            return json_response(
                {
                    "content": self._content_json(r, path, data, branch_name),
                    "commit": self._commit_json(r, r.commits[sha]),
                },
                201 if current is None else 200,
            )

        # ---- pulls
        @self.api("GET", R + r"/pulls")
        def list_pulls(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            state = req.q("state") or "open"
            head, base = req.q("head"), req.q("base")
            prs = [i for i in r.issues.values() if i.is_pr and (state == "all" or i.state == state)]
            if head:
                owner, _, ref = head.partition(":")
                prs = [p for p in prs if p.head_ref == ref and p.head_repo.split("/")[0] == owner]
            if base:
                prs = [p for p in prs if p.base_ref == base]
            key = {"created": lambda p: p.created_at, "updated": lambda p: p.updated_at}.get(
                req.q("sort") or "created", lambda p: p.created_at
            )
            prs.sort(key=lambda p: (key(p), p.number), reverse=(req.q("direction") or "desc") == "desc")
            return self._paginate(req, [self._pr_json(r, p) for p in prs])

        @self.api("POST", R + r"/pulls", auth="write")
        def create_pull(req: Request) -> Response:
            r = self._writable_repo(req)
            if isinstance(r, Response):
                return r
            body = req.json() or {}
            head, base = str(body.get("head", "")), str(body.get("base", r.default_branch))
            head_ref = head.split(":", 1)[-1]
            errors = []
            if head_ref not in r.branches:
                errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
            if base not in r.branches:
                errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
            if not body.get("title"):
                errors.append({"resource": "PullRequest", "field": "title", "code": "missing_field"})
            if errors:
                return self._invalid(errors)
            if any(
                i.is_pr
                and i.state == "open"
                and i.head_ref == head_ref
                and i.head_repo == r.full_name  # a fork's branch of the same name is another head
                and i.base_ref == base
                for i in r.issues.values()
            ):
                return self._invalid(
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {r.owner}:{head_ref}.",
                        }
                    ]
                )
            with self.state_lock:
                now = self.now()
                login = req.params.get("_login") or r.owner
                pr = Issue(
                    self._next_issue_number(r),
                    str(body["title"]),
                    str(body.get("body") or ""),
                    login,
                    created_at=now,
                    updated_at=now,
                    is_pr=True,
                    head_ref=head_ref,
                    head_sha=r.branches[head_ref],
                    head_repo=r.full_name,
                    base_ref=base,
                    base_sha=r.branches[base],
                    draft=bool(body.get("draft")),
                    author_association=self._association(r, login),
                )
                r.issues[pr.number] = pr
            return json_response(self._pr_json(r, pr), 201)

        @self.api("GET", R + r"/pulls/(?P<number>\d+)")
        def get_pull(req: Request) -> Response:
            found = self._issue_or_error(req, pull=True)
            if isinstance(found, Response):
                return found
            r, pr = found
            return json_response(self._pr_json(r, pr))

        @self.api("PATCH", R + r"/pulls/(?P<number>\d+)", auth="write")
        def edit_pull(req: Request) -> Response:
            found = self._issue_or_error(req, pull=True, write=True)
            if isinstance(found, Response):
                return found
            r, pr = found
            body = req.json() or {}
            with self.state_lock:
                if "title" in body:
                    pr.title = str(body["title"])
                if "body" in body:
                    pr.body = str(body["body"] or "")
                if body.get("state") in ("open", "closed"):
                    pr.state = str(body["state"])
                    pr.closed_at = self.now() if pr.state == "closed" else None
                pr.updated_at = self.now()
            return json_response(self._pr_json(r, pr))

        @self.api("GET", R + r"/pulls/(?P<number>\d+)/files")
        def pull_files(req: Request) -> Response:
            found = self._issue_or_error(req, pull=True)
            if isinstance(found, Response):
                return found
            r, pr = found
            return self._paginate(req, self._diff(r, pr))

        @self.api("GET", R + r"/pulls/(?P<number>\d+)/commits")
        def pull_commits(req: Request) -> Response:
            found = self._issue_or_error(req, pull=True)
            if isinstance(found, Response):
                return found
            r, pr = found
            head_repo = self.repos.get(pr.head_repo) or r
            chain: list[Commit] = []
            sha: str | None = pr.head_sha
            while sha and sha in head_repo.commits and sha != pr.base_sha and len(chain) < 250:
                c = head_repo.commits[sha]
                chain.append(c)
                sha = c.parents[0] if c.parents else None
            return self._paginate(req, [self._commit_json(head_repo, c) for c in reversed(chain)])

        @self.api("GET", R + r"/pulls/(?P<number>\d+)/reviews")
        def list_reviews(req: Request) -> Response:
            found = self._issue_or_error(req, pull=True)
            if isinstance(found, Response):
                return found
            r, pr = found
            return self._paginate(
                req,
                [
                    {
                        "id": rv["id"],
                        "node_id": f"PRR_{rv['id']}",
                        "user": self._user_json(rv["user"]),
                        "body": rv["body"],
                        "state": rv["state"],
                        "html_url": f"https://github.com/{r.full_name}/pull/{pr.number}#pullrequestreview-{rv['id']}",
                        "pull_request_url": f"{self.url}/repos/{r.full_name}/pulls/{pr.number}",
                        "author_association": rv["author_association"],
                        "submitted_at": _iso(rv["submitted_at"]),
                        "commit_id": rv["commit_id"],
                    }
                    for rv in r.reviews.get(pr.number, [])
                ],
            )

        @self.api("GET", R + r"/issues/(?P<number>\d+)/events")
        def issue_events(req: Request) -> Response:
            found = self._issue_or_error(req)
            if isinstance(found, Response):
                return found
            r, issue = found
            return self._paginate(
                req,
                [
                    {
                        "id": e["id"],
                        "node_id": f"LE_{e['id']}",
                        "url": f"{self.url}/repos/{r.full_name}/issues/events/{e['id']}",
                        "actor": self._user_json(e["actor"]),
                        "event": e["event"],
                        "commit_id": None,
                        "commit_url": None,
                        "created_at": _iso(e["created_at"]),
                        "label": {"name": e["label"], "color": r.labels.get(e["label"], "ededed")},
                        "performed_via_github_app": None,
                    }
                    for e in r.issue_events.get(issue.number, [])
                ],
            )

        @self.api("GET", R + r"/pulls/(?P<number>\d+)/merge")
        def is_merged(req: Request) -> Response:
            r = self._repo_or_404(req)
            pr = r.issues.get(int(req.params["number"])) if r else None
            return Response(204, b"") if pr is not None and pr.merged else self._not_found()

        @self.api("PUT", R + r"/pulls/(?P<number>\d+)/merge", auth="write")
        def merge(req: Request) -> Response:
            found = self._issue_or_error(req, pull=True, write=True)
            if isinstance(found, Response):
                return found
            r, pr = found
            body = req.json() or {}
            if pr.merged or pr.state != "open":
                return self._err(405, "Pull Request is not mergeable")
            if pr.draft:
                return self._err(405, "Pull Request is still a draft")
            if body.get("sha") and body["sha"] != pr.head_sha:
                return self._err(409, "Head branch was modified. Review and try the merge again.")
            with self.state_lock:
                head = r.commits.get(pr.head_sha) or self.repos[pr.head_repo].commits[pr.head_sha]
                base_sha = r.branches[pr.base_ref]
                tree = dict(r.commits[base_sha].tree)
                # a three-way merge from the merge base, as git does: the base branch's own later
                # changes survive, a path changed differently on both sides is a conflict
                mb_sha = self._merge_base(r, base_sha, pr.head_sha) or pr.base_sha
                mb = r.commits[mb_sha].tree if mb_sha in r.commits else {}
                for path in sorted(set(mb) | set(head.tree)):
                    old, theirs, ours = mb.get(path), head.tree.get(path), tree.get(path)
                    if theirs in (old, ours):
                        continue
                    if ours != old:
                        return self._err(405, "Pull Request is not mergeable")
                    if theirs is None:
                        tree.pop(path, None)
                    else:
                        tree[path] = theirs
                message = (
                    body.get("commit_title")
                    or f"Merge pull request #{pr.number} from {pr.head_repo.split('/')[0]}/{pr.head_ref}"
                )
                c = self._make_commit(
                    r, tree, [base_sha, pr.head_sha], str(message), req.params.get("_login") or r.owner
                )
                r.branches[pr.base_ref] = c.sha
                pr.merged, pr.state, pr.merge_commit_sha, pr.closed_at = True, "closed", c.sha, self.now()
            return json_response(
                {"sha": c.sha, "merged": True, "message": "Pull Request successfully merged"}
            )

        # ---- issues, comments, labels
        @self.api("GET", R + r"/issues")
        def list_issues(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            state = req.q("state") or "open"
            want = [x for x in (req.q("labels") or "").split(",") if x]
            items = [
                i
                for i in r.issues.values()
                if (state == "all" or i.state == state) and all(w in i.labels for w in want)
            ]
            items.sort(key=lambda i: (i.created_at, i.number), reverse=True)
            return self._paginate(req, [self._issue_json(r, i) for i in items])

        @self.api("POST", R + r"/issues", auth="write")
        def create_issue(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            body = req.json() or {}
            if not body.get("title"):
                return self._invalid([{"resource": "Issue", "field": "title", "code": "missing_field"}])
            issue = self.add_issue(
                r,
                str(body["title"]),
                str(body.get("body") or ""),
                req.params.get("_login") or r.owner,
                [str(x) for x in body.get("labels") or []],
            )
            return json_response(self._issue_json(r, issue), 201)

        @self.api("GET", R + r"/issues/(?P<number>\d+)")
        def get_issue(req: Request) -> Response:
            found = self._issue_or_error(req)
            if isinstance(found, Response):
                return found
            r, issue = found
            return json_response(self._issue_json(r, issue))

        @self.api("GET", R + r"/issues/(?P<number>\d+)/comments")
        def list_comments(req: Request) -> Response:
            r = self._repo_or_404(req)
            number = int(req.params["number"])
            if r is None or number not in r.issues:
                return self._not_found()
            items = sorted((c for c in r.comments.values() if c.issue == number), key=lambda c: c.id)
            return self._paginate(req, [self._comment_json(r, c) for c in items])

        @self.api("POST", R + r"/issues/(?P<number>\d+)/comments", auth="write")
        def create_comment(req: Request) -> Response:
            r = self._repo_or_404(req)
            number = int(req.params["number"])
            if r is None or number not in r.issues:
                return self._not_found()
            body, invalid = self._comment_body(req)
            if invalid is not None:
                return invalid
            c = self.add_comment(r, number, body, req.params.get("_login") or "ghost")
            return json_response(self._comment_json(r, c), 201)

        @self.api("GET", R + r"/issues/comments/(?P<cid>\d+)")
        def get_comment(req: Request) -> Response:
            r = self._repo_or_404(req)
            c = r.comments.get(int(req.params["cid"])) if r else None
            if r is None or c is None:
                return self._not_found()
            return json_response(self._comment_json(r, c))

        @self.api("PATCH", R + r"/issues/comments/(?P<cid>\d+)", auth="write")
        def edit_comment(req: Request) -> Response:
            r = self._repo_or_404(req)
            c = r.comments.get(int(req.params["cid"])) if r else None
            if r is None or c is None:
                return self._not_found()
            login = req.params.get("_login", "")
            if c.user != login and not self._can_write(r, req):
                return self._forbidden()
            body, invalid = self._comment_body(req)
            if invalid is not None:
                return invalid
            with self.state_lock:
                c.body, c.updated_at = body, self.now()
            return json_response(self._comment_json(r, c))

        @self.api("DELETE", R + r"/issues/comments/(?P<cid>\d+)", auth="write")
        def delete_comment(req: Request) -> Response:
            r = self._repo_or_404(req)
            cid = int(req.params["cid"])
            if r is None or cid not in r.comments:
                return self._not_found()
            with self.state_lock:
                del r.comments[cid]
            return Response(204, b"")

        @self.api("GET", R + r"/labels")
        def repo_labels(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            return self._paginate(req, [self._label_json(r, n) for n in sorted(r.labels)])

        @self.api("GET", R + r"/labels/(?P<name>[^/]+)")
        def get_label(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None or req.params["name"] not in r.labels:
                return self._not_found()
            return json_response(self._label_json(r, req.params["name"]))

        @self.api("POST", R + r"/labels", auth="write")
        def create_label(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            body = req.json() or {}
            name = str(body.get("name") or "")
            if not name or name in r.labels:
                return self._invalid(
                    [
                        {
                            "resource": "Label",
                            "code": "already_exists" if name else "missing_field",
                            "field": "name",
                        }
                    ]
                )
            with self.state_lock:
                r.labels[name] = str(body.get("color") or "ededed")
            return json_response(self._label_json(r, name), 201)

        @self.api("GET", R + r"/issues/(?P<number>\d+)/labels")
        def issue_labels(req: Request) -> Response:
            found = self._issue_or_error(req)
            if isinstance(found, Response):
                return found
            r, issue = found
            return self._paginate(req, [self._label_json(r, n) for n in issue.labels])

        def _set_labels(req: Request, replace: bool) -> Response:
            found = self._issue_or_error(req, write=True)
            if isinstance(found, Response):
                return found
            r, issue = found
            body = req.json()
            names = body.get("labels") if isinstance(body, dict) else body
            if not isinstance(names, list):
                return self._err(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an array.")
            with self.state_lock:
                if replace:
                    issue.labels = []
                for n in names:
                    n = n["name"] if isinstance(n, dict) else str(n)
                    r.labels.setdefault(n, "ededed")
                    if n not in issue.labels:
                        issue.labels.append(n)
                        self._record_label_event(
                            r, issue.number, n, "labeled", req.params.get("_login") or ""
                        )
                issue.updated_at = self.now()
            return json_response([self._label_json(r, n) for n in issue.labels])

        self.api("POST", R + r"/issues/(?P<number>\d+)/labels", auth="write")(
            lambda req: _set_labels(req, False)
        )
        self.api("PUT", R + r"/issues/(?P<number>\d+)/labels", auth="write")(
            lambda req: _set_labels(req, True)
        )

        @self.api("DELETE", R + r"/issues/(?P<number>\d+)/labels/(?P<name>[^/]+)", auth="write")
        def remove_label(req: Request) -> Response:
            found = self._issue_or_error(req, write=True)
            if isinstance(found, Response):
                return found
            r, issue = found
            from urllib.parse import unquote

            name = unquote(req.params["name"])
            if name not in issue.labels:
                return self._err(404, "Label does not exist")
            with self.state_lock:
                issue.labels.remove(name)
                self._record_label_event(r, issue.number, name, "unlabeled", req.params.get("_login") or "")
            return json_response([self._label_json(r, n) for n in issue.labels])

        # ---- statuses and check runs
        @self.api("POST", R + r"/statuses/(?P<sha>[0-9a-f]+)", auth="write")
        def create_status(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None or req.params["sha"] not in r.commits:
                return self._err(422 if r else 404, "No commit found for SHA")
            if not self._can_write(r, req):
                return self._forbidden()
            body = req.json() or {}
            if body.get("state") not in ("error", "failure", "pending", "success"):
                return self._invalid([{"resource": "Status", "field": "state", "code": "custom"}])
            now = self.now()
            status = {
                "id": self.next_id(),
                "state": body["state"],
                "context": body.get("context") or "default",
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "created_at": _iso(now),
                "updated_at": _iso(now),
                "creator": self._user_json(req.params.get("_login") or r.owner),
                "url": f"{self.url}/repos/{r.full_name}/statuses/{req.params['sha']}",
            }
            with self.state_lock:
                r.statuses.setdefault(req.params["sha"], []).insert(0, status)
            return json_response(status, 201)

        @self.api("GET", R + r"/commits/(?P<ref>[^/]+)/statuses")
        def list_statuses(req: Request) -> Response:
            r = self._repo_or_404(req)
            sha = self._resolve(r, req.params["ref"]) if r else None
            if r is None or sha is None:
                return self._not_found()
            return self._paginate(req, list(r.statuses.get(sha, [])))

        @self.api("GET", R + r"/commits/(?P<ref>[^/]+)/status")
        def combined_status(req: Request) -> Response:
            r = self._repo_or_404(req)
            sha = self._resolve(r, req.params["ref"]) if r else None
            if r is None or sha is None:
                return self._not_found()
            latest: dict[str, dict[str, Any]] = {}
            for s in r.statuses.get(sha, []):
                latest.setdefault(s["context"], s)
            states = [s["state"] for s in latest.values()]
            state = (
                "failure"
                if any(s in ("failure", "error") for s in states)
                else "pending"
                if (not states or "pending" in states)
                else "success"
            )
            return json_response(
                {
                    "state": state,
                    "sha": sha,
                    "total_count": len(latest),
                    "statuses": list(latest.values()),
                    "repository": self._repo_json(r),
                }
            )

        @self.api("POST", R + r"/check-runs", auth="write")
        def create_check_run(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None:
                return self._not_found()
            token = self.tokens.get(req.params.get("_token", ""))
            if token is None or token.installation_id is None:
                return self._err(403, "You must authenticate via a GitHub App.")
            body = req.json() or {}
            if not body.get("name") or body.get("head_sha") not in r.commits:
                return self._invalid([{"resource": "CheckRun", "field": "head_sha", "code": "invalid"}])
            cid = self.next_id()
            run = {
                "id": cid,
                "name": body["name"],
                "head_sha": body["head_sha"],
                "status": body.get("status") or "queued",
                "conclusion": body.get("conclusion"),
                "output": body.get("output") or {},
                "details_url": body.get("details_url"),
                "external_id": body.get("external_id"),
                "started_at": _iso(self.now()),
                "completed_at": None,
                "url": f"{self.url}/repos/{r.full_name}/check-runs/{cid}",
                "html_url": f"https://github.com/{r.full_name}/runs/{cid}",
            }
            if run["conclusion"]:
                run["status"], run["completed_at"] = "completed", _iso(self.now())
            with self.state_lock:
                r.check_runs[cid] = run
            return json_response(run, 201)

        @self.api("PATCH", R + r"/check-runs/(?P<cid>\d+)", auth="write")
        def update_check_run(req: Request) -> Response:
            r = self._repo_or_404(req)
            run = r.check_runs.get(int(req.params["cid"])) if r else None
            if r is None or run is None:
                return self._not_found()
            body = req.json() or {}
            with self.state_lock:
                for k in ("name", "status", "conclusion", "output", "details_url", "external_id"):
                    if k in body:
                        run[k] = body[k]
                if run.get("conclusion"):
                    run["status"], run["completed_at"] = "completed", _iso(self.now())
            return json_response(run)

        @self.api("GET", R + r"/commits/(?P<ref>[^/]+)/check-runs")
        def list_check_runs(req: Request) -> Response:
            r = self._repo_or_404(req)
            sha = self._resolve(r, req.params["ref"]) if r else None
            if r is None or sha is None:
                return self._not_found()
            runs = [c for c in r.check_runs.values() if c["head_sha"] == sha]
            return self._paginate(req, runs, wrap={"total_count": len(runs)}, key="check_runs")

        # ---- search
        @self.api("GET", r"/search/code")
        def search_code(req: Request) -> Response:
            terms, quals = _parse_query(req.q("q") or "")
            if not terms and not quals:
                return self._invalid([{"resource": "Search", "field": "q", "code": "missing"}])
            hits = []
            for r in self.repos.values():
                if "repo" in quals and r.full_name.lower() not in [x.lower() for x in quals["repo"]]:
                    continue
                if "user" in quals and r.owner.lower() not in [x.lower() for x in quals["user"]]:
                    continue
                tree = r.commits[r.branches[r.default_branch]].tree
                for path, data in sorted(tree.items()):
                    if not _path_matches(path, quals):
                        continue
                    text = data.decode("utf-8", "replace").lower()
                    if all(t.lower() in text or t.lower() in path.lower() for t in terms):
                        score = sum(text.count(t.lower()) for t in terms) or 1
                        hits.append(
                            (
                                score,
                                {
                                    "name": path.rsplit("/", 1)[-1],
                                    "path": path,
                                    "sha": _blob_sha(data),
                                    "url": f"{self.url}/repos/{r.full_name}/contents/{path}?ref={r.branches[r.default_branch]}",
                                    "git_url": f"{self.url}/repos/{r.full_name}/git/blobs/{_blob_sha(data)}",
                                    "html_url": f"https://github.com/{r.full_name}/blob/{r.branches[r.default_branch]}/{path}",
                                    "repository": self._repo_json(r),
                                    "score": float(score),
                                },
                            )
                        )
            hits.sort(key=lambda h: -h[0])
            items = [h[1] for h in hits]
            return self._paginate(req, items, wrap={"total_count": len(items), "incomplete_results": False})

        @self.api("GET", r"/search/issues")
        def search_issues(req: Request) -> Response:
            terms, quals = _parse_query(req.q("q") or "")
            hits: list[tuple[Repo, Issue]] = []
            for r in self.repos.values():
                if "repo" in quals and r.full_name.lower() not in [x.lower() for x in quals["repo"]]:
                    continue
                for i in r.issues.values():
                    kinds = quals.get("is", []) + quals.get("type", [])
                    if ("pr" in kinds and not i.is_pr) or ("issue" in kinds and i.is_pr):
                        continue
                    if ("open" in kinds or "open" in quals.get("state", [])) and i.state != "open":
                        continue
                    if ("closed" in kinds or "closed" in quals.get("state", [])) and i.state != "closed":
                        continue
                    if "merged" in kinds and not i.merged:
                        continue
                    if "author" in quals and i.user not in quals["author"]:
                        continue
                    if "label" in quals and not all(lb in i.labels for lb in quals["label"]):
                        continue
                    text = f"{i.title}\n{i.body}".lower()
                    if all(t.lower() in text for t in terms):
                        hits.append((r, i))
            sort = req.q("sort")
            if sort in ("created", "updated"):
                hits.sort(
                    key=lambda ri: getattr(ri[1], f"{sort}_at"), reverse=(req.q("order") or "desc") == "desc"
                )
            items = [{**self._issue_json(r, i), "score": 1.0} for r, i in hits]
            return self._paginate(req, items, wrap={"total_count": len(items), "incomplete_results": False})

        # ---------------------------------------------------------------- Actions runs/artifacts
        def _run_json(r: Repo, run: dict[str, Any]) -> dict[str, Any]:
            base = f"{self.url}/repos/{r.full_name}/actions/runs/{run['id']}"
            head = self.repos.get(run["head_repository"]["full_name"])
            return {
                **run,
                "node_id": f"WFR_{run['id']}",
                "workflow_id": 1,
                "url": base,
                "html_url": f"https://github.com/{r.full_name}/actions/runs/{run['id']}",
                "artifacts_url": base + "/artifacts",
                "repository": self._repo_json(r),
                "head_repository": self._repo_json(head) if head else run["head_repository"],
            }

        def _artifact_json(r: Repo, a: dict[str, Any]) -> dict[str, Any]:
            base = f"{self.url}/repos/{r.full_name}/actions/artifacts/{a['id']}"
            return {
                "id": a["id"],
                "node_id": f"A_{a['id']}",
                "name": a["name"],
                "size_in_bytes": len(a["_zip"]),
                "url": base,
                "archive_download_url": base + "/zip",
                "expired": a["expired"],
                "created_at": _iso(self.now()),
                "expires_at": _iso(self.now() + 90 * 86400),
                "updated_at": _iso(self.now()),
                "workflow_run": {"id": a["run_id"], "head_sha": a["head_sha"]},
            }

        @self.api("GET", R + r"/actions/runs/(?P<run_id>\d+)")
        def get_run(req: Request) -> Response:
            r = self._repo_or_404(req)
            run = r.runs.get(int(req.params["run_id"])) if r else None
            if r is None or run is None:
                return self._not_found()
            return json_response(_run_json(r, run))

        @self.api("GET", R + r"/actions/runs/(?P<run_id>\d+)/artifacts")
        def run_artifacts(req: Request) -> Response:
            r = self._repo_or_404(req)
            if r is None or int(req.params["run_id"]) not in r.runs:
                return self._not_found()
            items = [
                _artifact_json(r, a) for a in r.artifacts.values() if a["run_id"] == int(req.params["run_id"])
            ]
            return self._paginate(req, items, wrap={"total_count": len(items)}, key="artifacts")

        @self.api("GET", R + r"/actions/artifacts/(?P<artifact_id>\d+)/zip")
        def artifact_zip(req: Request) -> Response:
            # Documented: 302 to a short-lived storage URL; anonymous callers get 401 even on
            # public repositories.
            r = self._repo_or_404(req)
            a = r.artifacts.get(int(req.params["artifact_id"])) if r else None
            if r is None or a is None:
                return self._not_found()
            if not req.params.get("_login") and not req.params.get("_token"):
                return self._err(401, "You must have the actions scope to download artifacts.")
            if a["expired"]:
                return self._err(410, "Artifact has expired")
            where = f"{self.url}/_storage/artifacts/{a['id']}?sig={a['_sig']}"
            return Response(302, b"", {"Location": where}, "text/plain")

        def storage(req: Request) -> Response:
            # The storage host rejects an Authorization header (a client must not forward the token).
            if req.header("authorization"):
                return Response(
                    400, "<Error><Code>InvalidAuthenticationInfo</Code></Error>", {}, "application/xml"
                )
            for r in self.repos.values():
                a = r.artifacts.get(int(req.params["artifact_id"]))
                if a is not None and req.q("sig") == a["_sig"]:
                    return Response(200, a["_zip"], {}, "application/zip")
            return Response(403, "<Error><Code>AuthenticationFailed</Code></Error>", {}, "application/xml")

        self.add_route("GET", r"/_storage/artifacts/(?P<artifact_id>\d+)", storage)

    def _ref_json(self, r: Repo, name: str) -> dict[str, Any]:
        return {
            "ref": f"refs/heads/{name}",
            "node_id": f"REF_{name}",
            "url": f"{self.url}/repos/{r.full_name}/git/refs/heads/{name}",
            "object": {
                "sha": r.branches[name],
                "type": "commit",
                "url": f"{self.url}/repos/{r.full_name}/git/commits/{r.branches[name]}",
            },
        }

    def _content_json(self, r: Repo, path: str, data: bytes, ref: str) -> dict[str, Any]:
        # GitHub: a file of 1-100 MB comes back (object media type) with "content": "" and
        # "encoding": "none"; only the raw media type or the blobs API returns its bytes
        large = len(data) > 1024 * 1024
        return {
            "type": "file",
            "encoding": "none" if large else "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": "" if large else base64.encodebytes(data).decode("ascii"),
            "sha": _blob_sha(data),
            "url": f"{self.url}/repos/{r.full_name}/contents/{path}?ref={ref}",
            "git_url": f"{self.url}/repos/{r.full_name}/git/blobs/{_blob_sha(data)}",
            "html_url": f"https://github.com/{r.full_name}/blob/{ref}/{path}",
            "download_url": f"https://raw.githubusercontent.com/{r.full_name}/{ref}/{path}",
        }

    def _merge_base(self, r: Repo, a: str, b: str) -> str | None:
        """The nearest common ancestor of ``a`` and ``b`` (breadth-first from ``b``)."""
        ours = self._ancestors(r, a)
        queue, seen = [b], set()
        while queue:
            s = queue.pop(0)
            if s in seen or s not in r.commits:
                continue
            if s in ours:
                return s
            seen.add(s)
            queue.extend(r.commits[s].parents)
        return None

    def _ancestors(self, r: Repo, sha: str) -> set[str]:
        seen: set[str] = set()
        stack = [sha]
        while stack:
            s = stack.pop()
            if s in seen or s not in r.commits:
                continue
            seen.add(s)
            stack.extend(r.commits[s].parents)
        return seen


def _parse_query(q: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split a GitHub search query into free terms and ``qualifier:value`` pairs."""
    terms: list[str] = []
    quals: dict[str, list[str]] = {}
    token = ""
    in_quotes = False
    parts: list[str] = []
    for ch in q:
        if ch == '"':
            in_quotes = not in_quotes
            continue
        if ch == " " and not in_quotes:
            if token:
                parts.append(token)
            token = ""
            continue
        token += ch
    if token:
        parts.append(token)
    for part in parts:
        key, sep, value = part.partition(":")
        if (
            sep
            and key.isalpha()
            and value
            and key.lower()
            in {
                "repo",
                "user",
                "org",
                "path",
                "filename",
                "extension",
                "language",
                "is",
                "type",
                "state",
                "author",
                "label",
                "in",
            }
        ):
            quals.setdefault(key.lower(), []).append(value)
        else:
            terms.append(part)
    return terms, quals


_LANG_EXT = {"python": (".py",), "markdown": (".md",), "json": (".json",), "yaml": (".yml", ".yaml")}


def _path_matches(path: str, quals: dict[str, list[str]]) -> bool:
    name = path.rsplit("/", 1)[-1]
    if "path" in quals and not any(
        path.startswith(p.strip("/")) or p.strip("/") in path for p in quals["path"]
    ):
        return False
    if "filename" in quals and name not in quals["filename"]:
        return False
    if "extension" in quals and not any(name.endswith("." + e.lstrip(".")) for e in quals["extension"]):
        return False
    exts = [ext for lang in quals.get("language", []) for ext in _LANG_EXT.get(lang.lower(), ())]
    return "language" not in quals or any(name.endswith(ext) for ext in exts)
