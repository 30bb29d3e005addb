"""The one way pgolf runs git.

``git(repo, *args)`` returns git's stdout or raises :class:`~bot.errors.GitError` naming the
command and git's own last line of error; ``git_ok`` asks a yes/no question (exit status 0);
``run`` is the raw call for the few callers that read both streams themselves. Every call
captures its output (git never writes to our stdout), has a timeout, and adds ``env`` on top of
the process environment. ``same_commit`` is how two commit names are compared everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.errors import GitError

TIMEOUT = 120.0


def run(
    repo: Path | str,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """``git args`` in ``repo`` (bytes in and out); a missing git or a timeout is a GitError,
    git's own exit status is the caller's to read."""
    full_env = {**os.environ, **env} if env else None
    try:
        return subprocess.run(
            ["git", *args], cwd=str(repo), input=input, capture_output=True, env=full_env, timeout=timeout
        )
    except (FileNotFoundError, NotADirectoryError):
        if shutil.which("git") is None:
            raise GitError("git is not installed") from None
        raise GitError("no such folder", path=str(repo)) from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args[:2])} timed out after {timeout:.0f} s", path=str(repo)) from None


def failure(
    args: tuple[str, ...], proc: subprocess.CompletedProcess[bytes], scrub: Callable[[str], str] = str
) -> str:
    """``git <verb> failed: <git's last line>`` (``scrub`` removes secrets from git's words)."""
    lines = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
    return f"git {' '.join(args[:2])} failed: {scrub(lines[-1]) if lines else f'exit {proc.returncode}'}"


def git_bytes(
    repo: Path | str,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> bytes:
    proc = run(repo, *args, input=input, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise GitError(failure(args, proc), path=str(repo))
    return proc.stdout


def git(
    repo: Path | str,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """git's stdout as text (not stripped), or GitError."""
    data = None if input is None else input.encode("utf-8")
    return git_bytes(repo, *args, input=data, env=env, timeout=timeout).decode("utf-8", "replace")


def git_ok(repo: Path | str, *args: str, timeout: float = TIMEOUT) -> bool:
    """Whether ``git args`` exits 0 (questions such as ``diff --quiet`` or ``merge-base --is-ancestor``)."""
    return run(repo, *args, timeout=timeout).returncode == 0


def resolve(repo: Path | str, ref: str) -> str | None:
    """The full SHA of the commit ``ref`` names, or None when it names none."""
    proc = run(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def same_commit(a: str | None, b: str | None) -> bool:
    """Whether two names of a commit (a full SHA, or an abbreviation of at least 7 hex digits, as
    results.tsv and comments carry them) name the same commit: one is a prefix of the other, case
    and spaces aside. An empty name never matches; names shorter than 7 match only when equal."""
    x, y = (a or "").strip().lower(), (b or "").strip().lower()
    if not x or not y:
        return False
    n = min(len(x), len(y), 40)
    return x == y or (n >= 7 and x[:n] == y[:n])
