"""The job-level `if:` of promote.yml and commands.yml, evaluated on the payloads the GitHub
emulator builds: an outsider's comment never starts a job (so it never enters, or cancels
anything in, a concurrency group); a collaborator's does; pgolf's own trust check still refuses
what slips through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.forge.dispatch import run_event
from bot.forge.events import parse_payload
from bot.forge.github import GitHubForge
from tests.emulators.actions_expr import evaluate, job_runs
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import AppKey, app_env
from tests.forge.test_workflows import WORKFLOWS, load

FAST = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)


def condition(name: str) -> str:
    """The `if:` of the workflow's entry job (promote.yml's plan; every later job needs it)."""
    job = next(iter(load(WORKFLOWS / name)["jobs"].values()))
    return str(job["if"])


def ctx(event_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"github": {"event_name": event_name, "event": payload}}


def test_the_evaluator_reads_github_semantics() -> None:
    c = {"github": {"event": {"labels": [{"name": "a"}, {"name": "Promote"}]}, "x": ""}}
    assert evaluate("contains(github.event.labels.*.name, 'promote')", c) is True
    assert evaluate("github.x || 'dflt'", c) == "dflt" and evaluate("!github.x && 'y'", c) == "y"
    assert evaluate("contains(fromJSON('[\"OWNER\", \"MEMBER\"]'), 'member')", c) is True
    assert evaluate("startsWith('/promote abc', '/promote') && 1 == 1", c) is True


@pytest.mark.parametrize(
    ("user", "level", "body", "promote", "commands"),
    [
        ("maintainer", "maintain", "/promote " + "a" * 40, True, False),
        ("maintainer", "maintain", "/status", False, True),
        ("outsider", None, "/promote " + "a" * 40, False, False),  # NONE: no job at all
        ("outsider", None, "please /promote this", False, False),
        ("reader", "read", "/status", False, False),  # CONTRIBUTOR-less reader: association NONE
        ("maintainer", "maintain", "LGTM, /promote later", False, False),  # not on the first character
    ],
)
def test_who_starts_a_job(
    github_emu: GitHubEmulator,
    seeded: Repo,
    user: str,
    level: str | None,
    body: str,
    promote: bool,
    commands: bool,
) -> None:
    if level is None:
        github_emu.add_user(user)
    comment = github_emu.add_comment(seeded, 7, body, user=user)
    payload = github_emu.comment_payload(seeded, comment)
    assert job_runs(condition("promote.yml"), ctx("issue_comment", payload)) is promote
    assert job_runs(condition("commands.yml"), ctx("issue_comment", payload)) is commands


def test_bot_comments_and_outsider_fork_authors_never_start_a_job(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, tmp_path: Path
) -> None:
    github_emu.add_user("renovate[bot]", type="Bot")
    github_emu.set_permission(seeded, "renovate[bot]", "write")
    bot = github_emu.add_comment(seeded, 7, "/promote " + "a" * 40, user="renovate[bot]")
    payload = github_emu.comment_payload(seeded, bot)
    assert payload["comment"]["author_association"] == "COLLABORATOR"
    assert not job_runs(condition("promote.yml"), ctx("issue_comment", payload))
    # A fork author comments on their own PR: the association is CONTRIBUTOR at best.
    github_emu.add_pr(seeded, 12, head_ref="exp/fork", head_repo="mallory/parameter-golf", author="mallory")
    own = github_emu.add_comment(seeded, 12, "/promote " + "b" * 40, user="mallory")
    payload = github_emu.comment_payload(seeded, own)
    assert payload["comment"]["author_association"] not in ("OWNER", "MEMBER", "COLLABORATOR")
    assert not job_runs(condition("promote.yml"), ctx("issue_comment", payload))
    # Defense in depth: were the filter bypassed, pgolf's permission check still refuses.
    forge = GitHubForge.from_env(FAST, app_env(github_emu, app_key))
    out = run_event(parse_payload(payload, "issue_comment"), forge, FAST, tmp_path)
    assert not out.allowed and "only repository collaborators" in out.reason


def test_label_and_synchronize_conditions(github_emu: GitHubEmulator, seeded: Repo) -> None:
    label = {"action": "labeled", "label": {"name": "promote"}, "pull_request": {"number": 7, "labels": []}}
    assert job_runs(condition("promote.yml"), ctx("pull_request_target", label))
    assert not job_runs(condition("promote.yml"), ctx("pull_request", label))  # a PR's own file never runs it
    sync = {"action": "synchronize", "pull_request": {"number": 7, "labels": [{"name": "promote"}]}}
    assert job_runs(condition("commands.yml"), ctx("pull_request_target", sync))
    sync["pull_request"]["labels"] = []
    assert not job_runs(condition("commands.yml"), ctx("pull_request_target", sync))
