"""One sticky comment per PR, whichever identity posts: the experiment job (GITHUB_TOKEN, as
github-actions[bot]), the promotion and the commands (the App) — found by the hidden marker AND
an author among pgolf's identities, never by a pasted marker."""

from __future__ import annotations

import json
from pathlib import Path

from bot.budget import init as budget_init
from bot.compute.notify import ForgeReporter
from bot.compute.outcome import PromoteResult, SeedResult
from bot.config import Settings
from bot.forge import sticky
from bot.forge.dispatch import report_local_result
from bot.forge.github import GitHubForge
from bot.ledger import Ledger
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import REPO, AppKey, app_env, comment_event
from tests.forge.test_dispatch import run_cli

FAST = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)


def ours(gh: GitHubEmulator) -> list[str]:
    ids = {"pgolf-bot[bot]", "github-actions[bot]"}
    return [c.body for c in gh.comments_on(REPO, 7) if c.user in ids and sticky.MARKER in c.body]


def test_experiment_promote_and_command_paths_share_one_sticky(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, tmp_path: Path
) -> None:
    gh = github_emu
    gh.set_permission(seeded, "github-actions[bot]", "write")  # GITHUB_TOKEN with pull-requests: write
    pasted = gh.add_comment(REPO, 7, f"{sticky.MARKER}\n## pgolf\nval_bpb 0.5 (fake)", user="mallory")
    root = tmp_path / "repo"
    root.mkdir()
    Ledger.init(root / "results.tsv")
    budget_init(root / "budget.json", FAST)

    # 1. the experiment workflow: the job's GITHUB_TOKEN (no App in that job)
    actions_env = {
        "GITHUB_API_URL": gh.url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": gh.add_token("github-actions[bot]"),
        "GITHUB_ACTIONS": "true",
    }
    experiment = GitHubForge.from_env(FAST, actions_env)
    assert experiment.bot_login == "github-actions[bot]"
    head = seeded.issues[7].head_sha
    report_local_result(
        experiment, FAST, 7, sticky.LocalResult(sha=head, val_bpb=1.2345, decision="promote-candidate")
    )
    assert len(ours(gh)) == 1 and "1.2345" in ours(gh)[0]

    # 2. the promotion, as the App
    app = GitHubForge.from_env(FAST, app_env(gh, app_key))
    result = PromoteResult("pr7-aaaaaaa-1", 7, head, "runpod", "keep", cost_usd=3.5, val_bpb=1.2001)
    result.seeds = [SeedResult(seed=1, rc=0, log="x", val_bpb=1.2001)]
    reporter = ForgeReporter(app, 7, approved_by="maintainer")
    reporter.progress(result, "running", "pod booting")
    reporter.final(result, Ledger.load(root / "results.tsv"))

    # 3. a command (/status) through `pgolf command run`, as the App
    res = run_cli(gh, app_key, root, comment_event("/status"))
    assert res.exit_code == 0, res.output
    assert "refreshed sticky comment" in json.loads(res.output)["actions"]

    stickies = ours(gh)
    assert len(stickies) == 1  # the figure: sticky comments per PR
    body = stickies[0]
    assert "1.2345" in body and "1.2001" in body and "$3.50" in body  # every path's section
    assert gh.comments_on(REPO, 7)[0].body == pasted.body  # the pasted marker was never edited
    assert "(fake)" not in body


def test_a_pasted_marker_alone_never_counts(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    gh = github_emu
    gh.add_comment(REPO, 7, f"{sticky.MARKER} by a human", user="maintainer")  # even a maintainer
    app = GitHubForge.from_env(FAST, app_env(gh, app_key))
    assert sticky.find_sticky(app, 7) is None
    made = sticky.upsert_sticky(app, 7, "local", "x")
    assert sticky.find_sticky(app, 7) is not None and sticky.find_sticky(app, 7).id == made.id  # type: ignore[union-attr]
    ids = sticky.pgolf_identities(app, {"GH_APP_SLUG": "other-app"})
    assert ids == {"pgolf-bot[bot]", "github-actions[bot]", "other-app[bot]"}
