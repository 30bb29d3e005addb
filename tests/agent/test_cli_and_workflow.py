"""`pgolf experiment …` end to end (offline proposer, local forge) and experimenter.yml's hygiene."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.forge.local import LocalForge
from tests.agent.conftest import PROJECT, git, read_jsonl

WORKFLOW = PROJECT / ".github" / "workflows" / "experimenter.yml"
SHA_RE = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def run(repo: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--repo", str(repo), *args], catch_exceptions=False)


@pytest.mark.slow
def test_offline_propose_opens_a_validated_pr(repo: Path, tiny_data: Path) -> None:
    res = run(
        repo, "-c", f"experimenter_smoke_data={tiny_data}", "experiment", "propose", "--offline", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    p = out["proposal"]
    assert out["ok"] and out["pushed"] and p["status"] == "opened" and p["proposer"] == "offline"
    # highest graded untried item: the schedule paper (12/15) → the warmdown entry of the menu
    assert p["item_id"] == "arxiv:2401.00001" and p["menu_key"] == "warmdown-longer"
    assert [c["name"] for c in p["checks"]] == [
        "scope",
        "patch",
        "static",
        "import",
        "artifact",
        "parity",
        "smoke",
    ]
    pr = LocalForge(repo).get_pr(p["pr"])
    assert pr.head_ref == f"exp/{p['slug']}" and "Research-Item: arxiv:2401.00001" in pr.body
    assert '"WARMDOWN_ITERS", 1800' in git(repo, "show", f"{pr.head_ref}:training/train_gpt_mlx.py")

    listed = json.loads(run(repo, "experiment", "list", "--json").stdout)
    assert [x["slug"] for x in listed] == [p["slug"]]

    # the next offline proposal moves on to the next untried item (and another menu entry)
    from bot.agent.proposer import propose
    from bot.agent.validate import Validator, check_patch, check_scope
    from bot.config import load_settings

    s = load_settings(repo, env={})
    nxt = propose(
        repo, s, forge=None, validator=Validator(repo, s, checks=[check_scope, check_patch]), dry_run=True
    )
    p2 = nxt.proposal
    assert (
        p2.status == "dry-run"
        and p2.item_id == "arxiv:2401.00002"
        and p2.extra["menu_key"] != "warmdown-longer"
    )
    assert len(LocalForge(repo).list_open_prs("exp/")) == 1  # a dry run pushes nothing
    assert (repo / p2.patch_path).is_file()


def test_capacity_command_exit_codes(repo: Path) -> None:
    res = run(repo, "-c", "experimenter_max_open_prs=1", "experiment", "capacity", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True
    git(repo, "branch", "exp/busy")
    LocalForge(repo).open_pr("exp/busy", "main", "[exp] busy", "")
    res = run(repo, "-c", "experimenter_max_open_prs=1", "experiment", "capacity")
    assert res.exit_code == 1 and "1 open experiment PR(s), the limit is 1" in res.stdout


def test_propose_bad_input_is_a_clear_error(repo: Path, tiny_data: Path) -> None:
    res = run(
        repo,
        "-c",
        f"experimenter_smoke_data={tiny_data}",
        "experiment",
        "propose",
        "--offline",
        "--from-item",
        "nope:1",
    )
    assert res.exit_code == 2 and "--from-item" in res.output and "nope:1" in res.output
    res = run(repo, "-c", f"experimenter_smoke_data={repo}", "experiment", "propose", "--offline")
    assert res.exit_code != 0 and "experimenter_smoke_data" in res.output
    assert read_jsonl(repo / "research" / "proposals.jsonl") == []  # nothing written half-way


def test_auto_promote_command_reports_policy_off(repo: Path) -> None:
    git(repo, "branch", "exp/one")
    LocalForge(repo).open_pr("exp/one", "main", "[exp] one", "", ["promote-candidate"])
    res = run(repo, "experiment", "auto-promote", "--json")
    assert res.exit_code == 0
    assert [(d["pr"], d["labelled"]) for d in json.loads(res.stdout)] == [(1, False)]


# --------------------------------------------------------------------------- the workflow
@pytest.fixture(scope="module")
def wf() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_workflow_is_scheduled_off_by_default_and_serialised(wf: dict[str, Any]) -> None:
    assert wf["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in wf["on"]
    assert list(wf["jobs"]) == ["propose", "check-1", "revise", "check-2", "publish"]
    job = wf["jobs"]["propose"]
    assert "vars.PGOLF_EXPERIMENTER == 'true'" in job["if"]  # off unless the repository variable says so
    assert wf["concurrency"] == {"group": "pgolf-experimenter", "cancel-in-progress": False}
    runs = {name: _runs(j) for name, j in wf["jobs"].items()}
    assert "pgolf experiment capacity" in runs["propose"] and "pgolf experiment draft" in runs["propose"]
    draft = next(s for s in job["steps"] if s.get("id") == "draft")
    assert draft["if"] == "steps.capacity.outputs.ok == 'true'"
    for cmd in ("pgolf experiment publish", "pgolf experiment auto-promote", "pgolf ledger commit"):
        assert cmd in runs["publish"]
    assert "pgolf experiment revise" in runs["revise"]
    # the archive is committed whatever happened to the checks and the revision
    assert "!cancelled()" in wf["jobs"]["publish"]["if"]
    assert wf["jobs"]["publish"]["needs"] == ["propose", "check-1", "revise", "check-2"]


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _secrets(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.([A-Z0-9_]+)", json.dumps(job)))


def test_model_written_code_runs_only_in_jobs_that_hold_nothing(wf: dict[str, Any]) -> None:
    """Issue 13 item 2: the jobs that execute the candidate have permissions {}, no secret, no
    token, no environment and no checkout; propose/revise hold only the Anthropic key and run no
    candidate code; publish holds the App key, not the Anthropic key, and runs no candidate code."""
    jobs = wf["jobs"]
    executing = {n for n, j in jobs.items() if "pgolf experiment check" in _runs(j)}
    assert executing == {"check-1", "check-2"}
    for n in executing:
        j = jobs[n]
        text = json.dumps(j)
        assert j["permissions"] == {} and "environment" not in j, n
        assert "secrets." not in text and "github.token" not in text and "GITHUB_TOKEN" not in text, n
        assert not any("actions/checkout@" in str(s.get("uses")) for s in j["steps"]), n
        assert "torch" in _runs(j)  # the only jobs that install what the checks need
    for n in ("propose", "revise"):
        j = jobs[n]
        assert _secrets(j) == {"ANTHROPIC_API_KEY"} and "GH_APP" not in json.dumps(j), n
        assert set(j["permissions"].values()) == {"read"}, n
        assert "torch" not in _runs(j) and "pgolf experiment check" not in _runs(j), n
        assert "pgolf experiment propose" not in _runs(j) and "pgolf train" not in _runs(j), n
    pub = jobs["publish"]
    assert _secrets(pub) == {"PGOLF_APP_PRIVATE_KEY"} and "ANTHROPIC" not in json.dumps(pub)
    for needle in (
        "torch",
        "mlx",
        "pgolf experiment check",
        "pgolf experiment propose",
        "pgolf train",
        "training/",
    ):
        assert needle not in _runs(pub), needle
    # every digest a job trusts comes from the output of the job that wrote the bundle
    assert jobs["check-1"]["env"]["DIGEST"] == "${{ needs.propose.outputs.digest }}"
    assert jobs["revise"]["env"]["DIGEST"] == "${{ needs.propose.outputs.digest }}"
    assert jobs["check-2"]["env"]["DIGEST"] == "${{ needs.revise.outputs.digest }}"
    assert pub["env"]["DIGEST_1"] == "${{ needs.propose.outputs.digest }}"
    assert pub["env"]["DIGEST_2"] == "${{ needs.revise.outputs.digest }}"
    assert jobs["propose"]["outputs"]["digest"] == "${{ steps.draft.outputs.digest }}"


def test_the_check_job_refuses_a_swapped_source(wf: dict[str, Any], tmp_path: Path) -> None:
    """The unpack step of a check job (run for real with bash) accepts the propose job's source
    archive and refuses any other bytes before anything is installed from it."""
    step = next(s for s in wf["jobs"]["check-1"]["steps"] if s.get("name", "").startswith("Unpack"))
    src = tmp_path / "src"
    (src / "training").mkdir(parents=True)
    (src / "training" / "x.py").write_text("x = 1\n")
    temp = tmp_path / "runner-temp"
    (temp / "source").mkdir(parents=True)
    archive = temp / "source" / "source.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(src), "training"], check=True)
    import hashlib

    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    for digest, ok in ((good, True), ("0" * 64, False)):
        work = tmp_path / f"work-{ok}"
        work.mkdir()
        env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(temp), "SOURCE_SHA256": digest}
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=work, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (proc.returncode == 0) is ok, proc.stderr
        assert (work / "training" / "x.py").is_file() is ok


def test_workflow_least_privilege_pins_and_env_only_untrusted_text(wf: dict[str, Any]) -> None:
    assert wf["permissions"] == {}
    for job in wf["jobs"].values():
        assert set(job["permissions"]) <= {"contents", "pull-requests", "issues"}
        for step in job["steps"]:
            if "uses" in step:
                assert SHA_RE.match(step["uses"]), step["uses"]
                assert step.get("with", {}).get("persist-credentials") in (None, False)
            assert "${{" not in step.get("run", ""), step.get("name")
    assert wf["jobs"]["propose"]["env"]["ITEM"] == "${{ inputs.item }}"
    # the same action pins as every other workflow of the project (download-artifact is new here)
    others = {
        m
        for p in WORKFLOW.parent.glob("*.yml")
        if p != WORKFLOW
        for m in re.findall(r"uses: (\S+@[0-9a-f]{40})", p.read_text())
    }
    mine = set(re.findall(r"uses: (\S+@[0-9a-f]{40})", WORKFLOW.read_text()))
    if others:
        assert {m for m in mine if not m.startswith("actions/download-artifact@")} <= others


def test_zizmor_reports_nothing(tmp_path: Path) -> None:
    exe = shutil.which("zizmor") or str(Path(PROJECT / ".venv" / "bin" / "zizmor"))
    if not Path(exe).exists():
        pytest.skip("zizmor is not installed (a [dev] dependency: scripts/setup.sh installs it)")
    proc = subprocess.run([exe, "--offline", str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_merge_winner_command_policy_and_bad_significance_file(repo: Path, tmp_path: Path) -> None:
    git(repo, "branch", "exp/one")
    LocalForge(repo).open_pr("exp/one", "main", "[exp] one", "")
    res = run(repo, "experiment", "merge-winner", "--pr", "1", "--no-rebaseline", "--json")
    # "nothing to merge" is an answer, not a failure: promote.yml runs this after every promotion.
    assert res.exit_code == 0 and json.loads(res.stdout)["action"] == "none"
    assert "auto_merge_winners" in json.loads(res.stdout)["reason"]
    bad = tmp_path / "sig.json"
    bad.write_text('{"record_grade": "yes"}')
    res = run(repo, "experiment", "merge-winner", "--pr", "1", "--record", "--significance", str(bad))
    assert res.exit_code == 2 and "record_grade" in res.output and str(bad) in res.output
    assert not LocalForge(repo).get_pr(1).merged


@pytest.mark.parametrize(
    ("code", "rc", "outputs"), [(0, 0, "status=candidate\ndigest=" + "a" * 64 + "\n"), (7, 0, "")]
)
def test_the_draft_step_tolerates_a_failed_draft(
    wf: dict[str, Any], tmp_path: Path, code: int, rc: int, outputs: str
) -> None:
    """Run for real with bash against a stand-in pgolf: a draft that fails is a warning, so the
    publish job still applies the auto-promotion policy and commits the archive (as before the
    split); a draft that succeeds hands its status and digest to the job outputs."""
    step = next(s for s in wf["jobs"]["propose"]["steps"] if s.get("id") == "draft")
    bindir = tmp_path / ".venv" / "bin"
    bindir.mkdir(parents=True)
    fake = bindir / "pgolf"
    # the stand-in writes to --outputs like the real command, then exits with `code`
    fake.write_text(
        '#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ "$1" = --outputs ]; then out=$2; fi; shift; done\n'
        f'[ {code} = 0 ] && printf "status=candidate\\ndigest=%s\\n" {"a" * 64} >> "$out"\nexit {code}\n'
    )
    fake.chmod(0o755)
    gh_out = tmp_path / "github_output"
    gh_out.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_OUTPUT": str(gh_out),
        "RUNNER_TEMP": str(tmp_path),
        "ITEM": "",
        "OFFLINE": "",
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == rc, proc.stderr
    assert gh_out.read_text() == outputs
    assert ("::warning::" in proc.stdout) is (code != 0)


def test_a_rerun_of_any_job_can_upload_its_artifact_again(wf: dict[str, Any]) -> None:
    """An unlucky user presses "Re-run all jobs" (or re-runs a job whose upload already happened):
    a re-run is the same workflow run, and upload-artifact v4 refuses a second artifact of the same
    name (409 Conflict) unless told to overwrite. Without it the re-run propose job spends the
    model budget, then fails at its upload, and publish (skipped) never archives that spend.
    Overwriting is safe: every bundle is pinned by its job's digest output and every verdict by
    the candidate's bytes, so a stale artifact from an earlier attempt is refused, never trusted."""
    uploads = [
        (name, step)
        for name, job in wf["jobs"].items()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert {n for n, _ in uploads} == {"propose", "check-1", "revise", "check-2"}
    for name, step in uploads:
        assert step["with"].get("overwrite") is True, (name, step["with"]["name"])
    # a re-run of a check job needs the source snapshot as long as it needs the proposal
    days = {step["with"]["name"]: step["with"]["retention-days"] for _, step in uploads}
    assert days["source"] >= days["proposal-1"], days


def test_no_workflow_restores_an_actions_cache() -> None:
    """What the artifact/cache token of a check job could still do, were the sandbox breached to
    the runner's uid: that token (ACTIONS_RUNTIME_TOKEN, given to node actions, not to run steps)
    writes Actions cache entries scoped to the run's ref — the default branch for a scheduled run,
    which every branch's jobs may restore. So no pgolf workflow restores a cache (actions/cache,
    or setup-python's ``cache:``): a poisoned entry would reach a job that holds a key."""
    workflows = WORKFLOW.parent
    for path in sorted(workflows.glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        for name, job in (data.get("jobs") or {}).items():
            for step in job.get("steps") or []:
                uses = str(step.get("uses", ""))
                assert not uses.startswith("actions/cache"), (path.name, name, uses)
                if uses.startswith("actions/setup-"):
                    assert "cache" not in (step.get("with") or {}), (path.name, name, uses)
