"""Policies of the unattended loop: capacity, auto-promotion, winners into the baseline.

**Capacity** (the scheduled experimenter proposes only when both hold):

* fewer than ``experimenter_max_open_prs`` open pull requests from ``exp/`` branches, and
* the experimenter's LLM spend today (UTC, from ``proposals.jsonl``) is under
  ``experimenter_daily_usd``. The offline proposer spends nothing and ignores the cap.

**Auto-promotion** (setting ``auto_promote``, off by default). For an open ``exp/`` PR the bot
applies the ``promote`` label itself when, in order:

1. the policy is on;
2. the PR is open, from this repository (not a fork), not MLX-only, not already labelled;
3. it qualified on the local tier: it carries the ``promote-candidate`` label *and* the ledger has
   a local ``keep`` row for its current head SHA (a label left behind by an older head counts
   for nothing);
4. the budget allows a Tier 2 run now (:func:`bot.budget.can_submit`: reserve floor, open
   reservations, the one-run-per-interval rate limit);
5. fewer than ``auto_promote_max_per_day`` auto-promotions happened today (UTC);
6. the App identity passes the **same trust function** every human goes through
   (:func:`bot.forge.events.authorize`, on the ``labeled`` event the label will produce — it
   counts the App as trusted only while ``auto_promote`` is on).

The label then goes down the ordinary promotion path, which repeats the trust, budget and gate
checks; nothing here spends money. Every decision is appended to
``<state_dir>/auto_promotions.jsonl``.

**Winners into the baseline** (setting ``auto_merge_winners``, off by default). When a RunPod
result of an experiment PR is the new best kept RunPod val_bpb, its ≥ 3 Tier 2 seeds are
significantly better (one-sided Welch, ``winner_p_value``) than a Tier 2 *baseline* measured at
the same configuration (:mod:`bot.compute.winners`; without one the merge is refused with the
reason), its latest local verdict is not ``discard`` (unless a maintainer adds the
``merge-anyway`` label), and — for a record claim — the multi-seed significance test says
record-grade (:mod:`bot.compute.significance`), the bot merges the PR at the promoted head SHA.
The p-value and the effect go into the PR's sticky comment either way. When the forge refuses because branch protection requires a
review, it opens a merge PR instead (branch ``winner/<slug>`` at the same SHA). After a merge it
re-measures the local baseline on the new main (``baseline`` rows in results.tsv, so the running
local baseline follows), and records the winner in ``<state_dir>/winners.jsonl``;
:func:`program_note` turns that into a line of program.md on the next injection, next to the SOTA
line that the new RunPod row already moves.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot import clock
from bot.agent import gitops
from bot.agent.pr import BRANCH_PREFIX, MLX_ONLY_LABEL
from bot.agent.record import ProposalArchive
from bot.compute.winners import winner_test
from bot.config import Settings
from bot.errors import ExperimentError, ForgeError, StateError
from bot.forge.base import Forge, PullRequest
from bot.forge.events import Event
from bot.git import same_commit
from bot.ledger import Ledger, Row
from bot.state import append_lines, iter_jsonl

AUTO_PROMOTIONS = "auto_promotions.jsonl"
WINNERS = "winners.jsonl"
WINNER_PREFIX = "winner/"


# --------------------------------------------------------------------------- small JSONL log
def _append(path: Path, record: dict[str, Any]) -> None:
    append_lines(path, [json.dumps(record, ensure_ascii=False, sort_keys=True)])


def _read(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, data in iter_jsonl(path, encoding="utf-8"):
        if not isinstance(data, dict):
            raise StateError(f"line {n}: expected a JSON object", path=str(path))
        out.append(data)
    return out


# --------------------------------------------------------------------------- capacity
@dataclass
class Capacity:
    ok: bool
    reason: str
    open_prs: int
    max_open_prs: int
    spent_today_usd: float
    daily_cap_usd: float
    open: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def capacity(
    forge: Forge,
    settings: Settings,
    archive: ProposalArchive,
    *,
    offline: bool = False,
    now: datetime | None = None,
) -> Capacity:
    """May the scheduled experimenter propose one more experiment now?"""
    now = now or clock.now()
    # this repository's own exp/ branches: anyone can open a fork PR from a branch named exp/…
    prs = [p for p in forge.list_open_prs(BRANCH_PREFIX) if not p.is_fork]
    numbers = [p.number for p in prs]
    spent = archive.spend_on(now.date())
    cap = settings.experimenter_daily_usd
    limit = settings.experimenter_max_open_prs
    base = dict(
        open_prs=len(prs),
        max_open_prs=limit,
        spent_today_usd=round(spent, 6),
        daily_cap_usd=cap,
        open=numbers,
    )
    if len(prs) >= limit:
        return Capacity(False, f"{len(prs)} open experiment PR(s), the limit is {limit}", **base)  # type: ignore[arg-type]
    if not offline and spent >= cap:
        return Capacity(False, f"LLM spend today ${spent:.2f} has reached the daily cap ${cap:.2f}", **base)  # type: ignore[arg-type]
    return Capacity(
        True,
        f"{len(prs)} of {limit} experiment PR(s) open; ${spent:.2f} of ${cap:.2f} LLM spend today",
        **base,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- auto-promotion
TrustFn = Callable[[Forge, PullRequest, Settings], tuple[bool, str]]


def label_event(forge: Forge, pr: PullRequest, settings: Settings) -> Event:
    """The ``pull_request labeled`` event our own label will produce, as the trust function sees it."""

    login = forge.bot_login
    return Event(
        name="pull_request",
        action="labeled",
        repo=str(getattr(forge, "repo", "")),
        pr=int(pr.number),
        is_pr=True,
        actor=login,
        actor_type="Bot",
        author_association="NONE",
        head_sha=pr.head_sha,
        head_repo=pr.head_repo,
        label=settings.promote_label,
        labels=tuple(pr.labels),
    )


def default_trust(forge: Forge, pr: PullRequest, settings: Settings) -> tuple[bool, str]:
    """THE trust function (:func:`bot.forge.events.authorize`) on the label event we would cause:
    the App identity passes only while ``auto_promote`` is on."""
    from bot.forge import events

    decision = events.authorize(label_event(forge, pr, settings), forge, settings)
    return bool(decision.allowed), str(decision.reason)


@dataclass
class AutoPromoteDecision:
    pr: int
    labelled: bool
    reason: str
    head_sha: str = ""
    local_row: dict[str, Any] | None = None
    at: str = field(default_factory=clock.stamp)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_row_for(ledger: Ledger, sha: str) -> Row | None:
    rows = [r for r in ledger.rows if r.tier == "local" and same_commit(r.commit, sha) and not r.is_baseline]
    return rows[-1] if rows else None


def auto_promotions_today(state_dir: Path, now: datetime) -> int:
    day = now.strftime("%Y-%m-%d")
    return sum(
        1
        for r in _read(state_dir / AUTO_PROMOTIONS)
        if r.get("labelled") and str(r.get("at", ""))[:10] == day
    )


def auto_promote(
    forge: Forge,
    number: int,
    *,
    root: Path | str,
    settings: Settings,
    trust: TrustFn = default_trust,
    now: datetime | None = None,
    record: bool = True,
) -> AutoPromoteDecision:
    """Apply the ``promote`` label to PR ``number`` when the policy allows (see module docs)."""
    root = Path(root)
    now = now or clock.now()
    state_dir = settings.path("state_dir", root)

    def done(labelled: bool, reason: str, head: str = "", row: Row | None = None) -> AutoPromoteDecision:
        # stamped with the decision's own ``now``: the daily limit counts these by that day
        d = AutoPromoteDecision(
            number, labelled, reason, head, row.to_dict() if row else None, at=clock.stamp(now)
        )
        if record and settings.auto_promote:
            _append(state_dir / AUTO_PROMOTIONS, d.to_dict())
        return d

    if not settings.auto_promote:
        return done(False, "auto-promotion is off (setting auto_promote)")
    pr = forge.get_pr(number)
    labels = set(pr.labels)
    if pr.state != "open":
        return done(False, f"PR #{number} is {pr.state}", pr.head_sha)
    if pr.is_fork or not pr.head_ref.startswith(BRANCH_PREFIX):
        return done(False, f"PR #{number} is not an experiment branch of this repository", pr.head_sha)
    if settings.promote_label in labels:
        return done(False, f"PR #{number} already carries the {settings.promote_label!r} label", pr.head_sha)
    if MLX_ONLY_LABEL in labels:
        return done(
            False,
            f"PR #{number} is MLX-only: the parity gate is waived, so it cannot be promoted",
            pr.head_sha,
        )
    if settings.candidate_label not in labels:
        return done(
            False,
            f"PR #{number} has not qualified on the local tier (no {settings.candidate_label!r} label)",
            pr.head_sha,
        )
    ledger = Ledger.load(settings.path("results_path", root))
    row = local_row_for(ledger, pr.head_sha)
    if row is None or row.status != "keep" or row.val_bpb is None:
        return done(
            False,
            f"no qualifying local result for the current head {pr.head_sha[:10]} of PR #{number}",
            pr.head_sha,
            row,
        )
    decision = budget_mod.can_submit(
        budget_mod.load(settings.path("budget_path", root), settings), settings, now
    )
    if not decision.allowed:
        return done(False, f"budget: {decision.reason}", pr.head_sha, row)
    today = auto_promotions_today(state_dir, now)
    if today >= settings.auto_promote_max_per_day:
        return done(
            False,
            f"{today} auto-promotion(s) today; the limit is {settings.auto_promote_max_per_day}",
            pr.head_sha,
            row,
        )
    trusted, why = trust(forge, pr, settings)
    if not trusted:
        return done(False, f"the trust function refused {forge.bot_login}: {why}", pr.head_sha, row)
    forge.add_label(number, settings.promote_label)
    return done(
        True,
        f"labelled {settings.promote_label!r}: local {row.val_bpb:.4f} bpb; {decision.reason}",
        pr.head_sha,
        row,
    )


def auto_promote_all(
    forge: Forge,
    *,
    root: Path | str,
    settings: Settings,
    trust: TrustFn = default_trust,
    now: datetime | None = None,
) -> list[AutoPromoteDecision]:
    """Run :func:`auto_promote` over every open experiment PR (oldest first)."""
    out = []
    for pr in forge.list_open_prs(BRANCH_PREFIX):
        out.append(auto_promote(forge, pr.number, root=root, settings=settings, trust=trust, now=now))
        if out[-1].labelled:
            break  # one Tier 2 start per run: the rate limit would refuse the next anyway
    return out


# --------------------------------------------------------------------------- winners
BaselineFn = Callable[[Path, str], Sequence[Row]]


@dataclass
class WinnerDecision:
    pr: int
    action: str  # merged | merge-pr | none
    reason: str
    head_sha: str = ""
    merge_sha: str = ""
    merge_pr: int | None = None
    val_bpb: float | None = None
    previous_best: float | None = None
    baseline_rows: list[dict[str, Any]] = field(default_factory=list)
    at: str = field(default_factory=clock.stamp)
    test: dict[str, Any] | None = None  # the significance test against the Tier 2 baseline
    local_verdict: str = ""  # the latest local-tier status of the head (keep | discard | …)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


OVERRIDE_LABEL = "merge-anyway"  # a maintainer's "merge even though the local verdict is discard"


def _report(forge: Forge, number: int, d: WinnerDecision, summary: str) -> None:
    """The decision, the p-value and the effect in the PR's sticky comment (never fatal)."""
    from bot.forge import sticky

    verdict = {"merged": "**merged**", "merge-pr": "**merge PR opened**"}.get(d.action, "not merged")
    text = f"{verdict}: {sticky.neutralize(d.reason)}"
    if summary:
        text += f"\n\n{sticky.neutralize(summary)}"
    with contextlib.suppress(ForgeError):
        sticky.upsert_sticky(forge, number, "winner", text)


def _protection_refusal(exc: ForgeError) -> bool:
    text = str(exc).lower()
    return "http 405" in text or "review" in text or "protected" in text or "protection" in text


def merge_winner(
    forge: Forge,
    number: int,
    *,
    root: Path | str,
    settings: Settings,
    record_claim: bool = False,
    significance: Any | None = None,
    run_baseline: BaselineFn | None = None,
    force: bool = False,
    override_discard: bool = False,
    head_sha: str | None = None,
) -> WinnerDecision:
    """Merge PR ``number`` into the baseline when its RunPod result is the new best (module docs).

    ``head_sha``: the full SHA a caller promoted (promote.yml's settle job). results.tsv keeps 7
    hex digits of a commit, which a PR author can match with a new commit (2^28 tries) pushed
    while the promotion runs; with ``head_sha`` only that exact commit is merged.

    Besides being the best kept RunPod result, a winner must (bot.compute.winners) have ≥ 3
    Tier 2 seeds significantly better than a Tier 2 baseline of the same configuration, and its
    latest local-tier verdict must not be ``discard`` unless a maintainer says so
    (``override_discard``, or the ``merge-anyway`` label, which needs triage rights to add)."""
    root = Path(root)
    if not settings.auto_merge_winners and not force:
        return WinnerDecision(number, "none", "merging winners is off (setting auto_merge_winners)")
    pr = forge.get_pr(number)
    if pr.merged:
        return WinnerDecision(number, "none", f"PR #{number} is already merged", pr.head_sha)
    if pr.state != "open":
        return WinnerDecision(number, "none", f"PR #{number} is {pr.state}", pr.head_sha)
    if head_sha is not None and pr.head_sha.strip().lower() != head_sha.strip().lower():
        return WinnerDecision(
            number,
            "none",
            f"the PR's head {pr.head_sha[:12]} is not the promoted commit {head_sha.strip()[:12]}: not merged",
            pr.head_sha,
        )
    ledger = Ledger.load(settings.path("results_path", root))
    mine = [
        r
        for r in ledger.filter("runpod", "keep")
        if same_commit(r.commit, pr.head_sha) and r.val_bpb is not None
    ]
    if not mine:
        return WinnerDecision(
            number, "none", f"no kept RunPod result for the head {pr.head_sha[:10]}", pr.head_sha
        )
    best_mine = min(r.val_bpb for r in mine if r.val_bpb is not None)
    others = [
        r.val_bpb
        for r in ledger.filter("runpod", "keep")
        if r.val_bpb is not None and not same_commit(r.commit, pr.head_sha)
    ]
    previous = min(others) if others else None
    d = WinnerDecision(number, "none", "", pr.head_sha, val_bpb=best_mine, previous_best=previous)
    local = [r for r in ledger.filter("local") if same_commit(r.commit, pr.head_sha) and not r.is_baseline]
    d.local_verdict = local[-1].status if local else ""
    if d.local_verdict == "discard" and not override_discard:
        labels: list[str] = []
        with contextlib.suppress(ForgeError):
            labels = list(forge.labels(number))
        if OVERRIDE_LABEL not in labels:
            d.reason = (
                f"the latest local verdict for {pr.head_sha[:10]} is discard; a maintainer can add the "
                f"`{OVERRIDE_LABEL}` label to merge it anyway"
            )
            _report(forge, number, d, "")
            return d
    test = winner_test(ledger, pr.head_sha, settings)
    d.test = test.to_dict()
    if not test.passed:
        d.reason = test.reason
        _report(forge, number, d, test.summary())
        return d
    if previous is not None and best_mine >= previous:
        d.reason = f"{best_mine:.4f} bpb is not better than the best {previous:.4f}"
        _report(forge, number, d, test.summary())
        return d
    if record_claim:
        if significance is None:
            d.reason = "a record claim needs the multi-seed significance test (run --seeds 3)"
            return d
        if not getattr(significance, "record_grade", False):
            d.reason = f"not record-grade: {getattr(significance, 'verdict', '')}".strip()
            _report(forge, number, d, test.summary())
            return d
    message = f"Merge winner #{number}: {pr.title} ({best_mine:.4f} bpb on RunPod)"
    try:
        d.merge_sha = forge.merge_pr(number, pr.head_sha, message)
        d.action = "merged"
        d.reason = f"new best {best_mine:.4f} bpb" + (
            f" (was {previous:.4f})" if previous is not None else ""
        )
    except ForgeError as exc:
        if not _protection_refusal(exc):
            raise
        d.merge_pr = _open_merge_pr(forge, root, pr, best_mine, previous, str(exc))
        d.action = "merge-pr"
        d.reason = f"branch protection refused the merge ({exc}); opened merge PR #{d.merge_pr}"
    state_dir = settings.path("state_dir", root)
    archive = ProposalArchive(state_dir, root)
    prop = archive.find_by_pr(number)
    if prop is not None:
        archive.update(
            prop.slug, status="merged" if d.action == "merged" else "merge-pr", merge_sha=d.merge_sha
        )
    _report(forge, number, d, test.summary())
    if d.action == "merged" and run_baseline is not None:
        rows = run_baseline(root, d.merge_sha)
        d.baseline_rows = [r.to_dict() for r in rows]
    _append(
        state_dir / WINNERS,
        {
            "pr": number,
            "title": pr.title,
            "head_sha": pr.head_sha,
            "merge_sha": d.merge_sha,
            "merge_pr": d.merge_pr,
            "action": d.action,
            "val_bpb": best_mine,
            "previous_best": previous,
            "at": d.at,
        },
    )
    return d


def _open_merge_pr(
    forge: Forge, root: Path, pr: PullRequest, bpb: float, previous: float | None, why: str
) -> int:
    branch = WINNER_PREFIX + pr.head_ref.removeprefix(BRANCH_PREFIX)
    if forge.info().kind == "local":
        if not gitops.branch_exists(root, branch):
            gitops.create_branch(root, branch, pr.head_sha)
    else:
        if "origin" not in gitops.remotes(root):
            raise ExperimentError(
                "branch protection requires a merge PR but there is no 'origin' remote to push to"
            )
        gitops.git(root, "push", "--quiet", "origin", f"{pr.head_sha}:refs/heads/{branch}", timeout=300)
    body = (
        f"The experiment #{pr.number} ({pr.title}) is the new best on RunPod: {bpb:.4f} bpb"
        + (f" (previous best {previous:.4f})" if previous is not None else "")
        + f".\n\nThe bot could not merge it directly ({why}); this PR carries the same commit "
        f"`{pr.head_sha[:12]}` for review.\n"
    )
    opened = forge.open_pr(branch, pr.base_ref, f"Merge winner #{pr.number}: {pr.title}", body, ["winner"])
    return int(opened.number)


def rebaseline_with(run: Callable[[Path], Sequence[Row]]) -> BaselineFn:
    """A :data:`BaselineFn` that checks the merge commit out in a temporary detached worktree
    (fetching it from ``origin`` first when it is not local) and calls ``run(worktree)``, which
    returns the baseline rows it appended to the repository's results.tsv."""

    def go(root: Path, merge_sha: str) -> Sequence[Row]:
        import tempfile

        if not gitops.rev_parse(root, merge_sha):
            if "origin" not in gitops.remotes(root):
                raise ExperimentError(
                    f"merge commit {merge_sha[:12]} is not in {root} and there is no origin"
                )
            gitops.git(root, "fetch", "--quiet", "origin", merge_sha, timeout=300)
        with tempfile.TemporaryDirectory(prefix="pgolf-rebaseline-") as tmp:
            tree = Path(tmp) / "main"
            gitops.git(root, "worktree", "add", "--detach", "--quiet", str(tree), merge_sha)
            try:
                return run(tree)
            finally:
                gitops.git(root, "worktree", "remove", "--force", str(tree), check=False)
                gitops.git(root, "worktree", "prune", check=False)

    return go


def program_note(root: Path, settings: Settings, ledger: Ledger) -> str:
    """A line for program.md's RESEARCH section: the latest winner merged into the baseline."""
    records = [r for r in _read(settings.path("state_dir", root) / WINNERS) if r.get("action") == "merged"]
    if not records:
        return ""
    last = records[-1]
    best = ledger.current_best_bpb()
    return (
        f"**Baseline updated:** PR #{last.get('pr')} ({last.get('title', '')}) was merged into main as the new "
        f"best ({float(last.get('val_bpb') or 0):.4f} bpb on RunPod"
        + (f"; SOTA now {best:.4f}" if best is not None else "")
        + "). Experiments start from it; the running local baseline was re-measured."
    )


def local_baseline_runner(settings: Settings, seeds: int = 3, **kwargs: Any) -> BaselineFn:
    """Re-measure the local baseline on the merge commit with the local tier
    (:func:`bot.training.local.run_baseline`), appending ``baseline`` rows (commit = the merge
    commit) to the repository's own results.tsv. ``kwargs`` go to ``run_baseline``."""
    import dataclasses

    def go(root: Path, merge_sha: str) -> Sequence[Row]:
        from bot.training.local import run_baseline

        def run(tree: Path) -> Sequence[Row]:
            absolute: dict[str, Any] = {
                name: str(settings.path(name, root))
                for name in ("results_path", "budget_path", "program_path", "state_dir", "data_dir")
            }
            outcome = run_baseline(tree, dataclasses.replace(settings, **absolute), seeds=seeds, **kwargs)
            return [r.row for r in outcome.runs if r.row is not None]

        return rebaseline_with(run)(root, merge_sha)

    return go
