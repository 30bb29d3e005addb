"""Capacity, auto-promotion and winners-into-the-baseline, on real git with the local forge and on
the GitHub emulator through PyGithub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import budget as budget_mod
from bot import clock
from bot.agent import gitops, policy
from bot.agent.record import Proposal, ProposalArchive
from bot.agent.validate import SMOKE_ENV
from bot.compute.significance import assess
from bot.compute.winners import tier2_tags
from bot.config import Settings, load_settings
from bot.errors import ForgeError
from bot.forge.local import LocalForge
from bot.ledger import Ledger, make_row
from bot.program import inject
from bot.program_inputs import gather_inputs
from tests.agent.conftest import git, read_jsonl

A, B = "training/train_gpt.py", "training/train_gpt_mlx.py"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def settings_for(repo: Path, **over: Any) -> Settings:
    return load_settings(repo, env={}, overrides=over)


def open_exp_pr(repo: Path, forge: LocalForge, name: str, labels: list[str] | None = None) -> Any:
    """A branch exp/<name> with one commit changing the warmdown default, and its PR."""
    base = git(repo, "rev-parse", "main")
    files = {
        rel: (repo / rel)
        .read_text()
        .replace('"WARMDOWN_ITERS", 1200', f'"WARMDOWN_ITERS", {1300 + len(name)}')
        for rel in (A, B)
    }
    tree = gitops.build_tree(repo, base, files)
    commit = gitops.commit_tree(repo, tree, base, f"exp: {name}\n")
    gitops.create_branch(repo, f"exp/{name}", commit)
    return forge.open_pr(f"exp/{name}", "main", f"[exp] {name}", "body", labels or ["experiment"])


def local_row(sha: str, bpb: float, status: str = "keep") -> Any:
    return make_row(
        commit=sha[:7],
        tier="local",
        val_bpb=bpb,
        artifact_bytes=15_000_000,
        memory_gb=1.0,
        status=status,
        description=f"exp {sha[:7]}",
    )


def runpod_row(sha: str, bpb: float, *, spread: float = 0.0005, what: str = "runpod", seeds: int = 3) -> Any:
    """A Tier 2 row as promote writes it: the configuration and the per-seed val_bpb tagged."""
    bpbs = [bpb + spread * (i - (seeds - 1) / 2) for i in range(seeds)]
    return make_row(
        commit=sha[:7],
        tier="runpod",
        val_bpb=bpb,
        artifact_bytes=15_500_000,
        memory_gb=60.0,
        status="keep",
        cost_usd=3.3,
        description=f"{what} {sha[:7]} {tier2_tags(Settings(), bpbs)} run=x",
    )


# --------------------------------------------------------------------------- capacity
def test_capacity_counts_open_exp_prs_and_todays_spend(repo: Path) -> None:
    s = settings_for(repo, experimenter_max_open_prs=2, experimenter_daily_usd=1.0)
    forge = LocalForge(repo)
    arch = ProposalArchive(repo / "research", repo)
    cap = policy.capacity(forge, s, arch, now=NOW)
    assert cap.ok and cap.open_prs == 0

    open_exp_pr(repo, forge, "one")
    git(repo, "branch", "feature/other")
    forge.open_pr("feature/other", "main", "not an experiment", "")
    assert policy.capacity(forge, s, arch, now=NOW).open_prs == 1  # only exp/ branches count

    arch.save(Proposal(slug="a", status="crash", cost_usd=0.6, created_at="2026-11-27T01:00:00Z"))
    arch.save(
        Proposal(slug="b", status="crash", cost_usd=0.6, created_at="2026-11-26T23:00:00Z")
    )  # yesterday
    assert policy.capacity(forge, s, arch, now=NOW).ok
    arch.save(Proposal(slug="c", status="stopped", cost_usd=0.4, created_at="2026-11-27T02:00:00Z"))
    cap = policy.capacity(forge, s, arch, now=NOW)
    assert not cap.ok and "daily cap" in cap.reason and cap.spent_today_usd == pytest.approx(1.0)
    assert policy.capacity(forge, s, arch, offline=True, now=NOW).ok  # the offline proposer costs nothing

    open_exp_pr(repo, forge, "two")
    cap = policy.capacity(forge, s, arch, offline=True, now=NOW)
    assert not cap.ok and "2 open experiment PR(s), the limit is 2" in cap.reason


# --------------------------------------------------------------------------- auto-promotion
@pytest.fixture
def candidate(repo: Path) -> tuple[LocalForge, Any]:
    forge = LocalForge(repo)
    pr = open_exp_pr(repo, forge, "candidate", ["experiment", "promote-candidate"])
    Ledger.append(repo / "results.tsv", local_row(pr.head_sha, 3.70))
    return forge, pr


def test_auto_promotion_is_off_by_default(repo: Path, candidate: tuple[LocalForge, Any]) -> None:
    forge, pr = candidate
    d = policy.auto_promote(forge, pr.number, root=repo, settings=settings_for(repo), now=NOW)
    assert not d.labelled and "off" in d.reason
    assert "promote" not in forge.labels(pr.number)
    assert not (repo / "research" / policy.AUTO_PROMOTIONS).exists()


def test_auto_promotion_labels_through_the_trust_function(
    repo: Path, candidate: tuple[LocalForge, Any]
) -> None:
    forge, pr = candidate
    s = settings_for(repo, auto_promote=True)
    d = policy.auto_promote(forge, pr.number, root=repo, settings=s, now=NOW)
    assert d.labelled, d.reason
    assert "promote" in forge.labels(pr.number)
    # The same trust function refuses the App as soon as the policy is off.
    allowed, why = policy.default_trust(forge, forge.get_pr(pr.number), settings_for(repo))
    assert not allowed and "auto_promote is off" in why
    allowed, why = policy.default_trust(forge, forge.get_pr(pr.number), s)
    assert allowed and "auto-promotion policy" in why
    log = read_jsonl(repo / "research" / policy.AUTO_PROMOTIONS)
    assert [r["labelled"] for r in log] == [True]


def test_auto_promotion_honours_the_rate_limit_and_the_reserve_floor(
    repo: Path, candidate: tuple[LocalForge, Any]
) -> None:
    forge, pr = candidate
    s = settings_for(repo, auto_promote=True)
    path = repo / "budget.json"
    budget_mod.init(path, s)
    started = NOW - timedelta(minutes=20)
    budget_mod.reserve(path, s, "run-1", 15.0, now=started)
    budget_mod.settle(path, s, "run-1", 600, end=clock.stamp(started + timedelta(minutes=11)))
    d = policy.auto_promote(forge, pr.number, root=repo, settings=s, now=NOW)
    assert not d.labelled and "Rate limited" in d.reason
    assert "promote" not in forge.labels(pr.number)
    # two hours later the rate limit is over: it qualifies ...
    later = NOW + timedelta(hours=2)
    ok = policy.auto_promote(forge, pr.number, root=repo, settings=s, now=later, record=False)
    assert ok.labelled, ok.reason
    forge.remove_label(pr.number, "promote")
    # ... unless the credits left are below the reserve floor (an orphan pod ate them)
    budget_mod.record_spend(path, s, "orphan-1", 450.0, note="reaped")
    d = policy.auto_promote(forge, pr.number, root=repo, settings=s, now=later)
    assert not d.labelled and "reserve floor" in d.reason
    assert "promote" not in forge.labels(pr.number)


def test_auto_promotion_daily_limit_and_stale_or_missing_qualification(
    repo: Path, candidate: tuple[LocalForge, Any]
) -> None:
    forge, pr = candidate
    s = settings_for(repo, auto_promote=True, auto_promote_max_per_day=1)
    other = open_exp_pr(repo, forge, "second", ["experiment", "promote-candidate"])
    Ledger.append(repo / "results.tsv", local_row(other.head_sha, 3.65))
    assert policy.auto_promote(forge, pr.number, root=repo, settings=s, now=NOW).labelled
    d = policy.auto_promote(forge, other.number, root=repo, settings=s, now=NOW)
    assert not d.labelled and "1 auto-promotion(s) today" in d.reason

    # the head moved after the local run: the old row does not qualify the new head
    third = open_exp_pr(repo, forge, "third", ["experiment", "promote-candidate"])
    Ledger.append(repo / "results.tsv", local_row(third.head_sha, 3.6))
    new = gitops.commit_tree(
        repo, gitops.git(repo, "rev-parse", f"{third.head_sha}^{{tree}}").strip(), third.head_sha, "more\n"
    )
    gitops.git(repo, "update-ref", "refs/heads/exp/third", new)
    d = policy.auto_promote(
        forge,
        third.number,
        root=repo,
        settings=settings_for(repo, auto_promote=True),
        now=NOW + timedelta(days=1),
    )
    assert not d.labelled and "no qualifying local result for the current head" in d.reason

    plain = open_exp_pr(repo, forge, "plain")
    d = policy.auto_promote(
        forge, plain.number, root=repo, settings=settings_for(repo, auto_promote=True), now=NOW
    )
    assert not d.labelled and "not qualified" in d.reason


# --------------------------------------------------------------------------- winners
def winner_setup(repo: Path, forge: LocalForge, bpb: float) -> Any:
    pr = open_exp_pr(repo, forge, "winner", ["experiment", "promote"])
    base = git(repo, "rev-parse", "main")
    Ledger.append(
        repo / "results.tsv",
        runpod_row(base, 1.2244, what="baseline"),  # the Tier 2 baseline at the same configuration
        local_row(pr.head_sha, 3.7),
        runpod_row(pr.head_sha, bpb),
    )
    ProposalArchive(repo / "research", repo).save(
        Proposal(slug="winner", status="opened", pr=pr.number, branch="exp/winner")
    )
    Ledger.append(
        repo / "results.tsv",
        make_row(
            commit="0000000",
            tier="local",
            val_bpb=9.0,
            artifact_bytes=1,
            memory_gb=1.0,
            status="keep",
            description="baseline seed=1 (old main)",
        ),
    )
    git(repo, "commit", "-q", "-am", "ledger [skip ci]")  # what `pgolf ledger commit` does in CI
    return pr


def test_not_the_new_best_is_not_merged(repo: Path) -> None:
    forge = LocalForge(repo)
    pr = winner_setup(repo, forge, 1.2300)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=settings_for(repo, auto_merge_winners=True))
    assert d.action == "none" and "not significantly better than the Tier 2 baseline" in d.reason
    assert not forge.get_pr(pr.number).merged
    off = policy.merge_winner(forge, pr.number, root=repo, settings=settings_for(repo))
    assert off.action == "none" and "off" in off.reason


def test_record_claim_needs_significance(repo: Path) -> None:
    forge = LocalForge(repo)
    pr = winner_setup(repo, forge, 1.2000)
    s = settings_for(repo, auto_merge_winners=True)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s, record_claim=True)
    assert d.action == "none" and "significance" in d.reason
    weak = assess([1.20, 1.22, 1.21], [2.07, 2.10, 2.085], 1.2244, best_losses=[2.09, 2.095, 2.092])
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s, record_claim=True, significance=weak)
    assert not weak.record_grade and d.action == "none" and "not record-grade" in d.reason
    assert not forge.get_pr(pr.number).merged


@pytest.mark.slow
def test_winner_is_merged_and_the_baseline_re_measured(repo: Path, tiny_data: Path) -> None:
    forge = LocalForge(repo)
    pr = winner_setup(repo, forge, 1.2000)
    s = settings_for(repo, auto_merge_winners=True, baseline_window=1, local_backend="torch")
    strong = assess([1.200, 1.201, 1.199], [2.000, 2.002, 1.998], 1.2244, best_losses=[2.05, 2.052, 2.048])
    assert strong.record_grade
    runner = policy.local_baseline_runner(
        s,
        seeds=1,
        iterations=3,
        data_path=tiny_data / "datasets" / "fineweb10B_sp1024",
        tokenizer_path=tiny_data / "tokenizers" / "fineweb_1024_bpe.model",
        extra_env=dict(SMOKE_ENV),
    )
    d = policy.merge_winner(
        forge, pr.number, root=repo, settings=s, record_claim=True, significance=strong, run_baseline=runner
    )
    assert d.action == "merged", d.reason
    assert forge.get_pr(pr.number).merged
    assert git(repo, "rev-parse", "main") == d.merge_sha
    assert '"WARMDOWN_ITERS", 1306' in git(repo, "show", f"main:{A}")
    # the baseline was re-measured on the merge commit, and the running baseline follows it
    ledger = Ledger.load(repo / "results.tsv")
    new_rows = [r for r in ledger.baseline_rows(10) if d.merge_sha.startswith(r.commit)]
    assert len(new_rows) == 1 and new_rows[0].val_bpb is not None
    assert ledger.running_local_baseline(1) == new_rows[0].val_bpb != 9.0
    assert git(repo, "worktree", "list").count("\n") == 0  # the temporary worktree is gone
    # the proposal archive and the winners log know; program.md shows the new SOTA on the next inject
    assert ProposalArchive(repo / "research").get("winner").status == "merged"  # type: ignore[union-attr]
    assert read_jsonl(repo / "research" / policy.WINNERS)[-1]["merge_sha"] == d.merge_sha
    note = policy.program_note(repo, s, ledger)
    assert f"PR #{pr.number}" in note and "1.2000" in note
    inputs = gather_inputs(repo, s)
    inject(repo / "program.md", inputs.sections, inputs.sota)
    assert "**SOTA: 1.2000 bpb. Baseline: 1.2244 bpb.**" in (repo / "program.md").read_text()


class ProtectedForge(LocalForge):
    """The local forge with a protected base branch: merges need a review (as GitHub answers)."""

    def merge_pr(self, number: int, sha: str, message: str = "") -> str:
        raise ForgeError(f"PUT pull #{number} merge: HTTP 405: At least 1 approving review is required")


def test_branch_protection_opens_a_merge_pr(repo: Path) -> None:
    forge = ProtectedForge(repo)
    pr = winner_setup(repo, forge, 1.2000)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=settings_for(repo, auto_merge_winners=True))
    assert d.action == "merge-pr" and d.merge_pr is not None
    merge_pr = forge.get_pr(d.merge_pr)
    assert (
        merge_pr.head_ref == "winner/winner"
        and merge_pr.head_sha == pr.head_sha
        and "winner" in merge_pr.labels
    )
    assert "1.2000" in merge_pr.body
    assert ProposalArchive(repo / "research").get("winner").status == "merge-pr"  # type: ignore[union-attr]


def test_winner_merged_on_the_github_emulator(repo: Path) -> None:
    from bot.forge.github import GitHubForge
    from tests.emulators.github import GitHubEmulator

    with GitHubEmulator() as gh:
        gh.add_repo("golfer/pg", files={A: b"base\n"})
        issue = gh.add_pr(
            "golfer/pg",
            files={A: b"winner\n"},
            head_ref="exp/winner",
            title="[exp] winner",
            labels=["promote"],
        )
        forge = GitHubForge("golfer/pg", token=gh.add_token("golfer"), base_url=gh.url)
        Ledger.append(
            repo / "results.tsv",
            runpod_row("1" * 40, 1.2244, what="baseline"),
            runpod_row(issue.head_sha, 1.2100),
        )
        s = settings_for(repo, auto_merge_winners=True)
        d = policy.merge_winner(forge, issue.number, root=repo, settings=s)
        assert d.action == "merged", d.reason
        state = gh.repos["golfer/pg"].issues[issue.number]
        assert state.merged and state.merge_commit_sha == d.merge_sha
        assert gh.file_at("golfer/pg", "main", A) == b"winner\n"
        put = gh.requests_to("PUT", "/merge")
        assert len(put) == 1 and put[0].json()["sha"] == issue.head_sha  # merged only at the promoted head
        # a second call sees the merged PR and does nothing
        assert policy.merge_winner(forge, issue.number, root=repo, settings=s).action == "none"


# --- winners that really won (issue 15 item 5) -----------------------------------------------
def test_first_promotion_without_a_tier2_baseline_is_refused_with_the_reason(repo: Path) -> None:
    forge = LocalForge(repo)
    pr = open_exp_pr(repo, forge, "first", ["experiment", "promote"])
    Ledger.append(repo / "results.tsv", local_row(pr.head_sha, 3.7), runpod_row(pr.head_sha, 1.20))
    s = settings_for(repo, auto_merge_winners=True)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s)
    assert d.action == "none" and "no Tier 2 baseline at cfg=t2-8xh10080gbhbm3-600s-plain" in d.reason
    assert "pgolf promote --description baseline --seeds 3" in d.reason
    assert not forge.get_pr(pr.number).merged
    body = forge.list_comments(pr.number)[0].body
    assert "no Tier 2 baseline" in body and "Merge into the baseline" in body


def test_one_seed_or_a_baseline_at_another_configuration_does_not_count(repo: Path) -> None:
    forge = LocalForge(repo)
    pr = open_exp_pr(repo, forge, "oneseed", ["experiment", "promote"])
    other_cfg = make_row(
        commit="1111111", tier="runpod", val_bpb=1.30, artifact_bytes=1, memory_gb=1.0, status="keep",
        description="baseline cfg=t2-1xh100-600s-plain bpbs=1.30/1.31/1.29 run=y",
    )  # fmt: skip
    Ledger.append(repo / "results.tsv", other_cfg, runpod_row(pr.head_sha, 1.10, seeds=1))
    s = settings_for(repo, auto_merge_winners=True)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s)
    assert d.action == "none" and "1 seed(s) on Tier 2; a winner needs ≥ 3" in d.reason
    Ledger.append(repo / "results.tsv", runpod_row(pr.head_sha, 1.10))
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s)
    assert d.action == "none" and "no Tier 2 baseline at cfg=" in d.reason  # the 1-GPU one is not it


def test_a_local_discard_is_never_merged_unless_a_maintainer_says_so(repo: Path) -> None:
    forge = LocalForge(repo)
    pr = winner_setup(repo, forge, 1.2000)
    Ledger.append(repo / "results.tsv", local_row(pr.head_sha, 3.9, status="discard"))  # latest verdict
    git(repo, "commit", "-q", "-am", "ledger [skip ci]")
    s = settings_for(repo, auto_merge_winners=True)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s)
    assert d.action == "none" and d.local_verdict == "discard" and "merge-anyway" in d.reason
    assert not forge.get_pr(pr.number).merged
    forge.add_label(pr.number, policy.OVERRIDE_LABEL)  # a maintainer's word
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s)
    assert d.action == "merged", d.reason


def test_a_significant_winner_is_merged_with_p_value_and_effect_in_the_comment(repo: Path) -> None:
    forge = LocalForge(repo)
    pr = winner_setup(repo, forge, 1.2000)
    d = policy.merge_winner(forge, pr.number, root=repo, settings=settings_for(repo, auto_merge_winners=True))
    assert d.action == "merged", d.reason
    assert d.test is not None and d.test["p_value"] < 0.05 and d.test["effect_bpb"] == pytest.approx(0.0244)
    body = forge.list_comments(pr.number)[0].body
    assert "**merged**" in body and "one-sided Welch p = " in body and "effect +0.02440 bpb" in body


def test_outsiders_fork_prs_named_exp_do_not_use_up_the_experimenters_capacity(repo: Path) -> None:
    """Any GitHub user can open a pull request from a fork branch named ``exp/…`` (no approval is
    needed to open one). Counted as experiment PRs, a few of them would stop the scheduled
    experimenter for as long as they stay open. On the GitHub emulator through PyGithub: only
    this repository's own exp/ branches count."""
    from bot.forge.github import GitHubForge
    from tests.emulators.github import GitHubEmulator

    s = settings_for(repo, experimenter_max_open_prs=2)
    arch = ProposalArchive(repo / "research", repo)
    with GitHubEmulator() as gh:
        gh.add_repo("golfer/pg", files={A: (repo / A).read_bytes()})
        token = gh.add_token("golfer")
        forge = GitHubForge("golfer/pg", token=token, base_url=gh.url)
        for n in range(3):
            gh.add_pr(
                "golfer/pg",
                head_ref=f"exp/spam-{n}",
                head_repo="mallory/pg",
                author="mallory",
                files={A: b"# spam\n"},
            )
        cap = policy.capacity(forge, s, arch, offline=True, now=NOW)
        assert cap.ok and cap.open_prs == 0, cap.reason
        gh.add_pr("golfer/pg", head_ref="exp/ours", author="golfer", files={A: b"# ours\n"})
        cap = policy.capacity(forge, s, arch, offline=True, now=NOW)
        assert cap.ok and cap.open_prs == 1 and len(cap.open) == 1


def test_the_settle_jobs_merge_is_bound_to_the_full_promoted_sha(repo: Path) -> None:
    """results.tsv keeps 7 hex digits of a commit: a PR author can grind a new commit whose SHA
    starts like the promoted one (2^28 tries) and push it while the paid job trains. The settle
    job names the full SHA it promoted; any other head is not merged."""
    forge = ProtectedForge(repo)
    pr = winner_setup(repo, forge, 1.2000)
    s = settings_for(repo, auto_merge_winners=True)
    twin = pr.head_sha[:7] + ("0" if pr.head_sha[7] != "0" else "1") + pr.head_sha[8:]  # same 7 digits
    d = policy.merge_winner(forge, pr.number, root=repo, settings=s, head_sha=twin)
    assert d.action == "none" and "not the promoted commit" in d.reason, d.reason
    assert d.merge_pr is None and not forge.get_pr(pr.number).merged
    ok = policy.merge_winner(forge, pr.number, root=repo, settings=s, head_sha=pr.head_sha.upper())
    assert ok.action == "merge-pr", ok.reason
