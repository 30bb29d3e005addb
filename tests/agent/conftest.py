"""Fixtures for the experimenter tests: a research repository in a temp folder (real git, the real
training scripts), the tiny dataset for smoke runs, and the Anthropic emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent.validate import tiny_dataset
from bot.config import Settings, load_settings
from bot.ledger import HEADER
from bot.program import template
from bot.state import GradedItem, to_line
from tests.emulators.anthropic import AnthropicEmulator

PROJECT = Path(__file__).resolve().parents[2]
SCRIPTS = ("training/train_gpt.py", "training/train_gpt_mlx.py")


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def graded(item_id: str, title: str, total: int, category: str = "", tier: str = "") -> GradedItem:
    tier = tier or ("A" if total >= 10 else "B" if total >= 7 else "C")
    return GradedItem(
        item_id=item_id,
        title=title,
        url=f"https://example.org/{item_id.replace(':', '/')}",
        scores={},
        total=total,
        max_total=15,
        tier=tier,
        grader="offline",
        rationale=f"rationale of {title}",
        category=category,
        summary=f"summary of {title}",
    )


DEFAULT_ITEMS = (
    graded("arxiv:2401.00001", "Longer cooldown schedules for short training runs", 12, "schedule"),
    graded("arxiv:2401.00002", "Logit soft-capping revisited", 9, "architecture"),
    graded("arxiv:2401.00003", "A tokenizer trick", 5, "tokenizer"),
)


def make_repo(
    path: Path, items: tuple[GradedItem, ...] = DEFAULT_ITEMS, ledger_rows: list[str] | None = None
) -> Path:
    """A research repository on branch main: both training scripts, program.md, results.tsv,
    research/graded.jsonl, committed."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for rel in SCRIPTS:
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT / rel, path / rel)
    (path / "program.md").write_text(template(), encoding="utf-8")
    (path / "results.tsv").write_text(
        HEADER + "\n" + "".join(r + "\n" for r in ledger_rows or []), encoding="utf-8"
    )
    (path / "research").mkdir(exist_ok=True)
    (path / "research" / "graded.jsonl").write_text(
        "".join(to_line(g) + "\n" for g in items), encoding="utf-8"
    )
    (path / ".gitignore").write_text(".pgolf/\n", encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "research repo")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def settings(repo: Path) -> Settings:
    return load_settings(repo, env={})


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny offline dataset (built once per session with training/prepare_data.py)."""
    return tiny_dataset(tmp_path_factory.mktemp("tiny-data"), PROJECT)


@pytest.fixture
def anthropic_emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicEmulator]:
    emu = AnthropicEmulator()
    emu.start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", emu.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emu.url)
    try:
        yield emu
    finally:
        emu.stop()


def last_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the newest user message of a Messages request."""
    msgs = body["messages"]
    content = msgs[-1]["content"]
    if isinstance(content, str):
        return []
    return [b for b in content if b.get("type") == "tool_result"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
