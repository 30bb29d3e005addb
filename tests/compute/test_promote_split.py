"""promote.yml's jobs in order — plan → gate → reserve → paid → settle — with files between them,
on the GitHub and RunPod emulators, a pod over real SSH and real git remotes; a runner killed
between the jobs or during the paid one is booked by the split reaper (reap → book); forged
verdicts and outcomes are refused with their reason."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bot import budget as budget_mod
from bot.compute.provider import pod_name
from bot.compute.split import (
    MAX_BYTES,
    SCHEMAS,
    Plan,
    Ticket,
    check_gate_verdict,
    reserve_plan,
    run_gate,
    script_digests,
    settle_ticket,
    write_json,
)
from bot.config import load_settings
from bot.errors import InputError, ParityError
from tests.compute.split_scene import (
    GIT_ENV,
    ROOT,
    github,
    kill_paid_mid_training,
    make_scene,
    plan_and_gate,
    reaper_tick,
    reserve,
    settle,
    stickies,
)
from tests.emulators.github import GitHubEmulator
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer
from tests.forge.conftest import AppKey, cli_env, make_key

DIVERGE = ("mx.square(mx.maximum(self.fc(x), 0))", "mx.maximum(self.fc(x), 0)")


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GH_APP_", "RUNNER_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def key() -> AppKey:
    return make_key()


@pytest.fixture
def gh() -> Any:
    emu = GitHubEmulator()
    emu.start()
    yield emu
    emu.stop()


# ----------------------------------------------------------------------------- end to end
def test_the_five_jobs_in_order_book_one_row_and_one_sticky(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan_path, verdict_path = plan_and_gate(scene, gh, key)
    plan = json.loads(plan_path.read_text())
    assert (
        plan["sha"] == scene.sha
        and plan["pr"] == 7
        and plan["seeds"] == [1]
        and plan["actor"] == "maintainer"
    )
    verdict = json.loads(verdict_path.read_text())
    assert verdict["parity"]["ok"] is True and verdict["parity"]["sandbox"].startswith("isolated"), verdict[
        "parity"
    ]

    t0 = time.monotonic()
    ticket_path = reserve(scene, gh, key, plan_path, verdict_path)
    reserve_s = time.monotonic() - t0
    ticket = Ticket.load(ticket_path)
    committed = scene.budget().reservations  # on the default branch before anything is rented
    assert [r.run_id for r in committed] == [ticket.run_id] and not emu.pods
    assert committed[0].deadline and committed[0].sha == scene.sha and reserve_s < 60

    # the paid job: only the RunPod key in its environment (no App key, no GitHub token)
    outcome = ticket_path.parent / "outcome.json"
    res = scene.pgolf(scene.checkout("paid"), "promote", "run", "--reservation", str(ticket_path), "--out",
                      str(outcome))  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(outcome.read_text())
    assert data["started"] and data["terminated"] and data["pod_id"] and not data["error"], data
    assert "final_int8_zlib_roundtrip_exact" in data["seeds"][0]["log_tail"]
    assert git_status_clean(scene.tmp / "paid")  # the paid job wrote no ledger file

    settled = settle(scene, gh, key, ticket_path, outcome)
    assert settled["booked"] == "outcome" and settled["problems"] == []
    b = scene.budget()
    assert b.reservations == [] and [r.run_id for r in b.runs] == [ticket.run_id]
    billed = emu.billed_usd(pod_name(ticket.run_id))
    assert 0 < billed <= b.runs[0].cost_usd + 1e-6  # $0 unrecorded
    assert b.runs[0].cost_usd - billed < 0.05  # and not the worst case
    (row,) = scene.runpod_rows()
    assert (
        row.status == "keep" and row.val_bpb == pytest.approx(1.199, abs=1e-6) and row.commit == scene.sha[:7]
    )
    assert len(stickies(gh)) == 1  # the figure: one sticky comment per PR across plan, reserve, settle
    assert "1.19" in stickies(gh)[0]


def git_status_clean(ck: Path) -> bool:
    out = subprocess.run(
        ["git", "-C", str(ck), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    return not [ln for ln in out.splitlines() if "results.tsv" in ln or "budget.json" in ln]


# ----------------------------------------------------------------------------- dead runners
def test_runner_lost_between_reserve_and_paid_is_booked_by_the_reaper(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket = Ticket.load(reserve(scene, gh, key, plan, verdict))
    # nothing more runs: no paid job, no settle job. The reaper ticks now (left alone), then later.
    _, now_tick = reaper_tick(scene, sshd, "now")
    assert ticket.run_id in now_tick.pending and scene.budget().reservations
    _, later = reaper_tick(scene, sshd, "later", now=ticket.deadline + 3600)
    assert later.ok, later.to_dict()
    b = scene.budget()
    assert b.reservations == [] and [r.run_id for r in b.runs] == [ticket.run_id]
    assert b.runs[0].cost_usd == pytest.approx(ticket.max_usd)  # RunPod never saw a pod: worst case
    assert emu.billed_usd(pod_name(ticket.run_id)) == 0  # $0 unrecorded (nothing was rented)
    assert [r.status for r in scene.runpod_rows()] == ["crash"]


def test_paid_job_killed_mid_training_settle_leaves_it_to_the_reaper_which_books_rupods_bill(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    scene = make_scene(tmp_path / "s", sshd, pod_train_env="FAKE_STEP_SLEEP=5")
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket_path = reserve(scene, gh, key, plan, verdict)
    ticket = Ticket.load(ticket_path)
    outcome = kill_paid_mid_training(scene, ticket_path, ticket)
    assert not outcome.exists() and [p.name for p in emu.alive()] == [pod_name(ticket.run_id)]

    settled = settle(scene, gh, key, ticket_path, outcome)  # the settle job runs (if: always())
    assert settled["booked"] == "left to the reaper", settled
    assert scene.budget().reservations  # still open on the default branch
    time.sleep(1.2)  # RunPod counts uptime in whole seconds
    seen, booked = reaper_tick(scene, sshd, "later", now=ticket.deadline + 60)
    assert [a.pod_id for a in seen.actions] == [a.pod_id for a in booked.actions] and booked.ok, (
        booked.to_dict()
    )
    assert booked.actions[0].settled == "billed"
    b = scene.budget()
    billed = emu.billed_usd(pod_name(ticket.run_id))
    booked_usd = sum(r.cost_usd for r in b.runs if r.run_id == ticket.run_id)
    assert b.reservations == [] and not emu.alive()
    assert billed > 0 and booked_usd >= billed - 1e-6, (billed, booked_usd)  # $0 unrecorded
    assert booked_usd - billed < 0.05  # RunPod's bill, not the worst case


def test_a_dead_book_job_is_harmless_the_next_tick_books_once(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    """The reap job terminates an overdue pod; its book job dies; the next tick books the run once
    (at the worst case: RunPod forgets a terminated pod), and a replay of the first observations
    after that books nothing twice."""
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket = Ticket.load(reserve(scene, gh, key, plan, verdict))
    from bot.compute.provider import PodSpec
    from bot.compute.runpod import RunPodProvider

    prov = RunPodProvider(
        ssh_user=sshd.user, workdir=scene.over["pod_workdir"], poll_interval=0.1, retry_wait=0.05
    )
    spec = PodSpec(ticket.run_id, 8, "NVIDIA H100 80GB HBM3", "img", "SECURE", deadline=time.time() + 600)
    prov.create(spec)  # a paid job that rented and died
    time.sleep(1.2)
    from bot.compute.observed import RecordingProvider, write_observations
    from bot.compute.reaper import reap

    ck = scene.checkout("tick1-reap")
    s = load_settings(ck, env={}, overrides=scene.over)
    rec = RecordingProvider(prov)
    first = reap(ck, s, rec, now=ticket.deadline + 60)
    assert first.actions and first.actions[0].done and not emu.alive()
    obs = scene.tmp / "tick1.json"
    write_observations(obs, rec.observations(ticket.deadline + 60))
    # ... and the book job never runs: nothing reached the default branch
    assert scene.budget().reservations
    _, second = reaper_tick(scene, sshd, "tick2", now=ticket.deadline + 3600)
    assert second.ok
    b = scene.budget()
    assert b.reservations == [] and len([r for r in b.runs if r.run_id == ticket.run_id]) == 1
    assert b.runs[0].cost_usd >= emu.billed_usd(pod_name(ticket.run_id))  # $0 unrecorded
    # the late book job of tick 1 (replaying its old observations) books nothing twice
    from bot.compute.observed import ReplayProvider
    from bot.forge.ledger_commit import ledger_commit

    stale = json.loads(obs.read_text())
    stale["observed_at"] -= 3600  # "Re-run failed jobs" on tick 1 an hour later
    obs.write_text(json.dumps(stale))
    with pytest.raises(InputError, match="stale"):
        ReplayProvider.load(obs)
    late = scene.checkout("tick1-book-late")
    ls = load_settings(late, env={}, overrides=scene.over)
    code = scene.pgolf(late, "pods", "reap", "--observations", str(obs))
    assert code.exit_code != 0 and "stale" in code.output
    ledger_commit(late, "late reaper", ls)
    assert len([r for r in scene.budget().runs if r.run_id == ticket.run_id]) == 1
    assert not [r for r in scene.budget().runs if r.kind == "orphan"]


# ----------------------------------------------------------------------------- forged verdicts
def _pair_repo(tmp: Path, mlx_edit: tuple[str, str] | None = None) -> tuple[Path, str]:
    repo = tmp / "research"
    (repo / "training").mkdir(parents=True)
    for name in ("train_gpt.py", "train_gpt_mlx.py"):
        (repo / "training" / name).write_bytes((ROOT / "training" / name).read_bytes())
    if mlx_edit is not None:
        mlx = (repo / "training" / "train_gpt_mlx.py").read_text()
        (repo / "training" / "train_gpt_mlx.py").write_text(mlx.replace(*mlx_edit))
    (repo / "results.tsv").write_text(
        "commit\ttier\tval_bpb\tartifact_bytes\tmemory_gb\tstatus\tpromoted\tcost_usd\tdescription\n"
    )
    (repo / "budget.json").write_text(json.dumps({"version": 1, "total_credits": 100.0, "reserve_floor": 10.0,
                                                  "spent": 0.0, "runs": [], "reservations": []}))  # fmt: skip
    (repo / ".gitignore").write_text(".pgolf/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "exp"], check=True)
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return repo, sha


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan, dict[str, Any]]:
    """A real gate run (in the sandbox) on a pair whose MLX script diverges: a failing verdict."""
    mp = pytest.MonkeyPatch()
    for k, v in GIT_ENV.items():
        mp.setenv(k, v)
    try:
        repo, sha = _pair_repo(tmp_path_factory.mktemp("failing"), DIVERGE)
        plan = Plan(pr=7, sha=sha, seeds=[1], actor="maintainer")
        verdict = run_gate(repo, load_settings(repo, env={}, overrides={"sandbox": "required"}), plan)
    finally:
        mp.undo()
    assert verdict["parity"]["ok"] is False and verdict["parity"]["first_diverging_layer"], verdict
    return repo, plan, verdict


def _write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_real_failing_verdict_is_refused_and_nothing_is_reserved(failing: Any, tmp_path: Path) -> None:
    repo, plan, verdict = failing
    s = load_settings(repo, env={}, overrides={"tier2_min_interval_seconds": 0})
    before = (repo / "budget.json").read_text()
    with pytest.raises(ParityError, match="first diverging layer blocks.0"):
        reserve_plan(repo, s, plan, _write(tmp_path / "v.json", verdict), commit=None)
    assert (repo / "budget.json").read_text() == before


def _forged_cases(verdict: dict[str, Any], plan: Plan) -> dict[str, tuple[Any, type[Exception], str]]:
    passed = json.loads(json.dumps(verdict))
    passed["parity"]["ok"] = True  # "passed" for the failing script
    other_sha = dict(verdict, sha="f" * 40)
    other_code = json.loads(json.dumps(verdict))
    other_code["scripts"] = {k: "0" * 64 for k in verdict["scripts"]}
    malformed = json.loads(json.dumps(verdict))
    malformed["parity"]["layers"] = "everything fine"
    return {
        "passed-for-a-failing-script": (passed, ParityError, "claimed ok; its own numbers say otherwise"),
        "wrong-sha": (other_sha, ParityError, "not the approved"),
        "other-code": (other_code, ParityError, "judged other code"),
        "oversized": (
            dict(verdict, padding="x" * (MAX_BYTES["verdict"] + 1)),
            InputError,
            "over the 262144-byte limit: refused unread",
        ),
        "not-json": ('{"schema": "' + SCHEMAS["verdict"] + '", "sha": ', InputError, "not JSON"),
        "wrong-schema": (dict(verdict, schema="pgolf-parity-verdict/0"), InputError, "schema"),
        "malformed-parity": (malformed, ParityError, "malformed parity verdict"),
        "no-parity": ({k: v for k, v in verdict.items() if k != "parity"}, ParityError, "malformed"),
    }


@pytest.mark.parametrize(
    "case",
    ["passed-for-a-failing-script", "wrong-sha", "other-code", "oversized", "not-json", "wrong-schema",
     "malformed-parity", "no-parity"],
)  # fmt: skip
def test_a_forged_verdict_is_refused_with_its_reason(failing: Any, tmp_path: Path, case: str) -> None:
    repo, plan, verdict = failing
    data, exc, reason = _forged_cases(verdict, plan)[case]
    s = load_settings(repo, env={}, overrides={"tier2_min_interval_seconds": 0})
    before = (repo / "budget.json").read_text()
    with pytest.raises(exc, match=reason):
        check_gate_verdict(repo, s, plan, _write(tmp_path / "v.json", data))
    with pytest.raises(exc):
        reserve_plan(repo, s, plan, tmp_path / "v.json", commit=None)
    assert (repo / "budget.json").read_text() == before  # nothing reserved


def test_a_passing_verdict_reserves_and_binds_the_scripts(tmp_path: Path) -> None:
    """The control: a verdict with the right digests and numbers passes (crafted here; the
    end-to-end test runs the real gate)."""
    repo, sha = _pair_repo(tmp_path)
    plan = Plan(pr=7, sha=sha, seeds=[1], actor="maintainer")
    s = load_settings(repo, env={}, overrides={"tier2_min_interval_seconds": 0})
    good = {"schema": SCHEMAS["verdict"], "sha": sha, "scripts": script_digests(repo, sha, s),
            "parity": {"ok": True, "max_abs_logit_diff": 0.0, "abs_loss_diff": 0.0, "layers": []}}  # fmt: skip
    ticket = reserve_plan(repo, s, plan, _write(tmp_path / "v.json", good), commit=None)
    assert ticket.sha == sha and ticket.max_usd > 0
    assert [r.run_id for r in budget_mod.load(repo / "budget.json", s).reservations] == [ticket.run_id]


# ----------------------------------------------------------------------------- forged outcomes
def _booked(tmp_path: Path) -> tuple[Path, Any, Ticket, Path]:
    """A committed-looking reservation (no pod yet) in a research repo, and its ticket."""
    repo, sha = _pair_repo(tmp_path)
    s = load_settings(repo, env={}, overrides={"tier2_min_interval_seconds": 0, "pod_deadline_seconds": 600})
    plan = Plan(pr=7, sha=sha, seeds=[1], actor="maintainer")
    good = {"schema": SCHEMAS["verdict"], "sha": sha, "scripts": script_digests(repo, sha, s),
            "parity": {"ok": True, "max_abs_logit_diff": 0.0, "abs_loss_diff": 0.0, "layers": []}}  # fmt: skip
    ticket = reserve_plan(repo, s, plan, _write(tmp_path / "v.json", good), commit=None)
    # another run, settled earlier, whose pod id a forger might reuse
    budget_mod.reserve(repo / "budget.json", s, "pr3-old", 5.0, pr=3, sha="e" * 40)
    budget_mod.settle(repo / "budget.json", s, "pr3-old", 600, 8, 20.0, pod_id="podOLD")
    return repo, s, ticket, tmp_path / "outcome.json"


LOG = (
    "step:3/3 train_loss:2.7000 train_time:30ms step_avg:10.00ms\n"
    "peak memory allocated: 10184 MiB reserved: 10200 MiB\nCode size: 4000 bytes\n"
    "Total submission size int8+zlib: 15000000 bytes\n"
    "final_int8_zlib_roundtrip_exact val_loss:2.03148000 val_bpb:1.20000000\n"
)


def _outcome(t: Ticket, **over: Any) -> dict[str, Any]:
    base = {
        "schema": SCHEMAS["outcome"], "run_id": t.run_id, "sha": t.sha, "pr": t.pr, "provider": "runpod",
        "started": True, "pod_id": "pod42", "pod_name": pod_name(t.run_id), "terminated": True,
        "pod_seconds": 700.0, "gpu_count": 8, "cost_per_hr": 21.52, "runpod_uptime_seconds": 690.0,
        "cost_usd": round(700 / 3600 * 21.52, 6), "error": "", "hardware": "8xH100",
        "seeds": [{"seed": 1, "rc": 0, "seconds": 600.0, "error": "", "log_tail": LOG}],
    }  # fmt: skip
    base.update(over)
    return base


def test_a_true_outcome_is_booked_at_its_cost_with_metrics_parsed_here(tmp_path: Path) -> None:
    repo, s, t, out = _booked(tmp_path)
    res = settle_ticket(repo, s, t, _write(out, _outcome(t, val_bpb=0.5)))  # a claimed score is ignored
    assert res.booked == "outcome" and res.problems == []
    run = next(r for r in budget_mod.load(repo / "budget.json", s).runs if r.run_id == t.run_id)
    assert run.cost_usd == pytest.approx(700 / 3600 * 21.52) and run.pod_id == "pod42"
    assert res.result is not None and res.result.val_bpb == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("case", "over", "reason"),
    [
        ("cost-below-runpod", {"cost_usd": 0.01}, "below"),
        ("seconds-below-uptime", {"pod_seconds": 10.0, "cost_usd": 0.01}, "below RunPod's uptime"),
        ("another-runs-pod", {"pod_id": "podOLD"}, "belongs to run pr3-old"),
        ("another-run-id", {"run_id": "pr9-aaaaaaa-20260615120000-beef"}, "run_id"),
        ("another-sha", {"sha": "d" * 40}, "sha"),
        ("foreign-pod-name", {"pod_name": "pgolf-pr9-x"}, "pod_name"),
        ("longer-than-the-pod-lives", {"pod_seconds": 1e6}, "pod_seconds"),
        ("free-gpus", {"cost_per_hr": 0.0001}, "implausibly low"),
        ("unreserved-seed", {"seeds": [{"seed": 9, "rc": 0, "log_tail": LOG}]}, "seed entry"),
    ],
)
def test_a_forged_outcome_is_booked_at_the_worst_case_with_its_reason(
    tmp_path: Path, case: str, over: dict[str, Any], reason: str
) -> None:
    repo, s, t, out = _booked(tmp_path)
    res = settle_ticket(repo, s, t, _write(out, _outcome(t, **over)))
    assert res.booked == "worst case" and any(reason in p for p in res.problems), res.problems
    run = next(r for r in budget_mod.load(repo / "budget.json", s).runs if r.run_id == t.run_id)
    assert run.cost_usd == pytest.approx(t.max_usd) and "outcome refused" in run.note
    (row,) = [r for r in __import__("bot.ledger", fromlist=["Ledger"]).Ledger.load(repo / "results.tsv").rows
              if r.tier == "runpod"]  # fmt: skip
    assert row.status == "crash" and row.val_bpb is None and "outcome refused" in row.description


@pytest.mark.parametrize("case", ["oversized", "not-json", "wrong-schema"])
def test_an_unreadable_outcome_is_booked_at_the_worst_case(tmp_path: Path, case: str) -> None:
    repo, s, t, out = _booked(tmp_path)
    bad = {
        "oversized": json.dumps(_outcome(t, padding="x" * MAX_BYTES["outcome"])),
        "not-json": "{nope",
        "wrong-schema": json.dumps(_outcome(t, schema="other")),
    }[case]
    res = settle_ticket(repo, s, t, _write(out, bad))
    assert res.booked == "worst case" and res.problems and str(out) in res.problems[0]


def test_no_outcome_or_an_unterminated_pod_is_left_to_the_reaper_and_never_booked_twice(
    tmp_path: Path,
) -> None:
    repo, s, t, out = _booked(tmp_path)
    assert settle_ticket(repo, s, t, out).booked == "left to the reaper"  # the file is missing
    res = settle_ticket(repo, s, t, _write(out, _outcome(t, terminated=False)))
    assert res.booked == "left to the reaper"
    assert [r.run_id for r in budget_mod.load(repo / "budget.json", s).reservations] == [t.run_id]
    assert settle_ticket(repo, s, t, _write(out, _outcome(t))).booked == "outcome"
    again = settle_ticket(repo, s, t, out)  # a re-run of the settle job
    assert again.booked == "already settled"
    assert len([r for r in budget_mod.load(repo / "budget.json", s).runs if r.run_id == t.run_id]) == 1


def test_a_paid_job_that_never_started_releases_the_reservation(tmp_path: Path) -> None:
    repo, s, t, out = _booked(tmp_path)
    res = settle_ticket(repo, s, t, out, paid_skipped=True)
    assert res.booked == "released"
    b = budget_mod.load(repo / "budget.json", s)
    assert b.reservations == [] and not [r for r in b.runs if r.run_id == t.run_id]


def test_the_paid_job_rents_nothing_when_paused_or_when_runpod_asks_more_than_reserved(
    emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    import dataclasses

    from bot.compute.split import run_paid, write_json
    from tests.compute.conftest import provider

    repo, s, t, out = _booked(tmp_path)
    s = load_settings(
        repo, env={}, overrides={"pod_ssh_user": sshd.user, "pod_workdir": str(tmp_path / "podfs")}
    )
    cheap = dataclasses.replace(t, max_usd=1.0)  # RunPod's quote for the lifetime is ~$4
    raw = json.loads((repo / "budget.json").read_text())
    held = raw["reservations"][0]["max_usd"]
    raw["reservations"][0]["max_usd"] = 1.0  # budget.json holds the same $1 (the paid job checks)
    (repo / "budget.json").write_text(json.dumps(raw))
    refused = run_paid(repo, s, cheap, provider(s))
    assert refused["started"] is False and "above the $1.00 reserved" in refused["error"] and not emu.pods
    raw["reservations"][0]["max_usd"] = held
    (repo / "budget.json").write_text(json.dumps(raw))
    budget_mod.pause(repo / "budget.json", s, by="maintainer", reason="test")
    paused = run_paid(repo, s, t, provider(s))
    assert paused["started"] is False and "paused" in paused["error"] and not emu.pods
    write_json(out, "outcome", paused)
    res = settle_ticket(repo, s, t, out)
    assert res.booked == "released"
    assert budget_mod.load(repo / "budget.json", s).reservations == []


def test_the_reserve_job_says_why_on_the_pr_when_it_refuses(
    failing: Any, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from bot.cli import cli
    from bot.compute.split import write_json
    from tests.forge.conftest import cli_env

    repo, plan, verdict = failing
    github(gh, key, plan.sha)
    write_json(tmp_path / "plan.json", "plan", plan.to_dict())
    _write(tmp_path / "verdict.json", verdict)
    res = CliRunner().invoke(
        cli,
        ["--repo", str(repo), "promote", "reserve", "--plan", str(tmp_path / "plan.json"), "--verdict",
         str(tmp_path / "verdict.json"), "--out", str(tmp_path / "r.json"), "--no-commit"],
        env=cli_env(gh, key),
    )  # fmt: skip
    assert res.exit_code != 0 and not (tmp_path / "r.json").exists()
    (body,) = stickies(gh)
    assert "refused before anything was reserved" in body and "blocks.0" in body


# ----------------------------------------------------------------------------- re-runs and forgers
def _created(emu: RunPodEmulator, name: str) -> int:
    return len([p for p in [*emu.pods.values(), *emu.gone.values()] if p.name == name])


def _paid(scene: Any, job: str, ticket_path: Path, out: Path, attempt: str) -> Any:
    """The paid job as promote.yml runs it: the reserve job's declared digest, the run attempt."""
    return scene.pgolf(scene.checkout(job), "promote", "run", "--reservation", str(ticket_path),
                       "--reservation-sha256", _digest(ticket_path), "--out", str(out),
                       env={"GITHUB_RUN_ATTEMPT": attempt})  # fmt: skip


def test_a_rerun_of_the_paid_job_rents_nothing_under_an_already_used_reservation(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    """ "Re-run jobs" on paid (and settle, its dependent) after the promotion was booked: the
    reservation artifact is attempt 1's. A second pod under it would be booked by nobody (the
    settle re-run finds the reservation settled; RunPod forgets the terminated pod)."""
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket_path = plan.parent / "reservation.json"
    res = scene.pgolf(scene.checkout("reserve"), "promote", "reserve", "--plan", str(plan), "--verdict",
                      str(verdict), "--out", str(ticket_path),
                      env=cli_env(gh, key, GITHUB_RUN_ATTEMPT="1"))  # fmt: skip
    assert res.exit_code == 0, res.output
    ticket = Ticket.load(ticket_path)
    name = pod_name(ticket.run_id)
    first = ticket_path.parent / "outcome.json"
    assert _paid(scene, "paid", ticket_path, first, "1").exit_code == 0
    assert settle(scene, gh, key, ticket_path, first)["booked"] == "outcome"
    assert _created(emu, name) == 1
    again = ticket_path.parent / "outcome-attempt2.json"
    rerun = _paid(scene, "paid-attempt2", ticket_path, again, "2")
    assert rerun.exit_code != 0 and "re-run" in rerun.output, rerun.output
    assert _created(emu, name) == 1 and not again.exists()  # nothing rented
    assert settle(scene, gh, key, ticket_path, again)["booked"] == "already settled"
    b = scene.budget()
    assert sum(r.cost_usd for r in b.runs if r.run_id == ticket.run_id) >= emu.billed_usd(name) - 1e-6


def test_a_rerun_of_a_killed_paid_job_rents_no_second_pod_and_the_reaper_books_the_first(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    scene = make_scene(tmp_path / "s", sshd, pod_train_env="FAKE_STEP_SLEEP=5")
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket_path = reserve(scene, gh, key, plan, verdict)  # attempt 1 (no GITHUB_RUN_ATTEMPT: 0)
    ticket = Ticket.load(ticket_path)
    name = pod_name(ticket.run_id)
    outcome = kill_paid_mid_training(scene, ticket_path, ticket)
    assert [p.name for p in emu.alive()] == [name]
    rerun = _paid(scene, "paid-attempt2", ticket_path, outcome, "2")
    assert rerun.exit_code != 0 and "re-run" in rerun.output, rerun.output
    assert _created(emu, name) == 1 and not outcome.exists()
    assert settle(scene, gh, key, ticket_path, outcome)["booked"] == "left to the reaper"
    time.sleep(1.2)
    _, booked = reaper_tick(scene, sshd, "later", now=ticket.deadline + 60)
    assert booked.ok, booked.to_dict()
    b = scene.budget()
    booked_usd = sum(r.cost_usd for r in b.runs if r.run_id == ticket.run_id)
    assert b.reservations == [] and booked_usd >= emu.billed_usd(name) - 1e-6 > 0


def test_the_paid_job_rents_nothing_on_a_reservation_the_default_branch_does_not_hold_open(
    emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """A reservation file whose reservation was settled (or never committed, or says other
    figures than budget.json) rents nothing, whatever its attempt."""
    import dataclasses

    from bot.compute.split import run_paid
    from bot.errors import BudgetBlocked
    from tests.compute.conftest import provider

    repo, s, t, out = _booked(tmp_path)
    s = load_settings(
        repo, env={}, overrides={"pod_ssh_user": sshd.user, "pod_workdir": str(tmp_path / "podfs")}
    )
    richer = dataclasses.replace(t, max_usd=t.max_usd * 10)
    with pytest.raises(BudgetBlocked, match="max_usd"):
        run_paid(repo, s, richer, provider(s))
    stranger = dataclasses.replace(t, run_id="pr7-" + t.sha[:7] + "-20260615120000-abcd")
    with pytest.raises(BudgetBlocked, match="no open reservation"):
        run_paid(repo, s, stranger, provider(s))
    assert settle_ticket(repo, s, t, _write(out, _outcome(t))).booked == "outcome"
    with pytest.raises(BudgetBlocked, match="no open reservation"):
        run_paid(repo, s, t, provider(s))
    assert not emu.pods and not emu.gone


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_outcome_the_paid_job_did_not_write_is_not_booked(tmp_path: Path) -> None:
    """The gate job (PR code; after a sandbox escape it holds the Actions runtime token) can
    upload a `pgolf-outcome` artifact before the paid job does: a plausible $0 outcome (no pod,
    no seconds) passes every figure check. The settle job books only the file whose SHA-256 the
    paid job itself declared in its job outputs."""
    repo, s, t, out = _booked(tmp_path)
    real = _write(tmp_path / "real.json", _outcome(t))
    forged = _outcome(t, pod_id="", pod_seconds=0.0, runpod_uptime_seconds=0.0, cost_usd=0.0, cost_per_hr=0.0)
    _write(out, forged)
    res = settle_ticket(repo, s, t, out, outcome_sha256=_digest(real))
    assert res.booked == "left to the reaper" and any("SHA-256" in p for p in res.problems), res.problems
    assert [r.run_id for r in budget_mod.load(repo / "budget.json", s).reservations] == [t.run_id]
    res = settle_ticket(repo, s, t, out, outcome_sha256="")  # the paid job declared none (died)
    assert res.booked == "left to the reaper"
    assert settle_ticket(repo, s, t, out, outcome_sha256="", paid_skipped=True).booked == "released"


def test_an_outcome_with_the_paid_jobs_digest_is_booked(tmp_path: Path) -> None:
    repo, s, t, out = _booked(tmp_path)
    _write(out, _outcome(t))
    res = settle_ticket(repo, s, t, out, outcome_sha256=_digest(out).upper())
    assert res.booked == "outcome" and res.cost_usd == pytest.approx(700 / 3600 * 21.52)


def test_when_runpods_price_is_unknown_a_pod_dearer_than_the_reservation_is_terminated_at_once(
    emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """The price query fails (rate limit, API error): the paid job rents on the configured rate.
    The pod RunPod created says its own price: above what the reservation holds for the pod's
    lifetime, it is terminated before anything is shipped, and the outcome books its seconds."""
    import dataclasses

    from bot.compute.split import run_paid
    from tests.compute.conftest import provider

    repo, s, t, out = _booked(tmp_path)
    s = load_settings(
        repo, env={}, overrides={"pod_ssh_user": sshd.user, "pod_workdir": str(tmp_path / "podfs")}
    )
    cheap = dataclasses.replace(t, max_usd=1.0)  # the pod's lifetime costs ~$4 at RunPod's price
    raw = json.loads((repo / "budget.json").read_text())
    raw["reservations"][0]["max_usd"] = 1.0
    (repo / "budget.json").write_text(json.dumps(raw))
    emu.fail_op("gpuTypes", times=4)  # every retry of the price query fails (rate limited)
    outcome = run_paid(repo, s, cheap, provider(s))
    assert outcome["started"] is True and outcome["terminated"] is True and outcome["pod_id"]
    assert "above the $1.00 reserved" in outcome["error"], outcome["error"]
    assert not emu.alive() and not outcome["seeds"]  # nothing shipped, nothing trained
    assert not (tmp_path / "podfs").exists() or not any((tmp_path / "podfs").rglob("train_gpt.py"))
    write_json_ = __import__("bot.compute.split", fromlist=["write_json"]).write_json
    write_json_(out, "outcome", outcome)
    res = settle_ticket(repo, s, cheap, out)
    assert res.booked == "outcome" and res.cost_usd <= 1.0
    assert res.cost_usd >= emu.billed_usd(pod_name(t.run_id)) - 1e-6  # $0 unrecorded


def test_a_pr_force_pushed_after_the_reservation_rents_nothing_and_releases_it(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    """The PR's author force-pushes between the reserve job and the paid job: the paid job's
    checkout of refs/pull/7/head no longer has the approved commit. Nothing is rented, and the
    reservation is released (not left to the reaper, which would book the worst case for a pod
    RunPod never saw: an outsider burning the budget with a push)."""
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket_path = reserve(scene, gh, key, plan, verdict)
    ticket = Ticket.load(ticket_path)
    work = scene.tmp / "author"
    subprocess.run(["git", "clone", "-q", str(scene.bare), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "fetch", "-q", "origin", "refs/pull/7/head"], check=True)
    subprocess.run(["git", "-C", str(work), "checkout", "-q", "FETCH_HEAD"], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-q", "--amend", "-m", "rewritten"], check=True)
    subprocess.run(
        ["git", "-C", str(work), "push", "-q", "-f", "origin", "HEAD:refs/pull/7/head"], check=True
    )
    subprocess.run(["git", "-C", str(scene.bare), "gc", "-q", "--prune=now"], check=True)
    ck = scene.tmp / "paid"  # what actions/checkout fetches: the default branch and the PR's head now
    subprocess.run(["git", "clone", "-q", "--no-local", str(scene.bare), str(ck)], check=True)
    subprocess.run(
        ["git", "-C", str(ck), "fetch", "-q", "--no-tags", "origin", "refs/pull/7/head"], check=True
    )
    assert subprocess.run(["git", "-C", str(ck), "cat-file", "-e", ticket.sha]).returncode != 0
    outcome = ticket_path.parent / "outcome.json"
    res = scene.pgolf(ck, "promote", "run", "--reservation", str(ticket_path), "--out", str(outcome))
    assert res.exit_code == 0, res.output
    data = json.loads(outcome.read_text())
    assert data["started"] is False and ticket.sha[:12] in data["error"] and not emu.pods and not emu.gone
    assert settle(scene, gh, key, ticket_path, outcome)["booked"] == "released"
    b = scene.budget()
    assert b.reservations == [] and not [r for r in b.runs if r.run_id == ticket.run_id]


def test_a_pod_created_despite_a_lost_create_reply_is_terminated_and_booked_by_the_split_jobs(
    emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """RunPod creates the pod but the create call's reply is an error (a gateway timeout). The
    paid job's outcome must not say "no pod, $0": settle would close the reservation at $0 and
    the pod would bill until its in-pod deadline removes it, after which RunPod forgets it."""
    from bot.compute.split import run_paid, write_json
    from tests.compute.conftest import provider

    repo, s, t, out = _booked(tmp_path)
    s = load_settings(
        repo, env={}, overrides={"pod_ssh_user": sshd.user, "pod_workdir": str(tmp_path / "podfs")}
    )
    emu.lose_reply("podFindAndDeployOnDemand")
    outcome = run_paid(repo, s, t, provider(s))
    assert emu.alive() == [], "the pod created despite the lost reply is still running"
    write_json(out, "outcome", outcome)
    res = settle_ticket(repo, s, t, out)
    time.sleep(0.2)
    billed = emu.billed_usd(pod_name(t.run_id))
    b = budget_mod.load(repo / "budget.json", s)
    booked = [r for r in b.runs if r.run_id == t.run_id]
    assert res.booked != "released" and len(booked) == 1 and booked[0].pod_id, (res.booked, outcome)
    assert booked[0].cost_usd >= billed - 1e-6  # $0 unrecorded


def test_a_plan_or_reservation_file_other_than_the_one_its_job_declared_is_refused(
    gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    """The gate job (PR code) holds the Actions runtime token: it can delete and re-upload the
    plan artifact (upload-artifact's `overwrite`) before the reserve job downloads it — another
    SHA than the one approved, 8 seeds instead of 1. Each file that crosses a job boundary is
    bound to the SHA-256 its writer declared in its job outputs."""
    import hashlib

    from click.testing import CliRunner

    from bot.cli import cli
    from bot.compute.split import write_json

    repo, sha = _pair_repo(tmp_path)
    github(gh, key, sha)
    s = load_settings(repo, env={}, overrides={"tier2_min_interval_seconds": 0})
    approved = tmp_path / "approved.json"
    write_json(approved, "plan", Plan(pr=7, sha=sha, seeds=[1], actor="maintainer").to_dict())
    declared = hashlib.sha256(approved.read_bytes()).hexdigest()
    forged = tmp_path / "plan.json"
    write_json(
        forged, "plan", Plan(pr=7, sha=sha, seeds=[1, 2, 3, 4, 5, 6, 7, 8], actor="maintainer").to_dict()
    )
    good = {"schema": SCHEMAS["verdict"], "sha": sha, "scripts": script_digests(repo, sha, s),
            "parity": {"ok": True, "max_abs_logit_diff": 0.0, "abs_loss_diff": 0.0, "layers": []}}  # fmt: skip
    _write(tmp_path / "verdict.json", good)
    before = (repo / "budget.json").read_text()

    def reserve_cli(plan: Path, digest: str) -> Any:
        return CliRunner().invoke(
            cli,
            ["--repo", str(repo), "-c", "tier2_min_interval_seconds=0", "promote", "reserve", "--plan",
             str(plan), "--plan-sha256", digest, "--verdict", str(tmp_path / "verdict.json"), "--out",
             str(tmp_path / "r.json"), "--no-commit"],
            env=cli_env(gh, key),
        )  # fmt: skip

    res = reserve_cli(forged, declared)
    assert res.exit_code != 0 and "SHA-256" in res.output, res.output
    assert (repo / "budget.json").read_text() == before and not (tmp_path / "r.json").exists()
    ok = reserve_cli(approved, declared)
    assert ok.exit_code == 0, ok.output
    ticket = Ticket.load(tmp_path / "r.json")
    assert ticket.seeds == [1]
    with pytest.raises(InputError, match="SHA-256"):
        Ticket.load(tmp_path / "r.json", sha256="0" * 64)
    refused = CliRunner().invoke(
        cli,
        ["--repo", str(repo), "promote", "run", "--reservation", str(tmp_path / "r.json"),
         "--reservation-sha256", "0" * 64, "--out", str(tmp_path / "o.json")],
    )  # fmt: skip
    assert refused.exit_code != 0 and "SHA-256" in refused.output and not (tmp_path / "o.json").exists()
    assert Ticket.load(tmp_path / "r.json", sha256=_digest(tmp_path / "r.json")) == ticket


def test_a_skipped_paid_job_of_a_later_attempt_releases_nothing(tmp_path: Path) -> None:
    """Attempt 1's paid job rented and died (settle: left to the reaper); the kill switch goes on;
    a maintainer re-runs the paid job (attempt 2): skipped by the kill switch, and its settle
    re-run sees `paid: skipped`. Releasing would drop attempt 1's pod from the books."""
    import dataclasses

    repo, s, t, out = _booked(tmp_path)
    t1 = dataclasses.replace(t, attempt=1)
    res = settle_ticket(repo, s, t1, out, paid_skipped=True, outcome_sha256="", attempt=2)
    assert res.booked == "left to the reaper", res
    assert [r.run_id for r in budget_mod.load(repo / "budget.json", s).reservations] == [t.run_id]
    assert (
        settle_ticket(repo, s, t1, out, paid_skipped=True, outcome_sha256="", attempt=1).booked == "released"
    )


def test_a_reserve_job_failing_after_its_commit_releases_what_it_reserved(
    emu: RunPodEmulator, sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    """The reservation is committed, then the reserve job fails (its artifact upload refused:
    the gate job planted a `pgolf-reservation`, or the artifact service failed). No paid or
    settle job runs on it (they need the reserve job's success), so the reaper would book the
    worst case for a pod RunPod never saw. The job's failure step releases it instead."""
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    ticket_path = reserve(scene, gh, key, plan, verdict)
    ticket = Ticket.load(ticket_path)
    assert [r.run_id for r in scene.budget().reservations] == [ticket.run_id]
    res = scene.pgolf(scene.checkout("reserve"), "promote", "release", "--reservation", str(ticket_path),
                      env=cli_env(gh, key))  # fmt: skip
    assert res.exit_code == 0, res.output
    b = scene.budget()
    assert b.reservations == [] and not [r for r in b.runs if r.run_id == ticket.run_id]
    assert not emu.pods and not emu.gone
    again = scene.pgolf(scene.checkout("reserve"), "promote", "release", "--reservation", str(ticket_path),
                        env=cli_env(gh, key))  # fmt: skip
    assert again.exit_code == 0 and "not open" in again.output, again.output  # a re-run: nothing to do


def test_two_reserve_jobs_on_stale_checkouts_cannot_together_hold_the_budget_below_the_floor(
    sshd: SSHServer, gh: GitHubEmulator, key: AppKey, tmp_path: Path
) -> None:
    """Two promotions reserve at once, each on a checkout taken before the other's commit: each
    sees room above the reserve floor. The ledger merge re-checks the floor with the default
    branch's reservations: the later one is refused and released, nothing is rented on it."""
    scene = make_scene(tmp_path / "s", sshd)
    github(gh, key, scene.sha)
    plan, verdict = plan_and_gate(scene, gh, key)
    edit = scene.checkout("maintainer")
    raw = json.loads((edit / "budget.json").read_text())
    raw["total_credits"] = 19.0  # room for one ~$5 reservation above the $10 floor, not two
    (edit / "budget.json").write_text(json.dumps(raw))
    subprocess.run(["git", "-C", str(edit), "commit", "-qam", "credits"], check=True)
    subprocess.run(["git", "-C", str(edit), "push", "-q", "origin", "HEAD:main"], check=True)
    a_ck, b_ck = scene.checkout("reserve-a"), scene.checkout("reserve-b")  # both before either commits
    results = []
    for ck, name in ((a_ck, "a"), (b_ck, "b")):
        out = tmp_path / f"reservation-{name}.json"
        results.append(scene.pgolf(ck, "promote", "reserve", "--plan", str(plan), "--verdict", str(verdict),
                                   "--out", str(out), env=cli_env(gh, key)))  # fmt: skip
    assert results[0].exit_code == 0, results[0].output
    assert results[1].exit_code != 0 and "no longer fits" in results[1].output, results[1].output
    a = Ticket.load(tmp_path / "reservation-a.json")
    assert not (tmp_path / "reservation-b.json").exists()
    committed = scene.budget()
    assert [r.run_id for r in committed.reservations] == [a.run_id]
    assert committed.remaining - a.max_usd >= committed.reserve_floor


@pytest.mark.parametrize(
    ("paid_result", "rent_step", "attempt", "booked"),
    [
        ("failure", "skipped", "1", "released"),  # checkout/install/download failed: nothing rented
        ("failure", "failure", "1", "left to the reaper"),  # `promote run` ran and died: it may have rented
        ("cancelled", "", "1", "left to the reaper"),  # no outputs (cancelled, runner lost): unknown
        ("failure", "skipped", "2", "left to the reaper"),  # a re-run's skip says nothing of attempt 1
        ("skipped", "", "1", "released"),  # the kill switch skipped the whole job
    ],
)
def test_a_paid_job_that_failed_before_promote_run_releases_its_reservation(
    tmp_path: Path, paid_result: str, rent_step: str, attempt: str, booked: str
) -> None:
    """A paid job whose pip install (or checkout, or the reservation's download) failed never ran
    `promote run`, yet the settle job left its reservation to the reaper, which booked the worst
    case after the deadline: a PyPI outage cost the budget a whole promotion on paper. The paid
    job now declares its rent step's outcome; "skipped" means it never started."""
    import dataclasses

    from click.testing import CliRunner

    from bot.cli import cli

    repo, s, t, out = _booked(tmp_path)
    t = dataclasses.replace(t, attempt=1)
    ticket = tmp_path / "reservation.json"
    write_json(ticket, "reservation", t.to_dict())
    res = CliRunner().invoke(
        cli,
        ["--repo", str(repo), "promote", "settle", "--reservation", str(ticket), "--outcome", str(out),
         "--paid-result", paid_result, "--rent-step", rent_step, "--outcome-sha256", "", "--no-comment",
         "--json"],
        env={"GITHUB_RUN_ATTEMPT": attempt},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["booked"] == booked
    left = [r.run_id for r in budget_mod.load(repo / "budget.json", s).reservations]
    assert left == ([] if booked == "released" else [t.run_id])
    assert not [r for r in budget_mod.load(repo / "budget.json", s).runs if r.run_id == t.run_id]
