"""Static checks of every workflow (ours and the other issues'), zizmor, the App manifest, and
`pgolf init` output passing the same checks. (actionlint is not installable offline: its PyPI
wrapper downloads a binary, so it is not run here.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.forge.scaffold import manifest_bytes, workflow_templates

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
OURS = (
    "research.yml",
    "breaking-news.yml",
    "experiment.yml",
    "experiment-report.yml",
    "promote.yml",
    "commands.yml",
    "reaper.yml",
    "ci.yml",
)
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
RESEARCH_GROUP = "pgolf-research"  # research and breaking news: both rewrite program.md
PERMISSION_LEVEL = {"none": 0, "read": 1, "write": 2}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def triggers(wf: dict[str, Any]) -> dict[str, Any]:
    on = wf["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def check_workflow(path: Path) -> None:
    """The invariants every workflow must hold."""
    wf = load(path)
    name = path.name
    assert wf.get("permissions") == {}, f"{name}: top-level permissions must be {{}}"
    if "pull_request_target" in triggers(wf):
        # Runs the default branch's file with secrets: allowed only where no PR file is checked out
        # into the workspace (objects only, under a separate path) and nothing of it is executed.
        for job_id, job in wf["jobs"].items():
            for step in steps(job):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    w = step.get("with") or {}
                    assert w.get("ref") == "${{ github.event.repository.default_branch }}" or (
                        w.get("path") and "pull" in str(w.get("ref"))
                    ), f"{name}:{job_id}: pull_request_target must not check out the PR as the workspace"
                assert "training/" not in (step.get("run") or ""), f"{name}:{job_id} runs PR code"
    for job_id, job in wf["jobs"].items():
        holds = "secrets." in json.dumps(job)
        if holds:
            env = job.get("environment")
            assert env in ("pgolf", "pgolf-runpod"), (
                f"{name}:{job_id}: secrets only from pgolf's environments"
            )
            if env == "pgolf-runpod":  # the paid zone: the RunPod key and nothing else
                held = set(re.findall(r"secrets\.([A-Z0-9_]+)", json.dumps(job)))
                assert held == {"RUNPOD_API_KEY"}, f"{name}:{job_id}: pgolf-runpod holds {held}"
        if "pull_request" in triggers(wf):
            # A pull_request event runs the PR's own copy of the file: nothing may be held there.
            assert not holds and "environment" not in job, f"{name}:{job_id}: pull_request job holds secrets"
    for job_id, job in wf["jobs"].items():
        where = f"{name}:{job_id}"
        assert isinstance(job.get("permissions"), dict), f"{where}: explicit least permissions required"
        for scope, level in job["permissions"].items():
            assert level in ("read", "write", "none"), f"{where}: {scope}: {level}"
        for step in steps(job):
            uses = step.get("uses")
            if uses and not uses.startswith("./"):
                assert SHA_PIN.match(uses), f"{where}: {uses} is not pinned to a full commit SHA"
                if uses.startswith("actions/checkout@"):
                    assert (step.get("with") or {}).get("persist-credentials") is False, (
                        f"{where}: checkout must not persist credentials"
                    )
            run = step.get("run")
            if run is not None:
                assert "${{" not in run, f"{where}: expression inside run: (pass it through env:)"
        if any("pgolf ledger commit" in (s.get("run") or "") for s in steps(job)):
            conc = job.get("concurrency") or wf.get("concurrency")
            # promote.yml's settle job books money already reserved: a group would cancel a pending
            # settle when a third one arrives (test_zones.py); the semantic ledger merge serializes it.
            if (name, job_id) != ("promote.yml", "settle"):
                assert conc, f"{where}: writes the ledger without a concurrency group"
            else:
                assert not conc, f"{where}: a group cancels pending settlements"


def workflow_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))


def test_all_of_ours_exist() -> None:
    present = {p.name for p in workflow_files(WORKFLOWS)}
    assert set(OURS) <= present


@pytest.mark.parametrize("path", workflow_files(WORKFLOWS), ids=lambda p: p.name)
def test_workflow_invariants(path: Path) -> None:
    check_workflow(path)


def test_specific_rules() -> None:
    exp = load(WORKFLOWS / "experiment.yml")
    (job,) = exp["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "macOS", "ARM64"]
    # The untrusted job holds nothing: no permission, no secret, no token, no environment.
    assert job["permissions"] == {} and "environment" not in job
    text = (WORKFLOWS / "experiment.yml").read_text()
    for needle in ("secrets.", "GH_APP", "github.token", "GITHUB_TOKEN", "ledger commit", "pgolf command"):
        assert needle not in text, needle
    assert "concurrency" not in exp  # job-level, so skipped label runs never cancel a local run
    assert any("upload-artifact" in str(s.get("uses")) for s in steps(job))

    report = load(WORKFLOWS / "experiment-report.yml")
    assert triggers(report) == {
        "workflow_run": {"workflows": ["experiment", "experiment-linux"], "types": ["completed"]}
    }
    (rjob,) = report["jobs"].values()
    assert rjob["runs-on"] == "ubuntu-latest" and rjob["environment"] == "pgolf"
    assert steps(rjob)[0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert not any(
        "training/" in (s.get("run") or "") or "pgolf train" in (s.get("run") or "") for s in steps(rjob)
    )
    assert any("--only results.tsv" in (s.get("run") or "") for s in steps(rjob))

    promote = load(WORKFLOWS / "promote.yml")
    assert list(promote["jobs"]) == ["plan", "gate", "reserve", "paid", "settle"]
    pjob = promote["jobs"]["plan"]
    assert pjob["concurrency"] == {
        "group": "pgolf-promote-${{ github.event.pull_request.number || github.event.issue.number || inputs.pr }}",
        "cancel-in-progress": False,
    }
    assert set(triggers(promote)) == {"pull_request_target", "issue_comment", "workflow_dispatch"}
    assert triggers(promote)["workflow_dispatch"]["inputs"]["sha"]["required"] is True
    for job_id, job in promote["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", job_id
        assert steps(job)[0]["with"]["ref"] == "${{ github.event.repository.default_branch }}", job_id
        assert not any("training/" in (s.get("run") or "") for s in steps(job)), job_id  # no PR file run
    assert any("pgolf promote plan" in (s.get("run") or "") for s in steps(pjob))
    assert promote["jobs"]["settle"]["if"] == "${{ always() && needs.reserve.result == 'success' }}"

    commands = load(WORKFLOWS / "commands.yml")
    assert set(triggers(commands)) == {"issue_comment", "pull_request_target"}
    assert triggers(commands)["pull_request_target"] == {"types": ["synchronize"]}
    assert triggers(commands)["issue_comment"] == {"types": ["created"]}
    (cjob,) = commands["jobs"].values()
    assert any("--skip promote" in (s.get("run") or "") for s in steps(cjob))

    crons = {
        n: triggers(load(WORKFLOWS / n))["schedule"][0]["cron"]
        for n in ("research.yml", "breaking-news.yml", "reaper.yml")
    }
    assert crons["research.yml"].split()[1] == "*/6"
    assert crons["breaking-news.yml"].split()[1:] == ["*", "*", "*", "*"]
    assert crons["reaper.yml"].split()[0] == "*/15"
    for n in ("research.yml", "breaking-news.yml"):
        assert load(WORKFLOWS / n)["concurrency"] == {"group": RESEARCH_GROUP, "cancel-in-progress": False}
    ci = load(WORKFLOWS / "ci.yml")
    assert {"push", "pull_request"} <= set(triggers(ci))


def test_pr_triggered_workflows_with_secrets_never_check_out_pr_code() -> None:
    for path in workflow_files(WORKFLOWS):
        wf = load(path)
        if not {"pull_request", "pull_request_target", "issue_comment"} & set(triggers(wf)):
            continue
        for job_id, job in wf["jobs"].items():
            if "secrets." not in json.dumps(job):
                continue
            for step in steps(job):
                if str(step.get("uses", "")).startswith("actions/checkout@") and not (
                    step.get("with") or {}
                ).get("path"):
                    assert step["with"].get("ref") == "${{ github.event.repository.default_branch }}", (
                        f"{path.name}:{job_id}"
                    )
            for step in steps(job):
                assert "training/" not in (step.get("run") or ""), f"{path.name}:{job_id} runs PR code"


TRUSTED_ASSOCIATION_FILTER = (
    'contains(fromJSON(\'["OWNER", "MEMBER", "COLLABORATOR"]\'), github.event.comment.author_association)'
)


@pytest.mark.parametrize("name", ["promote.yml", "commands.yml"])
def test_outsiders_never_enter_a_concurrency_group(name: str) -> None:
    """The job-level `if:` pre-filters comments (collaborators, not bots, a leading slash) before
    the job, and so its concurrency group, exists; the group is per pull request. (promote.yml's
    later jobs all need its entry job, the plan.)"""
    jobs = load(WORKFLOWS / name)["jobs"]
    job = next(iter(jobs.values()))
    for later in list(jobs.values())[1:]:
        assert later.get("needs"), "every later job waits for the pre-filtered entry job"
    cond = " ".join(job["if"].split())
    comment_clause = next(c for c in cond.split("||") if "issue_comment" in c)
    assert TRUSTED_ASSOCIATION_FILTER in comment_clause
    assert "github.event.comment.user.type != 'Bot'" in comment_clause
    assert "startsWith(github.event.comment.body, '/" in comment_clause
    assert "contains(github.event.comment.body" not in cond  # anywhere in the text is not a command
    # A workflow-level group is entered by EVERY run (any outsider's comment, any push) before a
    # job's `if:` is read, and a newcomer cancels the pending run in it (a maintainer's `/abort`).
    assert "concurrency" not in load(WORKFLOWS / name), f"{name}: concurrency must be job-level"
    group = str(job["concurrency"]["group"])
    assert "github.event.issue.number" in group
    if "pull_request_target" in cond and name == "commands.yml":  # the PR author's pushes
        # (synchronize) queue apart from comment commands; promote.yml's labels need triage
        assert "github.event_name" in group


def test_templates_are_the_single_source() -> None:
    templates = workflow_templates()
    assert set(OURS) <= set(templates)
    for name, data in templates.items():
        assert (WORKFLOWS / name).read_bytes() == data, (
            f"{name}: .github/workflows and bot/templates/workflows differ"
        )


def app_jobs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for path in workflow_files(WORKFLOWS):
        wf = load(path)
        for job in wf["jobs"].values():
            if "GH_APP_ID" in json.dumps(job):
                out.append((wf, job))
    return out


def test_app_manifest_matches_what_the_workflows_use() -> None:
    manifest = json.loads(manifest_bytes())
    needed: dict[str, str] = {"metadata": "read"}
    events: set[str] = set()
    for wf, job in app_jobs():
        for scope, level in job["permissions"].items():
            key = scope.replace("-", "_")
            if PERMISSION_LEVEL[level] > PERMISSION_LEVEL.get(needed.get(key, "none"), 0):
                needed[key] = level
        on = {"pull_request" if t == "pull_request_target" else t for t in triggers(wf)}
        events |= on & {
            "pull_request",
            "issue_comment",
            "push",
            "issues",
            "pull_request_review",
        }
    assert manifest["default_permissions"] == needed
    assert set(manifest["default_events"]) == events
    assert manifest["hook_attributes"]["active"] is False and manifest["public"] is False


def zizmor() -> str:
    exe = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(exe).exists():
        pytest.fail("zizmor is a dev dependency and must be installed")
    return exe


def run_zizmor(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [zizmor(), "--offline", "--no-progress", *extra, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ignores_have_reasons(folder: Path) -> None:
    """Every `# zizmor: ignore[...]` carries a written reason: a comment on the lines just above."""
    for path in workflow_files(folder):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "zizmor: ignore[" not in line:
                continue
            above = []
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#"):
                above.append(lines[j].strip("# ").strip())
                j -= 1
            assert len(" ".join(above).split()) >= 8, (
                f"{path.name}:{i + 1}: an ignore without a written reason"
            )


@pytest.mark.parametrize("where", ["repository", "init"])
def test_zizmor_auditor_persona_leaves_nothing_unexplained(where: str, tmp_path: Path) -> None:
    """`zizmor --offline --persona=auditor`: no finding, except inline ignores with a written reason."""
    folder = WORKFLOWS
    if where == "init":
        folder = tmp_path / ".github" / "workflows"
        folder.mkdir(parents=True)
        for name, data in workflow_templates().items():
            (folder / name).write_bytes(data)
    proc = run_zizmor(folder, "--persona=auditor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr
    _ignores_have_reasons(folder)


def test_zizmor_reports_nothing() -> None:
    proc = run_zizmor(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_zizmor_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "wf"
    bad.mkdir()
    text = (WORKFLOWS / "commands.yml").read_text()
    text = text.replace(
        ".venv/bin/pgolf command run", 'echo "${{ github.event.comment.body }}"; .venv/bin/pgolf command run'
    )
    (bad / "commands.yml").write_text(text)
    proc = run_zizmor(bad / "commands.yml")
    assert proc.returncode != 0 and "template-injection" in proc.stdout
    with pytest.raises(AssertionError, match="expression inside run"):
        check_workflow(bad / "commands.yml")


def test_init_scaffold_passes_the_same_checks(tmp_path: Path) -> None:
    from bot.budget import load as budget_load
    from bot.cli import cli
    from bot.config import Settings
    from bot.ledger import HEADER

    target = tmp_path / "lab"
    res = CliRunner().invoke(cli, ["init", str(target)])
    assert res.exit_code == 0, res.output
    assert (
        "Remaining manual steps" in res.output
        and "PGOLF_APP_PRIVATE_KEY" in res.output
        and "self-hosted, macOS, ARM64" in res.output
    )
    flows = target / ".github" / "workflows"
    for path in workflow_files(flows):
        check_workflow(path)
    assert {p.name for p in workflow_files(flows)} >= set(OURS)
    proc = run_zizmor(flows)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((target / ".github" / "pgolf-app-manifest.json").read_text()) == json.loads(
        manifest_bytes()
    )
    assert (target / "results.tsv").read_text() == HEADER + "\n"
    assert budget_load(target / "budget.json", Settings()).spent == 0
    assert "<!-- RESEARCH_START -->" in (target / "program.md").read_text()
    assert (target / "training" / "train_gpt.py").read_bytes() == (
        ROOT / "training" / "train_gpt.py"
    ).read_bytes()
    assert (target / ".git").is_dir()
    # A second init keeps everything; a corrupt budget is an error, never reset.
    (target / "program.md").write_text("mine\n")
    res = CliRunner().invoke(cli, ["init", str(target), "--json"])
    data = json.loads(res.output)
    assert data["created"] == [] and (target / "program.md").read_text() == "mine\n"
    (target / "budget.json").write_text("{")
    res = CliRunner().invoke(cli, ["init", str(target), "--force"])
    assert res.exit_code != 0 and "budget.json" in res.output and (target / "budget.json").read_text() == "{"


def test_every_paid_or_scheduled_workflow_checks_the_kill_switch_first() -> None:
    """Issue 15 item 7: one repository variable (PGOLF_PAUSED, set by `pgolf pause` users with
    `gh variable set`) stops research, breaking news, the experimenter and promotions before
    anything is installed; the reaper keeps running and, paused, stops every pod."""
    for name in ("research.yml", "breaking-news.yml", "experimenter.yml", "promote.yml"):
        for job_id, job in load(WORKFLOWS / name)["jobs"].items():
            cond = " ".join(str(job.get("if") or "").removeprefix("${{").removesuffix("}}").split())
            if (name, job_id) == ("promote.yml", "settle"):
                # settling books what was already reserved (and releases what was never rented):
                # like the reaper, it runs while paused
                assert "PGOLF_PAUSED" not in cond and cond.startswith("always()"), cond
                continue
            assert cond.startswith("vars.PGOLF_PAUSED != 'true'"), f"{name}:{job_id}: {cond!r}"
    reaper = load(WORKFLOWS / "reaper.yml")["jobs"]["reap"]
    runs = [s.get("run") or "" for s in steps(reaper)]
    first_pgolf = next(i for i, r in enumerate(runs) if "pgolf " in r and "pip install" not in r)
    assert "pgolf pause --check" in runs[first_pgolf]
    assert reaper["env"]["PGOLF_PAUSED"] == "${{ vars.PGOLF_PAUSED || 'false' }}"
    assert any("pgolf pods reap --observe-out" in r for r in runs)
    book = load(WORKFLOWS / "reaper.yml")["jobs"]["book"]
    assert any(
        "pgolf pods reap --observations" in (s.get("run") or "") and "--alerts" in s["run"]
        for s in steps(book)
    )
    assert book["if"] == "${{ always() }}"  # a failed reap job is still alerted on (App key)
    assert any(
        "pgolf alerts raise" in (s.get("run") or "") and "failure()" in str(s.get("if")) for s in steps(book)
    )
    promote = load(WORKFLOWS / "promote.yml")["jobs"]["paid"]
    uploads = [s for s in steps(promote) if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    logs = [u for u in uploads if u["with"]["name"] == "pgolf-run-logs"]
    assert len(logs) == 1 and logs[0]["with"]["retention-days"] == 30
    assert "!.pgolf/runs/*/ssh/" in logs[0]["with"]["path"]  # a run's key never leaves the runner
    assert any("pgolf logs stream" in (s.get("run") or "") for s in steps(promote))


def _runs_per_day(cron: str) -> int:
    """How many times a day a five-field cron with only `*`, `*/N`, N and N,M in minute/hour fires."""

    def count(field: str, span: int) -> int:
        if field == "*":
            return span
        if field.startswith("*/"):
            return len(range(0, span, int(field[2:])))
        return len(field.split(","))

    minute, hour = cron.split()[:2]
    return count(minute, 60) * count(hour, 24)


def test_no_scheduled_run_waits_where_a_more_frequent_one_cancels_it() -> None:
    """GitHub keeps one *pending* run per concurrency group and a newer arrival cancels it. With
    the reaper (every 15 min) and the experimenter (every 4 h, five jobs and two smoke trainings)
    in one group with research and breaking news, every experimenter or research run that had to
    wait was cancelled by the next reaper tick, and the experimenter and breaking news (both at
    :41) cancelled each other. A workflow scheduled more often than hourly, and the experimenter,
    each have a group of their own; a shared group holds only workflows that write program.md."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for path in workflow_files(WORKFLOWS):
        wf = load(path)
        if "schedule" not in triggers(wf):
            continue
        group = (wf.get("concurrency") or {}).get("group")
        assert group, f"{path.name}: a scheduled ledger writer needs a concurrency group"
        groups.setdefault(group, []).append((path.name, _runs_per_day(triggers(wf)["schedule"][0]["cron"])))
    for group, members in groups.items():
        if len(members) == 1:
            continue
        names = {n for n, _ in members}
        assert all(per_day <= 24 for _, per_day in members), (group, members)
        assert "experimenter.yml" not in names, (group, members)
        assert names <= {"research.yml", "breaking-news.yml"}, (group, members)
    assert [n for n, _ in groups[load(WORKFLOWS / "reaper.yml")["concurrency"]["group"]]] == ["reaper.yml"]
