"""Review mode on the GitHub emulator: the research PR is opened, updated, held and auto-merged.

PyGithub talks to the emulator; time is bot.clock's pinned clock (never the real date).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import clock, program, program_git
from bot import program_changes as pc
from bot import research_review as rr
from bot.config import Settings
from bot.errors import ForgeError
from bot.forge.github import GitHubForge
from bot.ledger import Ledger
from bot.state import GradedItem
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import REPO, AppKey, app_env

T0 = datetime(2026, 3, 1, 6, 17, tzinfo=UTC)
S = Settings(
    research_review="pr",
    research_review_quiet_hours=24,
    github_seconds_between_requests=0,
    github_seconds_between_writes=0,
)


def _graded(i: int, tier: str = "A") -> GradedItem:
    return GradedItem(
        item_id=f"arxiv:{i}", title=f"Paper {i}", url=f"https://arxiv.org/abs/{i}", total=12, tier=tier
    )


def render(tmp: Path, items: list[int], sota: float = 1.2244) -> str:
    led = Ledger(tmp / "none.tsv", [], [], True)
    sections = program.build_sections(led, [_graded(i) for i in items], [], [])
    return program.replace_sections(program.template(), sections, sota)


@pytest.fixture
def repo(github_emu: GitHubEmulator, app_key: AppKey, tmp_path: Path) -> Repo:
    gh = github_emu
    r = gh.add_repo(
        REPO,
        files={
            "program.md": render(tmp_path, [1]).encode(),
            "research/graded.jsonl": b'{"item_id": "arxiv:1"}\n',
        },
    )
    gh.set_permission(r, "maintainer", "maintain")
    gh.set_permission(r, "reader", "read")
    gh.add_app(4242, app_key.public_pem, slug="pgolf-bot", installations=[77], repos=[r])
    return r


@pytest.fixture
def forge(github_emu: GitHubEmulator, app_key: AppKey, repo: Repo) -> GitHubForge:
    return GitHubForge.from_env(S, app_env(github_emu, app_key))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "research").mkdir(parents=True)
    return root


def run_at(at: datetime, forge: GitHubForge, root: Path, text: str | None = None) -> list[rr.ReviewOutcome]:
    if text is not None:
        (root / "program.md").write_text(text, encoding="utf-8")
    with clock.pinned(at):
        return rr.run_review(forge, root, S)


def research_prs(gh: GitHubEmulator, repo: Repo) -> list:
    return [i for i in repo.issues.values() if i.is_pr and i.head_ref == S.research_review_branch]


def test_pr_created_then_updated_then_merged_after_quiet_period(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    gh = github_emu
    main_program = gh.file_at(repo, "main", "program.md")
    first = render(tmp_path, [1, 2, 3], sota=1.0634)
    out = run_at(T0, forge, work, first)
    assert [o.action for o in out] == ["opened", "waiting"]
    (pr,) = research_prs(gh, repo)
    assert pr.title == "research: +2 (A 2); SOTA 1.2244 \u2192 1.0634" == out[0].subject
    assert "<!-- pgolf:research-pr head=" in pr.body and "| added | RESEARCH | Paper 2 |" in pr.body
    assert gh.file_at(repo, S.research_review_branch, "program.md") == first.encode()
    assert gh.file_at(repo, "main", "program.md") == main_program  # nothing unreviewed on main
    assert out[1].quiet_until == "2026-03-02T06:17:00Z"

    # two hours later the next run finds one more item: the same PR is updated, the clock restarts
    second = render(tmp_path, [1, 2, 3, 4], sota=1.0611)
    out = run_at(T0 + timedelta(hours=2), forge, work, second)
    assert [o.action for o in out] == ["updated", "waiting"]
    assert len(research_prs(gh, repo)) == 1
    assert pr.title == "research: +3 (A 3); SOTA 1.2244 \u2192 1.0611"
    assert gh.file_at(repo, S.research_review_branch, "program.md") == second.encode()

    # meanwhile the research state moves on, on main (it is data; the next run must read it)
    gh.push(repo, "main", {"research/graded.jsonl": b'{"item_id": "arxiv:1"}\n{"item_id": "arxiv:4"}\n'})

    # 23 h after the update: same program.md, still quiet
    out = run_at(T0 + timedelta(hours=25), forge, work, second)
    assert [o.action for o in out] == ["unchanged", "waiting"]
    assert out[1].quiet_until == "2026-03-02T08:17:00Z"
    assert pr.state == "open"

    # 24 h after the update: merged, with a subject that still fits and names the PR
    out = run_at(T0 + timedelta(hours=26), forge, work, second)
    assert [o.action for o in out] == ["unchanged", "merged"]
    assert pr.merged and pr.state == "closed"
    assert gh.file_at(repo, "main", "program.md") == second.encode()
    # the state committed to main after the PR's base is kept by the merge
    assert gh.file_at(repo, "main", "research/graded.jsonl").count(b"\n") == 2
    subject = out[1].subject
    assert subject.endswith(f"(#{pr.number})") and len(subject) <= 72
    assert repo.commits[repo.branches["main"]].message == subject
    # the outcome is recorded for the dashboard and the state commit
    assert program_git.read_review_state(work, S)["action"] == "merged"

    # the next change reuses the standing branch with a new PR
    out = run_at(T0 + timedelta(hours=32), forge, work, render(tmp_path, [1, 2, 3, 4, 5], sota=1.0611))
    assert out[0].action == "opened" and out[0].pr != pr.number
    assert out[0].subject == "research: +1 (A 1)"


@pytest.mark.parametrize(("actor", "held"), [("maintainer", True), ("reader", False)])
def test_hold_label_from_a_maintainer_stops_the_merge(
    github_emu: GitHubEmulator,
    repo: Repo,
    forge: GitHubForge,
    work: Path,
    tmp_path: Path,
    actor: str,
    held: bool,
) -> None:
    text = render(tmp_path, [1, 5])
    run_at(T0, forge, work, text)
    (pr,) = research_prs(github_emu, repo)
    github_emu.label_issue(repo, pr.number, "hold", actor)
    out = run_at(T0 + timedelta(days=3), forge, work, text)
    if held:
        assert out[-1].action == "held" and "@maintainer added the `hold` label" in out[-1].reason
        assert not pr.merged and pr.state == "open"
        # removing the label lets the next run merge it
        github_emu.label_issue(repo, pr.number, "hold", "maintainer", remove=True)
        out = run_at(T0 + timedelta(days=3, hours=6), forge, work, text)
    # a label from someone without write permission does not count (the one trust function)
    assert out[-1].action == "merged" and pr.merged


def test_changes_requested_by_a_maintainer_is_respected(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    text = render(tmp_path, [1, 6])
    run_at(T0, forge, work, text)
    (pr,) = research_prs(github_emu, repo)
    github_emu.add_review(repo, pr.number, "reader", "CHANGES_REQUESTED")  # not a maintainer
    github_emu.add_review(repo, pr.number, "maintainer", "CHANGES_REQUESTED", body="not this paper")
    github_emu.add_review(repo, pr.number, "maintainer", "COMMENTED")  # a comment keeps the verdict
    out = run_at(T0 + timedelta(days=2), forge, work, text)
    assert out[-1].action == "held"
    assert "@maintainer requested changes" in out[-1].reason and "reader" not in out[-1].reason
    assert not pr.merged
    github_emu.add_review(repo, pr.number, "maintainer", "APPROVED")
    out = run_at(T0 + timedelta(days=2, hours=6), forge, work, text)
    assert out[-1].action == "merged" and pr.merged


def test_a_branch_someone_else_pushed_to_is_left_alone(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    run_at(T0, forge, work, render(tmp_path, [1, 7]))
    (pr,) = research_prs(github_emu, repo)
    human = github_emu.push(
        repo, S.research_review_branch, {"program.md": b"hand edit\n"}, author="maintainer"
    )
    out = run_at(T0 + timedelta(days=2), forge, work, render(tmp_path, [1, 7, 8]))
    assert [o.action for o in out] == ["blocked"]
    assert repo.branches[S.research_review_branch] == human and not pr.merged
    with pytest.raises(ForgeError, match="someone else pushed"):
        forge.put_branch_file(
            S.research_review_branch, "main", "program.md", b"x", "m", expected_head="0" * 40
        )


def test_nothing_to_review_opens_nothing_and_closes_a_stale_pr(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    same = github_emu.file_at(repo, "main", "program.md")
    assert same is not None
    out = run_at(T0, forge, work, same.decode())
    assert [o.action for o in out] == ["none"] and research_prs(github_emu, repo) == []
    run_at(T0, forge, work, render(tmp_path, [1, 9]))
    (pr,) = research_prs(github_emu, repo)
    out = run_at(T0 + timedelta(hours=6), forge, work, same.decode())
    assert [o.action for o in out] == ["closed"] and pr.state == "closed" and not pr.merged


def test_commit_mode_is_the_default_and_touches_nothing(
    github_emu: GitHubEmulator, repo: Repo, work: Path, tmp_path: Path
) -> None:
    (work / "program.md").write_text(render(tmp_path, [1, 2]))
    out = rr.run_review(None, work, Settings())
    assert [o.action for o in out] == ["off"]
    assert research_prs(github_emu, repo) == []
    assert not program_git.review_state_path(work, Settings()).exists()


def test_local_forge_review_mode(tmp_path: Path) -> None:
    """The same flow on the local forge (a plain git repository): branch, PR, hold, merge."""
    import subprocess

    from bot.forge.local import LocalForge

    root = tmp_path / "repo"
    root.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout

    git("init", "-q", "-b", "main")
    (root / "program.md").write_text(render(tmp_path, [1]))
    git("add", "program.md")
    git("commit", "-qm", "seed")
    forge = LocalForge(root, owner="maintainer")
    new = render(tmp_path, [1, 2])
    (root / "program.md").write_text(new)
    with clock.pinned(T0):
        out = rr.run_review(forge, root, S)
    assert [o.action for o in out] == ["opened", "waiting"]
    assert git("show", f"{S.research_review_branch}:program.md") == new
    assert git("show", "main:program.md") != new
    git("checkout", "-q", "--", "program.md")  # the working copy goes back to main's version
    (root / "program.md").write_text(new)
    number = out[0].pr
    assert number is not None
    forge.add_label(number, "hold", actor="maintainer")
    with clock.pinned(T0 + timedelta(days=2)):
        assert rr.run_review(forge, root, S)[-1].action == "held"
    forge.remove_label(number, "hold", actor="maintainer")
    forge.add_review(number, "stranger", "CHANGES_REQUESTED")  # no permission: does not count
    git("checkout", "-q", "-b", "scratch")  # (the local forge merges into a branch not checked out)
    (root / "program.md").write_text(new)
    with clock.pinned(T0 + timedelta(days=2)):
        out = rr.run_review(forge, root, S)
    assert [o.action for o in out] == ["unchanged", "merged"]
    assert git("show", "main:program.md") == new
    git("checkout", "-q", "--", "program.md")
    with clock.pinned(T0 + timedelta(days=2)):
        # the working copy is older than main now: a new research PR proposes it again
        assert rr.run_review(forge, root, S)[0].action == "opened"


def test_cli_review_writes_the_job_summary(
    github_emu: GitHubEmulator, repo: Repo, app_key: AppKey, work: Path, tmp_path: Path
) -> None:
    """`pgolf program review --step-summary` as research.yml runs it. CliRunner runs the CLI in
    this process, where the suite's pinned clock wins over $PGOLF_NOW: the instant is pinned here
    (a subprocess reads $PGOLF_NOW: tests/foundation/test_clock.py)."""
    import json

    from click.testing import CliRunner

    from bot.cli import cli
    from tests.forge.conftest import cli_env

    (work / "program.md").write_text(render(tmp_path, [1, 11], sota=1.0611))
    summary = tmp_path / "summary.md"
    env = cli_env(github_emu, app_key, GITHUB_STEP_SUMMARY=str(summary))
    args = ["--repo", str(work), "-c", "research_review=pr", "program", "review", "--step-summary", "--json"]
    with clock.pinned("2026-03-01T06:17:00Z"):
        r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 0, r.output
    outcomes = json.loads(r.output)
    assert [o["action"] for o in outcomes] == ["opened", "waiting"]
    assert outcomes[1]["quiet_until"] == "2026-03-02T06:17:00Z"
    text = summary.read_text()
    assert text.startswith("### Research pull request")
    assert f"[#{outcomes[0]['pr']}](https://github.com/{REPO}/pull/{outcomes[0]['pr']})" in text
    # commit mode (the default): the same step does nothing and writes no summary
    summary.unlink()
    r = CliRunner().invoke(cli, ["--repo", str(work), "program", "review", "--step-summary"], env=env)
    assert r.exit_code == 0 and r.output.startswith("off:") and not summary.exists()


def test_pr_body_fence_cannot_be_closed_by_a_title(tmp_path: Path) -> None:
    from bot import program_changes as pc

    before = render(tmp_path, [1])
    led = Ledger(tmp_path / "none.tsv", [], [], True)
    evil = GradedItem(
        item_id="arxiv:66", title="x ```` ![img](https://evil.example/t.png)", total=12, tier="A"
    )
    after = program.replace_sections(program.template(), program.build_sections(led, [evil], [], []), 1.2244)
    with clock.pinned(T0):
        body = rr.pr_body(pc.compare(before, after), "a" * 40, S)
    fence = "`" * 5
    assert body.count(f"\n{fence}\n") == 2 and f"\n{fence}\n</details>" in body  # open and close


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("research_review", "maybe"),
        ("research_review_quiet_hours", "-1"),
        ("research_review_quiet_hours", "1e9"),  # "never merge": a date past year 9999 would crash every run
        ("research_review_branch", "-x"),
    ],
)
def test_bad_review_settings_name_the_field(tmp_path: Path, key: str, value: str) -> None:
    from bot.config import load_settings
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        load_settings(tmp_path, env={}, overrides={key: value})


def test_a_fork_pr_from_a_branch_named_research_is_never_taken_for_the_research_pr(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """A fork author names their branch like the research branch and forges pgolf's mark (head =
    their own commit, stamped long ago), with this run's program.md plus a workflow of their own:
    the run must open its own research PR and never merge theirs."""
    text = render(tmp_path, [1, 12])
    sha = "f" * 40
    fork_pr = github_emu.add_pr(
        repo,
        files={"program.md": text.encode(), ".github/workflows/evil.yml": b"on: push\n"},
        head_ref=S.research_review_branch,
        head_repo="mallory/pgolf",
        author="mallory",
        head_sha=sha,
        title="research: +1 (A 1)",
        body=f"<!-- pgolf:research-pr head={sha} updated=2020-01-01T00:00:00Z -->",
    )
    out = run_at(T0, forge, work, text)
    assert not fork_pr.merged and fork_pr.state == "open"
    assert github_emu.file_at(repo, "main", ".github/workflows/evil.yml") is None
    assert out[0].action == "opened" and out[0].pr != fork_pr.number
    out = run_at(T0 + timedelta(days=2), forge, work, text)
    assert out[-1].action == "merged" and out[-1].pr != fork_pr.number and not fork_pr.merged
    assert github_emu.file_at(repo, "main", ".github/workflows/evil.yml") is None


def test_a_quiet_run_leaves_the_review_state_file_as_it_was(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """research/review.json is committed with the research state: a run whose outcome is the same
    as the last one (still waiting, same PR, same head) must not rewrite it, or every scheduled run
    would make a ledger commit although nothing changed."""
    text = render(tmp_path, [1, 13])
    run_at(T0, forge, work, text)
    path = program_git.review_state_path(work, S)
    first = path.read_bytes()
    out = run_at(T0 + timedelta(hours=6), forge, work, text)
    assert [o.action for o in out] == ["unchanged", "waiting"]
    assert path.read_bytes() == first
    # a different outcome is recorded
    github_emu.label_issue(repo, out[0].pr or 0, "hold", "maintainer")
    run_at(T0 + timedelta(days=2), forge, work, text)
    assert program_git.read_review_state(work, S)["action"] == "held"


def test_a_mangled_quiet_period_stamp_blocks_instead_of_crashing(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """A maintainer editing the PR body at 2 am can leave pgolf's mark with an impossible date: the
    run says the PR is left alone (and why) rather than failing with a traceback."""
    import re

    text = render(tmp_path, [1, 14])
    run_at(T0, forge, work, text)
    (pr,) = research_prs(github_emu, repo)
    pr.body = re.sub(r"updated=\S+ ", "updated=2026-13-45T99:00:00Z ", pr.body, count=1)
    out = run_at(T0 + timedelta(days=2), forge, work, text)
    assert out[-1].action == "blocked" and "2026-13-45T99:00:00Z" in out[-1].reason
    assert not pr.merged


def test_a_pr_someone_else_pushed_to_is_not_closed_when_main_catches_up(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """A maintainer pushed their own edit to the research PR; the next run's program.md happens to
    equal main's. Closing the PR would throw their work away (the run after that takes the branch
    over): it is left alone, like every PR with commits pgolf did not write."""
    run_at(T0, forge, work, render(tmp_path, [1, 15]))
    (pr,) = research_prs(github_emu, repo)
    human = github_emu.push(
        repo, S.research_review_branch, {"program.md": b"maintainer's version\n"}, author="maintainer"
    )
    same = github_emu.file_at(repo, "main", "program.md")
    assert same is not None
    out = run_at(T0 + timedelta(hours=6), forge, work, same.decode())
    assert [o.action for o in out] == ["blocked"]
    assert pr.state == "open" and repo.branches[S.research_review_branch] == human


def test_the_pr_body_stays_within_githubs_limit_whatever_the_urls(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """URLs are web text of any length and characters; GitHub refuses a PR body over 65,536
    characters, which would leave every later run unable to open or update the research PR."""
    led = Ledger(tmp_path / "none.tsv", [], [], True)

    def page(i: int) -> str:
        url = f"https://evil.example/{i}?" + "(" * 11500  # each "(" is three characters once encoded
        g = GradedItem(item_id=f"web:{i}", title=f"Page {i}", url=url, total=12, tier="A")
        return program.replace_sections(program.template(), program.build_sections(led, [g], [], []), 1.2244)

    github_emu.push(repo, "main", {"program.md": page(1).encode()})
    with clock.pinned(T0):
        body = rr.pr_body(pc.compare(page(1), page(2)), "a" * 40, S)
    assert len(body) <= rr.PR_BODY_LIMIT <= 65536
    assert body.startswith("<!-- pgolf:research-pr head=") and "| added | RESEARCH | Page 2 |" in body
    out = run_at(T0, forge, work, page(2))
    assert out[0].action == "opened"
    (pr,) = research_prs(github_emu, repo)
    assert "| removed | RESEARCH | Page 1 |" in pr.body


def test_a_hold_is_released_only_by_someone_who_may_set_it(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """Triage permission can add and remove labels but cannot merge: removing a maintainer's `hold`
    must not make the bot merge on their behalf. The hold stands until a maintainer lifts it."""
    github_emu.set_permission(repo, "triager", "triage")
    text = render(tmp_path, [1, 16])
    run_at(T0, forge, work, text)
    (pr,) = research_prs(github_emu, repo)
    github_emu.label_issue(repo, pr.number, "hold", "maintainer")
    github_emu.label_issue(repo, pr.number, "hold", "triager", remove=True)
    out = run_at(T0 + timedelta(days=3), forge, work, text)
    assert out[-1].action == "held" and "@maintainer" in out[-1].reason and not pr.merged
    # the triager adding it back and removing it again changes nothing either
    github_emu.label_issue(repo, pr.number, "hold", "triager")
    github_emu.label_issue(repo, pr.number, "hold", "triager", remove=True)
    assert run_at(T0 + timedelta(days=3, hours=1), forge, work, text)[-1].action == "held"
    # a maintainer lifting it (here: adding it back and removing it) releases it
    github_emu.label_issue(repo, pr.number, "hold", "maintainer")
    github_emu.label_issue(repo, pr.number, "hold", "maintainer", remove=True)
    out = run_at(T0 + timedelta(days=3, hours=2), forge, work, text)
    assert out[-1].action == "merged" and pr.merged


def _with_ledger(tmp: Path, items: list[int], rows: int) -> str:
    from bot.ledger import make_row

    led = Ledger(
        tmp / "r.tsv",
        [
            make_row(
                commit=f"abc{i:04d}",
                tier="local",
                val_bpb=1.3 - i / 1000,
                artifact_bytes=1,
                memory_gb=1.0,
                status="keep",
                description=f"exp {i}",
            )
            for i in range(rows)
        ],
        [],
        True,
    )
    sections = program.build_sections(led, [_graded(i) for i in items], [], [])
    return program.replace_sections(program.template(), sections, led.current_best_bpb() or 1.2244)


def test_ledger_rows_alone_do_not_restart_the_quiet_period(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """The experimenter adds ledger rows every few hours, and each one changes program.md's
    EXPERIMENTS section and SOTA line (the ledger's own data, already on the default branch). If
    that restarted the quiet period, the research PR would never be merged while experiments run."""
    out = run_at(T0, forge, work, _with_ledger(tmp_path, [1, 17], rows=1))
    assert out[0].action == "opened"
    (pr,) = research_prs(github_emu, repo)
    for h, rows in ((6, 2), (12, 3), (18, 4)):
        out = run_at(T0 + timedelta(hours=h), forge, work, _with_ledger(tmp_path, [1, 17], rows=rows))
        assert out[0].action == "updated" and out[-1].quiet_until == "2026-03-02T06:17:00Z"
    assert gh_text(github_emu, repo) == _with_ledger(tmp_path, [1, 17], rows=4)
    out = run_at(T0 + timedelta(hours=24), forge, work, _with_ledger(tmp_path, [1, 17], rows=5))
    assert [o.action for o in out] == ["updated", "merged"] and pr.merged
    # a new research item does restart it
    run_at(T0 + timedelta(hours=25), forge, work, _with_ledger(tmp_path, [1, 17, 18], rows=5))
    out = run_at(T0 + timedelta(hours=30), forge, work, _with_ledger(tmp_path, [1, 17, 18, 19], rows=5))
    assert out[0].action == "updated" and out[-1].quiet_until == "2026-03-03T12:17:00Z"  # T0 + 30 h + 24 h


def gh_text(gh: GitHubEmulator, repo: Repo) -> str:
    data = gh.file_at(repo, S.research_review_branch, "program.md")
    return (data or b"").decode()


def test_the_review_branch_cannot_be_the_default_branch(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """research_review_branch = "main" would rebuild the default branch itself with the unreviewed
    program.md: refused, naming the setting, before anything is written."""
    from dataclasses import replace

    main_before = repo.branches["main"]
    (work / "program.md").write_text(render(tmp_path, [1, 20]))
    with clock.pinned(T0), pytest.raises(ForgeError, match="research_review_branch"):
        rr.run_review(forge, work, replace(S, research_review_branch="main"))
    assert repo.branches["main"] == main_before


def test_a_research_pr_turned_into_a_draft_is_held_not_failed(
    github_emu: GitHubEmulator, repo: Repo, forge: GitHubForge, work: Path, tmp_path: Path
) -> None:
    """Converting the PR to a draft is a maintainer's natural "not yet" (only people with write
    access can); GitHub refuses to merge a draft, so trying would fail every run."""
    text = render(tmp_path, [1, 21])
    run_at(T0, forge, work, text)
    (pr,) = research_prs(github_emu, repo)
    pr.draft = True
    out = run_at(T0 + timedelta(days=2), forge, work, text)
    assert out[-1].action == "held" and "draft" in out[-1].reason and not pr.merged
    with pytest.raises(ForgeError, match="draft"):  # the emulator refuses like GitHub does
        forge.merge_pr(pr.number, pr.head_sha, "x")
    pr.draft = False
    assert run_at(T0 + timedelta(days=2, hours=1), forge, work, text)[-1].action == "merged"
