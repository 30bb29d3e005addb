"""The dashboard's research panel links each research cycle to the commit that recorded it
(generated message with its cycle trailer) and to the research PR, and shows the summary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot import program
from bot.config import Settings
from bot.forge.ledger_commit import ledger_commit
from bot.ledger import Ledger
from bot.program_inputs import gather_inputs
from bot.report import build_report
from bot.report.collect import collect
from bot.state import GradedItem, ResearchItem, ResearchState, append_jsonl

S = Settings(github_repository="octo/golf")
C1, C2 = "2026-04-01T00:17:00Z", "2026-04-01T06:17:00Z"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    Ledger.init(work / "results.tsv")
    (work / "program.md").write_text(program.template())
    git(work, "add", "-A")
    git(work, "commit", "-qm", "init")
    git(work, "push", "-q", "origin", "main")
    state = ResearchState(work / "research")
    # cycle 1: items fetched and graded, injected, committed with a generated message
    append_jsonl(
        state.raw_cache_path, [ResearchItem(source="arxiv", id="arxiv:1", title="One", fetched_at=C1)]
    )
    append_jsonl(
        state.graded_path,
        [GradedItem(item_id="arxiv:1", title="One", url="https://arxiv.org/abs/1", tier="A", total=12)],
    )
    inputs = gather_inputs(work, S)
    program.inject(work / "program.md", inputs.sections, inputs.sota)
    ledger_commit(work, None, S, env={})
    # cycle 2: an item below the bar; program.md does not change
    append_jsonl(state.raw_cache_path, [ResearchItem(source="rss", id="rss:2", title="Two", fetched_at=C2)])
    ledger_commit(work, None, S, env={})
    # a review-mode outcome, as `pgolf program review` records it
    (work / "research" / "review.json").write_text(
        json.dumps({"action": "waiting", "pr": 12, "reason": "research PR #12 is in its quiet period"})
    )
    return work


def test_cycles_link_to_their_commits_and_summaries(repo: Path) -> None:
    data = collect(repo, S).to_dict()
    cycles = {c["cycle"]: c for c in data["funnel"]["cycles"]}
    first, second = cycles[C1]["commit"], cycles[C2]["commit"]
    assert first["subject"] == "research: +1 (A 1)"
    assert first["url"] == f"https://github.com/octo/golf/commit/{first['sha']}"
    assert "- [A 12/15] One — https://arxiv.org/abs/1" in first["summary"]
    assert second["subject"] == "research: program.md unchanged (state raw +1)"
    assert git(repo, "log", "-1", "--format=%H").strip() == second["sha"]
    # newest first, [skip ci] and trailers kept out of the summary
    history = data["research_commits"]
    assert [c["sha"] for c in history] == [second["sha"], first["sha"]]
    assert all("[skip ci]" not in c["subject"] and "[skip ci]" not in c["summary"] for c in history)
    assert data["research_review"]["pr_url"] == "https://github.com/octo/golf/pull/12"


def test_a_folder_inside_another_repository_has_no_history(repo: Path, tmp_path: Path) -> None:
    inner = repo / "sub"
    inner.mkdir()
    assert collect(inner, S).to_dict()["research_commits"] == []


@pytest.mark.browser
def test_the_panel_renders_links_in_the_browser(browser: Any, repo: Path, tmp_path: Path) -> None:
    site = build_report(repo, S, tmp_path / "site", pngs=False).out_dir
    page = browser.page()
    page.goto(site.as_uri() + "/index.html")
    page.wait_for("document.body.dataset.ready === 'true'")
    assert page.problems() == []
    links = page.eval(
        "Array.from(document.querySelectorAll('#chart-funnel .research-commit a')).map(a => [a.textContent, a.href])"
    )
    texts = [t for t, _ in links]
    assert "research: +1 (A 1)" in texts
    assert any(h.startswith("https://github.com/octo/golf/commit/") for _, h in links)
    assert page.eval("document.querySelectorAll('#research-commits li').length") == 2
    review = page.eval("document.getElementById('research-review').textContent")
    assert "waiting" in review and "#12" in review
