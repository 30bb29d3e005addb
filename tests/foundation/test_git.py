"""bot.git: the one way pgolf runs git (real git in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bot
from bot.errors import GitError, PgolfError
from bot.git import git, git_bytes, git_ok, resolve, same_commit

PACKAGE = Path(bot.__file__).resolve().parent
# `git archive | ssh … tar -x`: a stream between two processes, not a call that returns
STREAMS = {"compute/remote.py"}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "--quiet", "-b", "main")
    (tmp_path / "a.txt").write_text("one\n")
    ident = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "--quiet", "-m", "first", env={**ident, "GIT_COMMITTER_EMAIL": "t@x"})
    return tmp_path


def test_git_returns_stdout_and_reads_bytes(repo: Path) -> None:
    sha = resolve(repo, "HEAD")
    assert sha and re.fullmatch(r"[0-9a-f]{40}", sha)
    assert git(repo, "log", "-1", "--format=%s").strip() == "first"
    assert git_bytes(repo, "show", "HEAD:a.txt") == b"one\n"
    assert (
        git(repo, "hash-object", "--stdin", input="one\n").strip()
        == git(repo, "rev-parse", "HEAD:a.txt").strip()
    )


def test_a_failure_is_a_git_error_naming_the_command_and_gits_words(repo: Path) -> None:
    with pytest.raises(GitError) as info:
        git(repo, "show", "HEAD:missing.txt")
    msg = str(info.value)
    assert msg.startswith(f"{repo}: git show HEAD:missing.txt failed: ") and "missing.txt" in msg
    assert isinstance(info.value, PgolfError) and info.value.exit_code == GitError.exit_code
    with pytest.raises(GitError, match="no such folder"):
        git(repo / "nowhere", "status")


def test_questions_and_names(repo: Path) -> None:
    assert git_ok(repo, "diff", "--quiet")
    (repo / "a.txt").write_text("two\n")
    assert not git_ok(repo, "diff", "--quiet")
    assert resolve(repo, "no-such-branch") is None
    assert resolve(repo, "--output=x") is None  # an option-shaped name is just not a commit
    assert not (repo / "x").exists()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("0123456789abcdef0123456789abcdef01234567", "0123456", True),
        ("0123456", "0123456789ABCDEF0123456789ABCDEF01234567", True),
        (" 0123456789 ", "0123456", True),
        ("0123456", "0123457", False),
        ("012345", "0123456789", False),  # a 6-digit prefix is too short to be a name
        ("abc", "abc", True),  # a short name written by hand matches itself
        ("", "", False),
        (None, "0123456", False),
    ],
)
def test_same_commit(a: str | None, b: str | None, same: bool) -> None:
    assert same_commit(a, b) is same
    assert same_commit(b, a) is same


def test_git_is_run_only_through_bot_git() -> None:
    raw = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if '["git"' in p.read_text(encoding="utf-8")
    }
    assert raw - STREAMS == {"git.py"}


def test_a_forge_reports_its_git_failures_as_forge_errors(tmp_path: Path) -> None:
    # the Forge contract: whatever forge a caller holds, its failures are ForgeError (bot.agent.pr
    # and the winner policy catch that); the local forge's git calls keep it
    from bot.errors import ForgeError
    from bot.forge.local import LocalForge

    git(tmp_path, "init", "--quiet", "-b", "main")
    forge = LocalForge(tmp_path)  # a repository without a commit: HEAD names nothing yet
    with pytest.raises(ForgeError, match="git rev-parse HEAD failed: "):
        forge._git("rev-parse", "HEAD")
    assert forge._git("rev-parse", "HEAD", check=False) == ""
