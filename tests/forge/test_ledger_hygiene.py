"""`pgolf ledger commit` in a real deployment: lock files and ignored research files never reach
the commit, and the push token never appears on git's command line or in an error message."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bot.config import Settings
from bot.errors import LedgerError
from bot.forge.ledger_commit import ledger_commit
from bot.forge.scaffold import GITIGNORE
from bot.ledger import Ledger
from bot.state import append_jsonl

S = Settings(ledger_push_attempts=3)


@dataclass(frozen=True)
class Note:
    id: str
    score: int = 0


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_remote(tmp_path: Path, gitignore: str | None) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    Ledger.init(seed / "results.tsv")
    (seed / "research").mkdir()
    (seed / "research" / ".gitkeep").write_text("")
    if gitignore is not None:
        (seed / ".gitignore").write_text(gitignore)
    for lock in seed.glob("*.lock"):  # Ledger.init's lock file: not part of the seed commit
        lock.unlink()
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    git(seed, "push", "-q", "origin", "main")
    return bare


def remote_tree(bare: Path) -> list[str]:
    return git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()


@pytest.mark.parametrize("gitignore", [GITIGNORE, None], ids=["scaffold-gitignore", "no-gitignore"])
def test_research_writes_leave_no_lock_in_the_commit(tmp_path: Path, gitignore: str | None) -> None:
    bare = make_remote(tmp_path, gitignore)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    graded = work / "research" / "graded.jsonl"
    append_jsonl(graded, [Note("arxiv:1", 7)])  # takes bot.fileio.file_lock
    assert (work / "research" / "graded.jsonl.lock").exists()
    (work / "research" / ".graded.jsonl.abc.tmp").write_text("torn")  # a crashed atomic write
    res = ledger_commit(work, "research", S, env={})
    assert res.committed and res.files == ["research/graded.jsonl"]
    tree = remote_tree(bare)
    assert "research/graded.jsonl" in tree
    assert not [p for p in tree if p.endswith((".lock", ".tmp"))], tree
    # A second write (the lock file is still there) commits again without complaint.
    append_jsonl(graded, [Note("arxiv:2", 5)])
    assert ledger_commit(work, "research again", S, env={}).committed
    assert not [p for p in remote_tree(bare) if p.endswith(".lock")]


def test_files_the_repository_ignores_are_left_out(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, "research/cache/\n")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    append_jsonl(work / "research" / "cache" / "raw.jsonl", [Note("x")])
    append_jsonl(work / "research" / "verified.jsonl", [Note("y")])
    res = ledger_commit(work, "research", S, env={})
    assert res.committed and res.files == ["research/verified.jsonl"]
    assert not [p for p in remote_tree(bare) if p.startswith("research/cache/")]


def test_scaffold_gitignore_covers_locks_and_forge_state() -> None:
    lines = GITIGNORE.splitlines()
    assert "*.lock" in lines and ".pgolf/" in lines


# --------------------------------------------------------------------------- the push token
class _AuthRecorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization") or ""
        type(self).seen.append(auth)
        # Echo the header back as a text/plain error: git shows it as "remote: …" on stderr,
        # so the error message pgolf raises must scrub it.
        body = f"denied for {auth}\n".encode()
        self.send_response(403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def auth_server() -> Iterator[tuple[str, list[str]]]:
    seen: ClassVar[list[str]] = []
    handler = type("Recorder", (_AuthRecorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_push_token_travels_in_the_environment_not_argv(
    tmp_path: Path, auth_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, seen = auth_server
    token = "ghs_supersecret0123456789"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    # A git wrapper first on PATH records every command line pgolf runs.
    real_git = shutil.which("git")
    assert real_git
    log = tmp_path / "argv.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real_git}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '')}")

    work = tmp_path / "work"
    subprocess.run([real_git, "init", "-q", "-b", "main", str(work)], check=True)
    Ledger.init(work / "results.tsv")
    git(work, "add", "-A")
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "seed")
    git(work, "remote", "add", "origin", f"{server}/owner/lab.git")
    env = {"GITHUB_TOKEN": token, "GITHUB_SERVER_URL": server}
    with pytest.raises(LedgerError) as info:
        ledger_commit(work, "ledger", S, env=env, sleep=lambda s: None)
    message = str(info.value)
    # git really sent the header (so the credentials did reach it) …
    assert f"basic {basic}" in seen
    # … but the error shows neither the token nor its base64 form (git echoed the server's text).
    assert "403" in message or "denied" in message
    assert token not in message and basic not in message
    argv = log.read_text()
    assert "fetch" in argv  # the wrapper did see pgolf's git calls
    assert token not in argv and basic not in argv and "extraheader" not in argv
