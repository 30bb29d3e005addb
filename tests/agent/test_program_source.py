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
