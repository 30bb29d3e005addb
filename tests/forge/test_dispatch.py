"""`pgolf command run` and run_event against the GitHub emulator: every command and every refusal."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.budget import init as budget_init
from bot.cli import cli
from bot.config import Settings
from bot.errors import ComputeError, TrustError
from bot.forge.dispatch import run_event
from bot.forge.events import parse_payload
from bot.forge.github import GitHubForge
from bot.forge.sticky import MARKER
from bot.ledger import Ledger
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import (
    REPO,
    AppKey,
    app_env,
    append_local_row,
    cli_env,
    comment_event,
    label_event,
    sync_event,
    write_event,
)

FAST = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    Ledger.init(r / "results.tsv")
    budget_init(r / "budget.json", FAST)
    return r


def run_cli(gh: GitHubEmulator, key: AppKey, root: Path, payload: dict[str, Any], *extra: str) -> Result:
    event = write_event(root.parent / "event.json", payload)
    env = cli_env(gh, key)
    return CliRunner().invoke(
        cli, ["--repo", str(root), "command", "run", "--event", str(event), "--json", *extra], env=env
    )


def bodies(gh: GitHubEmulator) -> list[str]:
    return [c.body for c in gh.comments_on(REPO, 7)]


@pytest.mark.parametrize("association", ["NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"])
def test_untrusted_association_is_refused_before_any_permission_call(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path, association: str
) -> None:
    res = run_cli(
        github_emu, app_key, root, comment_event("/promote", user="mallory", association=association)
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["allowed"] is False and association in out["reason"]
    assert not github_emu.requests_to("GET", "/permission")
    assert len(bodies(github_emu)) == 1 and "was not run" in bodies(github_emu)[0]
    assert "promote" not in seeded.issues[7].labels


def test_reader_with_member_association_is_refused_by_permission(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    res = run_cli(github_emu, app_key, root, comment_event("/promote", user="reader", association="MEMBER"))
    out = json.loads(res.output)
    assert out["allowed"] is False and "read permission" in out["reason"]
    assert len(github_emu.requests_to("GET", "/collaborators/reader/permission")) == 1
    assert "write, maintain or admin is required" in bodies(github_emu)[0]


@pytest.mark.parametrize(
    "payload",
    [
        comment_event("/promote", action="edited"),
        comment_event("/promote", on_pr=False),
        comment_event("/promote", user="pgolf-bot[bot]", user_type="Bot"),
        comment_event("just a comment"),
    ],
    ids=["edited", "issue", "bot", "no-command"],
)
def test_silent_refusals(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path, payload: dict[str, Any]
) -> None:
    res = run_cli(github_emu, app_key, root, payload)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["allowed"] is False
    assert bodies(github_emu) == []  # no reply to bots, edits, issues or chatter
    assert not github_emu.requests_to("GET", "/permission")


def test_help_budget_status_retrain(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    head = seeded.issues[7].head_sha
    append_local_row(root, "base000", 1.30, "baseline seed 1")
    append_local_row(root, head[:7], 1.25, "rope", artifact_bytes=15_000_000)
    res = run_cli(github_emu, app_key, root, comment_event("/help", user="writer"))
    assert json.loads(res.output)["actions"] == ["replied with help"]
    assert "/promote <head sha> [seeds=N]" in bodies(github_emu)[-1]
    res = run_cli(github_emu, app_key, root, comment_event("/budget", user="writer"))
    assert "$500.00" in bodies(github_emu)[-1] and "reserve floor" in bodies(github_emu)[-1]
    res = run_cli(github_emu, app_key, root, comment_event("/status", user="writer"))
    assert json.loads(res.output)["allowed"] is True
    sticky = [b for b in bodies(github_emu) if MARKER in b]
    assert len(sticky) == 1 and "1.2500" in sticky[0] and "15,000,000 B" in sticky[0]
    run_cli(github_emu, app_key, root, comment_event("/status", user="writer"))
    assert len([b for b in bodies(github_emu) if MARKER in b]) == 1  # edited in place, not duplicated
    res = run_cli(github_emu, app_key, root, comment_event("/retrain", user="maintainer"))
    assert "retrain" in seeded.issues[7].labels


def test_abort_calls_the_promotion_module(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    res = run_cli(github_emu, app_key, root, comment_event("/abort", user="maintainer"), "-c")
    # "-c" is not an option of `command run`: make sure bad usage is a usage error, not an action
    assert res.exit_code == 2
    event = write_event(root.parent / "abort.json", comment_event("/abort", user="maintainer"))
    env = cli_env(github_emu, app_key, PGOLF_POD_PROVIDER="local")
    res = CliRunner().invoke(cli, ["--repo", str(root), "command", "run", "--event", str(event)], env=env)
    assert res.exit_code == 0, res.output
    assert "no running promotion" in bodies(github_emu)[0]
    assert not [b for b in bodies(github_emu) if MARKER in b]  # nothing stopped: no "aborted" state


def test_skip_and_only(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path) -> None:
    res = run_cli(
        github_emu, app_key, root, comment_event("/promote", user="maintainer"), "--skip", "promote"
    )
    assert json.loads(res.output)["skipped"] is True
    res = run_cli(github_emu, app_key, root, comment_event("/help", user="maintainer"), "--only", "promote")
    assert json.loads(res.output)["skipped"] is True
    assert bodies(github_emu) == [] and not github_emu.requests_to("GET", "/permission")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kw: Any) -> Any:
        self.calls.append(kw)
        return None


def forge_for(gh: GitHubEmulator, key: AppKey) -> GitHubForge:
    return GitHubForge.from_env(FAST, app_env(gh, key))


def test_promote_comment_binds_the_current_head(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    hook = Recorder()
    head = seeded.issues[7].head_sha
    forge = forge_for(github_emu, app_key)
    # A bare /promote starts nothing: it replies with the exact command for the current head.
    bare = run_event(
        parse_payload(comment_event("/promote seeds=3"), "issue_comment"),
        forge,
        FAST,
        root,
        promote_hook=hook,
    )
    assert not bare.allowed and hook.calls == []
    assert f"/promote {head} seeds=3" in bodies(github_emu)[-1]
    ev = parse_payload(comment_event(f"/promote {head.upper()} seeds=3", user="maintainer"), "issue_comment")
    out = run_event(ev, forge, FAST, root, promote_hook=hook)
    assert out.allowed and out.reason == "maintainer has maintain permission"
    (call,) = hook.calls
    assert call["sha"] == seeded.issues[7].head_sha and call["seeds"] == 3 and call["pr"] == 7
    assert call["trust"].allowed and call["trust"].sha == call["sha"] and call["trust"].actor == "maintainer"
    sticky = [b for b in bodies(github_emu) if MARKER in b]
    assert len(sticky) == 1 and "approved" in sticky[0] and "@maintainer" in sticky[0]


def test_promote_label_by_writer_runs_and_by_reader_is_removed(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    head = seeded.issues[7].head_sha
    hook = Recorder()
    forge = forge_for(github_emu, app_key)
    out = run_event(
        parse_payload(label_event("promote", head, sender="writer"), "pull_request_target"),
        forge,
        FAST,
        root,
        promote_hook=hook,
    )
    assert out.allowed and hook.calls[0]["sha"] == head
    seeded.issues[7].labels.append("promote")
    out = run_event(
        parse_payload(label_event("promote", head, sender="reader"), "pull_request"),
        forge,
        FAST,
        root,
        promote_hook=hook,
    )
    assert not out.allowed and len(hook.calls) == 1
    assert "promote" not in seeded.issues[7].labels
    assert "does not count" in bodies(github_emu)[-1] and "@reader" in bodies(github_emu)[-1]


def test_moved_head_refuses_and_removes_label(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    approved = seeded.issues[7].head_sha
    seeded.issues[7].labels.append("promote")
    new_head = github_emu.move_head(seeded, 7, {"training/train_gpt.py": b"x = 666\n"})
    hook = Recorder()
    ev = parse_payload(label_event("promote", approved, sender="maintainer"), "pull_request")
    with pytest.raises(TrustError, match="head moved"):
        run_event(ev, forge_for(github_emu, app_key), FAST, root, promote_hook=hook)
    assert hook.calls == []
    assert "promote" not in seeded.issues[7].labels
    explanation = next(b for b in bodies(github_emu) if "refused" in b)
    assert approved[:12] in explanation and new_head[:12] in explanation


def test_synchronize_removes_a_stale_promote_label(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    seeded.issues[7].labels.append("promote")
    new_head = github_emu.move_head(seeded, 7, {"training/train_gpt.py": b"x = 5\n"})
    # commands.yml receives it as pull_request_target (the default branch's copy of the file runs)
    res = run_cli(
        github_emu, app_key, root, sync_event(new_head, ["promote"]), "--event-name", "pull_request_target"
    )
    out = json.loads(res.output)
    assert out["actions"] == ["removed label promote"]
    assert (
        "promote" not in seeded.issues[7].labels
        and "New commits need a new approval" in bodies(github_emu)[0]
        and new_head[:12] in bodies(github_emu)[0]
    )
    res = run_cli(github_emu, app_key, root, sync_event(new_head, []))
    assert json.loads(res.output)["actions"] == [] and len(bodies(github_emu)) == 1


def test_own_app_label_with_auto_promote(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    head = seeded.issues[7].head_sha
    hook = Recorder()
    ev = parse_payload(
        label_event("promote", head, sender="pgolf-bot[bot]", sender_type="Bot"), "pull_request"
    )
    forge = forge_for(github_emu, app_key)
    assert not run_event(ev, forge, FAST, root, promote_hook=hook).allowed
    out = run_event(ev, forge, replace(FAST, auto_promote=True), root, promote_hook=hook)
    assert out.allowed and len(hook.calls) == 1
    imposter = parse_payload(
        label_event("promote", head, sender="evil[bot]", sender_type="Bot"), "pull_request"
    )
    assert not run_event(imposter, forge, replace(FAST, auto_promote=True), root, promote_hook=hook).allowed
    assert len(hook.calls) == 1


def test_local_result_command(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path) -> None:
    head = seeded.issues[7].head_sha
    seeded.issues[7].labels.append("retrain")
    result = root.parent / "local.json"
    result.write_text(
        json.dumps(
            {
                "val_bpb": 1.2,
                "baseline": 1.3,
                "noise_floor": 0.002,
                "outcome": "qualifies",
                "status": "keep",
                "artifact": {"total_bytes": 15_500_000},
            }
        )
    )
    env = cli_env(github_emu, app_key)
    args = [
        "--repo",
        str(root),
        "command",
        "local-result",
        "--pr",
        "7",
        "--sha",
        head,
        "--result",
        str(result),
        "--json",
    ]
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    assert seeded.issues[7].labels == ["promote-candidate"]
    assert seeded.statuses[head][0]["state"] == "success"
    sticky = bodies(github_emu)[0]
    assert "1.2000" in sticky and "-7.69 %" in sticky and "500,000 B" in sticky
    result.write_text("")  # the run crashed before writing anything
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    assert seeded.issues[7].labels == [] and seeded.statuses[head][0]["state"] == "error"
    assert len(bodies(github_emu)) == 1 and "crash" in bodies(github_emu)[0]


def test_default_promotion_entry_point_is_wired(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    """The real bot.compute.promote is called with our arguments (through the entry point that
    `pgolf command run` hands in: the forge sits below compute); it refuses (the approved commit
    is not in this folder's git history) before anything is reserved or started."""
    from bot.compute.promote import promote_for_event
    from bot.errors import InputError

    head = seeded.issues[7].head_sha
    ev = parse_payload(comment_event(f"/promote {head}", user="maintainer"), "issue_comment")
    with pytest.raises(InputError, match="commit"):
        run_event(
            ev,
            forge_for(github_emu, app_key),
            replace(FAST, pod_provider="local"),
            root,
            promote_hook=promote_for_event,
        )
    assert json.loads((root / "budget.json").read_text())["reservations"] == []
    sticky = next(b for b in bodies(github_emu) if MARKER in b)
    assert "failed" in sticky


def test_open_forge_auto(tmp_path: Path, github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey) -> None:
    from bot.errors import ForgeError
    from bot.forge import open_forge
    from bot.forge.local import LocalForge

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert isinstance(open_forge(FAST, tmp_path, {}), LocalForge)
    assert isinstance(open_forge(FAST, tmp_path, app_env(github_emu, app_key)), GitHubForge)
    assert isinstance(
        open_forge(replace(FAST, forge="local"), tmp_path, app_env(github_emu, app_key)), LocalForge
    )
    with pytest.raises(ForgeError, match="not a git repository"):
        open_forge(FAST, tmp_path / "nowhere", {})


def test_workflow_dispatch_checks_the_dispatcher(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    head = seeded.issues[7].head_sha
    hook = Recorder()
    forge = forge_for(github_emu, app_key)
    payload = {
        "inputs": {"pr": "7", "sha": head, "seeds": "2"},
        "repository": {"full_name": REPO},
        "sender": {"login": "writer", "type": "User"},
    }
    out = run_event(parse_payload(payload, "workflow_dispatch"), forge, FAST, root, promote_hook=hook)
    assert out.allowed and hook.calls[0]["sha"] == head and hook.calls[0]["seeds"] == 2
    payload["sender"] = {"login": "reader", "type": "User"}
    out = run_event(parse_payload(payload, "workflow_dispatch"), forge, FAST, root, promote_hook=hook)
    assert not out.allowed and len(hook.calls) == 1


def test_abort_with_a_running_promotion(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    calls: list[dict[str, Any]] = []

    def abort_hook(**kw: Any) -> list[str]:
        calls.append(kw)
        return ["pr7-abcdef0-20260101000000"]

    ev = parse_payload(comment_event("/abort", user="writer"), "issue_comment")
    out = run_event(ev, forge_for(github_emu, app_key), FAST, root, abort_hook=abort_hook)
    assert out.actions == ["aborted 1 run(s)"] and calls[0]["pr"] == 7
    sticky = next(b for b in bodies(github_emu) if MARKER in b)
    assert "**aborted**" in sticky and "pr7-abcdef0" in sticky
    ev = parse_payload(comment_event("/abort", user="reader"), "issue_comment")
    assert not run_event(ev, forge_for(github_emu, app_key), FAST, root, abort_hook=abort_hook).allowed
    assert len(calls) == 1


def test_abort_without_an_entry_point_is_refused_not_looked_up(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    ev = parse_payload(comment_event("/abort", user="writer"), "issue_comment")
    with pytest.raises(ComputeError, match="abort_hook"):
        run_event(ev, forge_for(github_emu, app_key), FAST, root)


def run_local(lab: Path, event: Path) -> Result:
    return CliRunner().invoke(
        cli,
        ["--repo", str(lab), "command", "run", "--event", str(event), "--json"],
        env={"PGOLF_FORGE": "local"},
    )


def test_commands_run_offline_on_the_local_forge(tmp_path: Path) -> None:
    """No GitHub at all: branches are experiments, the sticky comment lives in .pgolf/forge.json."""
    from bot.forge.local import LocalForge

    lab = tmp_path / "lab"
    subprocess.run(["git", "init", "-q", "-b", "main", str(lab)], check=True)
    Ledger.init(lab / "results.tsv")
    budget_init(lab / "budget.json", FAST)
    subprocess.run(["git", "-C", str(lab), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(lab), "commit", "-qm", "init"], check=True)
    subprocess.run(["git", "-C", str(lab), "branch", "exp/rope"], check=True)
    forge = LocalForge(lab)
    pr = forge.open_pr("exp/rope", "main", "RoPE", "")
    forge.set_permission("maintainer", "write")
    event = write_event(tmp_path / "e.json", comment_event("/budget", user="maintainer", number=pr.number))
    res = run_local(lab, event)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["actions"] == ["replied with budget"]
    assert "reserve floor" in forge.list_comments(pr.number)[-1].body
    event = write_event(tmp_path / "e2.json", comment_event("/budget", user="stranger", number=pr.number))
    res = run_local(lab, event)
    assert (
        json.loads(res.output)["allowed"] is False and "none permission" in json.loads(res.output)["reason"]
    )


def test_promote_then_push_trains_nothing(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    """`/promote <sha>` approves that commit only: a push before the queued job starts refuses it."""

    hook = Recorder()
    approved = seeded.issues[7].head_sha
    ev = parse_payload(comment_event(f"/promote {approved}"), "issue_comment")
    new_head = github_emu.move_head(seeded, 7, {"training/train_gpt.py": b"x = 666\n"})
    with pytest.raises(TrustError, match="head moved"):
        run_event(ev, forge_for(github_emu, app_key), FAST, root, promote_hook=hook)
    assert hook.calls == []
    assert f"approval was for `{approved[:12]}`" in bodies(github_emu)[-1]
    assert new_head[:12] in bodies(github_emu)[-1]


@pytest.mark.parametrize(
    "body", ["/promote seeds=\u00b2", "/promote seeds=99", "/promote HEAD", "/abort now"]
)
def test_bad_arguments_get_a_reply_and_run_nothing(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path, body: str
) -> None:
    hook = Recorder()
    out = run_event(
        parse_payload(comment_event(body), "issue_comment"),
        forge_for(github_emu, app_key),
        FAST,
        root,
        promote_hook=hook,
    )
    assert not out.allowed and hook.calls == []
    reply = bodies(github_emu)[-1]
    assert "was not run" in reply and ("accepted" in reply or "takes no arguments" in reply)


def test_hold_label_event_is_decided_by_the_trust_function_and_runs_nothing(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path
) -> None:
    """The research PR's `hold` label goes through THE trust function like every command; as a
    webhook it is a no-op (the research run reads it), never a crash or a refusal comment."""
    from bot.forge.events import Event, authorize

    head = seeded.issues[7].head_sha
    hook = Recorder()
    forge = forge_for(github_emu, app_key)
    before = len(bodies(github_emu))
    out = run_event(
        parse_payload(label_event("hold", head, sender="writer"), "pull_request"),
        forge,
        FAST,
        root,
        promote_hook=hook,
    )
    assert out.allowed and out.command == "hold" and out.actions == [] and hook.calls == []
    out = run_event(
        parse_payload(label_event("hold", head, sender="reader"), "pull_request"),
        forge,
        FAST,
        root,
        promote_hook=hook,
    )
    assert not out.allowed and "read permission" in out.reason
    assert len(bodies(github_emu)) == before  # no refusal comment, the label is left alone
    bot = parse_payload(label_event("hold", head, sender="other[bot]", sender_type="Bot"), "pull_request")
    assert not authorize(bot, forge, FAST).allowed
    review = Event("pull_request_review", "submitted", REPO, 7, True, "maintainer", "User", "")
    assert authorize(review, forge, FAST).allowed
    outsider = Event("pull_request_review", "submitted", REPO, 7, True, "reader", "User", "")
    decision = authorize(outsider, forge, FAST)
    assert not decision.allowed and decision.stage == "permission"


@pytest.mark.parametrize("width", [7, 12, 39])
def test_an_abbreviated_sha_approves_nothing(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path, width: int
) -> None:
    """A PR author can grind a commit whose SHA starts like the reviewed one (7 hex = 2^28 tries):
    `/promote <prefix>` would then approve the unreviewed commit. Only the full SHA approves."""
    hook = Recorder()
    approved = seeded.issues[7].head_sha
    ev = parse_payload(comment_event(f"/promote {approved[:width]}", user="maintainer"), "issue_comment")
    # the ground commit: same prefix, other content (set as the PR head the way a push would)
    pr = seeded.issues[7]
    twin = approved[:width] + ("0" if approved[width] != "0" else "1") + approved[width + 1 :]
    seeded.commits[twin] = seeded.commits[approved]
    pr.head_sha = twin
    out = run_event(ev, forge_for(github_emu, app_key), FAST, root, promote_hook=hook)
    assert not out.allowed and hook.calls == []
    assert "full 40-character" in bodies(github_emu)[-1]


def test_abort_on_the_commands_workflow_path_terminates_the_prs_pods(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """commands.yml runs `pgolf command run --event ... --skip promote`: /abort must reach the
    pod provider of the settings (RunPod emulator) and stop this PR's pods, not another PR's."""
    import time

    from bot.compute.promote import make_run_id
    from bot.compute.provider import PodSpec
    from bot.compute.runpod import RunPodProvider
    from tests.emulators.runpod import RunPodEmulator

    rp = RunPodEmulator(boot_delay=0.0)
    rp.start()
    try:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", rp.url)
        monkeypatch.setenv("RUNPOD_API_KEY", rp.add_key())
        head = seeded.issues[7].head_sha
        mine, other = make_run_id(7, head), make_run_id(71, head)
        p = RunPodProvider(ssh_user="root", workdir="/w", poll_interval=0.05, retry_wait=0.05)
        pod, keep = (
            p.create(
                PodSpec(
                    r,
                    deadline=time.time() + 600,
                    gpu_count=8,
                    gpu_type="NVIDIA H100 80GB HBM3",
                    image="img:1",
                    cloud_type="SECURE",
                )
            )
            for r in (mine, other)
        )
        event = write_event(root.parent / "abort.json", comment_event("/abort", user="maintainer"))
        env = cli_env(github_emu, app_key, PGOLF_POD_PROVIDER="runpod")
        res = CliRunner().invoke(
            cli,
            ["--repo", str(root), "command", "run", "--event", str(event), "--skip", "promote", "--json"],
            env=env,
        )
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert out["allowed"] is True and out["actions"] == ["aborted 1 run(s)"], out
        assert [q.id for q in rp.alive()] == [keep.id] and pod.id in rp.gone
        assert any(f"`{mine}`" in b for b in bodies(github_emu))
        assert any(MARKER in b and "**aborted**" in b for b in bodies(github_emu))
        rows = Ledger.load(root / "results.tsv").filter("runpod")
        assert len(rows) == 1 and rows[0].status == "crash" and rows[0].commit == head[:7]
    finally:
        rp.stop()
