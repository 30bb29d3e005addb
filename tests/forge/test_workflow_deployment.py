"""Workflow rules that matter on a real deployment: where tokens reach, where the runner's data
lives, how pgolf is installed, which runs refresh the dashboard, and the experimenter's capacity
step told apart from a failure (run for real with bash against a stand-in pgolf)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.forge.events import MAX_SEEDS
from tests.forge.test_workflows import WORKFLOWS, load, steps, triggers, workflow_files

INSTALL_GUARD = "if [ ! -x .venv/bin/pgolf ]; then"


def job(name: str) -> dict[str, Any]:
    (only,) = load(WORKFLOWS / name)["jobs"].values()
    return dict(only)


def step_named(j: dict[str, Any], needle: str) -> dict[str, Any]:
    found = [s for s in steps(j) if needle in (s.get("run") or "")]
    assert len(found) == 1, needle
    return found[0]


def test_experiment_holds_nothing_and_the_report_alone_posts_and_commits() -> None:
    j = job("experiment.yml")
    assert j["permissions"] == {} and "GITHUB_TOKEN" not in json.dumps(j) and "secrets." not in json.dumps(j)
    train = step_named(j, "pgolf train local")["run"]
    assert "--no-record" in train and "local.json" in train
    r = job("experiment-report.yml")
    runs = [s.get("run") or "" for s in steps(r)]
    assert any("pgolf command local-report" in x for x in runs)
    assert any("pgolf ledger commit --only results.tsv" in x for x in runs)
    assert not any("pgolf train" in x or "pgolf artifact" in x for x in runs)


def test_runner_data_lives_outside_the_workspace() -> None:
    for name, env in (
        ("experiment.yml", job("experiment.yml")["env"]),
        ("baseline.yml", load(WORKFLOWS / "baseline.yml")["jobs"]["baseline"]["env"]),
    ):
        assert env["PGOLF_DATA_DIR"] == "${{ vars.PGOLF_DATA_DIR || '~/pgolf-data' }}", name


def test_baseline_workflow() -> None:
    wf = load(WORKFLOWS / "baseline.yml")
    on = triggers(wf)
    assert on["push"] == {"branches": ["main"], "paths": ["training/**"]} and "workflow_dispatch" in on
    assert wf["concurrency"] == {"group": "pgolf-baseline", "cancel-in-progress": False}
    train, record = wf["jobs"]["baseline"], wf["jobs"]["record"]
    # The job that runs the training scripts holds nothing and uploads a claim.
    assert train["runs-on"] == ["self-hosted", "macOS", "ARM64"] and train["permissions"] == {}
    assert "GITHUB_TOKEN" not in json.dumps(train) and "secrets." not in json.dumps(train)
    runs = [s.get("run") or "" for s in steps(train)]
    assert any("pgolf train baseline --seeds 3 --json" in r for r in runs)
    assert not any("ledger commit" in r for r in runs)
    assert any("upload-artifact" in str(s.get("uses")) for s in steps(train))
    # The trusted job runs no training code and alone appends the rows.
    assert record["needs"] == "baseline" and record["runs-on"] == "ubuntu-latest"
    rruns = [s.get("run") or "" for s in steps(record)]
    assert any("pgolf command baseline-report" in r for r in rruns)
    assert any("pgolf ledger commit --only results.tsv" in r for r in rruns)
    assert not any("pgolf train" in r for r in rruns)


def test_commands_commit_the_ledger() -> None:
    j = job("commands.yml")
    assert j["permissions"]["contents"] == "write"
    last = steps(j)[-1]
    assert "pgolf ledger commit" in last["run"] and last["if"] == "${{ !cancelled() }}"
    assert j["concurrency"]["cancel-in-progress"] is False


def test_promote_installs_cpu_torch_and_mlx_and_keeps_merge_winner() -> None:
    jobs = load(WORKFLOWS / "promote.yml")["jobs"]
    install = step_named(jobs["gate"], "pip install")["run"]  # only the gate imports the scripts
    assert "--index-url https://download.pytorch.org/whl/cpu" in install and '"mlx[cpu]' in install
    assert install.index("download.pytorch.org") < install.index('pip install --quiet ".[torch,mlx]"')
    step_named(jobs["settle"], "pgolf experiment merge-winner")
    assert f"Seeds (1-{MAX_SEEDS})" in (WORKFLOWS / "promote.yml").read_text() and MAX_SEEDS == 8


def test_every_install_step_reads_requirements_and_never_pypi() -> None:
    all_steps = [
        (p, s) for p in workflow_files(WORKFLOWS) for j in load(p)["jobs"].values() for s in steps(j)
    ]
    assert len(all_steps) > 20
    for path, s in all_steps:
        if True:
            run = s.get("run") or ""
            if "pip install" not in run or path.name == "ci.yml":
                continue
            assert "requirements-bot.txt" in run and INSTALL_GUARD in run, path.name
            assert "install --quiet pgolf" not in run and '"pgolf[' not in run, path.name


def test_report_follows_every_ledger_writer() -> None:
    wr = triggers(load(WORKFLOWS / "report.yml"))["workflow_run"]
    assert "branches" not in wr
    writers = {
        load(p)["name"]
        for p in workflow_files(WORKFLOWS)
        if "pgolf ledger commit" in p.read_text() and p.name != "report.yml"
    }
    assert writers >= {"experimenter", "baseline", "commands"}
    assert writers <= set(wr["workflows"])


# --------------------------------------------------------------------------- experimenter capacity
def run_capacity(tmp_path: Path, stdout: str, code: int) -> tuple[int, str]:
    script = step_named(load(WORKFLOWS / "experimenter.yml")["jobs"]["propose"], "pgolf experiment capacity")[
        "run"
    ]
    bindir = tmp_path / ".venv" / "bin"
    bindir.mkdir(parents=True)
    fake = bindir / "pgolf"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{stdout}\nEOF\nexit {code}\n")
    fake.chmod(0o755)
    (bindir / "python").symlink_to(sys.executable)
    out = tmp_path / "github_output"
    out.write_text("")
    env = {**os.environ, "GITHUB_OUTPUT": str(out)}
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, out.read_text()


@pytest.mark.parametrize(
    ("stdout", "code", "rc", "output"),
    [
        ('{"ok": true, "reason": "2 of 3 open"}', 0, 0, "ok=true\n"),
        ('{"ok": false, "reason": "3 of 3 open"}', 1, 0, "ok=false\n"),
        ("Traceback (most recent call last): ...", 1, 1, ""),  # a crash also exits 1
        ("error: forge: 502 from GitHub", 8, 1, ""),
    ],
    ids=["capacity", "no-capacity", "crash", "forge-error"],
)
def test_experimenter_capacity_step(tmp_path: Path, stdout: str, code: int, rc: int, output: str) -> None:
    got_rc, got_output = run_capacity(tmp_path, stdout, code)
    assert (got_rc, got_output) == (rc, output)


def test_every_job_that_runs_python_brings_python_3_11_pinned() -> None:
    """Issue 13 item 4: no job relies on the runner's own Python (macOS ships 3.9)."""
    checked = 0
    for path in workflow_files(WORKFLOWS):
        for job_id, j in load(path)["jobs"].items():
            runs = [s.get("run") or "" for s in steps(j)]
            if not any("python" in r or ".venv/bin/" in r for r in runs):
                continue
            checked += 1
            setup = [s for s in steps(j) if str(s.get("uses", "")).startswith("actions/setup-python@")]
            assert setup, f"{path.name}:{job_id} runs Python without actions/setup-python"
            assert setup[0]["with"]["python-version"] == "3.11", f"{path.name}:{job_id}"
            first_python = next(i for i, r in enumerate(runs) if "python" in r or ".venv/bin/" in r)
            assert steps(j).index(setup[0]) < first_python, f"{path.name}:{job_id}: setup-python comes first"
            assert not any("python3 -m venv" in r for r in runs), (
                f"{path.name}:{job_id} uses the system python3"
            )
    assert checked >= 10
