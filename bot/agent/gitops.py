"""Git plumbing for the experimenter: never touches the user's working tree, index or HEAD.

A proposal is built as objects only: the edited files become blobs, a tree is written through a
temporary index (``GIT_INDEX_FILE``), and the diff of that tree against the base commit is the
proposal's patch. Only when a proposal is published does it become a commit (``commit-tree``) and
a branch ref (``update-ref refs/heads/exp/<slug>``), then a push when the repository has the
forge's remote.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from bot.errors import ExperimentError, GitError
from bot.git import failure
from bot.git import run as run_git


def git(
    repo: Path | str,
    *args: str,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
) -> str:
    """Run ``git args`` in ``repo`` (:mod:`bot.git`); ExperimentError with git's message when it
    fails: the experimenter (bot.agent.proposer, bot.agent.pr) reports its failures as that."""
    data = None if input_text is None else input_text.encode("utf-8")
    try:
        proc = run_git(repo, *args, input=data, env=env, timeout=timeout)
    except GitError as exc:
        raise ExperimentError(str(exc)) from None
    if check and proc.returncode != 0:
        raise ExperimentError(failure(args, proc), path=str(repo))
    return proc.stdout.decode("utf-8", "replace")


def rev_parse(repo: Path | str, ref: str) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()


def is_repo(repo: Path | str) -> bool:
    try:
        git(repo, "rev-parse", "--git-dir")
    except ExperimentError:
        return False
    return True


def show_file(repo: Path | str, commit: str, rel: str) -> str:
    try:
        return git(repo, "show", f"{commit}:{rel}")
    except ExperimentError:
        raise ExperimentError(f"{rel} does not exist at {commit[:10]}", path=str(repo)) from None


def file_mode(repo: Path | str, commit: str, rel: str) -> str:
    out = git(repo, "ls-tree", commit, "--", rel).strip()
    return out.split()[0] if out else "100644"


def branch_exists(repo: Path | str, branch: str) -> bool:
    out = git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    return bool(out.strip())


def build_tree(repo: Path | str, base: str, files: Mapping[str, str]) -> str:
    """A tree object: ``base``'s tree with ``files`` (relative path → text) replaced."""
    with tempfile.TemporaryDirectory(prefix="pgolf-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(repo, "read-tree", base, env=env)
        for rel, text in files.items():
            blob = git(repo, "hash-object", "-w", "--stdin", input_text=text).strip()
            mode = file_mode(repo, base, rel)
            git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{rel}", env=env)
        return git(repo, "write-tree", env=env).strip()


def diff_trees(repo: Path | str, base: str, tree: str) -> str:
    """The patch from ``base`` to ``tree`` (``git apply`` format, full index lines)."""
    return git(repo, "diff", "--no-color", "--no-ext-diff", "--full-index", base, tree)


def commit_tree(repo: Path | str, tree: str, parent: str, message: str) -> str:
    return git(repo, "commit-tree", tree, "-p", parent, "-F", "-", input_text=message).strip()


def create_branch(repo: Path | str, branch: str, commit: str) -> None:
    """Create ``refs/heads/<branch>`` at ``commit``; refuses to move an existing branch."""
    git(repo, "update-ref", f"refs/heads/{branch}", commit, "0" * 40)


def remotes(repo: Path | str) -> list[str]:
    return [r for r in git(repo, "remote").split() if r]


def push(repo: Path | str, remote: str, branch: str) -> None:
    git(repo, "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}", timeout=300)
