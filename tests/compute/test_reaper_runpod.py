"""The reaper, the in-pod deadline, /abort and the RunPod client against the emulator."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot import budget as budget_mod
from bot.cli import cli
from bot.compute.orphans import abort
from bot.compute.provider import PodSpec
from bot.compute.reaper import reap
from bot.compute.runpod import deadline_start_command
from bot.compute.tracker import PodState, new_record
from bot.errors import InputError, PodError
from bot.ledger import Ledger
from tests.compute.conftest import Repo, make_settings, provider
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer


def spec(run_id: str, seconds: float = 600, **kw: object) -> PodSpec:
    base: dict[str, object] = {
        "gpu_count": 8,
        "gpu_type": "NVIDIA H100 80GB HBM3",
        "image": "img:1",
        "cloud_type": "SECURE",
    }
    base.update(kw)
    return PodSpec(run_id, deadline=time.time() + seconds, **base)  # type: ignore[arg-type]


def test_reaper_books_unknown_and_expired_pods_and_spares_the_rest(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    state = PodState(repo.root / ".pgolf/pods.json")
    unknown = p.create(spec("lost-1"))  # nobody tracks it
    expired = p.create(spec("late-1", 600))
    rec = new_record("late-1", "pgolf-late-1", "runpod", time.time() - 5, pr=9, sha=repo.sha)
    rec.pod_id = expired.id
    state.add(rec)
    live = p.create(spec("live-1"))
    rec2 = new_record("live-1", "pgolf-live-1", "runpod", time.time() + 600)  # owner: this test process
    rec2.pod_id = live.id
    state.add(rec2)
    foreign = p.create(spec("notours"))
    emu.pods[foreign.id].name = "someone-elses-notebook"
    time.sleep(1.2)  # let uptime accrue

    dry = reap(repo.root, s, p, dry_run=True)
    assert sorted(a.pod_id for a in dry.actions) == sorted([unknown.id, expired.id])
    assert len(emu.alive()) == 4 and budget_mod.load(repo.root / "budget.json", s).runs == []
    ci = reap(repo.root, s, p, dry_run=True, reap_unknown=False)  # a reaper without the state file
    assert [a.pod_id for a in ci.actions] == [expired.id]

    r = CliRunner().invoke(
        cli, ["--repo", str(repo.root), "-c", f"pod_ssh_user={s.pod_ssh_user}", "pods", "reap", "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    reasons = {a["pod_id"]: a["reason"] for a in report["actions"]}
    assert reasons[unknown.id] == "unknown to the state file" and "past its deadline" in reasons[expired.id]
    assert {q.id for q in emu.alive()} == {live.id, foreign.id}
    b = budget_mod.load(repo.root / "budget.json", s)
    assert {x.run_id for x in b.runs} == {"lost-1", "late-1"} and all(x.kind == "orphan" for x in b.runs)
    for x in b.runs:
        assert x.cost_usd == pytest.approx(x.seconds / 3600 * 8 * 2.99, abs=1e-5) and x.seconds >= 1
    assert b.spent == pytest.approx(sum(x.cost_usd for x in b.runs))
    assert [q.run_id for q in state.load()] == ["live-1"]
    rows = Ledger.load(repo.root / "results.tsv").filter("runpod")
    assert (
        len(rows) == 1 and rows[0].status == "crash" and rows[0].commit == repo.sha[:7]
    )  # late-1 had a commit
    listed = CliRunner().invoke(cli, ["--repo", str(repo.root), "pods", "list", "--json"])
    assert listed.exit_code == 0 and {d["id"] for d in json.loads(listed.output)} == {live.id}


def test_pod_removes_itself_at_its_deadline(
    emu: RunPodEmulator, repo: Repo, sshd: SSHServer, tmp_path: Path
) -> None:
    p = provider(make_settings(repo, sshd, tmp_path))
    pod = p.create(spec("short-1", 1.0))
    assert p.get(pod.id) is not None
    time.sleep(1.3)
    assert p.get(pod.id) is None and emu.gone[pod.id].removed_by == "deadline"


def test_start_command_arms_runpodctl_remove(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "runpodctl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "runpodctl").chmod(0o755)
    start = tmp_path / "start.sh"
    start.write_text("#!/bin/sh\necho booted\nsleep 2\n")
    start.chmod(0o755)
    cmd = deadline_start_command(spec("abc", 1.0, start_command=str(start)))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RUNPOD_POD_ID": "pod123"}
    out = subprocess.run(["sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=30)
    assert "booted" in out.stdout
    end = time.monotonic() + 5
    while not calls.exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert calls.read_text().strip() == "remove pod pod123"


def test_client_refuses_graphql_injection_and_reports_errors(
    emu: RunPodEmulator, repo: Repo, sshd: SSHServer, tmp_path: Path
) -> None:
    p = provider(make_settings(repo, sshd, tmp_path))
    with pytest.raises(InputError, match="double quotes"):
        p.create(spec("inj-1", env={"X": 'a" } ) { evil'}))
    with pytest.raises(PodError, match="No GPU found"):
        p.create(spec("gpu-1", gpu_type="NVIDIA Z9000"))
    emu.fail_next("500", times=10, path_regex="graphql")
    with pytest.raises(PodError, match="list pods failed after 4"):
        p.list()
    emu.clear_faults()
    assert emu.alive() == []


def test_abort_settles_a_run_whose_owner_is_elsewhere(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    budget_mod.reserve(repo.root / "budget.json", s, "pr5-run", 4.0, pr=5, sha=repo.sha)
    pod = p.create(spec("pr5-run"))
    rec = new_record("pr5-run", "pgolf-pr5-run", "runpod", time.time() + 600, pr=5, sha=repo.sha)
    rec.pod_id, rec.host = pod.id, "another-runner"
    PodState(repo.root / ".pgolf/pods.json").add(rec)
    done = abort(repo.root, s, 5, p)
    assert done == ["pr5-run"] and emu.alive() == []
    b = budget_mod.load(repo.root / "budget.json", s)
    assert b.reservations == [] and len(b.runs) == 1 and b.runs[0].note.startswith("aborted")
    assert PodState(repo.root / ".pgolf/pods.json").load() == []
    assert abort(repo.root, s, 5, p) == []  # idempotent


def test_without_a_state_file_unknown_pods_live_until_their_deadline(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """A scheduled CI reaper on a fresh checkout must not kill promotions running elsewhere."""
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    running = p.create(spec("elsewhere-1", 600))
    overdue = p.create(spec("overdue-1", 600))
    emu.pods[overdue.id].env["PARAMGOLF_DEADLINE"] = str(int(time.time()) - 10)  # its own deadline passed
    assert not (repo.root / ".pgolf/pods.json").exists()
    report = reap(repo.root, s, p)
    assert not report.reap_unknown and [a.pod_id for a in report.actions] == [overdue.id]
    assert [q.id for q in emu.alive()] == [running.id]
    forced = CliRunner().invoke(cli, ["--repo", str(repo.root), "pods", "reap", "--reap-unknown", "--json"])
    assert forced.exit_code == 0, forced.output
    assert [a["pod_id"] for a in json.loads(forced.output)["actions"]] == [running.id] and emu.alive() == []


def test_a_bad_setting_of_another_section_never_blocks_the_reaper(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """A leaked pod keeps billing: a wrong grading/research/… setting must not stop the reaper
    workflow's commands, while a command that needs the bad section still fails on it."""
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    leak = provider(s).create(spec("leak-1"))
    # every section the reaper does not read is broken, in the file and in the environment
    (repo.root / "pyproject.toml").write_text(
        "[tool.pgolf]\nexperimenter_max_turns = 0\nrelevance_threshold = 7\nlocal_backend = 'tpu'\n"
        "program_max_items = 0\n"
    )
    env = {"PGOLF_GRADING_MAX_USD": "lots"}

    def pgolf(*args: str) -> Result:
        base = ["--repo", str(repo.root), "-c", f"pod_ssh_user={s.pod_ssh_user}"]
        return CliRunner().invoke(cli, [*base, *args], env=env)

    assert pgolf("pause", "--check").exit_code == 0
    listed = pgolf("pods", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [d["id"] for d in json.loads(listed.output)] == [leak.id]
    r = pgolf("pods", "reap", "--reap-unknown", "--json")
    assert r.exit_code == 0, r.output
    assert [a["pod_id"] for a in json.loads(r.output)["actions"]] == [leak.id] and emu.alive() == []
    assert [x.run_id for x in budget_mod.load(repo.root / "budget.json", s).runs] == ["leak-1"]
    r = pgolf("alerts", "raise", "--kind", "reaper-failure", "--message", "test")
    assert r.exit_code == 0, r.output

    # a command that reads every section fails on the first bad one, naming file and field
    r = pgolf("results", "show")
    assert r.exit_code == 3
    assert r.output == (
        "error: env PGOLF_GRADING_MAX_USD: field 'grading_max_usd': bad value 'lots': "
        "could not convert string to float: 'lots'\n"
    )
    # config show reports every bad setting, one line each
    r = pgolf("config", "show")
    assert r.exit_code == 3
    lines = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 5, r.output
    for fragment in (
        "env PGOLF_GRADING_MAX_USD: field 'grading_max_usd': bad value 'lots'",
        "pyproject.toml [tool.pgolf]: field 'experimenter_max_turns': must be at least 1",
        "field 'relevance_threshold': must be within 0..1",
        "field 'local_backend'",
        "field 'program_max_items': must be positive",
    ):
        assert sum(fragment in line for line in lines) == 1, (fragment, r.output)


def test_a_bad_forge_setting_never_blocks_the_reap_job_only_its_alerts(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """The reap job (RunPod key only, no --alerts) never opens the forge, yet `pods reap`
    declared [forge]: a wrong forge setting kept a leaked pod billing. With --alerts the forge is
    needed, and a bad setting fails there, naming it (never alerts dropped into a file)."""
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    leak = provider(s).create(spec("leak-2"))
    env = {"PGOLF_LEDGER_PUSH_ATTEMPTS": "many"}
    base = ["--repo", str(repo.root), "-c", f"pod_ssh_user={s.pod_ssh_user}", "pods", "reap"]
    r = CliRunner().invoke(cli, [*base, "--reap-unknown", "--alerts"], env=env)
    assert r.exit_code == 3 and "field 'ledger_push_attempts'" in r.output, r.output
    assert [p.id for p in emu.alive()] == [leak.id] and not (repo.root / ".pgolf" / "alerts.md").exists()
    r = CliRunner().invoke(cli, [*base, "--reap-unknown", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert [a["pod_id"] for a in json.loads(r.output)["actions"]] == [leak.id] and emu.alive() == []


def test_a_stray_or_misspelt_key_never_blocks_the_reaper(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    """An unknown name belonged to no section, so it stopped every command: a key a later pgolf
    dropped, or a misspelt kill switch, kept a leaked pod billing until someone found the line.
    Now it stops the commands that may spend (they read every section), with a guess, and the
    reaper warns about it and reaps — a misspelt `PAUSED = true` included (the second review:
    a guessed name had made the reaper's own section block it)."""
    emu.boot_delay = 0.0
    s = make_settings(repo, sshd, tmp_path)
    leak = provider(s).create(spec("leak-3"))
    (repo.root / "pyproject.toml").write_text(
        "[tool.pgolf]\nPAUSED = true\ngrading_max_uds = 2\nlegacy_option_from_v0 = true\n"
    )
    env = {"PGOLF_SOMETHING_ELSE_ENTIRELY": "1"}
    base = ["--repo", str(repo.root), "-c", f"pod_ssh_user={s.pod_ssh_user}"]
    r = CliRunner().invoke(cli, [*base, "pods", "reap", "--reap-unknown", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert [a["pod_id"] for a in json.loads(r.stdout)["actions"]] == [leak.id] and emu.alive() == []
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 4, r.stderr
    assert any("legacy_option_from_v0" in w and "pyproject.toml" in w for w in warned)
    assert any("PGOLF_SOMETHING_ELSE_ENTIRELY" in w for w in warned)
    assert any("'PAUSED'; did you mean 'paused'?" in w for w in warned)
    assert any("'grading_max_uds'; did you mean 'grading_max_usd'?" in w for w in warned)
    r = CliRunner().invoke(cli, [*base, "pause", "--check"], env=env)  # the reaper workflow's first step
    assert r.exit_code == 0 and "did you mean 'paused'" in r.stderr, r.output
    # config show names every one, with its guess
    r = CliRunner().invoke(cli, [*base, "config", "show"], env=env)
    assert r.exit_code == 3
    assert "unknown setting 'grading_max_uds'; did you mean 'grading_max_usd'?" in r.output, r.output
    assert "legacy_option_from_v0" in r.output and "PGOLF_SOMETHING_ELSE_ENTIRELY" in r.output
    r = CliRunner().invoke(cli, [*base, "results", "show"], env=env)  # every section: stops
    assert r.exit_code == 3 and "unknown setting" in r.output
