"""The 'pgolf alerts' issue: reaper failures, overruns, reaper-settled promotions and
booked-vs-RunPod differences reach a maintainer outside any PR (GitHub and RunPod emulators)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import alerts
from bot import budget as budget_mod
from bot.cli import cli
from bot.compute.provider import PodSpec
from tests.compute.conftest import Repo, make_settings, provider
from tests.emulators.github import GitHubEmulator
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer
from tests.forge.conftest import AppKey, make_key

REPO = "golfer/pg"


@pytest.fixture(scope="module")
def key() -> AppKey:
    return make_key()


@pytest.fixture
def gh(key: AppKey) -> Iterator[GitHubEmulator]:
    with GitHubEmulator() as g:
        r = g.add_repo(REPO, files={"README.md": b"x\n"})
        g.add_app(4242, key.public_pem, slug="pgolf-bot", installations=[77], repos=[r])
        yield g


def env_for(gh: GitHubEmulator, key: AppKey, rp: RunPodEmulator) -> dict[str, str]:
    return {
        "GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": REPO, "GH_APP_ID": "4242",
        "GH_APP_PRIVATE_KEY": key.private_pem, "GH_APP_SLUG": "pgolf-bot", "PGOLF_FORGE": "github",
        "PGOLF_GITHUB_SECONDS_BETWEEN_REQUESTS": "0", "PGOLF_GITHUB_SECONDS_BETWEEN_WRITES": "0",
        "GITHUB_ACTIONS": "", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "9",
    }  # fmt: skip


def alert_issues(gh: GitHubEmulator) -> list:  # type: ignore[type-arg]
    return [i for i in gh.repos[REPO].issues.values() if alerts.LABEL in i.labels and not i.is_pr]


def test_reaper_alerts_open_one_issue_then_comment_on_it(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path, gh: GitHubEmulator, key: AppKey
) -> None:
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    gh.add_pr(REPO, 4, head_ref="exp/x", files={"README.md": b"y\n"}, author="alice")
    # someone pasted a look-alike issue: it is not ours and must stay untouched
    gh.add_issue(REPO, alerts.TITLE, f"{alerts.MARKER} fake", author="mallory", labels=[alerts.LABEL])
    past = datetime.now(UTC) - timedelta(hours=3)
    path = repo.root / "budget.json"
    # an open, committed reservation whose runner died: its pod overran the tiny reservation
    budget_mod.reserve(path, s, "dead-1", 0.001, pr=4, sha=repo.sha, now=past,
                       deadline=past + timedelta(minutes=10), provider="runpod")  # fmt: skip
    overrun_pod = p.create(PodSpec("dead-1", 8, "NVIDIA H100 80GB HBM3", "img", "SECURE", time.time() + 600))
    budget_mod.set_pod(path, s, "dead-1", overrun_pod.id)
    leak = p.create(PodSpec("leak-1", 8, "NVIDIA H100 80GB HBM3", "img", "SECURE", time.time() + 600))
    emu.extra_spend_per_hr = 7.5  # e.g. a network volume nobody books
    time.sleep(1.2)
    env = env_for(gh, key, emu)
    r = CliRunner().invoke(cli, ["--repo", str(repo.root), "-c", f"pod_ssh_user={s.pod_ssh_user}",
                                 "pods", "reap", "--alerts", "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    kinds = {a["kind"] for a in report["alerts"]["alerts"]}
    assert kinds == {"overrun", "reaper-settled", "booked-vs-runpod"}, report["alerts"]
    ours = [i for i in alert_issues(gh) if i.user == "pgolf-bot[bot]"]
    assert len(ours) == 1 and report["alerts"]["created"] and ours[0].number == report["alerts"]["issue"]
    body = ours[0].body
    assert (
        "no open reservation for run leak-1" in body and "something outside budget.json is spending" in body
    )
    assert "run dead-1 cost $" in body and "bills $" in body and "actions/runs/9" in body
    assert leak.id in body
    # the PR whose runner died hears of it in its sticky comment, overrun in bold
    pr_comments = [c for c in gh.comments_on(REPO, 4) if c.user == "pgolf-bot[bot]"]
    assert len(pr_comments) == 1 and "**OVERRUN: $" in pr_comments[0].body
    assert "the reaper terminated what was left" in pr_comments[0].body
    fake = next(i for i in alert_issues(gh) if i.user == "mallory")
    assert gh.comments_on(REPO, fake.number) == []

    # the next tick: the leak is still there -> one comment on the same issue, no second issue
    r = CliRunner().invoke(cli, ["--repo", str(repo.root), "-c", f"pod_ssh_user={s.pod_ssh_user}",
                                 "pods", "reap", "--alerts", "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert len([i for i in alert_issues(gh) if i.user == "pgolf-bot[bot]"]) == 1
    comments = gh.comments_on(REPO, ours[0].number)
    assert len(comments) == 1 and "booked-vs-runpod" in comments[0].body and leak.id in comments[0].body
    # the run's money is booked (an overrun, marked) and the overrun blocks nothing silently
    b = budget_mod.load(path, s)
    assert [x.run_id for x in b.runs] == ["dead-1"] and b.runs[0].overrun and b.reservations == []

    # a failed job's last step raises an alert of its own
    r = CliRunner().invoke(cli, ["--repo", str(repo.root), "alerts", "raise", "--kind", "reaper-failure",
                                 "--message", "reaper job failed: exit 1", "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "reaper job failed" in gh.comments_on(REPO, ours[0].number)[-1].body


def test_alerts_without_issues_go_to_a_file(tmp_path: Path) -> None:
    out = alerts.raise_alerts(None, [alerts.Alert("overrun", "run x <b>")], tmp_path)
    assert out.issue is None and out.fallback == str(tmp_path / "alerts.md")
    assert "run x &lt;b&gt;" in (tmp_path / "alerts.md").read_text()
    assert alerts.raise_alerts(None, [], tmp_path).fallback == ""  # nothing to say, nothing written


def test_the_kill_switch_stops_every_paid_pod_now(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    from bot.compute.reaper import reap

    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    path = repo.root / "budget.json"
    now = datetime.now(UTC)
    budget_mod.reserve(path, s, "live-1", 5.0, pr=2, sha=repo.sha, now=now,
                       deadline=now + timedelta(hours=1), provider="runpod")  # fmt: skip
    pod = p.create(PodSpec("live-1", 8, "NVIDIA H100 80GB HBM3", "img", "SECURE", time.time() + 3600))
    budget_mod.set_pod(path, s, "live-1", pod.id)
    time.sleep(1.1)
    calm = reap(repo.root, s, p)
    assert calm.actions == [] and calm.pending == ["live-1"] and len(emu.alive()) == 1
    budget_mod.pause(path, s, "maintainer", "runaway")
    stopped = reap(repo.root, s, p)
    assert [a.reason for a in stopped.actions] == [
        "reservation live-1: kill switch on (paused by maintainer)"
    ]
    assert emu.alive() == [] and stopped.ok
    b = budget_mod.load(path, s)
    assert b.reservations == [] and b.runs[0].run_id == "live-1" and b.runs[0].cost_usd > 0
