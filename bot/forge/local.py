"""A forge that is just a local git repository: everything runs on a laptop with no GitHub.

Branches are the experiments (a "pull request" is a head branch and a base branch); PR metadata,
comments, labels, permissions and statuses live in one JSON file (``local_forge_path``, by default
``.pgolf/forge.json``), written atomically under a lock. Head SHAs are always read from git, so a
commit on an experiment branch moves the PR head exactly as a push does on GitHub.
"""

from __future__ import annotations

import getpass
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import clock
from bot.errors import ForgeError, GitError
from bot.fileio import atomic_write_text, file_lock
from bot.forge.base import (
    PERMISSION_LEVELS,
    STATUS_STATES,
    ChangedFile,
    Comment,
    Forge,
    ForgeInfo,
    LabelEvent,
    PullRequest,
    Review,
    StatusReport,
)
from bot.git import git_bytes
from bot.git import run as run_git

LOCAL_BOT = "pgolf[bot]"
_SCHEMA = 1


class LocalForge(Forge):
    def __init__(self, root: Path | str, state_path: Path | str | None = None, *, owner: str | None = None):
        self.root = Path(root).resolve()
        if not (self.root / ".git").exists():
            raise ForgeError(f"{self.root} is not a git repository (the local forge needs one)")
        self.state_path = Path(state_path) if state_path else self.root / ".pgolf" / "forge.json"
        if not self.state_path.is_absolute():
            self.state_path = self.root / self.state_path
        self.repo = f"local/{self.root.name}"
        self.owner = owner or _git_user(self.root) or getpass.getuser()

    # ------------------------------------------------------------------ state
    def _load(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {
                "version": _SCHEMA,
                "next_number": 1,
                "next_comment_id": 1,
                "prs": {},
                "comments": {},
                "permissions": {},
                "statuses": {},
            }
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ForgeError(f"cannot read the local forge state: {exc}", path=str(self.state_path)) from exc
        if not isinstance(data, dict) or not isinstance(data.get("prs"), dict):
            raise ForgeError("not a local forge state file (no 'prs' object)", path=str(self.state_path))
        for key, default in (
            ("comments", {}),
            ("permissions", {}),
            ("statuses", {}),
            ("next_number", 1),
            ("next_comment_id", 1),
        ):
            data.setdefault(key, default)
        return data

    def _update(self, fn: Callable[[dict[str, Any]], Any]) -> Any:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.state_path):
            data = self._load()
            result = fn(data)
            atomic_write_text(self.state_path, json.dumps(data, indent=2, sort_keys=True) + "\n")
            return result

    def _git(
        self, *args: str, check: bool = True, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> str:
        """git's stripped stdout, or "" when it fails and ``check`` is off. A failure is a ForgeError,
        as every Forge reports its failures (callers catch that, whichever forge they hold)."""
        try:
            if check:
                return git_bytes(self.root, *args, input=input, env=env).decode("utf-8", "replace").strip()
            proc = run_git(self.root, *args)
        except GitError as exc:
            raise ForgeError(str(exc)) from None
        return proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""

    def _branch_sha(self, branch: str) -> str:
        return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)

    def _pr_record(self, data: dict[str, Any], number: int) -> dict[str, Any]:
        rec = data["prs"].get(str(number))
        if rec is None:
            raise ForgeError(f"no pull request #{number} in the local forge", path=str(self.state_path))
        return dict(rec)

    def _to_pr(self, rec: dict[str, Any]) -> PullRequest:
        head_sha = rec.get("merged_head_sha") or self._branch_sha(rec["head_ref"]) or rec.get("head_sha", "")
        return PullRequest(
            number=int(rec["number"]),
            title=rec.get("title", ""),
            body=rec.get("body", ""),
            author=rec.get("author", self.owner),
            head_sha=head_sha,
            head_ref=rec["head_ref"],
            head_repo=self.repo,
            base_ref=rec.get("base_ref", "main"),
            base_repo=self.repo,
            labels=tuple(rec.get("labels", [])),
            state=rec.get("state", "open"),
            merged=bool(rec.get("merged", False)),
            url=f"{self.state_path}#pr-{rec['number']}",
        )

    # ------------------------------------------------------------------ interface
    def info(self) -> ForgeInfo:
        return ForgeInfo("local", self.repo, LOCAL_BOT, "local", {"state": str(self.state_path)})

    @property
    def bot_login(self) -> str:
        return LOCAL_BOT

    def get_pr(self, number: int) -> PullRequest:
        return self._to_pr(self._pr_record(self._load(), number))

    def list_open_prs(self, branch_prefix: str = "") -> list[PullRequest]:
        data = self._load()
        recs = sorted(data["prs"].values(), key=lambda r: int(r["number"]))
        return [
            self._to_pr(r)
            for r in recs
            if r.get("state") == "open" and r["head_ref"].startswith(branch_prefix)
        ]

    def changed_files(self, number: int) -> list[ChangedFile]:
        pr = self.get_pr(number)
        out = self._git("diff", "--name-status", "--no-renames", f"{pr.base_ref}...{pr.head_sha}")
        kinds = {"A": "added", "M": "modified", "D": "removed", "T": "modified"}
        files = []
        for line in out.splitlines():
            status, _, path = line.partition("\t")
            files.append(ChangedFile(path, kinds.get(status[:1], "modified")))
        return files

    def read_file(self, path: str, ref: str) -> bytes | None:
        proc = run_git(self.root, "cat-file", "blob", f"{ref}:{path}")
        return proc.stdout if proc.returncode == 0 else None

    def open_pr(
        self, head: str, base: str, title: str, body: str, labels: list[str] | None = None
    ) -> PullRequest:
        if not self._branch_sha(head):
            raise ForgeError(f"branch {head!r} does not exist in {self.root}")
        if not self._branch_sha(base):
            raise ForgeError(f"base branch {base!r} does not exist in {self.root}")
        if not title.strip():
            raise ForgeError("a pull request needs a title")

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            for rec in data["prs"].values():
                if rec["head_ref"] == head and rec.get("state") == "open":
                    raise ForgeError(f"a pull request already exists for {head} (#{rec['number']})")
            number = int(data["next_number"])
            data["next_number"] = number + 1
            rec = {
                "number": number,
                "title": title,
                "body": body,
                "author": self.owner,
                "head_ref": head,
                "base_ref": base,
                "labels": list(dict.fromkeys(labels or [])),
                "state": "open",
                "merged": False,
                "created_at": clock.stamp(),
            }
            data["prs"][str(number)] = rec
            return rec

        return self._to_pr(self._update(fn))

    def merge_pr(self, number: int, sha: str, message: str = "") -> str:
        pr = self.get_pr(number)
        if pr.state != "open":
            raise ForgeError(f"PR #{number} is {pr.state}, not open")
        if pr.head_sha != sha:
            raise ForgeError(f"PR #{number}: head moved to {pr.head_sha[:12]}, not merging {sha[:12]}")
        base_sha = self._branch_sha(pr.base_ref)
        msg = message or f"Merge {pr.head_ref} (#{number}): {pr.title}"
        current = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if current == pr.base_ref:
            if self._git("status", "--porcelain", "--untracked-files=no"):
                raise ForgeError(
                    f"cannot merge PR #{number}: {self.root} has uncommitted changes on {pr.base_ref}"
                )
            self._git("merge", "--no-ff", "-m", msg, sha)
            merge_sha = self._git("rev-parse", "HEAD")
        else:
            proc = run_git(self.root, "merge-tree", "--write-tree", base_sha, sha)
            if proc.returncode != 0:
                conflicts = proc.stdout.decode("utf-8", "replace").strip()[:2000]
                raise ForgeError(f"PR #{number} does not merge cleanly into {pr.base_ref}:\n{conflicts}")
            tree = proc.stdout.decode().split()[0]
            merge_sha = self._git("commit-tree", tree, "-p", base_sha, "-p", sha, "-m", msg)
            self._git("update-ref", f"refs/heads/{pr.base_ref}", merge_sha, base_sha)

        def fn(data: dict[str, Any]) -> None:
            rec = data["prs"][str(number)]
            rec.update(
                {
                    "state": "closed",
                    "merged": True,
                    "merged_head_sha": sha,
                    "merge_sha": merge_sha,
                    "merged_at": clock.stamp(),
                }
            )

        self._update(fn)
        return merge_sha

    # ---- comments
    def list_comments(self, number: int) -> list[Comment]:
        data = self._load()
        self._pr_record(data, number)
        return [
            Comment(
                int(c["id"]),
                c["body"],
                c["author"],
                c["author"].endswith("[bot]"),
                f"{self.state_path}#comment-{c['id']}",
            )
            for c in data["comments"].get(str(number), [])
        ]

    def create_comment(self, number: int, body: str, *, author: str | None = None) -> Comment:
        who = author or LOCAL_BOT

        def fn(data: dict[str, Any]) -> Comment:
            self._pr_record(data, number)
            cid = int(data["next_comment_id"])
            data["next_comment_id"] = cid + 1
            data["comments"].setdefault(str(number), []).append(
                {
                    "id": cid,
                    "body": body,
                    "author": who,
                    "created_at": clock.stamp(),
                    "updated_at": clock.stamp(),
                }
            )
            return Comment(cid, body, who, who.endswith("[bot]"))

        result: Comment = self._update(fn)
        return result

    def update_comment(self, number: int, comment_id: int, body: str) -> Comment:
        def fn(data: dict[str, Any]) -> Comment:
            for c in data["comments"].get(str(number), []):
                if int(c["id"]) == comment_id:
                    c["body"], c["updated_at"] = body, clock.stamp()
                    return Comment(comment_id, body, c["author"], c["author"].endswith("[bot]"))
            raise ForgeError(f"no comment {comment_id} on PR #{number}", path=str(self.state_path))

        result: Comment = self._update(fn)
        return result

    # ---- labels
    def labels(self, number: int) -> list[str]:
        return list(self._pr_record(self._load(), number).get("labels", []))

    def add_label(self, number: int, label: str, *, actor: str | None = None) -> None:
        """Add ``label`` (``actor``: who did, for the event log; default the bot)."""

        def fn(data: dict[str, Any]) -> None:
            self._pr_record(data, number)
            labels = data["prs"][str(number)].setdefault("labels", [])
            if label not in labels:
                labels.append(label)
                _label_event(data, number, label, "labeled", actor or LOCAL_BOT)

        self._update(fn)

    def remove_label(self, number: int, label: str, *, actor: str | None = None) -> bool:
        def fn(data: dict[str, Any]) -> bool:
            self._pr_record(data, number)
            labels = data["prs"][str(number)].setdefault("labels", [])
            if label in labels:
                labels.remove(label)
                _label_event(data, number, label, "unlabeled", actor or LOCAL_BOT)
                return True
            return False

        result: bool = self._update(fn)
        return result

    # ---- trust and statuses
    def permission(self, user: str) -> str:
        perms = self._load().get("permissions", {})
        if user in perms:
            return str(perms[user])
        return "admin" if user == self.owner else "none"

    def set_permission(self, user: str, level: str) -> None:
        if level not in PERMISSION_LEVELS:
            raise ForgeError(f"permission must be one of {PERMISSION_LEVELS}, not {level!r}")
        self._update(lambda data: data["permissions"].__setitem__(user, level))

    def set_status(self, report: StatusReport) -> None:
        if report.state not in STATUS_STATES:
            raise ForgeError(f"status state must be one of {STATUS_STATES}, not {report.state!r}")

        def fn(data: dict[str, Any]) -> None:
            data["statuses"].setdefault(report.sha, []).insert(
                0,
                {
                    "state": report.state,
                    "context": report.context,
                    "description": report.description,
                    "target_url": report.target_url,
                    "created_at": clock.stamp(),
                },
            )

        self._update(fn)

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        return list(self._load()["statuses"].get(sha, []))

    # ---- the standing research branch and its pull request
    def default_branch(self) -> str:
        for name in ("main", "master"):
            if self._branch_sha(name):
                return name
        current = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if not current:
            raise ForgeError(f"{self.root}: no main or master branch and HEAD is detached")
        return current

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None, state: str | None = None
    ) -> PullRequest:
        if state is not None and state not in ("open", "closed"):
            raise ForgeError(f"a pull request's state is open or closed, not {state!r}")

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            self._pr_record(data, number)
            rec = data["prs"][str(number)]
            for key, value in (("title", title), ("body", body), ("state", state)):
                if value is not None:
                    rec[key] = value
            rec["updated_at"] = clock.stamp()
            return dict(rec)

        return self._to_pr(self._update(fn))

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
        base_sha = self._branch_sha(base)
        if not base_sha:
            raise ForgeError(f"base branch {base!r} does not exist in {self.root}")
        current = self._branch_sha(branch)
        if current and expected_head is not None and current != expected_head:
            raise ForgeError(
                f"branch {branch} is at {current[:12]}, not at the commit pgolf last wrote "
                f"({(expected_head or 'none')[:12]}); someone else pushed to it, so it is left alone"
            )
        blob = self._git("hash-object", "-w", "--stdin", input=data)
        with tempfile.TemporaryDirectory(prefix="pgolf-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}

            def run(*args: str) -> str:
                return self._git(*args, env=env)

            run("read-tree", base_sha)
            run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
            tree = run("write-tree")
            sha = run("commit-tree", tree, "-p", base_sha, "-m", message)
        self._git("update-ref", f"refs/heads/{branch}", sha, current or "")
        return sha

    def add_review(self, number: int, user: str, state: str, *, commit_id: str = "") -> Review:
        """Record a review (the local forge's stand-in for a person reviewing on GitHub)."""
        if state not in ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"):
            raise ForgeError(
                f"a review state is APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED, not {state!r}"
            )
        review = Review(user, state, "Bot" if user.endswith("[bot]") else "User", clock.stamp(), commit_id)

        def fn(data: dict[str, Any]) -> None:
            self._pr_record(data, number)
            data.setdefault("reviews", {}).setdefault(str(number), []).append(
                {"user": user, "state": state, "submitted_at": review.submitted_at, "commit_id": commit_id}
            )

        self._update(fn)
        return review

    def reviews(self, number: int) -> list[Review]:
        data = self._load()
        self._pr_record(data, number)
        return [
            Review(
                r["user"],
                r["state"],
                "Bot" if r["user"].endswith("[bot]") else "User",
                r.get("submitted_at", ""),
                r.get("commit_id", ""),
            )
            for r in data.get("reviews", {}).get(str(number), [])
        ]

    def label_events(self, number: int) -> list[LabelEvent]:
        data = self._load()
        self._pr_record(data, number)
        return [
            LabelEvent(
                e["label"],
                e["action"],
                e["actor"],
                "Bot" if e["actor"].endswith("[bot]") else "User",
                e.get("created_at", ""),
            )
            for e in data.get("label_events", {}).get(str(number), [])
        ]


def _label_event(data: dict[str, Any], number: int, label: str, action: str, actor: str) -> None:
    data.setdefault("label_events", {}).setdefault(str(number), []).append(
        {"label": label, "action": action, "actor": actor, "created_at": clock.stamp()}
    )


def _git_user(root: Path) -> str:
    proc = run_git(root, "config", "user.name")
    return proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""
