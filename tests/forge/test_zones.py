"""DESIGN.md's zones of trust, read from the workflow files (and the templates `pgolf init`
writes): the job that executes PR code holds nothing; the paid jobs hold the RunPod key and
nothing else; the App key lives only in trusted jobs that never run PR code or rent pods."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from bot.forge.scaffold import workflow_templates
from tests.forge.test_workflows import WORKFLOWS, load, steps, workflow_files

# the pgolf verbs by zone (what a job runs decides its zone)
RUNS_PR_CODE = ("pgolf promote gate", "pgolf train", "training/")
PAID = ("pgolf promote run", "pgolf pods reap --observe-out")
WRITE_SCOPES = ("contents", "pull-requests", "issues", "statuses", "actions", "id-token", "pages")


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run") or "" for s in steps(job))


def _secrets(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.([A-Z0-9_]+)", json.dumps(job)))


def _writes(job: dict[str, Any]) -> list[str]:
    return [k for k, v in (job.get("permissions") or {}).items() if v == "write"]


def _all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for p in workflow_files(WORKFLOWS):
        for job_id, job in load(p)["jobs"].items():
            out.append((p.name, job_id, job))
    for name, data in workflow_templates().items():
        wf = yaml.safe_load(data)
        for job_id, job in wf["jobs"].items():
            out.append((f"template:{name}", job_id, job))
    return out


JOBS = _all_jobs()


def check_zones(where: str, job: dict[str, Any]) -> None:
    runs = _runs(job)
    text = json.dumps(job)
    if any(v in runs for v in ("pgolf promote gate",)):  # PR code on a GitHub-hosted runner
        assert job.get("permissions") == {}, (
            f"{where}: runs PR code with permissions {job.get('permissions')}"
        )
        assert not _secrets(job) and "github.token" not in text, (
            f"{where}: runs PR code holding {_secrets(job)}"
        )
        assert "environment" not in job, f"{where}: runs PR code in an environment"
    if any(v in runs for v in PAID):
        assert _secrets(job) == {"RUNPOD_API_KEY"}, f"{where}: the paid zone holds {_secrets(job)}"
        assert "github.token" not in text and "GH_APP" not in text, (
            f"{where}: the paid zone holds a GitHub key"
        )
        assert not _writes(job) and job.get("permissions") == {"contents": "read"}, (
            f"{where}: {job['permissions']}"
        )
        assert "pgolf ledger commit" not in runs and "pgolf alerts" not in runs, where
    if "PGOLF_APP_PRIVATE_KEY" in _secrets(job):
        assert not any(v in runs for v in RUNS_PR_CODE), f"{where}: holds the App key and runs PR code"
        assert not any(v in runs for v in PAID), f"{where}: holds the App key and rents pods"
        if "RUNPOD_API_KEY" in _secrets(job):  # only commands.yml's /abort (documented)
            assert "pgolf command run" in runs and "--skip promote" in runs, where


@pytest.mark.parametrize(("wf", "job_id", "job"), JOBS, ids=[f"{w}:{j}" for w, j, _ in JOBS])
def test_every_job_fits_its_zone(wf: str, job_id: str, job: dict[str, Any]) -> None:
    check_zones(f"{wf}:{job_id}", job)


def test_promote_has_each_zone_exactly_where_expected() -> None:
    jobs = load(WORKFLOWS / "promote.yml")["jobs"]
    gate, paid = jobs["gate"], jobs["paid"]
    assert "pgolf promote gate" in _runs(gate) and gate["permissions"] == {} and "environment" not in gate
    assert "pgolf promote run" in _runs(paid) and paid["environment"] == "pgolf-runpod"
    for trusted in ("plan", "reserve", "settle"):
        assert jobs[trusted]["environment"] == "pgolf" and "RUNPOD_API_KEY" not in json.dumps(jobs[trusted])
    # the verdict and the outcome cross as artifacts; the reservation is committed before renting
    assert "pgolf promote reserve" in _runs(jobs["reserve"]) and jobs["paid"]["needs"] == ["plan", "reserve"]
    assert jobs["settle"]["needs"] == ["plan", "reserve", "paid"]
    reaper = load(WORKFLOWS / "reaper.yml")["jobs"]
    assert reaper["reap"]["environment"] == "pgolf-runpod" and reaper["book"]["environment"] == "pgolf"
    assert "RUNPOD_API_KEY" not in json.dumps(reaper["book"])


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (
            lambda j: j["gate"].__setitem__("permissions", {"contents": "read"}),
            "runs PR code with permissions",
        ),
        (
            lambda j: j["gate"].setdefault("env", {}).__setitem__("K", "${{ secrets.RUNPOD_API_KEY }}"),
            "holding",
        ),
        (
            lambda j: j["paid"]["env"].__setitem__(
                "GH_APP_PRIVATE_KEY", "${{ secrets.PGOLF_APP_PRIVATE_KEY }}"
            ),
            "holds",
        ),
        (lambda j: j["paid"]["permissions"].__setitem__("contents", "write"), "contents"),
        (lambda j: j["settle"]["steps"].append({"run": ".venv/bin/pgolf promote gate --plan p"}), "PR code"),
    ],
)
def test_the_zone_check_catches_drift(mutation: Any, message: str) -> None:
    jobs = load(WORKFLOWS / "promote.yml")["jobs"]
    mutation(jobs)
    with pytest.raises(AssertionError, match=message):
        for job_id, job in jobs.items():
            check_zones(f"promote.yml:{job_id}", job)


def test_settle_books_only_the_outcome_whose_digest_the_paid_job_declared() -> None:
    """The gate job can upload artifacts (Actions runtime token): an artifact name proves nothing.
    The paid job declares the outcome's SHA-256 as a job output (only that job can set it), on
    every path; the settle job hands it to `pgolf promote settle`."""
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):
        paid, settle = jobs["paid"], jobs["settle"]
        (step,) = [s for s in steps(paid) if s.get("id") == "digest"]
        assert step.get("if") == "${{ always() }}" and "sha256sum" in step["run"], step
        assert "outcome_sha256=" in step["run"] and "$GITHUB_OUTPUT" in step["run"]
        assert paid["outputs"]["outcome_sha256"] == "${{ steps.digest.outputs.outcome_sha256 }}"
        assert settle["env"]["OUTCOME_SHA256"] == "${{ needs.paid.outputs.outcome_sha256 }}"
        assert '--outcome-sha256 "$OUTCOME_SHA256"' in _runs(settle)


def test_settle_knows_when_the_paid_job_stopped_before_renting() -> None:
    """A paid job that failed before `promote run` (checkout, pip install, the reservation's
    download) rented nothing; its rent step's outcome is "skipped", declared as a job output, and
    the settle job passes it on so the reservation is released, not booked at the worst case.
    Only the rent step may be the one that rents: no step before it talks to RunPod."""
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):
        paid, settle = jobs["paid"], jobs["settle"]
        ids = [s.get("id") for s in steps(paid)]
        rent = steps(paid)[ids.index("rent")]
        assert "pgolf promote run" in rent["run"] and "if" not in rent and "continue-on-error" not in rent
        assert not [s for s in steps(paid)[: ids.index("rent")] if "promote run" in str(s.get("run", ""))]
        assert paid["outputs"]["rent_step"] == "${{ steps.rent.outcome }}"
        assert settle["env"]["RENT_STEP"] == "${{ needs.paid.outputs.rent_step }}"
        assert '--rent-step "$RENT_STEP"' in _runs(settle)


def test_no_job_after_the_reservation_sits_in_a_concurrency_group() -> None:
    """GitHub keeps one pending job per concurrency group and cancels the older pending one when a
    newer arrives (cancel-in-progress: false included). Three promotions of one PR finishing
    together would cancel the middle settle job: its outcome never booked, the reaper books the
    worst case for a pod RunPod has forgotten. Jobs that hold or settle reserved money have no
    group; the ledger commit's semantic merge (runs keyed by run_id) serializes their writes."""
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):
        for job_id in ("reserve", "paid", "settle"):
            assert "concurrency" not in jobs[job_id], f"promote.yml:{job_id} is in a concurrency group"


def test_every_file_between_promote_jobs_is_bound_to_the_digest_its_writer_declared() -> None:
    """plan.json → reserve, reservation.json → paid and settle, outcome.json → settle: each
    consumer passes the writer's `needs.<job>.outputs.<file>_sha256` to pgolf, which refuses
    another file (the gate job can delete and re-upload artifacts with the runtime token)."""
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):
        assert jobs["plan"]["outputs"]["plan_sha256"] == "${{ steps.plan.outputs.plan_sha256 }}"
        assert 'plan_sha256=$(sha256sum "$RUNNER_TEMP/pgolf/plan.json"' in _runs(jobs["plan"])
        assert (
            jobs["reserve"]["outputs"]["reservation_sha256"]
            == "${{ steps.reserve.outputs.reservation_sha256 }}"
        )
        assert 'reservation_sha256=$(sha256sum "$RUNNER_TEMP/pgolf/reservation.json"' in _runs(
            jobs["reserve"]
        )
        assert jobs["reserve"]["env"]["PLAN_SHA256"] == "${{ needs.plan.outputs.plan_sha256 }}"
        assert '--plan-sha256 "$PLAN_SHA256"' in _runs(jobs["reserve"])
        for consumer in ("paid", "settle"):
            env = jobs[consumer]["env"]
            assert env["RESERVATION_SHA256"] == "${{ needs.reserve.outputs.reservation_sha256 }}", consumer
            assert '--reservation-sha256 "$RESERVATION_SHA256"' in _runs(jobs[consumer]), consumer


def test_a_reserve_job_failing_after_its_commit_releases_the_reservation() -> None:
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):
        last = steps(jobs["reserve"])[-1]
        assert last["if"] == "${{ (failure() || cancelled()) && steps.reserve.outcome == 'success' }}"
        assert "pgolf promote release --reservation" in last["run"]
        # ... which is safe only because nothing after the reservation runs without its success
        assert "success()" not in str(jobs["paid"].get("if")) and "always()" not in str(
            jobs["paid"].get("if")
        )
        assert "needs.reserve.result == 'success'" in jobs["settle"]["if"]


def test_artifact_names_after_the_gate_carry_the_digest_so_none_can_be_planted_first() -> None:
    """The gate job ends before the reserve job starts; whatever it uploads takes a name first.
    The reservation and the outcome are uploaded under a name holding their SHA-256 (random run
    id, timings: unknowable to the gate), so a planted artifact blocks no upload."""
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):

        def uploads(job: dict[str, Any]) -> list[str]:
            return [s["with"]["name"] for s in steps(job) if "upload-artifact" in str(s.get("uses"))]

        def downloads(job: dict[str, Any]) -> list[str]:
            return [
                str(s["with"].get("name")) for s in steps(job) if "download-artifact" in str(s.get("uses"))
            ]

        assert "pgolf-reservation-${{ steps.reserve.outputs.reservation_sha256 }}" in uploads(jobs["reserve"])
        assert "pgolf-outcome-${{ steps.digest.outputs.outcome_sha256 }}" in uploads(jobs["paid"])
        want = "pgolf-reservation-${{ needs.reserve.outputs.reservation_sha256 }}"
        assert want in downloads(jobs["paid"]) and want in downloads(jobs["settle"])
        assert "pgolf-outcome-${{ needs.paid.outputs.outcome_sha256 }}" in downloads(jobs["settle"])


def test_the_settle_job_merges_only_the_promoted_commit_by_its_full_sha() -> None:
    for jobs in (
        load(WORKFLOWS / "promote.yml")["jobs"],
        yaml.safe_load(workflow_templates()["promote.yml"])["jobs"],
    ):
        (merge,) = [s for s in steps(jobs["settle"]) if "merge-winner" in (s.get("run") or "")]
        assert '--head-sha "$sha"' in merge["run"] and '["sha"]' in merge["run"]
        assert '"$RUNNER_TEMP/pgolf/reservation.json"' in merge["run"]
