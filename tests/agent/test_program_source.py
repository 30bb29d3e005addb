"""The experimenter reads program.md from the default branch only: never the working copy's
unreviewed injection, never the research review branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent.proposer import Experimenter
from bot.config import Settings, load_settings
from bot.errors import ExperimentError
from tests.agent.conftest import git


def test_program_text_is_the_committed_default_branch(repo: Path, settings: Settings) -> None:
    committed = (repo / "program.md").read_text()
    (repo / "program.md").write_text("UNREVIEWED injection\n")  # what `pgolf inject` left behind
    exp = Experimenter(repo, settings, forge=None)
    base = git(repo, "rev-parse", "main").strip()
    text = exp.program_text(base)
    assert text == committed and "UNREVIEWED" not in text


def test_the_research_review_branch_is_refused(repo: Path, settings: Settings) -> None:
    git(repo, "checkout", "-q", "-b", settings.research_review_branch)
    (repo / "program.md").write_text("proposed by research, not reviewed\n")
    git(repo, "commit", "-qam", "research: proposal")
    with pytest.raises(ExperimentError, match="research review branch"):
        Experimenter(repo, settings, forge=None).propose(offline_mode=True, dry_run=True)
    # naming the default branch explicitly is fine, and reads main's program.md
    pinned = load_settings(repo, env={}, overrides={"experimenter_base_branch": "main"})
    exp = Experimenter(repo, pinned, forge=None)
    exp.check_base_is_reviewed()
    assert "not reviewed" not in exp.program_text("main")


def test_review_mode_picks_only_items_the_reviewed_program_md_lists(tmp_path: Path) -> None:
    """Review mode: the research state reaches the default branch unreviewed, so the experimenter
    must not pick (nor take a brief for) an item that the default branch's program.md does not
    list yet: a maintainer holding the research PR holds the item back from the experimenter too."""
    from bot import program
    from bot.ledger import Ledger
    from tests.agent.conftest import DEFAULT_ITEMS, make_repo

    repo = make_repo(tmp_path / "repo")
    top, second, _ = DEFAULT_ITEMS  # top scores highest but is still waiting in the research PR
    led = Ledger(tmp_path / "none.tsv", [], [], True)
    reviewed = program.replace_sections(
        program.template(), program.build_sections(led, [second], [], []), 1.2244
    )
    (repo / "program.md").write_text(reviewed, encoding="utf-8")
    git(repo, "commit", "-qam", "research: +1 (#1)")
    review = load_settings(repo, env={}, overrides={"research_review": "pr"})
    res = Experimenter(repo, review, forge=None).propose(offline_mode=True, dry_run=True)
    assert res.pick is not None and res.pick.item.item_id == second.item_id
    # (commit mode, on a fresh copy: the highest graded item, listed or not)
    other = make_repo(tmp_path / "other")
    res = Experimenter(other, load_settings(other, env={}), forge=None).propose(
        offline_mode=True, dry_run=True
    )
    assert res.pick is not None and res.pick.item.item_id == top.item_id
    # naming an item explicitly (a maintainer's choice) still works
    res = Experimenter(repo, review, forge=None).propose(
        from_item=top.item_id, offline_mode=True, dry_run=True
    )
    assert res.pick is not None and res.pick.item.item_id == top.item_id
