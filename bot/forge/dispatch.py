"""What ``pgolf command run`` does with an event: trust first, then one handler per command.

* ``/help`` and ``/budget`` answer with a reply comment; ``/status`` refreshes the sticky comment
  from the ledger (and replies with a link);
* ``/promote [seeds=N]`` and the ``promote`` label bind the approval to the head SHA and call the
  promotion entry point (:func:`bot.compute.promote.promote`, imported lazily);
* ``/retrain`` adds the ``retrain`` label, which re-runs the experiment workflow (the local tier on
  the self-hosted runner) for the PR's head;
* ``/abort`` calls :func:`bot.compute.promote.abort`;
* a ``synchronize`` (new commits) on a PR that still carries the ``promote`` label removes the
  label with an explanation: the approval was for the old head.

Refusals are outcomes, not errors: they are reported (reply comment for humans, nothing for bots
and edits) and ``command run`` exits 0. Errors talking to GitHub or running a promotion raise.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot.config import Settings
from bot.errors import ComputeError, PgolfError
from bot.forge import sticky
from bot.forge.base import Forge, StatusReport
from bot.forge.events import COMMAND_HELP, Approval, Decision, Event, authorize, bind_head, promote_hint
from bot.ledger import Ledger

RETRAIN_LABEL = "retrain"


@dataclass
class Outcome:
    event: str
    command: str | None
    pr: int | None
    actor: str
    allowed: bool
    reason: str
    actions: list[str] = field(default_factory=list)
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "result"}
        if self.result is not None and hasattr(self.result, "to_dict"):
            out["result"] = self.result.to_dict()
        return out


PromoteHook = Callable[..., Any]


# --------------------------------------------------------------------------- renderers
def help_text() -> str:
    lines = ["**pgolf commands** (first line of a new PR comment; write permission required):", ""]
    lines += [f"- {text}" for text in COMMAND_HELP.values()]
    lines += [
        "",
        "Adding the `promote` label approves the head commit at the moment of labeling. Either way only the "
        "approved commit is trained, and only if it is still the head when the run starts.",
    ]
    return "\n".join(lines)


def budget_text(root: Path, settings: Settings) -> str:
    b = budget_mod.load(settings.path("budget_path", root), settings)
    d = b.status_dict(settings)
    rows = [
        ("total credits", f"${b.total_credits:.2f}"),
        ("spent", f"${b.spent:.2f} over {len(b.runs)} run(s)"),
        ("remaining", f"${b.remaining:.2f}"),
        ("open reservations", f"${b.reserved:.2f} ({len(b.reservations)})"),
        ("reserve floor", f"${b.reserve_floor:.2f}"),
        ("available", f"${b.available:.2f}"),
        ("last Tier 2 start", b.last_tier2_start or "never"),
        ("a run may start now", f"{'yes' if d['can_submit'] else 'no'} — {d['reason']}"),
    ]
    table = "\n".join(["| | |", "|---|---|", *[f"| {k} | {sticky.neutralize(str(v))} |" for k, v in rows]])
    return f"**Budget** (`budget.json`)\n\n{table}"


def local_section_from_ledger(root: Path, settings: Settings, sha: str) -> str | None:
    ledger = Ledger.load(settings.path("results_path", root))
    rows = [r for r in ledger.filter(tier="local") if r.commit and r.commit[:7] == sha[:7]]
    if not rows:
        return None
    row = rows[-1]
    return sticky.render_local(
        sticky.LocalResult(
            sha=sha,
            val_bpb=row.val_bpb,
            baseline_bpb=ledger.running_local_baseline(settings.baseline_window),
            noise_floor=ledger.noise_floor(settings.baseline_window),
            artifact_bytes=row.artifact_bytes,
            artifact_limit=settings.artifact_limit_bytes,
            decision=row.status,
        )
    )


def final_section_from_ledger(root: Path, settings: Settings, sha: str) -> str | None:
    ledger = Ledger.load(settings.path("results_path", root))
    rows = [r for r in ledger.filter(tier="runpod") if r.commit and r.commit[:7] == sha[:7]]
    if not rows:
        return None
    row = rows[-1]
    others = [
        r.val_bpb
        for r in ledger.filter(tier="runpod", status="keep")
        if r is not row and r.val_bpb is not None
    ]
    return sticky.render_final(
        sticky.FinalResult(
            sha=sha,
            val_bpb=row.val_bpb,
            sota_bpb=min(others) if others else None,
            cost_usd=row.cost_usd,
            artifact_bytes=row.artifact_bytes,
            correlation=ledger.tier_correlation().summary(),
        )
    )


# --------------------------------------------------------------------------- dispatch
def run_event(
    event: Event,
    forge: Forge,
    settings: Settings,
    root: Path | str,
    *,
    promote_hook: PromoteHook | None = None,
    abort_hook: PromoteHook | None = None,
    run_url: str = "",
) -> Outcome:
    root = Path(root)
    cmd = event.command.name if event.command else None
    out = Outcome(event.name, cmd, event.pr, event.actor, False, "")

    # New commits on a PR carrying the promote label: the approval was for the old head.
    if event.name in ("pull_request", "pull_request_target") and event.action == "synchronize" and event.pr:
        labels = event.labels or tuple(forge.labels(event.pr))
        if settings.promote_label in labels:
            forge.remove_label(event.pr, settings.promote_label)
            forge.create_comment(
                event.pr,
                f"⚠️ New commits (head now `{(event.head_sha or '')[:12]}`) arrived after the "
                f"`{settings.promote_label}` label was added. New commits need a new approval, so the "
                "label was removed; a promotion already queued for the old head will be refused. Review "
                "the new commits and add the label (or comment `/promote`) again.",
            )
            out.reason = "head moved after approval: promote label removed"
            out.actions.append(f"removed label {settings.promote_label}")
        else:
            out.reason = (
                f"pull_request {event.action}: no command (the experiment workflow runs the local tier)"
            )
        return out

    decision = authorize(event, forge, settings)
    out.allowed, out.reason = decision.allowed, decision.reason
    if not decision.allowed:
        _refuse(event, forge, settings, decision, out)
        return out
    assert event.pr is not None and event.command is not None
    pr = event.pr
    name = event.command.name
    if name == "help":
        forge.create_comment(pr, help_text())
        out.actions.append("replied with help")
    elif name == "budget":
        forge.create_comment(pr, budget_text(root, settings))
        out.actions.append("replied with budget")
    elif name == "status":
        head = forge.get_pr(pr).head_sha
        c = _refresh_sticky(forge, settings, root, pr, head)
        forge.create_comment(
            pr, f"Status refreshed for `{head[:12]}`: see {c.url or 'the pgolf comment above'}."
        )
        out.actions.append("refreshed sticky comment")
    elif name == "retrain":
        forge.add_label(pr, RETRAIN_LABEL)
        forge.create_comment(pr, f"🔁 Re-running the local tier on this PR's head (label `{RETRAIN_LABEL}`).")
        out.actions.append(f"added label {RETRAIN_LABEL}")
    elif name == "abort":
        hook = abort_hook or _no_abort
        stopped = hook(root=root, settings=settings, pr=pr)
        ids = list(stopped or [])
        forge.create_comment(
            pr,
            f"⏹️ /abort by @{event.actor}: "
            + (
                f"stopped {', '.join(f'`{i}`' for i in ids)}."
                if ids
                else "no running promotion of this PR was found here."
            ),
        )
        if ids:
            sticky.upsert_sticky(
                forge,
                pr,
                "promotion",
                sticky.render_promotion(
                    sticky.PromotionStatus("aborted", message=f"aborted by @{event.actor}: {', '.join(ids)}")
                ),
            )
        out.actions.append(f"aborted {len(ids)} run(s)")
    elif name == "promote":
        out.result = _promote(event, forge, settings, root, decision, promote_hook, run_url, out)
    return out


def _refuse(event: Event, forge: Forge, settings: Settings, decision: Decision, out: Outcome) -> None:
    """Explain a refusal to the human who asked; bots, edits and non-commands get silence."""
    if event.pr is None:
        return
    if event.name == "issue_comment":
        if event.action != "created" or not event.is_pr or event.actor_is_bot or event.command is None:
            return
        forge.create_comment(
            event.pr,
            f"🚫 `/{event.command.name}` from @{event.actor} was not run: {sticky.neutralize(decision.reason)}.",
        )
        out.actions.append("replied with refusal")
    elif (
        event.name in ("pull_request", "pull_request_target")
        and event.action == "labeled"
        and event.label == settings.promote_label
    ):
        forge.remove_label(event.pr, settings.promote_label)
        forge.create_comment(
            event.pr,
            f"🚫 The `{settings.promote_label}` label added by @{event.actor} does not count: "
            f"{sticky.neutralize(decision.reason)}. The label was removed.",
        )
        out.actions.append(f"removed label {settings.promote_label}")


def _refresh_sticky(forge: Forge, settings: Settings, root: Path, pr: int, head: str) -> Any:
    existing = sticky.find_sticky(forge, pr)
    sections = sticky.parse_sections(existing.body) if existing else {}
    local = local_section_from_ledger(root, settings, head)
    final = final_section_from_ledger(root, settings, head)
    if local:
        sections["local"] = local
    if final:
        sections["final"] = final
    body = sticky.compose(sections, pr)
    if existing is None:
        return forge.create_comment(pr, body)
    return existing if existing.body == body else forge.update_comment(pr, existing.id, body)


def _promote(
    event: Event,
    forge: Forge,
    settings: Settings,
    root: Path,
    decision: Decision,
    hook: PromoteHook | None,
    run_url: str,
    out: Outcome,
) -> Any:
    assert event.pr is not None and event.command is not None
    pr = event.pr
    # The approval binds to the commit the approver saw: the SHA named in `/promote <sha>` (or the
    # dispatch input), or the head SHA of the labeled event. A comment or dispatch that names no
    # SHA starts nothing: it gets the exact command for the current head. The named SHA must still
    # be the head when this job starts (bind_head), and only that SHA is shipped.
    seeds = int(event.command.args.get("seeds", 1))
    is_label = event.name in ("pull_request", "pull_request_target")
    named = str(event.command.args.get("sha") or (event.head_sha if is_label else "") or "")
    if not named:
        head = forge.get_pr(pr).head_sha
        forge.create_comment(pr, promote_hint(pr, head, seeds))
        out.allowed = False
        out.reason = "no SHA named: replied with the exact /promote command for the current head"
        out.actions.append("replied with the /promote command for the head")
        return None
    sha = bind_head(forge, pr, named, settings)
    approval = Approval(True, decision.reason, sha, event.actor)
    started = time.time()

    def stage(name: str) -> None:
        sticky.upsert_sticky(
            forge,
            pr,
            "promotion",
            sticky.render_promotion(
                sticky.PromotionStatus(
                    name,
                    sha=sha,
                    approved_by=event.actor,
                    seeds=seeds,
                    elapsed_seconds=time.time() - started,
                    log_url=run_url,
                )
            ),
        )

    stage("approved")
    out.actions.append(f"approved {sha[:12]} by {event.actor}")
    fn = hook or _no_promote
    try:
        result = fn(
            root=root,
            settings=settings,
            forge=forge,
            pr=pr,
            sha=sha,
            seeds=seeds,
            trust=approval,
            run_url=run_url,
        )
    except BaseException:
        with contextlib.suppress(PgolfError):
            stage("failed")
        raise
    status = getattr(result, "status", "finished")
    out.actions.append(f"promotion finished: {status}")
    return result


def _no_promote(**kw: Any) -> Any:
    """The promotion entry point when the caller gave none: a refusal (fail closed). The forge
    sits below compute, so the caller — the command, the demo — hands in
    :func:`bot.compute.promote.promote_for_event`, whose gates are plain imports there."""
    raise ComputeError(
        "no promotion entry point was given to run_event (pass promote_hook="
        "bot.compute.promote.promote_for_event): refusing to promote"
    )


def _no_abort(**kw: Any) -> Any:
    """The ``/abort`` entry point when the caller gave none: a refusal, as :func:`_no_promote`
    (the caller hands in :func:`bot.compute.orphans.abort_for_event`)."""
    raise ComputeError(
        "no abort entry point was given to run_event (pass abort_hook="
        "bot.compute.orphans.abort_for_event): refusing to abort"
    )


# --------------------------------------------------------------------------- local tier report
def _find(data: Any, *names: str) -> Any:
    """The first value under any of ``names`` (searched breadth-first through nested objects)."""
    queue = [data]
    while queue:
        cur = queue.pop(0)
        if isinstance(cur, dict):
            for n in names:
                if n in cur and not isinstance(cur[n], dict):
                    return cur[n]
            queue.extend(v for v in cur.values() if isinstance(v, dict))
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def local_result_from_json(data: Any, sha: str, settings: Settings) -> sticky.LocalResult:
    """Read ``pgolf train local --json`` output tolerantly (a missing file = a crash)."""
    if not isinstance(data, dict):
        return sticky.LocalResult(sha, None, decision="crash", log_tail="the local run produced no result")
    decision = _find(data, "outcome", "decision", "status") or "n/a"
    artifact = _num(_find(data, "artifact_bytes", "total_bytes"))
    iterations = _num(_find(data, "iterations", "total_steps"))
    return sticky.LocalResult(
        sha=sha,
        val_bpb=_num(_find(data, "val_bpb")),
        baseline_bpb=_num(_find(data, "baseline_bpb", "baseline")),
        noise_floor=_num(_find(data, "noise_floor", "noise")),
        artifact_bytes=int(artifact) if artifact is not None else None,
        artifact_limit=settings.artifact_limit_bytes,
        decision=str(decision),
        log_url=str(_find(data, "log_url") or ""),  # "log" is a path on the runner: not linkable
        iterations=int(iterations) if iterations is not None else None,
        backend=str(_find(data, "backend") or ""),
        log_tail=str(_find(data, "log_tail", "error") or ""),
        proxy=str(data.get("proxy") or ""),
    )


def report_local_result(forge: Forge, settings: Settings, pr: int, result: sticky.LocalResult) -> list[str]:
    """Sticky comment (local section), commit status, candidate label; returns what was done."""
    done: list[str] = []
    sticky.upsert_sticky(forge, pr, "local", sticky.render_local(result))
    done.append("sticky comment: local section")
    decision = result.decision.lower()
    state = "success" if decision in ("qualifies", "keep") else "error" if decision == "crash" else "failure"
    bpb = "n/a" if result.val_bpb is None else f"{result.val_bpb:.4f}"
    forge.set_status(
        StatusReport(result.sha, state, "pgolf/local", f"val_bpb {bpb}: {decision}", result.log_url)
    )
    done.append(f"status pgolf/local: {state}")
    labels = forge.labels(pr)
    if decision == "qualifies":
        if settings.candidate_label not in labels:
            forge.add_label(pr, settings.candidate_label)
            done.append(f"added label {settings.candidate_label}")
    elif settings.candidate_label in labels:
        forge.remove_label(pr, settings.candidate_label)
        done.append(f"removed label {settings.candidate_label}")
    if RETRAIN_LABEL in labels:
        forge.remove_label(pr, RETRAIN_LABEL)
        done.append(f"removed label {RETRAIN_LABEL}")
    return done
