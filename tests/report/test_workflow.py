"""report.yml: publishes the dashboard to Pages on ledger changes, least privilege, SHA-pinned."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "report.yml"


def _load() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def test_triggers_on_ledger_changes() -> None:
    wf = _load()
    paths = wf["on"]["push"]["paths"]
    assert {"results.tsv", "budget.json"} <= set(paths)
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in wf["on"]
    # the bot's ledger commits carry [skip ci]: the ledger writers trigger the dashboard instead
    run = wf["on"]["workflow_run"]
    assert run["types"] == ["completed"]
    assert {"research", "experiment-report", "promote"} <= set(run["workflows"])  # the ledger writers
    names = {yaml.safe_load(p.read_text())["name"] for p in WORKFLOW.parent.glob("*.yml")}
    assert set(run["workflows"]) <= names  # each named workflow exists


def test_least_privilege() -> None:
    wf = _load()
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    checkout = next(s for s in jobs["build"]["steps"] if "actions/checkout@" in s.get("uses", ""))
    assert checkout["with"]["persist-credentials"] is False


def test_actions_pinned_and_no_expressions_in_run() -> None:
    wf = _load()
    for job in wf["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if "run" in step:
                assert "${{" not in step["run"], step["run"]
    text = WORKFLOW.read_text()
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d", line), line  # the version is named beside the SHA


def test_builds_the_site_the_deploy_uploads() -> None:
    wf = _load()
    steps = wf["jobs"]["build"]["steps"]
    build = next(s for s in steps if "pgolf report" in s.get("run", ""))
    upload = next(s for s in steps if "upload-pages-artifact" in s.get("uses", ""))
    out = re.search(r"--out (\S+)", build["run"])
    assert out and upload["with"]["path"] == out.group(1)
    assert '--summary "$GITHUB_STEP_SUMMARY"' in build["run"]


def test_zizmor_finds_nothing() -> None:
    exe = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if exe is None:
        pytest.skip("zizmor is not installed")
    r = subprocess.run([exe, "--offline", "--no-progress", str(WORKFLOW)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pgolf_init_scaffolds_the_same_file() -> None:
    template = ROOT / "bot" / "templates" / "workflows" / "report.yml"
    assert template.read_bytes() == WORKFLOW.read_bytes()
