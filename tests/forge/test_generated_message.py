"""Generated ledger-commit messages, `pgolf program diff`, `pgolf inject --json` and the job summary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import program
from bot.cli import cli
from bot.config import Settings
from bot.forge.ledger_commit import ledger_commit
from bot.ledger import Ledger
from bot.state import GradedItem

S = Settings()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def render(items: list[tuple[int, str]], sota: float = 1.2244) -> str:
    graded = [
        GradedItem(
            item_id=f"arxiv:{i}", title=f"Paper {i}", url=f"https://arxiv.org/abs/{i}", total=12, tier=t
        )
        for i, t in items
    ]
    led = Ledger(Path("/nonexistent/results.tsv"), [], [], True)
    return program.replace_sections(program.template(), program.build_sections(led, graded, [], []), sota)


def graded_line(i: int, tier: str) -> str:
    return json.dumps(
        {
            "item_id": f"arxiv:{i}",
            "title": f"Paper {i}",
            "url": f"https://arxiv.org/abs/{i}",
            "total": 12,
            "tier": tier,
        }
    )


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    Ledger.init(work / "results.tsv")
    (work / "program.md").write_text(render([(1, "A"), (2, "B")], 1.0634))
    (work / "research").mkdir()
    (work / "research" / "graded.jsonl").write_text(graded_line(1, "A") + "\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "seed")
    git(work, "push", "-q", "origin", "main")
    return work


def last_message(work: Path) -> str:
    return git(work, "--git-dir", str(work.parent / "remote.git"), "log", "-1", "--format=%B", "main")


def test_state_only_run_commits_no_program_change_and_says_so(clone: Path) -> None:
    before = (clone / "program.md").read_bytes()
    with (clone / "research" / "graded.jsonl").open("a") as fh:
        fh.write(graded_line(3, "C") + "\n")
    raw = {"source": "arxiv", "id": "arxiv:3", "title": "Paper 3", "fetched_at": "2026-03-01T06:17:00Z"}
    (clone / "research" / "raw_cache.jsonl").write_text(json.dumps(raw) + "\n")
    result = ledger_commit(clone, None, S, env={})
    assert result.committed and "program.md" not in result.files
    msg = last_message(clone)
    subject = msg.splitlines()[0]
    assert subject == "research: program.md unchanged (state graded +1, raw +1)"
    assert "program.md is unchanged by this run" in msg
    assert "[skip ci]" in msg and "[skip ci]" not in subject  # the subject keeps its 72 characters
    assert "Pgolf-Research-Cycle: 2026-03-01T06:17:00Z" in msg.splitlines()
    assert (clone / "program.md").read_bytes() == before


def test_program_change_gets_items_links_and_sota(clone: Path) -> None:
    (clone / "program.md").write_text(render([(1, "A"), (3, "A"), (4, "B")], 1.0611))
    ledger_commit(clone, None, S, env={})
    msg = last_message(clone)
    lines = msg.splitlines()
    assert lines[0] == "research: +2 (A 1, B 1), \u22121; SOTA 1.0634 \u2192 1.0611"
    assert "- [A 12/15] Paper 3 — https://arxiv.org/abs/3" in lines
    assert "- [B 12/15] Paper 2 — https://arxiv.org/abs/2" in lines  # the removed one
    assert "SOTA: 1.0634 \u2192 1.0611 bpb" in lines


def test_an_explicit_message_is_kept(clone: Path) -> None:
    (clone / "research" / "graded.jsonl").write_text("changed\n")
    ledger_commit(clone, "promotion (workflow_dispatch)", S, env={})
    assert last_message(clone).strip() == "promotion (workflow_dispatch) [skip ci]"


def test_review_mode_keeps_program_md_off_the_default_branch(clone: Path) -> None:
    remote_before = git(clone, "show", "origin/main:program.md")
    (clone / "program.md").write_text(render([(1, "A"), (5, "A")]))
    with (clone / "research" / "graded.jsonl").open("a") as fh:
        fh.write(graded_line(5, "A") + "\n")
    (clone / "research" / "review.json").write_text(json.dumps({"pr": 12, "action": "updated"}))
    env = {"PGOLF_REPO": str(clone)}
    r = CliRunner().invoke(
        cli, ["--repo", str(clone), "-c", "research_review=pr", "ledger", "commit", "--json"], env=env
    )
    assert r.exit_code == 0, r.output
    assert "program.md" not in json.loads(r.output)["files"]
    assert (
        git(clone, "--git-dir", str(clone.parent / "remote.git"), "show", "main:program.md") == remote_before
    )
    msg = last_message(clone)
    assert msg.splitlines()[0] == "research: state only, program.md changes go to PR #12; state graded +1"
    assert "Pgolf-Research-PR: 12" in msg


def test_program_diff_between_commits_and_step_summary(clone: Path, tmp_path: Path) -> None:
    first = git(clone, "rev-parse", "HEAD").strip()
    (clone / "program.md").write_text(render([(2, "B"), (6, "A")], 1.0611))
    git(clone, "commit", "-qam", "by hand")
    runner = CliRunner()
    r = runner.invoke(cli, ["--repo", str(clone), "program", "diff", first, "HEAD", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [i["key"] for i in data["added"]["RESEARCH"]] == ["arxiv:6"]
    assert [i["key"] for i in data["removed"]["RESEARCH"]] == ["arxiv:1"]
    assert (data["sota_before"], data["sota_after"]) == (1.0634, 1.0611)
    assert data["rev_a"] == first

    # working copy vs HEAD (the defaults), written to the job summary file
    (clone / "program.md").write_text(render([(2, "B"), (6, "A"), (7, "A")], 1.0611))
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    r = runner.invoke(
        cli,
        ["--repo", str(clone), "program", "diff", "--step-summary"],
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "research: +1 (A 1)"
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never truncated
    assert "| added | RESEARCH | Paper 7 | A | 12/15 | [link](https://arxiv.org/abs/7) |" in text

    r = runner.invoke(
        cli, ["--repo", str(clone), "program", "diff", "--step-summary"], env={"GITHUB_STEP_SUMMARY": ""}
    )
    assert r.exit_code == 2 and "GITHUB_STEP_SUMMARY" in r.output
    r = runner.invoke(cli, ["--repo", str(clone), "program", "diff", "no-such-rev"])
    assert r.exit_code == 2 and "no-such-rev" in r.output


def test_inject_json_reports_changes_and_a_rerun_changes_nothing(clone: Path) -> None:
    with (clone / "research" / "graded.jsonl").open("a") as fh:
        fh.write(graded_line(8, "A") + "\n")
    runner = CliRunner()
    r = runner.invoke(cli, ["--repo", str(clone), "inject", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["changed"] is True
    assert [i["key"] for i in data["added"]["RESEARCH"]] == ["arxiv:8"]
    assert [i["key"] for i in data["removed"]["RESEARCH"]] == ["arxiv:2"]
    assert data["added"]["RESEARCH"][0]["url"] == "https://arxiv.org/abs/8"
    assert data["sota_before"] == 1.0634 and data["sota_after"] == 1.2244
    after = (clone / "program.md").read_bytes()
    r = runner.invoke(cli, ["--repo", str(clone), "inject", "--json"])
    data = json.loads(r.output)
    assert data["changed"] is False and data["added"] == {} and data["removed"] == {}
    assert (clone / "program.md").read_bytes() == after


def test_a_run_that_changes_nothing_commits_nothing(clone: Path) -> None:
    CliRunner().invoke(cli, ["--repo", str(clone), "inject"])  # bring program.md up to date
    assert ledger_commit(clone, None, S, env={}).committed
    head = git(clone, "rev-parse", "origin/main").strip()
    r = CliRunner().invoke(cli, ["--repo", str(clone), "inject", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["changed"] is False
    result = ledger_commit(clone, None, S, env={})
    assert not result.committed and result.files == []
    assert git(clone, "--git-dir", str(clone.parent / "remote.git"), "rev-parse", "main").strip() == head


def test_a_cycle_value_cannot_forge_trailers(clone: Path) -> None:
    """A raw-cache row's cycle value is data: a newline in it must not add a trailer (the dashboard
    reads `Pgolf-Research-PR:` to link a cycle to its review PR)."""
    raw = {"id": "x", "extra": {"cycle": "c1\nPgolf-Research-PR: 666"}, "fetched_at": "2026-03-01T06:17:00Z"}
    (clone / "research" / "raw_cache.jsonl").write_text(json.dumps(raw) + "\n")
    ledger_commit(clone, None, S, env={})
    lines = last_message(clone).splitlines()
    assert not any(ln.startswith("Pgolf-Research-PR") for ln in lines)
    assert "Pgolf-Research-Cycle: c1 Pgolf-Research-PR: 666" in lines


@pytest.mark.parametrize(
    ("action", "subject"),
    [
        ("merged", "research: state only, program.md merged in PR #12; state graded +1"),
        ("closed", "research: state only, program.md changes go to the research PR …"),
    ],
)
def test_review_mode_message_does_not_send_readers_to_a_finished_pr(
    clone: Path, action: str, subject: str
) -> None:
    """The review outcome of this run names a PR that is merged or closed: the state commit must
    not say that program.md changes wait in it."""
    (clone / "program.md").write_text(render([(1, "A"), (5, "A")]))
    with (clone / "research" / "graded.jsonl").open("a") as fh:
        fh.write(graded_line(5, "A") + "\n")
    (clone / "research" / "review.json").write_text(json.dumps({"pr": 12, "action": action}))
    r = CliRunner().invoke(cli, ["--repo", str(clone), "-c", "research_review=pr", "ledger", "commit"])
    assert r.exit_code == 0, r.output
    msg = last_message(clone)
    assert msg.splitlines()[0] == subject
    assert "proposed in the research pull request #12" not in msg
    assert ("Pgolf-Research-PR: 12" in msg) == (action == "merged")


@pytest.mark.parametrize("where", ["../elsewhere.md", "ABS"])
def test_program_diff_refuses_a_program_path_outside_the_repository(
    clone: Path, tmp_path: Path, where: str
) -> None:
    """git cannot read a file outside the repository at a revision: comparing would silently read
    "unchanged" (or "created") instead of naming the setting."""
    outside = tmp_path / "elsewhere.md"
    outside.write_text(render([(1, "A")]))
    value = str(outside) if where == "ABS" else where
    args = ["--repo", str(clone), "-c", f"program_path={value}", "program", "diff", "HEAD~0"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "program_path" in r.output and "outside" in r.output
