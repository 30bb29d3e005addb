"""Review mode (``research_review = "pr"``): program.md changes wait in one research pull request.

The research state keeps going to the default branch (it is data, and the next run must read
it); program.md changes go to one standing branch (``research_review_branch``) with a single
pull request whose title and body say what changed (:mod:`bot.program_changes`). Each research
run calls :func:`run_review`:

1. **propose** — the branch is rebuilt as the default branch's tip plus this run's program.md
   (one commit, so the PR never conflicts with the research state committed meanwhile). The PR
   is opened, or its title and body are updated; when program.md is unchanged since the last
   run nothing is pushed and the quiet period keeps running. When the default branch already
   has this program.md, an open research PR is closed.
2. **merge** — once nothing has changed for ``research_review_quiet_hours`` (measured from the
   stamp pgolf wrote into the PR body, on :mod:`bot.clock`), the PR is merged, unless a
   maintainer requested changes (their latest review) or added the ``research_hold_label``
   label. Who counts as a maintainer is decided by THE trust function,
   :func:`bot.forge.events.authorize`, exactly as for every slash command and the promote
   label. A branch with commits pgolf did not write is never overwritten or merged.

The experimenter reads program.md from the default branch only (:mod:`bot.agent.proposer`), so
nothing unreviewed reaches it. :func:`read_review_state`/``research/review.json`` records the
last outcome for the dashboard and the state commit's message.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot import clock
from bot import program_changes as pc
from bot.config import Settings
from bot.errors import ForgeError
from bot.fileio import atomic_write_text
from bot.forge.base import Forge, PullRequest
from bot.forge.events import Event, authorize
from bot.program_git import read_review_state, review_state_path

REVIEWED_SECTIONS = ("RESEARCH", "VERIFIED", "COMPETITORS")  # a change here restarts the quiet period
PR_BODY_LIMIT = 65000  # GitHub refuses pull request bodies over 65,536 characters
MARK_RE = re.compile(
    r"<!-- pgolf:research-pr head=(?P<head>[0-9a-f]{7,64}) updated=(?P<updated>[0-9TZ:\-]+) -->"
)


@dataclass
class ReviewOutcome:
    action: str  # off | none | opened | updated | unchanged | closed | merged | waiting | held | blocked
    reason: str
    pr: int | None = None
    url: str = ""
    branch: str = ""
    head_sha: str = ""
    subject: str = ""
    merge_sha: str = ""
    quiet_until: str = ""
    at: str = field(default_factory=clock.stamp)
    changes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- state file
def write_review_state(root: Path | str, settings: Settings, outcome: ReviewOutcome) -> Path:
    """Record ``outcome``; the file is left as it is when only the time differs (it is committed
    with the research state, so a run that changes nothing must not rewrite it)."""
    p = review_state_path(root, settings)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = outcome.to_dict()
    data.pop("changes", None)
    old = read_review_state(root, settings)
    if old and {k: v for k, v in old.items() if k != "at"} == {k: v for k, v in data.items() if k != "at"}:
        return p
    atomic_write_text(p, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return p


# --------------------------------------------------------------------------- PR text
def pr_body(changes: pc.ProgramChanges, head: str, settings: Settings, *, updated: str = "") -> str:
    """The research PR's body; ``updated`` (default: now) starts the quiet period."""
    updated = updated or clock.stamp()
    quiet = settings.research_review_quiet_hours
    text = pc.body(changes)
    # titles are web text: a fence longer than any backtick run in them cannot be closed early
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    until = clock.stamp(clock.parse(updated) + timedelta(hours=quiet))
    lines = [
        f"<!-- pgolf:research-pr head={head} updated={updated} -->",
        "This pull request holds the changes the research bot wants to make to `program.md`, the",
        "brief the experimenter reads. The experimenter reads `program.md` from the default branch",
        "only, so nothing here reaches it before it is merged.",
        "",
        f"It is merged automatically after {quiet:g} h without changes (not before {until}), unless",
        f"a maintainer **requests changes** or adds the `{settings.research_hold_label}` label. Each research",
        "run rebuilds this branch from the default branch; edit `program.md` outside the marked",
        "sections on the default branch, not here.",
        "",
        pc.summary_markdown(changes, title="Changes to program.md"),
    ]
    details = ["<details><summary>Commit-style summary</summary>", "", fence, text, fence, "</details>"]
    full = "\n".join(lines + details)
    if len(full) <= PR_BODY_LIMIT:
        return full
    # web text made it too long for GitHub: drop the commit-style copy, then cut the table
    note = "\n\n(cut to fit a pull request body: `pgolf program diff` shows every change)"
    short = "\n".join(lines)
    if len(short) + len(note) > PR_BODY_LIMIT:
        short = short[: PR_BODY_LIMIT - len(note)].rsplit("\n", 1)[0]
    return short + note


def _mark(pr: PullRequest) -> tuple[str, str] | None:
    m = MARK_RE.search(pr.body or "")
    return (m.group("head"), m.group("updated")) if m else None


# --------------------------------------------------------------------------- the gates
def hold_reason(forge: Forge, pr: PullRequest, settings: Settings) -> str:
    """Why ``pr`` must not be merged now because of the hold label ("" when it may).

    Only the label events of people THE trust function allows count, both ways: a label added by
    someone without write permission holds nothing, and a maintainer's hold removed by someone
    without it (triage can edit labels but not merge) still holds."""
    label = settings.research_hold_label
    events = [e for e in forge.label_events(pr.number) if e.label == label]
    if label in pr.labels and not any(e.action == "labeled" for e in events):
        return f"the `{label}` label is on the PR"  # nobody is on record for it: hold (fail safe)
    held_by = ""
    for e in events:
        if e.action not in ("labeled", "unlabeled"):
            continue
        ev = Event(  # the question is the same both ways: may this person set the hold?
            name="pull_request",
            action="labeled",
            repo=forge.repo,
            pr=pr.number,
            is_pr=True,
            actor=e.actor,
            actor_type=e.actor_type,
            author_association="",
            head_sha=pr.head_sha,
            label=label,
            labels=pr.labels,
        )
        if authorize(ev, forge, settings).allowed:
            held_by = e.actor if e.action == "labeled" else ""
    if not held_by:
        return ""
    if label in pr.labels:
        return f"@{held_by} added the `{label}` label"
    return f"@{held_by} added the `{label}` label, and nobody allowed to lift it has removed it"


def changes_requested(forge: Forge, pr: PullRequest, settings: Settings) -> str:
    """The trusted reviewers whose latest review requests changes ("" when none)."""
    latest: dict[str, Any] = {}
    for r in forge.reviews(pr.number):
        if r.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[r.user] = r  # COMMENTED leaves a reviewer's verdict as it was
    who = []
    for user, r in latest.items():
        if r.state != "CHANGES_REQUESTED":
            continue
        ev = Event(
            name="pull_request_review",
            action="submitted",
            repo=forge.repo,
            pr=pr.number,
            is_pr=True,
            actor=user,
            actor_type=r.user_type,
            author_association="",
            head_sha=pr.head_sha,
        )
        if authorize(ev, forge, settings).allowed:
            who.append(f"@{user}")
    return ", ".join(who)


# --------------------------------------------------------------------------- the run
def _open_research_pr(forge: Forge, settings: Settings) -> PullRequest | None:
    """The open PR from the research branch of THIS repository: a fork can name its branch the
    same and forge pgolf's mark in its body, so a PR from another repository never counts."""
    branch = settings.research_review_branch
    prs = [p for p in forge.list_open_prs(branch) if p.head_ref == branch and not p.is_fork]
    return prs[0] if prs else None


def propose(forge: Forge, root: Path | str, settings: Settings, *, base: str | None = None) -> ReviewOutcome:
    """Put the working copy's program.md on the research branch and PR (see the module doc)."""
    root = Path(root)
    branch = settings.research_review_branch
    prog = settings.program_path
    path = root / prog
    if not path.is_file():
        raise ForgeError(f"{path}: not found; nothing to propose")
    new = path.read_bytes()
    base = base or forge.default_branch()
    on_default = forge.read_file(prog, base)
    pr = _open_research_pr(forge, settings)
    changes = pc.compare(
        None if on_default is None else on_default.decode("utf-8", "replace"), new.decode("utf-8", "replace")
    )
    out = ReviewOutcome("none", "", branch=branch, changes=changes.to_dict())
    if pr is not None:
        mark = _mark(pr)
        if mark is None or mark[0] != pr.head_sha:  # checked first: closing it would lose that work
            out.action, out.pr, out.url, out.head_sha = "blocked", pr.number, pr.url, pr.head_sha
            out.reason = (
                f"research PR #{pr.number} has commits pgolf did not write (head {pr.head_sha[:12]}); "
                "it is left alone: merge or close it by hand"
            )
            return out
    if new == on_default:
        if pr is None:
            out.reason = f"program.md on {base} already matches this run; no research PR is needed"
            return out
        forge.create_comment(
            pr.number,
            f"program.md on `{base}` already matches this run's injection, so there is nothing left to "
            "review here; closing. The next change opens a new research PR.",
        )
        forge.update_pr(pr.number, state="closed")
        out.action, out.pr, out.url = "closed", pr.number, pr.url
        out.reason = f"program.md on {base} already matches; research PR #{pr.number} closed"
        return out
    subject = pc.subject(changes)
    out.subject = subject
    proposed = forge.read_file(prog, pr.head_sha) if pr is not None else None
    if pr is not None and proposed == new:
        out.action, out.pr, out.url, out.head_sha = "unchanged", pr.number, pr.url, pr.head_sha
        out.reason = f"program.md is the same as in research PR #{pr.number}; its quiet period continues"
        return out
    # The ledger's own rows (EXPERIMENTS, the SOTA line) change with every experiment: were that to
    # restart the quiet period, the PR would never merge while experiments run. Only what there is
    # to review (research items, briefs, competitors, the human-written text) restarts it.
    keep = ""
    mark = _mark(pr) if pr is not None else None
    if pr is not None and mark is not None and proposed is not None:
        delta = pc.compare(proposed.decode("utf-8", "replace"), new.decode("utf-8", "replace"))
        if not (delta.prose_changed or delta.broken or any(delta.section(n) for n in REVIEWED_SECTIONS)):
            keep = mark[1]
    head = forge.put_branch_file(
        branch,
        base,
        prog,
        new,
        pc.message(changes) + "\n\n[skip ci]",
        expected_head=pr.head_sha if pr is not None else None,
    )
    try:
        body = pr_body(changes, head, settings, updated=keep)
    except ValueError:  # a mangled stamp in the old mark: start the quiet period again
        keep = ""
        body = pr_body(changes, head, settings)
    if pr is None:
        opened = forge.open_pr(branch, base, subject, body)
        out.action, out.pr, out.url = "opened", opened.number, opened.url
        out.reason = f"opened research PR #{opened.number}"
    else:
        updated = forge.update_pr(pr.number, title=subject, body=body)
        out.action, out.pr, out.url = "updated", updated.number, updated.url
        out.reason = (
            f"updated research PR #{pr.number} (ledger rows only); its quiet period continues"
            if keep
            else f"updated research PR #{pr.number}; its quiet period starts again"
        )
    out.head_sha = head
    start = clock.parse(keep) if keep else clock.now()
    out.quiet_until = clock.stamp(start + timedelta(hours=settings.research_review_quiet_hours))
    return out


def try_merge(forge: Forge, settings: Settings, *, base: str | None = None) -> ReviewOutcome:
    """Merge the open research PR if its quiet period is over and nobody holds it."""
    branch = settings.research_review_branch
    pr = _open_research_pr(forge, settings)
    if pr is None:
        return ReviewOutcome("none", "no open research PR", branch=branch)
    out = ReviewOutcome("waiting", "", pr.number, pr.url, branch, pr.head_sha, pr.title)
    mark = _mark(pr)
    if mark is None or mark[0] != pr.head_sha:
        out.action = "blocked"
        out.reason = f"research PR #{pr.number} has commits pgolf did not write; not merging it automatically"
        return out
    if pr.draft:  # GitHub refuses to merge a draft; only people with write access can make one
        out.action, out.reason = "held", f"not merging #{pr.number}: it is a draft"
        return out
    held = hold_reason(forge, pr, settings)
    if held:
        out.action, out.reason = "held", f"not merging #{pr.number}: {held}"
        return out
    who = changes_requested(forge, pr, settings)
    if who:
        out.action, out.reason = "held", f"not merging #{pr.number}: {who} requested changes"
        return out
    try:
        until = clock.parse(mark[1]) + timedelta(hours=settings.research_review_quiet_hours)
    except ValueError:
        out.action = "blocked"
        out.reason = (
            f"research PR #{pr.number}: the time in pgolf's mark ({mark[1]}) is not a date, so its quiet "
            "period is unknown; not merging it automatically (merge or close it by hand)"
        )
        return out
    out.quiet_until = clock.stamp(until)
    if clock.now() < until:
        out.reason = f"research PR #{pr.number} is in its quiet period until {out.quiet_until}"
        return out
    base = base or pr.base_ref
    before = forge.read_file(settings.program_path, base)
    after = forge.read_file(settings.program_path, pr.head_sha)
    changes = pc.compare(
        None if before is None else before.decode("utf-8", "replace"),
        None if after is None else after.decode("utf-8", "replace"),
    )
    suffix = f" (#{pr.number})"
    title = pc.subject(changes, limit=pc.SUBJECT_LIMIT - len(suffix)) + suffix
    out.merge_sha = forge.merge_pr(pr.number, pr.head_sha, title)
    out.action, out.subject = "merged", title
    out.reason = (
        f"merged research PR #{pr.number} after {settings.research_review_quiet_hours:g} h without changes"
    )
    out.changes = changes.to_dict()
    return out


def run_review(forge: Forge | None, root: Path | str, settings: Settings) -> list[ReviewOutcome]:
    """One research run in review mode: propose, then merge when due. Off in commit mode."""
    if settings.research_review != "pr":
        return [ReviewOutcome("off", 'research_review is "commit": program.md goes to the default branch')]
    if forge is None:
        raise ForgeError('research_review is "pr" but no forge was given')
    base = forge.default_branch()
    if settings.research_review_branch == base:
        raise ForgeError(
            f"research_review_branch is {base!r}, the default branch itself: the research PR needs a "
            "branch of its own (the default is pgolf/research)"
        )
    first = propose(forge, root, settings, base=base)
    outcomes = [first]
    if first.action in ("unchanged", "none", "updated", "opened"):
        merged = try_merge(forge, settings, base=base)
        if merged.action != "none":
            outcomes.append(merged)
    write_review_state(root, settings, outcomes[-1])
    return outcomes


def summary_markdown(outcomes: list[ReviewOutcome]) -> str:
    lines = ["### Research pull request", ""]
    for o in outcomes:
        link = (
            f" ([#{o.pr}]({o.url}))" if o.pr and o.url.startswith("http") else (f" (#{o.pr})" if o.pr else "")
        )
        lines.append(f"- **{o.action}**{link}: {o.reason}")
    return "\n".join(lines) + "\n"
