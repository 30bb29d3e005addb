"""Promotion end to end: the real runpod SDK → the emulator; the pod reached over real SSH."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bot import budget as budget_mod
from bot.cli import cli
from bot.compute.notify import ForgeReporter
from bot.compute.promote import promote
from bot.compute.reaper import reap
from bot.compute.tracker import PodState, new_record
from bot.errors import BudgetBlocked, GateFailed, InputError, ParityError, TrustError
from bot.forge.events import Decision
from bot.forge.local import LocalForge
from bot.forge.sticky import find_sticky
from bot.ledger import Ledger
from tests.compute.conftest import OK, OK_PARITY, OK_TRUST, Repo, git, make_settings, provider
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer


def _budget(repo: Repo, settings) -> budget_mod.Budget:  # type: ignore[no-untyped-def]
    return budget_mod.load(repo.root / "budget.json", settings)


def test_promotion_happy_path(repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path) -> None:
    s = make_settings(repo, sshd, tmp_path, pod_train_env=["FAKE_MODE=ok"])
    git(repo.root, "branch", "exp/wide")
    (repo.root / "program.md").write_text("# brief\n\n**SOTA: 1.2244 bpb. Baseline: 1.2244 bpb.**\n")
    forge = LocalForge(repo.root)
    pr = forge.open_pr("exp/wide", "main", "exp: wide", "body").number
    res = promote(repo.root, s, provider=provider(s), pr=pr, sha=repo.sha[:10], seeds=2,
                  reporter=ForgeReporter(forge, pr, approved_by="alice"), **OK)  # fmt: skip
    assert res.status == "keep", res.error
    assert res.terminated and emu.alive() == []
    assert res.hardware == "8xH100 80GB HBM3"  # from the pod, for the submission README
    assert "setup train_shards=25" in (Path(res.run_dir) / "setup.log").read_text()
    # the pod: named, 8 × H100 secure, port 22/tcp, public IP, deadline armed, no secrets in env
    pod = next(iter(emu.gone.values()))
    assert pod.name == f"pgolf-{res.run_id}"
    assert (pod.gpu_type, pod.gpu_count, pod.cloud, pod.ports) == (
        "NVIDIA H100 80GB HBM3",
        8,
        "SECURE",
        "22/tcp",
    )
    assert "runpodctl remove pod $RUNPOD_POD_ID" in pod.docker_args
    armed = int(re.search(r"sleep (\d+);", pod.docker_args).group(1))  # type: ignore[union-attr]
    assert 600 <= armed <= 615  # pod_deadline_seconds + one more seed (cap 5 s + slack 10 s)
    assert set(pod.env) == {"PUBLIC_KEY", "PARAMGOLF_RUN_ID", "PARAMGOLF_DEADLINE"}
    assert pod.env["PUBLIC_KEY"].startswith("ssh-ed25519 ")
    # two seeds ran on the shipped commit, no secret reached the training process
    assert [sd.seed for sd in res.seeds] == [1, 2]
    log1 = Path(res.seeds[0].log).read_text()
    assert "secret_seen:False" in log1 and log1.startswith("[20")  # timestamped lines
    assert res.val_bpb == pytest.approx((1.199 + 1.198) / 2)
    # budget: reservation settled at wall-clock pod time × the pod's real price
    b = _budget(repo, s)
    assert b.reservations == [] and len(b.runs) == 1
    run = b.runs[0]
    assert run.pod_id == pod.id and run.cost_usd == pytest.approx(res.pod_seconds / 3600 * 8 * 2.99, rel=1e-3)
    assert b.spent == pytest.approx(run.cost_usd)
    # ledger: a runpod row, the local row promoted
    led = Ledger.load(repo.root / "results.tsv")
    rp = led.filter("runpod")
    assert len(rp) == 1 and rp[0].status == "keep" and rp[0].val_bpb == pytest.approx(res.val_bpb, abs=1e-6)
    assert led.filter("local")[0].promoted == "yes"
    # state file empty; comment posted with val_bpb, cost and the tier correlation
    assert PodState(repo.root / ".pgolf/pods.json").load() == []
    sticky = find_sticky(forge, pr)
    assert sticky is not None and len(forge.list_comments(pr)) == 1  # one comment, edited in place
    assert f"{res.val_bpb:.4f}" in sticky.body and "Tier correlation: 1 pair" in sticky.body
    assert "finished" in sticky.body and "@alice" in sticky.body and f"${res.cost_usd:.2f}" in sticky.body
    assert os.environ["RUNPOD_API_KEY"] not in sticky.body
    assert res.sota_bpb == 1.2244 and f"{res.val_bpb - 1.2244:+.4f}" in sticky.body  # Δ vs SOTA
    assert res.significance is not None and res.significance.p_value is not None
    # artifact and logs came back; result.json written
    assert (Path(res.run_dir) / "pod" / "final_model.int8.ptz").is_file()
    assert json.loads((Path(res.run_dir) / "result.json").read_text())["status"] == "keep"
    assert not (Path(res.run_dir) / "ssh").exists()  # the per-run private key is gone with the pod


def _nothing_spent(repo: Repo, s, emu: RunPodEmulator) -> None:  # type: ignore[no-untyped-def]
    b = _budget(repo, s)
    assert b.reservations == [] and b.runs == [] and emu.count("podFindAndDeployOnDemand") == 0
    assert Ledger.load(repo.root / "results.tsv").filter("runpod") == []
    assert PodState(repo.root / ".pgolf/pods.json").load() == []


def test_refusals_spend_nothing(repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path) -> None:
    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    with pytest.raises(TrustError, match="not approved"):
        promote(
            repo.root,
            s,
            provider=p,
            pr=7,
            sha=repo.sha,
            trust=Decision(False, "mallory has read permission"),
            parity_gate=OK_PARITY,
        )
    with pytest.raises(TrustError, match="head moved"):
        promote(
            repo.root,
            s,
            provider=p,
            pr=7,
            sha=repo.sha,
            trust=SimpleNamespace(allowed=True, sha="0" * 40),
            parity_gate=OK_PARITY,
        )

    # fails closed (issue 12): no decision, a bare bool, or no parity gate is a refusal
    for no_decision in (None, True):
        with pytest.raises(TrustError, match="no trust decision was given"):
            promote(repo.root, s, provider=p, pr=7, sha=repo.sha, trust=no_decision, parity_gate=OK_PARITY)
    with pytest.raises(InputError, match="no parity gate was given"):
        promote(repo.root, s, provider=p, pr=7, sha=repo.sha, trust=OK_TRUST, parity_gate=None)  # type: ignore[arg-type]

    def bad_parity(root: Path, sha: str) -> str:
        raise ParityError(f"logits differ at {sha[:7]}")

    with pytest.raises(ParityError, match="logits differ"):
        promote(repo.root, s, provider=p, pr=7, sha=repo.sha, parity_gate=bad_parity, trust=OK_TRUST)
    with pytest.raises(InputError, match="not in"):
        promote(repo.root, s, provider=p, pr=7, sha="deadbeef" * 5, **OK)
    led = (repo.root / "results.tsv").read_text().replace("\t15000000\t", "\t16000001\t")
    (repo.root / "results.tsv").write_text(led)
    with pytest.raises(GateFailed, match="over the 16000000-byte limit"):
        promote(repo.root, s, provider=p, pr=7, sha=repo.sha, **OK)
    _nothing_spent(repo, s, emu)


def test_rate_limit_blocks_second_promotion(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = make_settings(repo, sshd, tmp_path, tier2_min_interval_seconds=3600, pod_train_env=["FAKE_MODE=ok"])
    assert promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK).status == "keep"
    with pytest.raises(BudgetBlocked, match="Rate limited"):
        promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert (
        emu.count("podFindAndDeployOnDemand") == 1 and PodState(repo.root / ".pgolf/pods.json").load() == []
    )


def test_cli_promote_pr_through_local_forge(repo: Repo) -> None:
    git(repo.root, "branch", "exp/wide")
    forge = LocalForge(repo.root)
    pr = forge.open_pr("exp/wide", "main", "exp: wide", "body").number
    args = ["--repo", str(repo.root), "-c", "pod_train_env=FAKE_MODE=ok", "-c", f"pod_train_command={sys.executable} {{script}}",
            "-c", "pod_setup_command=true", "-c", "forge=local",
            "promote", "--pr", str(pr), "--provider", "local", "--skip-parity", "--json"]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["status"] == "keep" and out["sha"] == repo.sha and out["provider"] == "local"
    sticky = find_sticky(forge, pr)
    assert sticky is not None and "1.1990" in sticky.body
    stale = CliRunner().invoke(cli, [*args[:-4], "--sha", "0" * 40, "--provider", "local", "--skip-parity"])
    assert stale.exit_code != 0 and "head moved" in stale.output


def test_reaper_releases_reservation_of_run_that_died_before_its_pod(
    repo: Repo, emu: RunPodEmulator, sshd: SSHServer, tmp_path: Path
) -> None:
    s = make_settings(repo, sshd, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    deadline = time.time() + 600  # pod deadlines are epoch seconds (the pinned clock is a date)
    rec = new_record("pr8-x", "pgolf-pr8-x", "runpod", deadline, pr=8, sha=repo.sha)
    rec.owner_pid, rec.owner_start = dead.pid, "1"
    PodState(repo.root / ".pgolf/pods.json").add(rec)
    # as promote reserves: the reservation's deadline is the pod's
    budget_mod.reserve(repo.root / "budget.json", s, "pr8-x", 4.0, pr=8, sha=repo.sha,
                       deadline=datetime.fromtimestamp(deadline, UTC), provider="runpod")  # fmt: skip
    report = reap(repo.root, s, provider(s))
    assert report.dropped_entries == ["pr8-x"]
    b = _budget(repo, s)
    assert b.reservations == [] and b.runs == [] and PodState(repo.root / ".pgolf/pods.json").load() == []


def test_cli_promote_pr_with_an_abbreviated_sha_is_bad_input_and_keeps_the_label(repo: Repo) -> None:
    """An operator's `pgolf promote --pr N --sha <12 digits>` is a typo, not a moved head: exit 2
    naming --sha, and the PR keeps its promote label, with no "head moved" comment."""
    git(repo.root, "branch", "exp/short")
    forge = LocalForge(repo.root)
    pr = forge.open_pr("exp/short", "main", "exp: short", "body").number
    forge.add_label(pr, "promote")
    args = ["--repo", str(repo.root), "-c", "forge=local", "promote", "--pr", str(pr),
            "--sha", repo.sha[:12], "--provider", "local", "--skip-parity"]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == InputError.exit_code, r.output
    assert "sha" in r.output and "40" in r.output
    assert "promote" in forge.labels(pr)
    assert forge.list_comments(pr) == []
