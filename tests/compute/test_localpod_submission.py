"""The local pod provider ($0, subprocesses) and `pgolf submission build` read back by our own
competitor parser."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import budget as budget_mod
from bot.cli import cli
from bot.compute.localpod import LocalPodProvider
from bot.compute.promote import promote
from bot.compute.provider import PodSpec
from bot.compute.submission import build_submission
from bot.errors import InputError
from bot.ledger import Ledger
from bot.research.competitors import score_from_readme, score_from_submission
from tests.compute.conftest import OK, Repo, make_repo


def local_settings(repo: Repo, **extra: object):  # type: ignore[no-untyped-def]
    import sys

    base = {"pod_provider": "local", "pod_train_command": f"{sys.executable} {{script}}", "max_wallclock_seconds": 5,
            "pod_eval_slack_seconds": 10, "submission_author": "Ada Lovelace", "submission_github_id": "ada",
            "pod_setup_command": "true"}  # fmt: skip
    base.update(extra)
    return repo.settings(**base)


def test_local_provider_promotion_costs_nothing_and_leaves_no_process(repo: Repo) -> None:
    s = local_settings(repo, pod_train_env=["FAKE_MODE=ok"])
    prov = LocalPodProvider(repo.root / ".pgolf/localpods")
    res = promote(repo.root, s, provider=prov, pr=4, sha=repo.sha, seeds=3, **OK)
    assert res.status == "keep", res.error
    assert res.cost_usd == 0.0 and prov.list() == []
    rec = json.loads((repo.root / ".pgolf/localpods" / res.pod_id / "pod.json").read_text())
    assert rec["status"] == "TERMINATED"
    for pgid in rec["pgids"]:  # every process group of the pod is gone
        with pytest.raises(ProcessLookupError):
            import os

            os.killpg(pgid, 0)
    assert "secret_seen:False" in Path(res.seeds[0].log).read_text()
    b = budget_mod.load(repo.root / "budget.json", s)
    # $0, but still reserved and settled: one free run record, no open reservation, no spend,
    # and no Tier 2 start recorded (a local run never rate-limits a paid one).
    assert b.reservations == [] and b.spent == 0.0 and b.last_tier2_start is None
    assert [(r.run_id, r.cost_usd, r.hourly_rate) for r in b.runs] == [(res.run_id, 0.0, 0.0)]
    assert b.runs[0].seconds > 0
    row = Ledger.load(repo.root / "results.tsv").filter("runpod")[0]
    assert row.cost_usd == 0.0 and row.val_bpb == pytest.approx(res.val_bpb, abs=1e-6)


def test_local_pod_deadline_kills_it_without_the_orchestrator(tmp_path: Path) -> None:
    prov = LocalPodProvider(tmp_path / "pods")
    spec = PodSpec("dl-test", 1, "cpu", "-", "LOCAL", deadline=time.time() + 1.5)
    pod = prov.create(spec)
    ex = prov.executor(pod, "dl-test", None)
    rc: list[int] = []
    t = threading.Thread(target=lambda: rc.append(ex.run("sleep 60", {}, tmp_path / "log", 120)))
    t0 = time.monotonic()
    t.start()
    t.join(60)
    assert not t.is_alive() and rc and rc[0] != 0
    assert time.monotonic() - t0 < 30  # hang ceiling (the deadline is 1.5 s away; sleep 60 is the hang)
    end = time.monotonic() + 10
    while prov.get(pod.id) is not None and time.monotonic() < end:
        time.sleep(0.05)
    assert prov.get(pod.id) is None and prov.list() == []
    assert json.loads((tmp_path / "pods" / pod.id / "pod.json").read_text())["reason"] == "deadline"


@pytest.fixture
def three_seed_run(repo: Repo) -> tuple[Repo, str]:
    s = local_settings(repo, pod_train_env=["FAKE_MODE=ok"])
    res = promote(
        repo.root,
        s,
        provider=LocalPodProvider(repo.root / ".pgolf/localpods"),
        pr=4,
        sha=repo.sha,
        seeds=3,
        **OK,
    )
    assert res.status == "keep"
    return repo, res.run_id


def test_submission_build_is_read_back_by_competitor_parser(three_seed_run: tuple[Repo, str]) -> None:
    repo, run_id = three_seed_run
    s = local_settings(repo)
    built = build_submission(repo.root, s, run_id, name="Wider MLP", date=datetime(2026, 11, 27, tzinfo=UTC))
    # a local CPU run is never record-grade: the non-record track (see test_submission_upstream)
    assert built.folder == repo.root / "records/track_non_record_16mb/2026-11-27_Wider_MLP"
    assert built.files == [
        "README.md",
        "submission.json",
        "train_gpt.py",
        "train_seed1.log",
        "train_seed2.log",
        "train_seed3.log",
    ]
    sub = json.loads((built.folder / "submission.json").read_text())
    for key in (
        "author",
        "github_id",
        "name",
        "blurb",
        "date",
        "val_loss",
        "val_bpb",
        "bytes_total",
        "bytes_code",
        "seeds",
        "seed_results",
        "val_bpb_std",
        "val_loss_std",
        "track",
        "hardware",
    ):
        assert key in sub, key
    bpbs = [1.2 - 0.001 * (sd % 3) for sd in (1, 2, 3)]
    mean = sum(bpbs) / 3
    assert sub["val_bpb"] == pytest.approx(mean, abs=1e-8) and sub["author"] == "Ada Lovelace"
    assert sub["seeds"] == [1, 2, 3] and set(sub["seed_results"]) == {"1", "2", "3"}
    assert (
        sub["bytes_total"] == 15_000_000 and sub["date"] == "2026-11-27" and sub["track"] == "non_record_16mb"
    )
    assert sub["seed_results"]["2"]["val_bpb"] == pytest.approx(bpbs[1], abs=1e-8)
    # the hardware is what the run used (the local provider), never a claim of 8xH100
    readme = (built.folder / "README.md").read_text()
    assert sub["hardware"] == "local CPU" and "local CPU, " in readme and "H100" not in readme
    assert sub["bytes_code"] == len((repo.root / "training/train_gpt.py").read_bytes())
    assert (built.folder / "train_gpt.py").read_bytes() == (repo.root / "training/train_gpt.py").read_bytes()
    assert "[20" not in (built.folder / "train_seed1.log").read_text()[:5]  # our timestamps stripped
    # our own competitor parser reads the score back from both files
    from_json = score_from_submission(sub, source_file=str(built.folder / "submission.json"))
    from_readme = score_from_readme(
        (built.folder / "README.md").read_text(), source_file=str(built.folder / "README.md")
    )
    assert from_json is not None and from_readme is not None
    assert from_json.val_bpb == pytest.approx(mean, abs=1e-8)
    assert from_readme.val_bpb == pytest.approx(mean, abs=1e-5)
    assert from_json.seeds == 3 and from_json.std == pytest.approx(sub["val_bpb_std"])
    assert from_json.bytes_total == 15_000_000 and from_json.author == "Ada Lovelace"
    # never overwritten silently
    with pytest.raises(InputError, match="already exists"):
        build_submission(repo.root, s, run_id, name="Wider MLP", date=datetime(2026, 11, 27, tzinfo=UTC))


def test_submission_cli_and_bad_runs(three_seed_run: tuple[Repo, str], tmp_path: Path) -> None:
    repo, run_id = three_seed_run
    r = CliRunner().invoke(cli, ["--repo", str(repo.root), "submission", "build", "--run", run_id, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert Path(out["folder"]).name.endswith("_exp_fewer_layers_more_width")  # from the commit subject
    bad = CliRunner().invoke(cli, ["--repo", str(repo.root), "submission", "build", "--run", "nope"])
    assert bad.exit_code == 2 and "result.json" in bad.output
    # a crashed run has nothing to submit, and nothing is written
    other = make_repo(tmp_path / "other")
    crashed = promote(other.root, local_settings(other, pod_train_env=["FAKE_MODE=crash"]),
                      provider=LocalPodProvider(other.root / ".pgolf/localpods"), pr=1, sha=other.sha, **OK)  # fmt: skip
    assert crashed.status == "crash"
    with pytest.raises(InputError, match="crashed"):
        build_submission(other.root, local_settings(other), crashed.run_id)
    assert not (other.root / "records").exists()
