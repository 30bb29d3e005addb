"""Fixtures for the forge tests: a started GitHub emulator, an App RSA key, a seeded repository."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.ledger import Ledger, Row, make_row
from tests.emulators.github import GitHubEmulator, Repo

REPO = "openai/parameter-golf"


@dataclass(frozen=True)
class AppKey:
    private_pem: str
    public_pem: str


def make_key() -> AppKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return AppKey(private, public)


@pytest.fixture(scope="session")
def app_key() -> AppKey:
    return make_key()


@pytest.fixture(autouse=True)
def _no_actions_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own GitHub environment (CI itself may run inside Actions)."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GH_APP_", "RUNNER_")) or name in ("GH_TOKEN", "CI"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def github_emu() -> Iterator[GitHubEmulator]:
    gh = GitHubEmulator()
    gh.start()
    try:
        yield gh
    finally:
        gh.stop()


@pytest.fixture
def seeded(github_emu: GitHubEmulator, app_key: AppKey) -> Repo:
    """openai/parameter-golf with a maintainer, a reader, an App installation and PR #7 by alice."""
    gh = github_emu
    repo = gh.add_repo(REPO, files={"README.md": b"hello\n", "training/train_gpt.py": b"x = 1\n"})
    gh.set_permission(repo, "maintainer", "maintain")
    gh.set_permission(repo, "writer", "write")
    gh.set_permission(repo, "reader", "read")
    gh.add_app(4242, app_key.public_pem, slug="pgolf-bot", installations=[77], repos=[repo])
    gh.add_pr(repo, 7, head_ref="exp/rope", files={"training/train_gpt.py": b"x = 2\n"}, author="alice")
    return repo


def app_env(gh: GitHubEmulator, key: AppKey, **extra: str) -> dict[str, str]:
    env = {
        "GITHUB_API_URL": gh.url,
        "GITHUB_REPOSITORY": REPO,
        "GH_APP_ID": "4242",
        "GH_APP_PRIVATE_KEY": key.private_pem,
        "GH_APP_SLUG": "pgolf-bot",
    }
    env.update(extra)
    return env


def cli_env(gh: GitHubEmulator, key: AppKey, **extra: str) -> dict[str, str]:
    """`app_env` for a `pgolf` CLI run against the emulator: no request pacing, the GitHub forge."""
    return app_env(
        gh,
        key,
        PGOLF_GITHUB_SECONDS_BETWEEN_REQUESTS="0",
        PGOLF_GITHUB_SECONDS_BETWEEN_WRITES="0",
        PGOLF_FORGE="github",
        **extra,
    )


def local_row(
    commit: str,
    val_bpb: float,
    description: str,
    *,
    artifact_bytes: int | None = None,
    promoted: str = "no",
) -> Row:
    """A kept local-tier ledger row."""
    return make_row(
        commit=commit,
        tier="local",
        val_bpb=val_bpb,
        artifact_bytes=artifact_bytes,
        memory_gb=None,
        status="keep",
        promoted=promoted,
        description=description,
    )


def append_local_row(
    root: Path, commit: str, val_bpb: float, description: str, *, artifact_bytes: int | None = None
) -> None:
    """Append a kept local-tier row to ``root/results.tsv``."""
    Ledger.append(
        root / "results.tsv", local_row(commit, val_bpb, description, artifact_bytes=artifact_bytes)
    )


def write_event(path: Path, payload: dict[str, Any]) -> Path:
    path.write_text(json.dumps(payload))
    return path


def comment_event(
    body: str,
    *,
    user: str = "maintainer",
    association: str = "MEMBER",
    action: str = "created",
    on_pr: bool = True,
    number: int = 7,
    user_type: str = "User",
) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": number, "title": "t", "labels": []}
    if on_pr:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/{number}"}
    return {
        "action": action,
        "issue": issue,
        "comment": {
            "id": 99,
            "body": body,
            "user": {"login": user, "type": user_type},
            "author_association": association,
        },
        "repository": {"full_name": REPO},
        "sender": {"login": user, "type": user_type},
    }


def label_event(
    label: str, head_sha: str, *, sender: str = "maintainer", sender_type: str = "User", number: int = 7
) -> dict[str, Any]:
    return {
        "action": "labeled",
        "number": number,
        "label": {"name": label},
        "pull_request": {
            "number": number,
            "head": {"sha": head_sha, "ref": "exp/rope", "repo": {"full_name": REPO}},
            "base": {"ref": "main", "repo": {"full_name": REPO}},
            "labels": [{"name": label}],
            "author_association": "NONE",
        },
        "repository": {"full_name": REPO},
        "sender": {"login": sender, "type": sender_type},
    }


def sync_event(head_sha: str, labels: list[str], number: int = 7) -> dict[str, Any]:
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": head_sha, "ref": "exp/rope", "repo": {"full_name": REPO}},
            "labels": [{"name": n} for n in labels],
            "author_association": "CONTRIBUTOR",
        },
        "repository": {"full_name": REPO},
        "sender": {"login": "alice", "type": "User"},
    }
