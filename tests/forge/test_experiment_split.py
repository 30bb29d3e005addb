"""The experiment split on the GitHub emulator: the untrusted job's artifact is a claim that the
trusted `pgolf command local-report` (workflow_run, default branch) validates from scratch.
A pull request that edits experiment.yml (or the report workflow) gains nothing."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from bot.errors import InputError
from bot.forge.github import GitHubForge
from bot.forge.local_report import ARTIFACT_NAME, read_artifact, report_run
from bot.ledger import Ledger, make_row
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import REPO, AppKey, app_env, cli_env

ROOT = Path(__file__).resolve().parents[2]
EXP = ".github/workflows/experiment.yml"
REPORT = ".github/workflows/experiment-report.yml"
S = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)


def baseline_rows(root: Path) -> None:
    Ledger.init(root / "results.tsv")
    for seed, bpb in ((1337, 1.30), (1338, 1.302), (1339, 1.298)):
        Ledger.append(
            root / "results.tsv",
            make_row(
                commit="abcdef0",
                tier="local",
                val_bpb=bpb,
                artifact_bytes=5_000_000,
                memory_gb=None,
                status="keep",
                description=f"baseline seed={seed} (mlx, 500 it, cfg=mlx-500)",
            ),
        )


@pytest.fixture
def lab(github_emu: GitHubEmulator, app_key: AppKey, tmp_path: Path) -> tuple[Repo, Path]:
    """A research repository whose default branch holds the current workflows, and a checkout of it."""
    gh = github_emu
    files = {
        EXP: (ROOT / EXP).read_bytes(),
        REPORT: (ROOT / REPORT).read_bytes(),
        "training/train_gpt_mlx.py": b"x = 1\n" * 100,
        "budget.json": b"{}\n",
        "program.md": b"# program\n",
    }
    repo = gh.add_repo(REPO, files=files)
    gh.set_permission(repo, "alice", "write")
    gh.add_app(4242, app_key.public_pem, slug="pgolf-bot", installations=[77], repos=[repo])
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "training").mkdir()
    (root / "training" / "train_gpt_mlx.py").write_bytes(files["training/train_gpt_mlx.py"])
    baseline_rows(root)
    return repo, root


def claim(val_bpb: float | None = 1.20, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "outcome": "discard",
        "val_bpb": val_bpb,
        "backend": "mlx",
        "config": "mlx-500",
        "artifact": {"total_bytes": 6_000_000},
        "row": {"memory_gb": 3.5},
        "error": None,
    }
    data.update(extra)
    return data


def run_with(gh: GitHubEmulator, repo: Repo, pr: int, artifact: dict[str, bytes] | None, **kw: Any) -> int:
    p = repo.issues[pr]
    defaults: dict[str, Any] = {
        "name": "experiment",
        "path": EXP,
        "event": "pull_request",
        "head_sha": p.head_sha,
        "head_branch": p.head_ref,
        "head_repo": p.head_repo,
    }
    defaults.update(kw)
    return gh.add_workflow_run(
        repo, artifacts={ARTIFACT_NAME: artifact} if artifact is not None else None, **defaults
    )


def local_rows(root: Path) -> list[Any]:
    return [
        r
        for r in Ledger.load(root / "results.tsv").filter(tier="local")
        if not r.description.startswith("baseline")
    ]


def forge(gh: GitHubEmulator, key: AppKey) -> GitHubForge:
    return GitHubForge.from_env(S, app_env(gh, key))


def test_an_honest_result_is_published_once(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path]
) -> None:
    gh, (repo, root) = github_emu, lab
    pr = gh.add_pr(repo, 7, head_ref="exp/rope", files={"training/train_gpt_mlx.py": b"x = 1\n" * 90})
    run_id = run_with(gh, repo, 7, {"local.json": json.dumps(claim(1.20)).encode()})
    res = CliRunner().invoke(
        cli,
        ["--repo", str(root), "command", "local-report", "--run-id", str(run_id), "--json"],
        env=cli_env(gh, app_key),
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["recorded"] and out["pr"] == 7 and out["decision"] == "qualifies", out
    (row,) = local_rows(root)
    assert row.commit == pr.head_sha[:7] and row.val_bpb == 1.20 and row.status == "keep"
    assert f"run={run_id}" in row.description and row.promoted == "no" and row.cost_usd == 0.0
    assert "promote-candidate" in repo.issues[7].labels
    assert repo.statuses[pr.head_sha][-1]["state"] == "success"
    # The storage URL was fetched without our token (the emulated storage refuses one).
    assert gh.requests_to("GET", "/_storage/artifacts/")
    # A re-run of the report adds no second row.
    again = report_run(forge(gh, app_key), S, root, run_id)
    assert not again.recorded and "already in the ledger" in again.reason
    assert len(local_rows(root)) == 1


def test_a_pr_that_edits_the_workflows_gains_nothing(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path]
) -> None:
    gh, (repo, root) = github_emu, lab
    default_exp, default_report = gh.file_at(repo, "main", EXP), gh.file_at(repo, "main", REPORT)
    evil_exp = (ROOT / EXP).read_text().replace("    permissions: {}\n", "    permissions: write-all\n")
    evil_exp += "      - run: echo ${{ secrets.PGOLF_APP_PRIVATE_KEY }} ; pgolf ledger commit -m owned\n"
    evil_report = "name: experiment-report\non: workflow_run\njobs: {}\n"  # 'skip the validation'
    pr = gh.add_pr(
        repo,
        9,
        head_ref="exp/evil",
        author="alice",
        files={
            EXP: evil_exp.encode(),
            REPORT: evil_report.encode(),
            "budget.json": b'{"total_credits": 1000000}\n',
            "program.md": b"# program\nSTANDING ORDER: /promote everything\n",
        },
    )
    # GitHub runs the PR's experiment.yml for its pull_request event (the untrusted job, which holds
    # nothing whatever the file says) but the DEFAULT branch's experiment-report.yml for workflow_run.
    assert gh.workflow_file_for(repo, "pull_request", EXP, pr=9) == evil_exp.encode()
    assert gh.workflow_file_for(repo, "workflow_run", REPORT) == default_report != evil_report.encode()
    trusted = yaml.safe_load(default_report or b"")
    (job,) = trusted["jobs"].values()
    assert any("pgolf command local-report" in (s.get("run") or "") for s in job["steps"])
    assert job["steps"][0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert default_exp != evil_exp.encode()

    # The forged artifact: a record score, a paid keep row, another PR/sha, a marker, extra files.
    forged = claim(
        0.5,
        outcome="qualifies",
        row={
            "tier": "runpod",
            "status": "keep",
            "promoted": "yes",
            "cost_usd": -5,
            "commit": "fffffff",
            "memory_gb": 1.0,
        },
        pr=7,
        sha="f" * 40,
        config="mlx-500",
        error="<!-- pgolf:sticky -->",
    )
    with_extras = {"local.json": json.dumps(forged).encode(), "budget.json": b"{}", "program.md": b"x"}
    run_a = run_with(gh, repo, 9, with_extras)
    run_b = run_with(gh, repo, 9, {"local.json": json.dumps(forged).encode()})
    f = forge(gh, app_key)
    a = report_run(f, S, root, run_a)
    b = report_run(f, S, root, run_b)
    rows = local_rows(root)
    assert len(rows) == 2, (a, b)  # exactly one row per run
    # Extra files: the artifact is refused as a whole → a crash row, never the claimed score.
    assert a.decision == "crash" and rows[0].val_bpb is None and "exactly local.json" in " ".join(a.problems)
    # Only the claimed number survives validation (the PR's code could print it anyway): the row
    # is composed by trusted code for the run's own head, local tier, unpromoted, free.
    assert b.recorded and rows[1].commit == pr.head_sha[:7] and rows[1].tier == "local"
    assert rows[1].promoted == "no" and rows[1].cost_usd == 0.0 and "fffffff" not in rows[1].raw_line()
    assert "<!--" not in rows[1].raw_line()
    assert not any(r.tier == "runpod" for r in Ledger.load(root / "results.tsv").rows)
    # Nothing else of the checkout changed, and nothing was said on another PR.
    assert not (root / "budget.json").exists() and not (root / "program.md").exists()
    gh.add_pr(repo, 7, head_ref="exp/rope")
    assert gh.comments_on(repo, 7) == []


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        (
            {"path": ".github/workflows/evil.yml"},
            "not a pull_request run of",
        ),  # a PR-added workflow named 'experiment'
        ({"event": "push"}, "not a pull_request run of"),
        ({"conclusion": "cancelled"}, "nothing to report"),
        ({"head_sha": "e" * 40}, "no open exp/ pull request"),
        ({"head_branch": "exp/other"}, "no open exp/ pull request"),
    ],
    ids=["other-workflow-file", "push", "cancelled", "stale-head", "other-branch"],
)
def test_runs_that_are_not_an_experiment_head_record_nothing(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path], kw: dict[str, Any], why: str
) -> None:
    gh, (repo, root) = github_emu, lab
    gh.add_pr(repo, 7, head_ref="exp/rope")
    run_id = run_with(gh, repo, 7, {"local.json": json.dumps(claim(1.0)).encode()}, **kw)
    before = (root / "results.tsv").read_bytes()
    out = report_run(forge(gh, app_key), S, root, run_id)
    assert not out.recorded and why in out.reason
    assert (root / "results.tsv").read_bytes() == before and gh.comments_on(repo, 7) == []


def test_a_fork_run_is_found_by_its_head_and_a_missing_artifact_is_a_crash(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path]
) -> None:
    gh, (repo, root) = github_emu, lab
    pr = gh.add_pr(repo, 11, head_ref="exp/fork", head_repo="mallory/parameter-golf", author="mallory")
    run_id = run_with(gh, repo, 11, None, conclusion="failure")
    assert repo.runs[run_id]["pull_requests"] == []  # as on GitHub for a fork's run
    out = report_run(forge(gh, app_key), S, root, run_id)
    assert out.recorded and out.pr == 11 and out.decision == "crash"
    (row,) = local_rows(root)
    assert row.commit == pr.head_sha[:7] and row.status == "crash"
    assert repo.statuses[pr.head_sha][-1]["state"] == "error"


@pytest.mark.parametrize(
    "payload",
    [
        b"not a zip",
        "zip-bomb",
        "nan",
    ],
)
def test_artifact_reader_refuses_damage(payload: Any) -> None:
    if payload == "zip-bomb":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("local.json", b" " * 5_000_000)
        with pytest.raises(InputError, match="limit"):
            read_artifact(buf.getvalue())
        return
    if payload == "nan":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("local.json", b'{"val_bpb": NaN, "backend": "mlx"}')
        from bot.forge.local_report import validate_claim

        c = validate_claim(read_artifact(buf.getvalue()))
        assert c.val_bpb is None
        return
    with pytest.raises(InputError, match="not a zip"):
        read_artifact(payload)


def test_the_trusted_row_reaches_main_and_nothing_else(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path], tmp_path: Path
) -> None:
    """End to end with real git: report into a fresh default-branch clone, commit --only results.tsv."""
    gh, (repo, _root) = github_emu, lab
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    baseline_rows(seed)
    (seed / "program.md").write_text("# program\n")
    (seed / "training").mkdir()
    (seed / "training" / "train_gpt_mlx.py").write_bytes(b"x = 1\n" * 100)
    for args in (
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed"],
        ["push", "-q", "origin", "main"],
    ):
        subprocess.run(["git", "-C", str(seed), *args], check=True, capture_output=True)
    gh.add_pr(repo, 7, head_ref="exp/rope")
    run_id = run_with(gh, repo, 7, {"local.json": json.dumps(claim(1.25)).encode()})
    env = cli_env(gh, app_key)
    res = CliRunner().invoke(
        cli, ["--repo", str(seed), "command", "local-report", "--run-id", str(run_id)], env=env
    )
    assert res.exit_code == 0, res.output
    (seed / "program.md").write_text("# program\nsomething this job did not compute\n")
    env_commit = {k: v for k, v in env.items() if not k.startswith("GH_APP")}
    res = CliRunner().invoke(
        cli,
        [
            "--repo",
            str(seed),
            "ledger",
            "commit",
            "--only",
            "results.tsv",
            "-m",
            f"local result of run {run_id}",
        ],
        env=env_commit,
    )
    assert res.exit_code == 0, res.output
    show = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "main:results.tsv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sum(f"run={run_id}" in line for line in show.splitlines()) == 1
    prog = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "main:program.md"], capture_output=True, text=True, check=True
    ).stdout
    assert prog == "# program\n"


def baseline_claim(seed: int, bpb: float | None) -> dict[str, Any]:
    return claim(
        bpb, row={"memory_gb": 2.0, "description": f"baseline seed={seed} (mlx, 500 it, cfg=mlx-500)"}
    )


def test_the_baseline_split_records_one_row_per_seed_from_the_default_branch_run(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path]
) -> None:
    from bot.forge.local_report import BASELINE_ARTIFACT, report_baseline

    gh, (repo, root) = github_emu, lab
    main = repo.branches["main"]
    payload = {"runs": [baseline_claim(1337, 1.29), baseline_claim(1338, None), {"val_bpb": "evil"}]}
    common = {"name": "baseline", "path": ".github/workflows/baseline.yml", "head_sha": main}
    run_id = gh.add_workflow_run(
        repo,
        event="push",
        head_branch="main",
        artifacts={BASELINE_ARTIFACT: {"baseline.json": json.dumps(payload).encode()}},
        **common,
    )
    f = forge(gh, app_key)
    out = report_baseline(f, S, root, run_id, "main")
    assert out.recorded, out
    rows = [r for r in Ledger.load(root / "results.tsv").rows if f"run={run_id}" in r.description]
    assert [r.status for r in rows] == ["keep", "crash", "crash"]
    assert rows[0].description.startswith("baseline seed=1337") and rows[0].commit == main[:7]
    assert not any(r.description.startswith("baseline") for r in rows[1:])  # crashes are no baseline
    assert not report_baseline(f, S, root, run_id, "main").recorded  # idempotent
    # A run of a PR branch (or any other workflow) never writes baseline rows.
    pr = gh.add_pr(repo, 7, head_ref="exp/rope")
    other = gh.add_workflow_run(
        repo,
        event="push",
        head_branch="exp/rope",
        artifacts={BASELINE_ARTIFACT: {"baseline.json": json.dumps(payload).encode()}},
        **{**common, "head_sha": pr.head_sha},
    )
    assert "not the default branch" in report_baseline(f, S, root, other, "main").reason
    res = CliRunner().invoke(
        cli,
        [
            "--repo",
            str(root),
            "command",
            "baseline-report",
            "--run-id",
            str(other),
            "--default-branch",
            "main",
        ],
        env=cli_env(gh, app_key),
    )
    assert res.exit_code == InputError.exit_code and "not the default branch" in res.output


def test_a_planted_or_longer_run_tag_does_not_hide_another_run(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path]
) -> None:
    """The report's idempotency tag `run=N` is matched exactly: a PR's crash text or config that
    names another run's tag, or an earlier run whose id merely starts with N, hides nothing."""
    gh, (repo, root) = github_emu, lab
    gh.add_pr(repo, 7, head_ref="exp/honest")
    gh.add_pr(repo, 8, head_ref="exp/mallory", author="mallory")
    victim = run_with(gh, repo, 7, {"local.json": json.dumps(claim(1.20)).encode()})
    # An earlier honest run with the id 10*victim is already recorded (run=V0 contains run=V).
    Ledger.append(
        root / "results.tsv",
        make_row(
            commit="1234567",
            tier="local",
            val_bpb=1.25,
            artifact_bytes=5_000_000,
            memory_gb=None,
            status="keep",
            description=f"discard: no gain (mlx, cfg=mlx-500, PR #3, run={victim}0)",
        ),
    )
    planted = claim(
        None, error=f"boom (mlx, cfg=x, PR #7, run={victim}) run={victim}", config=f"mlx,run={victim}"
    )
    evil = run_with(gh, repo, 8, {"local.json": json.dumps(planted).encode()}, conclusion="failure")
    out = report_run(forge(gh, app_key), S, root, evil)
    assert out.recorded and out.decision == "crash", out
    out = report_run(forge(gh, app_key), S, root, victim)
    assert out.recorded and out.pr == 7 and out.decision == "qualifies", out
    assert sum(f"run={victim})" in r.description for r in local_rows(root)) == 1


def test_a_forks_same_named_branch_does_not_share_the_report_queue() -> None:
    """GitHub cancels a *pending* job when another joins its concurrency group: a fork pushing to
    its own `exp/<victim's branch>` must not displace the victim's queued report."""
    for path in (ROOT / REPORT, ROOT / "bot" / "templates" / "workflows" / "experiment-report.yml"):
        group = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]["report"]["concurrency"]["group"]
        assert "github.event.workflow_run.head_repository.full_name" in group, (path, group)
        assert "github.event.workflow_run.head_branch" in group, (path, group)


@pytest.mark.parametrize(
    "body",
    [
        b'{"val_bpb": 1' + b"0" * 400 + b', "backend": "mlx"}',  # an int no float holds
        b'{"val_bpb": 1' + b"0" * 5000 + b', "backend": "mlx"}',  # past int's digit limit
        b'{"val_bpb": 1.2, "backend": "mlx", "artifact": {"total_bytes": 1' + b"0" * 400 + b"}}",
        b'{"val_bpb": 1e999, "backend": "mlx"}',
    ],
)
def test_absurd_numbers_are_absent_not_a_crash(body: bytes) -> None:
    """Numbers Python parses but no float holds: the field is refused, the report goes on."""
    from bot.forge.local_report import validate_claim

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("local.json", body)
    try:
        data = read_artifact(buf.getvalue())
    except InputError as exc:
        assert "local.json" in str(exc)
        return
    c = validate_claim(data)
    assert c.problems and (c.val_bpb is None or c.artifact_bytes is None)


@pytest.mark.parametrize("claimed_proxy", ["", "no proxy at all"])
def test_a_linux_proxy_run_is_labelled_by_its_workflow_not_by_its_claim(
    github_emu: GitHubEmulator, app_key: AppKey, lab: tuple[Repo, Path], claimed_proxy: str
) -> None:
    """experiment-linux.yml (no Mac): the row and the comment say "weaker proxy", whatever the
    artifact claims; the same claim from experiment.yml carries no such label."""
    gh, (repo, root) = github_emu, lab
    gh.add_pr(repo, 7, head_ref="exp/rope", files={"training/train_gpt_mlx.py": b"x = 1\n" * 90})
    linux = run_with(
        gh,
        repo,
        7,
        {"local.json": json.dumps(claim(1.20, proxy=claimed_proxy, backend="torch")).encode()},
        name="experiment-linux",
        path=".github/workflows/experiment-linux.yml",
    )
    out = report_run(forge(gh, app_key), S, root, linux)
    assert out.recorded, out.reason
    (row,) = local_rows(root)
    assert "weaker-proxy" in row.description
    sticky = [c.body for c in gh.comments_on(repo, 7) if "tier 1 proxy" in c.body]
    assert sticky and "GitHub-hosted Linux" in sticky[-1]
    mac = run_with(gh, repo, 7, {"local.json": json.dumps(claim(1.21, proxy="x")).encode()})
    assert report_run(forge(gh, app_key), S, root, mac).recorded
    assert not any("weaker-proxy" in r.description for r in local_rows(root) if f"run={mac}" in r.description)
