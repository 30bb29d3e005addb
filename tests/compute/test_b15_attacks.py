"""Fresh-eyes attacks on Tier 2 money, logs and submissions (issue 15 review).

Each test reproduces a defect an unlucky user or an attacker could hit; real git remotes in
temporary folders, no monkeypatching.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot import budget as budget_mod
from bot.config import Settings
from bot.errors import LedgerError
from bot.forge.ledger_commit import ledger_commit
from tests.compute.conftest import OK

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin"},
    ).stdout.strip()


def _remote_with_budget(tmp_path: Path, s: Settings) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    budget_mod.init(seed / "budget.json", s)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    git(seed, "push", "-q", "origin", "main")
    return bare


def _clone(bare: Path, name: str) -> Path:
    path = bare.parent / name
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True, capture_output=True)
    return path


def _committed(bare: Path, s: Settings) -> budget_mod.Budget:
    text = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "main:budget.json"], check=True, capture_output=True
    ).stdout
    return budget_mod.from_json(__import__("json").loads(text), "remote budget.json")


@pytest.mark.parametrize("interval", [0, 3600])
def test_two_runners_racing_for_the_last_dollars_never_both_commit(tmp_path: Path, interval: int) -> None:
    """Two promotions of different PRs run on two runners (promote.yml's concurrency group is
    per PR). Each reserves against its own checkout, where the money is still there; the second
    reservation commit must be refused (the promotion then rents nothing), never merged into a
    default branch that holds more reservations than the credits above the floor."""
    s = Settings(total_compute_credits=100.0, runpod_min_reserve=50.0, tier2_min_interval_seconds=interval,
                 ledger_push_attempts=3)  # fmt: skip
    bare = _remote_with_budget(tmp_path, s)
    a, b = _clone(bare, "a"), _clone(bare, "b")
    budget_mod.reserve(a / "budget.json", s, "pr1-aaaaaaa-1", 30.0, pr=1)
    budget_mod.reserve(b / "budget.json", s, "pr2-bbbbbbb-1", 30.0, pr=2)  # b's checkout is stale
    assert ledger_commit(a, "reserve a", s, env=ENV).pushed
    with pytest.raises(LedgerError, match="pr2-bbbbbbb-1"):
        ledger_commit(b, "reserve b", s, env=ENV, sleep=lambda _: None)
    on_main = _committed(bare, s)
    assert [r.run_id for r in on_main.reservations] == ["pr1-aaaaaaa-1"]
    assert on_main.remaining - on_main.reserved >= on_main.reserve_floor


def test_a_reservation_is_not_merged_past_a_pause_on_the_default_branch(tmp_path: Path) -> None:
    """A maintainer runs `pgolf pause` (committed) while a runner with a stale checkout reserves:
    the kill switch must win, not be silently merged around."""
    s = Settings(tier2_min_interval_seconds=0, ledger_push_attempts=2)
    bare = _remote_with_budget(tmp_path, s)
    maint, runner = _clone(bare, "maint"), _clone(bare, "runner")
    budget_mod.pause(maint / "budget.json", s, by="maintainer", reason="incident")
    assert ledger_commit(maint, "pause", s, env=ENV).pushed
    budget_mod.reserve(runner / "budget.json", s, "pr3-ccccccc-1", 20.0, pr=3)
    with pytest.raises(LedgerError, match="[Pp]aused"):
        ledger_commit(runner, "reserve", s, env=ENV, sleep=lambda _: None)
    assert _committed(bare, s).reservations == []


def test_settling_on_a_stale_checkout_still_merges(tmp_path: Path) -> None:
    """The admission check is for new reservations only: settling (or a reservation already on
    the default branch) must keep merging even when the budget is below the floor."""
    s = Settings(total_compute_credits=100.0, runpod_min_reserve=50.0, tier2_min_interval_seconds=3600,
                 ledger_push_attempts=3)  # fmt: skip
    bare = _remote_with_budget(tmp_path, s)
    a, b = _clone(bare, "a"), _clone(bare, "b")
    budget_mod.reserve(a / "budget.json", s, "pr1-aaaaaaa-1", 40.0, pr=1)
    assert ledger_commit(a, "reserve a", s, env=ENV).pushed
    git(b, "pull", "-q", "origin", "main")
    # main moves on (an overrun elsewhere: theirs is now below the floor)
    budget_mod.settle(a / "budget.json", s, "pr1-aaaaaaa-1", 3600, 8, 20.0, cost_usd=45.0)
    assert ledger_commit(a, "settle a", s, env=ENV).pushed
    budget_mod.record_spend(b / "budget.json", s, "orphan-1", 1.0, pod_id="p1")
    assert ledger_commit(b, "orphan", s, env=ENV, sleep=lambda _: None).pushed
    assert _committed(bare, s).spent == pytest.approx(46.0)


def test_two_runners_within_the_rate_limit_only_one_tier2_start_lands(tmp_path: Path) -> None:
    """Plenty of money, one Tier 2 start per hour: of two stale runners exactly one proceeds."""
    s = Settings(total_compute_credits=1000.0, runpod_min_reserve=50.0, tier2_min_interval_seconds=3600,
                 ledger_push_attempts=3)  # fmt: skip
    bare = _remote_with_budget(tmp_path, s)
    a, b = _clone(bare, "a"), _clone(bare, "b")
    from bot import clock

    with clock.pinned("2030-01-01T10:00:00Z"):
        budget_mod.reserve(a / "budget.json", s, "pr1-aaaaaaa-1", 30.0, pr=1)
    with clock.pinned("2030-01-01T10:20:00Z"):
        budget_mod.reserve(b / "budget.json", s, "pr2-bbbbbbb-1", 30.0, pr=2)
    assert ledger_commit(a, "reserve a", s, env=ENV).pushed
    with pytest.raises(LedgerError, match="rate limited"):
        ledger_commit(b, "reserve b", s, env=ENV, sleep=lambda _: None)
    assert [r.run_id for r in _committed(bare, s).reservations] == ["pr1-aaaaaaa-1"]


HOSTILE_TRAIN = """\
import os
bpb = os.environ.get("FAKE_BPB", "1e999")
print("Code size: 4000 bytes", flush=True)
print("Total submission size int8+zlib: 15000000 bytes", flush=True)
print(f"final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:{bpb}", flush=True)
"""


@pytest.mark.parametrize("bpb", ["1e999", "-0.5"])
def test_training_printing_an_impossible_val_bpb_is_a_crash_row_not_an_exception(
    tmp_path: Path, bpb: str
) -> None:
    """PR code prints ``val_bpb:1e999`` (inf) or a negative score: the promotion must end as a
    crash row with its reason (settled, commented), not raise out of promote() after the pod
    is gone with no row, no result.json and no final comment."""
    import sys

    from bot.compute.localpod import LocalPodProvider
    from bot.compute.promote import promote
    from bot.ledger import Ledger
    from tests.compute.conftest import make_repo

    repo = make_repo(tmp_path / "repo", HOSTILE_TRAIN)
    s = repo.settings(pod_provider="local", pod_train_command=f"{sys.executable} {{script}}",
                      max_wallclock_seconds=5, pod_eval_slack_seconds=10, pod_setup_command="true",
                      pod_train_env=[f"FAKE_BPB={bpb}"])  # fmt: skip
    res = promote(
        repo.root, s, provider=LocalPodProvider(repo.root / ".pgolf/localpods"), pr=4, sha=repo.sha, **OK
    )
    assert res.status == "crash" and "val_bpb" in res.error
    rows = Ledger.load(repo.root / "results.tsv").filter("runpod")
    assert [r.status for r in rows] == ["crash"]
    assert (Path(res.run_dir) / "result.json").is_file()


def _secret_file(tmp_path: Path) -> tuple[Path, str]:
    secret = "RUNPOD_API_KEY=rp_b15_not_for_the_log"
    path = tmp_path / "runner-home" / "environ"
    path.parent.mkdir(parents=True)
    path.write_text(secret + "\n")
    return path, secret


def test_symlinked_log_from_the_pod_is_not_fetched(tmp_path: Path, sshd) -> None:  # type: ignore[no-untyped-def]
    """PR code on the pod writes ``logs/x.log -> /proc/self/environ`` (or any runner path):
    ``rsync -a`` would bring the link back, and the log follower, the job summary and the
    uploaded artifact would then read the runner's file. Links never come back."""
    from bot.compute.provider import SSHEndpoint
    from bot.compute.remote import SSHExecutor, make_keypair

    target, _ = _secret_file(tmp_path)
    key, pub = make_keypair(tmp_path / "ssh")
    with sshd.authorized_keys.open("a") as fh:
        fh.write(pub.strip() + "\n")
    work = tmp_path / "podfs" / "pgolf-run"
    (work / "logs").mkdir(parents=True)
    (work / "logs" / "train.log").write_text("step 1\n")
    (work / "logs" / "evil.log").symlink_to(target)
    ex = SSHExecutor(SSHEndpoint("127.0.0.1", sshd.port, sshd.user), key, str(work), multiplex=False)
    try:
        ex.wait_ready(10)
        got = ex.fetch(tmp_path / "back", [])
    finally:
        ex.close()
    back = tmp_path / "back" / "logs"
    assert (back / "train.log").read_text() == "step 1\n"
    assert not (back / "evil.log").is_symlink() and not (back / "evil.log").exists()
    assert all(not p.is_symlink() for p in got)


def test_log_follower_never_reads_through_a_symlink(tmp_path: Path) -> None:
    """Belt and braces on the runner: a ``*.log`` symlink under the followed folder is not
    printed to the Actions log nor to the job summary."""
    import io

    from bot.compute.logstream import stream

    target, secret = _secret_file(tmp_path)
    runs = tmp_path / "runs" / "r1"
    runs.mkdir(parents=True)
    summary = tmp_path / "summary.md"
    (runs / "evil.log").symlink_to(target)
    (runs / "seed1.log").write_text("ok line\n")
    out = io.StringIO()
    rc = stream([], title="t", follow=[tmp_path / "runs"], out=out, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert rc == 0
    assert "ok line" in out.getvalue()
    assert secret not in out.getvalue() and secret not in summary.read_text()


@pytest.fixture(scope="module")
def built_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import sys

    from bot.compute.localpod import LocalPodProvider
    from bot.compute.promote import promote
    from tests.compute.conftest import make_repo

    repo = make_repo(tmp_path_factory.mktemp("sub") / "repo")
    s = repo.settings(pod_provider="local", pod_train_command=f"{sys.executable} {{script}}",
                      max_wallclock_seconds=5, pod_eval_slack_seconds=10, pod_setup_command="true",
                      pod_train_env=["FAKE_MODE=ok"], submission_author="A", submission_github_id="a")  # fmt: skip
    res = promote(
        repo.root,
        s,
        provider=LocalPodProvider(repo.root / ".pgolf/localpods"),
        pr=4,
        sha=repo.sha,
        seeds=3,
        **OK,
    )
    assert res.status == "keep", res.error
    return repo, s, res.run_id, Path(res.run_dir)


def _seed0(key: str, value: object):  # type: ignore[no-untyped-def]
    return lambda d: d["seeds"][0].__setitem__(key, value)


HOSTILE_RESULTS = {
    "val_bpb NaN": ("seeds[0].val_bpb", _seed0("val_bpb", float("nan"))),
    "val_loss inf": ("seeds[0].val_loss", _seed0("val_loss", float("inf"))),
    "val_bpb negative": ("seeds[0].val_bpb", _seed0("val_bpb", -1.0)),
    "val_bpb text": ("seeds[0].val_bpb", _seed0("val_bpb", "abc")),
    "seed missing": ("seeds[0].seed", lambda d: d["seeds"][0].pop("seed")),
    "seed text": ("seeds[0].seed", _seed0("seed", "x")),
    "seed bool": ("seeds[0].seed", _seed0("seed", True)),
    "seed repeated": ("seeds[1].seed", lambda d: d["seeds"][1].__setitem__("seed", d["seeds"][0]["seed"])),
    "artifact text": ("seeds[0].artifact_bytes", _seed0("artifact_bytes", "big")),
    "significance text": ("significance", lambda d: d.__setitem__("significance", "x")),
    "p_value NaN": (
        "significance.p_value",
        lambda d: d.__setitem__(
            "significance", {"record_grade": True, "p_value": float("nan"), "improvement_nats": 1}
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_RESULTS))
def test_submission_build_refuses_impossible_result_values(built_run, case: str) -> None:  # type: ignore[no-untyped-def]
    """result.json hand-edited (or a score that slipped through): NaN/inf/negative scores, seeds
    that are not distinct integers, a NaN p-value — each is a clear InputError naming the file
    and field and builds no folder (never an AttributeError, never "NaN" in submission.json,
    never a record whose p-value is NaN)."""
    import copy
    import json
    from datetime import UTC, datetime

    from bot.compute.submission import build_submission
    from bot.errors import InputError

    repo, s, run_id, run_dir = built_run
    path = run_dir / "result.json"
    original = path.read_text()
    field, mutate = HOSTILE_RESULTS[case]
    data = copy.deepcopy(json.loads(original))
    mutate(data)
    path.write_text(json.dumps(data))
    try:
        with pytest.raises(InputError) as err:
            build_submission(
                repo.root, s, run_id, name=f"b15 {case}", date=datetime(2026, 11, 27, tzinfo=UTC)
            )
        assert err.value.field == field and "result.json" in str(err.value)
        assert not list((repo.root / "records").rglob("*b15_*"))
    finally:
        path.write_text(original)


@pytest.mark.parametrize(
    "trouble", ["get fails", "pod id not committed yet", "RunPod forgot the id", "list fails"]
)
def test_reaper_tick_during_a_healthy_promotion_touches_nothing(  # type: ignore[no-untyped-def]
    repo, emu, sshd, tmp_path: Path, trouble: str
) -> None:
    """A scheduled reaper (fresh checkout: no state file) ticks while a promotion is inside its
    deadline and RunPod misbehaves: the pod keeps running, the reservation stays open, nothing
    is booked."""
    import time
    from datetime import UTC, datetime

    from bot.compute.provider import PodSpec
    from bot.compute.reaper import reap
    from bot.errors import PodError
    from tests.compute.conftest import make_settings, provider

    s = make_settings(repo, sshd, tmp_path)
    p = provider(s)
    deadline = time.time() + 900
    budget_mod.reserve(repo.root / "budget.json", s, "pr5-abcdef1-1", 15.0, pr=5, sha=repo.sha,
                       deadline=datetime.fromtimestamp(deadline, UTC), provider="runpod")  # fmt: skip
    pod = p.create(PodSpec("pr5-abcdef1-1", 8, "NVIDIA H100 80GB HBM3", "img:1", "SECURE", deadline=deadline))
    if trouble != "pod id not committed yet":
        budget_mod.set_pod(
            repo.root / "budget.json", s, "pr5-abcdef1-1", "unknownpod" if "forgot" in trouble else pod.id
        )
    time.sleep(0.5)
    if trouble == "get fails":
        emu.fail_op("pod", times=50)
    if trouble == "list fails":
        emu.fail_op("myself", times=50)
    assert not (repo.root / ".pgolf/pods.json").exists()
    try:
        report = reap(repo.root, s, p)
        assert [a for a in report.actions if a.done] == []
        assert bool(report.errors) == (trouble == "get fails")
        assert report.pending == ([] if trouble == "get fails" else ["pr5-abcdef1-1"])
    except PodError:
        assert trouble == "list fails"
    emu._op_faults.clear()
    assert [q.id for q in emu.alive()] == [pod.id]
    b = budget_mod.load(repo.root / "budget.json", s)
    assert [r.run_id for r in b.reservations] == ["pr5-abcdef1-1"] and b.runs == []


def test_a_commit_subject_cannot_forge_tier2_seed_scores(tmp_path: Path) -> None:
    """The PR author writes the commit subject, and the Tier 2 row's description quotes it
    before pgolf's own ``cfg=… bpbs=…`` tags. A subject carrying ``bpbs=0.5/0.5/0.5`` must not
    turn a one-seed run into a three-seed winner (merge-winner reads those tags)."""
    import sys

    from bot.compute.localpod import LocalPodProvider
    from bot.compute.promote import promote
    from bot.compute.winners import tier2_config, winner_test
    from bot.ledger import Ledger, make_row
    from tests.compute.conftest import git as cgit
    from tests.compute.conftest import make_repo

    repo = make_repo(tmp_path / "repo")
    s = repo.settings(pod_provider="local", pod_train_command=f"{sys.executable} {{script}}",
                      max_wallclock_seconds=5, pod_eval_slack_seconds=10, pod_setup_command="true",
                      pod_train_env=["FAKE_MODE=ok"])  # fmt: skip
    cfg = tier2_config(s)
    cgit(repo.root, "commit", "-q", "--allow-empty", "-m", f"tweak cfg={cfg} bpbs=0.50000/0.50000/0.50000")
    sha = cgit(repo.root, "rev-parse", "HEAD")
    with (repo.root / "results.tsv").open("a") as fh:
        fh.write(f"{sha[:7]}\tlocal\t1.290000\t15000000\t12.0\tkeep\tno\t0.00\ttweak\n")
    for i in range(2):  # a Tier 2 baseline at the same configuration
        Ledger.append(repo.root / "results.tsv", make_row(
            commit=repo.sha[:7], tier="runpod", val_bpb=1.2, artifact_bytes=15_000_000, memory_gb=None,
            status="keep", promoted="yes", cost_usd=0.0,
            description=f"baseline 3-seed mean cfg={cfg} bpbs=1.20000/1.20100/1.19900 run=b{i}",
        ))  # fmt: skip
    res = promote(
        repo.root, s, provider=LocalPodProvider(repo.root / ".pgolf/localpods"), pr=6, sha=sha, seeds=1, **OK
    )
    assert res.status in ("keep", "discard"), res.error
    verdict = winner_test(Ledger.load(repo.root / "results.tsv"), sha, s)
    assert verdict.seeds == 1 and not verdict.passed, verdict


@pytest.mark.parametrize(
    "edit",
    [
        lambda sub: sub.__setitem__("val_bpb", float("nan")),
        lambda sub: sub["seed_results"][next(iter(sub["seed_results"]))].__setitem__("val_bpb", float("inf")),
        lambda sub: sub.__setitem__("seeds", [*sub["seeds"], sub["seeds"][0]]),
        lambda sub: sub.__setitem__("val_bpb", -1.0),
    ],
    ids=["val_bpb NaN", "seed inf", "seed repeated", "val_bpb negative"],
)
def test_submission_lint_flags_values_upstream_cannot_read(built_run, edit) -> None:  # type: ignore[no-untyped-def]
    """``NaN``/``Infinity`` are not JSON (upstream's tooling cannot read them), a seed listed
    twice claims a run that never happened, a negative bpb is impossible: lint must say so."""
    import json
    from datetime import UTC, datetime

    from bot.compute.submission import build_submission, lint_folder

    repo, s, run_id, _ = built_run
    built = build_submission(
        repo.root, s, run_id, name="b15 lint", date=datetime(2026, 11, 27, tzinfo=UTC), force=True
    )
    assert lint_folder(built.folder) == []
    path = built.folder / "submission.json"
    sub = json.loads(path.read_text())
    edit(sub)
    path.write_text(json.dumps(sub, indent=2))
    assert lint_folder(built.folder) != []


def test_a_settle_retried_after_a_failed_push_still_reaches_the_default_branch(tmp_path: Path) -> None:
    """``pgolf budget settle --commit`` settles locally, then the push fails (network, a
    branch that keeps moving). The step is retried: it must push the settlement it already
    booked (once), not stop at "no open reservation" and leave the default branch holding an
    open reservation for a pod that is gone."""
    from click.testing import CliRunner

    from bot.cli import cli
    from tests.compute.killed_runner import committed_budget, make_remote

    bare, runner, _ = make_remote(tmp_path)

    def pgolf(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(
            cli, ["--repo", str(runner), "-c", "tier2_min_interval_seconds=0", *args], env=ENV
        )
        return r.exit_code, r.output

    assert pgolf("budget", "reserve", "--run-id", "r1", "--usd", "15", "--commit")[0] == 0
    git(runner, "remote", "set-url", "origin", str(tmp_path / "unreachable.git"))
    settle = ("budget", "settle", "--run-id", "r1", "--seconds", "700", "--cost-usd", "4.2", "--commit")
    assert pgolf(*settle)[0] != 0
    git(runner, "remote", "set-url", "origin", str(bare))
    code, out = pgolf(*settle)  # the retry
    assert code == 0, out
    b = committed_budget(bare, Settings())
    assert b.reservations == [] and [(r.run_id, r.cost_usd) for r in b.runs] == [("r1", 4.2)]
    code, out = pgolf(*settle)  # and once more: still one record, nothing booked twice
    assert code == 0, out
    assert [r.cost_usd for r in committed_budget(bare, Settings()).runs] == [4.2]


def test_a_pod_created_despite_a_lost_create_reply_is_terminated_and_booked(  # type: ignore[no-untyped-def]
    repo, emu, sshd, tmp_path: Path
) -> None:
    """RunPod creates the pod but the create call's reply is an error (a gateway timeout).
    The promotion must not settle $0 and walk away: the pod, named ``pgolf-<run-id>``, would
    bill until its in-pod deadline removes it, and RunPod then forgets it (no reaper books a
    pod it cannot see). It is found by name, terminated, and its cost booked."""
    import time

    from bot.compute.promote import promote
    from tests.compute.conftest import make_settings, provider

    s = make_settings(repo, sshd, tmp_path)
    emu.lose_reply("podFindAndDeployOnDemand")
    res = promote(repo.root, s, provider=provider(s), pr=7, sha=repo.sha, **OK)
    assert res.status == "crash"
    assert emu.alive() == [], "the pod created despite the lost reply is still running"
    time.sleep(0.2)
    billed = emu.billed_usd(f"pgolf-{res.run_id}")
    b = budget_mod.load(repo.root / "budget.json", s)
    assert b.reservations == [] and len(b.runs) == 1
    assert b.runs[0].cost_usd >= billed - 1e-6 and b.runs[0].pod_id


def test_training_output_in_the_promotion_message_pings_nobody(tmp_path: Path) -> None:
    """A crash reason can quote the training log (logparse names the last exception line), and
    the App posts it in the sticky comment: ``RuntimeError: @acme/security-team …`` must not
    become a mention the bot makes on the PR author's behalf."""
    import re
    import sys

    from bot.compute.localpod import LocalPodProvider
    from bot.compute.promote import promote
    from bot.forge.sticky import PromotionStatus, render_promotion
    from tests.compute.conftest import make_repo

    script = 'print("RuntimeError: cc @acme/security-team and @octocat, urgent", flush=True)\n'
    repo = make_repo(tmp_path / "repo", script)
    s = repo.settings(pod_provider="local", pod_train_command=f"{sys.executable} {{script}}",
                      max_wallclock_seconds=5, pod_eval_slack_seconds=10, pod_setup_command="true")  # fmt: skip
    res = promote(
        repo.root, s, provider=LocalPodProvider(repo.root / ".pgolf/localpods"), pr=4, sha=repo.sha, **OK
    )
    assert res.status == "crash" and "octocat" in res.error
    body = render_promotion(
        PromotionStatus("failed", sha=repo.sha, approved_by="maintainer", message=res.error)
    )
    assert "@maintainer" in body  # pgolf's own mention of the approver stays
    assert not re.search(r"(?<![\w`])@(acme|octocat)\b", body), body


def test_submission_lint_of_a_non_utf8_folder_is_a_problem_not_a_traceback(built_run) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from bot.compute.submission import build_submission, lint_folder

    repo, s, run_id, _ = built_run
    built = build_submission(
        repo.root, s, run_id, name="b15 latin", date=datetime(2026, 11, 27, tzinfo=UTC), force=True
    )
    (built.folder / "README.md").write_bytes("# Non-record: caf\xe9\n".encode("latin-1"))
    (built.folder / "submission.json").write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    problems = lint_folder(built.folder)
    assert any("submission.json" in p and "unreadable" in p for p in problems), problems
