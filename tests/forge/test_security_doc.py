"""docs/security.md's per-job table is derived from the workflow files: it cannot drift.

Each row says what a job executes and what it holds. The test recomputes every row from
.github/workflows/*.yml AND from the templates `pgolf init` writes (bot/templates/workflows, which
must agree) and compares with the table between the SECURITY_TABLE markers in docs/security.md.
On a mismatch it prints the table to paste."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.forge.scaffold import workflow_templates
from tests.forge.test_workflows import WORKFLOWS, load, steps, triggers, workflow_files

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
START, END = "<!-- SECURITY_TABLE_START -->", "<!-- SECURITY_TABLE_END -->"
# The pgolf verbs that execute pull-request code (inside bot.sandbox) from a default-branch install.
SANDBOXED_PR_CODE = "pgolf promote gate"
HEADER = "| workflow | job | runner | file run is from | executes | holds | token permissions | environment |"


def _file_source(on: dict[str, Any]) -> str:
    if "pull_request" in on:
        return "the PR (pull_request)"
    return "default branch"


def _executes(on: dict[str, Any], job: dict[str, Any]) -> str:
    runs = [s.get("run") or "" for s in steps(job)]
    if not any(runs):
        return "no code of ours"
    pr_checkout = False
    for s in steps(job):
        if str(s.get("uses", "")).startswith("actions/checkout@"):
            ref = str((s.get("with") or {}).get("ref", ""))
            path = (s.get("with") or {}).get("path")
            if not path and ("pull_request.head" in ref or (not ref and "pull_request" in on)):
                pr_checkout = True
    if pr_checkout:
        return "PR code"
    if any("pgolf experiment check" in r for r in runs):
        return "model-written code (sandboxed)"
    if any(SANDBOXED_PR_CODE in r for r in runs):  # promote.yml's parity gate imports the PR's scripts
        return "PR code (sandboxed)"
    if any("pgolf train" in r for r in runs):
        return "default-branch training code"
    return "default-branch pgolf"


def _holds(job: dict[str, Any]) -> str:
    text = json.dumps(job)
    held = sorted(set(re.findall(r"secrets\.([A-Z0-9_]+)", text)))
    if "github.token" in text:
        held.append("GITHUB_TOKEN")
    if (job.get("permissions") or {}).get("id-token") == "write":
        held.append("OIDC token")
    return ", ".join(held) if held else "nothing"


def _perms(job: dict[str, Any]) -> str:
    p = job.get("permissions") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(p.items())) if p else "none"


def _runner(job: dict[str, Any]) -> str:
    r = job.get("runs-on")
    return "self-hosted Mac" if isinstance(r, list) and "self-hosted" in r else str(r)


def rows_for(name: str, wf: dict[str, Any]) -> list[str]:
    on = triggers(wf)
    out = []
    for job_id, job in wf["jobs"].items():
        env = job.get("environment")
        env_name = env.get("name") if isinstance(env, dict) else env
        out.append(
            f"| {name} | {job_id} | {_runner(job)} | {_file_source(on)} | {_executes(on, job)} | "
            f"{_holds(job)} | {_perms(job)} | {env_name or '-'} |"
        )
    return out


def expected_table(folder_wfs: dict[str, dict[str, Any]]) -> str:
    lines = [HEADER, "|" + "---|" * 8]
    for name in sorted(folder_wfs):
        lines += rows_for(name, folder_wfs[name])
    return "\n".join(lines)


def documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text, f"{DOC}: the table markers are missing"
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def _load_bytes(data: bytes) -> dict[str, Any]:
    wf = yaml.safe_load(data)
    if True in wf:
        wf["on"] = wf.pop(True)
    return dict(wf)


def test_the_table_matches_the_repository_workflows() -> None:
    wfs = {p.name: load(p) for p in workflow_files(WORKFLOWS)}
    want = expected_table(wfs)
    assert documented_table() == want, "docs/security.md is out of date; the table should read:\n\n" + want


def test_the_table_matches_what_pgolf_init_writes() -> None:
    wfs = {name: _load_bytes(data) for name, data in workflow_templates().items()}
    assert documented_table() == expected_table(wfs)


def test_the_table_catches_drift(tmp_path: Path) -> None:
    """Giving the untrusted job a token changes its row, so the test above would fail."""
    wf = load(WORKFLOWS / "experiment.yml")
    before = rows_for("experiment.yml", wf)
    (job,) = wf["jobs"].values()
    job["permissions"] = {"contents": "write"}
    job["env"]["GITHUB_TOKEN"] = "${{ github.token }}"
    after = rows_for("experiment.yml", wf)
    assert before != after and "GITHUB_TOKEN" in after[0] and "contents: write" in after[0]


@pytest.mark.parametrize("row", [r for r in documented_table().splitlines()[2:]] if DOC.exists() else [])
def test_pr_code_never_holds_anything(row: str) -> None:
    cells = [c.strip() for c in row.strip("|").split("|")]
    executes, holds, perms, env = cells[4], cells[5], cells[6], cells[7]
    if executes.startswith("PR code") or executes in (
        "default-branch training code",
        "model-written code (sandboxed)",
    ):
        assert holds == "nothing" and "write" not in perms and env == "-", row
