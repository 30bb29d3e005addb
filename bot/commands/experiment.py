"""`pgolf experiment …`: the autonomous experimenter and its policies.

* ``propose`` — pick a research item, implement it in both training scripts (LLM through editing
  tools, or the offline menu), validate, open PR ``exp/<slug>``;
* ``draft`` / ``check`` / ``revise`` / ``publish`` — the same proposal split across jobs so that
  model-written code runs only where nothing is held (:mod:`bot.agent.stages`, experimenter.yml);
* ``capacity`` — may the scheduled experimenter propose now? (exit 1 when not);
* ``list`` — every archived proposal (opened, crashed, stopped, merged …);
* ``auto-promote`` — apply the ``promote`` label where the auto-promotion policy allows;
* ``merge-winner`` — merge a PR whose RunPod result is the new best, re-measure the baseline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from bot.agent import policy
from bot.agent.pr import ForgePublisher
from bot.agent.proposer import propose as run_propose
from bot.agent.record import ProposalArchive
from bot.agent.validate import Validator, resolve_smoke_data
from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
from bot.errors import GateFailed, InputError
from bot.forge import open_forge


def _archive(app: AppContext) -> ProposalArchive:
    return ProposalArchive(app.path("state_dir"), app.root)


@click.group("experiment")
def experiment_group() -> None:
    """The autonomous experimenter: proposals as pull requests, auto-promotion, winners."""


@experiment_group.command("propose")
@click.option("--from-item", "from_item", default=None, metavar="ID", help="Research item to implement.")
@click.option("--max-usd", type=float, default=None, help="LLM budget of this proposal (default: setting).")
@click.option("--offline", is_flag=True, help="Use the deterministic offline proposer, even with an API key.")
@click.option("--dry-run", is_flag=True, help="Validate and archive, but push nothing and open no PR.")
@json_option
@pass_app
def propose_cmd(
    app: AppContext, from_item: str | None, max_usd: float | None, offline: bool, dry_run: bool, as_json: bool
) -> None:
    """Propose one experiment; exit 0 when a PR was opened (or validated with --dry-run)."""
    if max_usd is not None and max_usd < 0:
        raise InputError("must not be negative", field="--max-usd")
    s = app.settings
    llm = None
    if not offline:
        from bot.llm import make_llm

        budget = s.experimenter_max_usd if max_usd is None else max_usd
        llm = make_llm(s, os.environ, model=s.experimenter_model, max_usd=budget)
        if llm is None:
            warn("ANTHROPIC_API_KEY is not set: using the offline proposer")
    forge = None if dry_run else ForgePublisher(open_forge(s, app.root))
    validator = Validator(app.root, s, smoke_data=resolve_smoke_data(app.root, s))
    result = run_propose(
        app.root,
        s,
        forge=forge,
        llm=llm,
        validator=validator,
        from_item=from_item,
        max_usd=max_usd,
        offline_mode=offline or llm is None,
        dry_run=dry_run,
    )
    _report(result, as_json)


def _outputs(path: Path | None, values: dict[str, str]) -> None:
    """Append ``key=value`` lines to ``path`` (the job's $GITHUB_OUTPUT)."""
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as f:
        for k, v in values.items():
            f.write(f"{k}={v}\n")


_OUTPUTS = click.option(
    "--outputs",
    "outputs",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append status=… and digest=… to this file (the job's $GITHUB_OUTPUT).",
)
_DIR = click.Path(file_okay=False, path_type=Path)
_ATTEMPTS = click.option(
    "--attempts",
    type=click.IntRange(1, 5),
    default=2,
    show_default=True,
    help="Submissions this job validates with the non-executing checks (1-5); a failure goes back to the model.",
)


def _llm_or_none(app: AppContext, offline: bool, max_usd: float | None) -> Any:
    if offline:
        return None
    from bot.llm import make_llm

    s = app.settings
    llm = make_llm(
        s,
        os.environ,
        model=s.experimenter_model,
        max_usd=s.experimenter_max_usd if max_usd is None else max_usd,
    )
    if llm is None:
        warn("ANTHROPIC_API_KEY is not set: using the offline proposer")
    return llm


@experiment_group.command("draft")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Folder for proposal.json (round 1).")
@click.option("--from-item", "from_item", default=None, metavar="ID", help="Research item to implement.")
@click.option("--max-usd", type=float, default=None, help="LLM budget of this proposal (default: setting).")
@click.option("--offline", is_flag=True, help="Use the deterministic offline proposer, even with an API key.")
@_ATTEMPTS
@_OUTPUTS
@json_option
@pass_app
def draft_cmd(
    app: AppContext,
    out_dir: Path,
    from_item: str | None,
    max_usd: float | None,
    offline: bool,
    attempts: int,
    outputs: Path | None,
    as_json: bool,
) -> None:
    """Round 1 of a split proposal: the model's edits and the non-executing checks (no candidate
    code runs); writes OUT/proposal.json and prints its SHA-256."""
    from bot.agent import stages

    if max_usd is not None and max_usd < 0:
        raise InputError("must not be negative", field="--max-usd")
    llm = _llm_or_none(app, offline, max_usd)
    bundle, digest = stages.draft(
        app.root,
        app.settings,
        out_dir,
        llm=llm,
        from_item=from_item,
        max_usd=max_usd,
        offline_mode=llm is None,
        attempts=attempts,
    )
    _outputs(outputs, {"status": bundle.status, "digest": digest})
    if as_json:
        emit_json({"round": 1, "status": bundle.status, "digest": digest, "reason": bundle.reason})
    else:
        click.echo(f"round 1: {bundle.status} ({bundle.proposer}) sha256 {digest}")
        if bundle.reason:
            click.echo(f"reason:  {bundle.reason.splitlines()[0][:300]}")


@experiment_group.command("check")
@click.option("--in", "in_dir", type=_DIR, required=True, help="The round's proposal folder.")
@click.option("--digest", required=True, help="The SHA-256 its job reported.")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Folder for verdict.json.")
@json_option
@pass_app
def check_cmd(app: AppContext, in_dir: Path, digest: str, out_dir: Path, as_json: bool) -> None:
    """The executing checks (import, parity, smoke) of a proposal, in the sandbox; writes
    OUT/verdict.json (exit 0 whether the candidate passed or not). For a job that holds nothing."""
    from bot.agent import stages

    smoke = resolve_smoke_data(app.root, app.settings)
    verdict = stages.check(in_dir, digest, out_dir, app.settings, smoke_data=smoke)
    if as_json:
        emit_json({k: verdict[k] for k in ("round", "candidate_sha256", "ok", "sandbox")})
    else:
        for c in verdict["checks"]:
            click.echo(
                f"  {'✓' if c['ok'] else '✗'} {c['name']}: {str(c['detail']).splitlines()[0][:150] if c['detail'] else ''}"
            )
        click.echo(
            f"round {verdict['round']}: {'passed' if verdict['ok'] else 'failed'} (sandbox: {verdict['sandbox']})"
        )


@experiment_group.command("revise")
@click.option("--in", "in_dir", type=_DIR, required=True, help="The previous round's proposal folder.")
@click.option("--digest", required=True, help="The SHA-256 its job reported.")
@click.option("--verdict", "verdict_dir", type=_DIR, required=True, help="Its verdict folder.")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Folder for the next round's proposal.json.")
@_ATTEMPTS
@_OUTPUTS
@json_option
@pass_app
def revise_cmd(
    app: AppContext,
    in_dir: Path,
    digest: str,
    verdict_dir: Path,
    out_dir: Path,
    attempts: int,
    outputs: Path | None,
    as_json: bool,
) -> None:
    """A failed verdict back to the model (as data); writes the next round. status=passed when
    there is nothing to revise, final when it cannot be revised (offline proposer, last round)."""
    from bot.agent import stages

    prev = stages.read_bundle(in_dir, digest)
    llm = _llm_or_none(app, prev.conversation is None, None)
    rev = stages.revise(
        app.root, app.settings, in_dir, digest, verdict_dir, out_dir, llm=llm, attempts=attempts
    )
    _outputs(outputs, {"status": rev.status, "digest": rev.digest})
    if as_json:
        emit_json(
            {"status": rev.status, "digest": rev.digest, "round": rev.bundle.round if rev.bundle else None}
        )
    else:
        click.echo(
            f"revise: {rev.status}"
            + (f" (round {rev.bundle.round}, sha256 {rev.digest})" if rev.bundle else "")
        )


@experiment_group.command("publish")
@click.option(
    "--stages", "stages_dir", type=_DIR, required=True, help="The downloaded proposal-N/ and verdict-N/."
)
@click.option(
    "--digest",
    "digests",
    multiple=True,
    required=True,
    metavar="ROUND=SHA256",
    help="Each round's digest (an empty SHA: the round did not run).",
)
@click.option("--dry-run", is_flag=True, help="Validate and archive, but push nothing and open no PR.")
@json_option
@pass_app
def publish_cmd(
    app: AppContext, stages_dir: Path, digests: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Re-validate a split proposal from scratch, open its PR, archive it with every verdict;
    exit 0 when a PR was opened. Executes no candidate code."""
    from bot.agent import stages

    rounds = stages.parse_digests(digests)
    forge = None if dry_run else ForgePublisher(open_forge(app.settings, app.root))
    result = stages.publish(app.root, app.settings, stages_dir, rounds, forge=forge, dry_run=dry_run)
    _report(result, as_json)


def _report(result: Any, as_json: bool) -> None:
    p = result.proposal
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(f"item:     {p.item_id} — {p.item_title} ({p.item_grade})")
        click.echo(
            f"proposal: {p.slug} [{p.status}] by {p.proposer}"
            + (f", ${p.cost_usd:.4f}" if p.cost_usd else "")
        )
        for c in p.checks:
            click.echo(
                f"  {'✓' if c.get('ok') else '✗'} {c.get('name')}: {str(c.get('detail', '')).splitlines()[0][:150] if c.get('detail') else ''}"
            )
        if p.pr is not None:
            click.echo(f"opened PR #{p.pr} from {p.branch}" + (f" — {p.pr_url}" if p.pr_url else ""))
        if p.reason:
            click.echo(f"reason:   {p.reason.splitlines()[0][:300]}")
        if p.patch_path:
            click.echo(f"diff:     {p.patch_path}")
    if not result.ok:
        raise GateFailed("")  # the failed checks are listed above


@experiment_group.command("capacity")
@click.option("--offline", is_flag=True, help="The offline proposer will run: ignore the LLM cap.")
@json_option
@pass_app
def capacity_cmd(app: AppContext, offline: bool, as_json: bool) -> None:
    """Exit 0 when the scheduled experimenter may propose, 1 when not; the reason is printed."""
    cap = policy.capacity(open_forge(app.settings, app.root), app.settings, _archive(app), offline=offline)
    if as_json:
        emit_json(cap.to_dict())
    else:
        click.echo(("capacity: " if cap.ok else "no capacity: ") + cap.reason)
    if not cap.ok:
        raise GateFailed("")  # the reason is printed above


@experiment_group.command("list")
@click.option("--status", default=None, help="Only proposals with this status.")
@json_option
@pass_app
def list_cmd(app: AppContext, status: str | None, as_json: bool) -> None:
    """Every proposal the experimenter made, newest record per slug."""
    props = [p for p in _archive(app).latest() if status is None or p.status == status]
    if as_json:
        emit_json([p.to_dict() for p in props])
        return
    if not props:
        click.echo("No proposals yet.")
        return
    for p in props:
        pr = f"#{p.pr}" if p.pr is not None else "-"
        click.echo(f"{p.created_at[:16]}  {p.status:<8} {pr:>5}  {p.slug}  ({p.item_id})  {p.patch_path}")


@experiment_group.command("auto-promote")
@click.option("--pr", "number", type=int, default=None, help="One PR (default: every open exp/ PR).")
@json_option
@pass_app
def auto_promote_cmd(app: AppContext, number: int | None, as_json: bool) -> None:
    """Apply the promote label where the auto-promotion policy allows (off by default)."""
    forge = open_forge(app.settings, app.root)
    if number is not None:
        decisions = [policy.auto_promote(forge, number, root=app.root, settings=app.settings)]
    else:
        decisions = policy.auto_promote_all(forge, root=app.root, settings=app.settings)
    if as_json:
        emit_json([d.to_dict() for d in decisions])
        return
    if not decisions:
        click.echo("No open experiment PRs.")
    for d in decisions:
        click.echo(f"#{d.pr}: {'labelled' if d.labelled else 'not labelled'} — {d.reason}")


def _significance(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the significance result: {exc}", path=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("record_grade"), bool):
        raise InputError(
            "expected a JSON object with a boolean record_grade", path=str(path), field="record_grade"
        )

    class _Sig:
        record_grade = data["record_grade"]
        verdict = str(data.get("verdict", ""))

    return _Sig()


@experiment_group.command("merge-winner")
@click.option("--pr", "number", type=int, required=True)
@click.option(
    "--record", "record_claim", is_flag=True, help="A record claim: require record-grade significance."
)
@click.option(
    "--significance",
    "sig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON of the multi-seed test (bot.compute.significance, with record_grade).",
)
@click.option("--force", is_flag=True, help="Merge even when the auto_merge_winners policy is off.")
@click.option(
    "--override-discard",
    is_flag=True,
    help="A maintainer's word: merge even though the latest local verdict is discard.",
)
@click.option(
    "--head-sha",
    default=None,
    help="Merge only if the PR's head is exactly this full SHA (the commit that was promoted).",
)
@click.option("--rebaseline/--no-rebaseline", default=True, help="Re-run the local baseline on the new main.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Baseline seeds after a merge.")
@json_option
@pass_app
def merge_winner_cmd(
    app: AppContext,
    number: int,
    record_claim: bool,
    sig_path: Path | None,
    force: bool,
    override_discard: bool,
    head_sha: str | None,
    rebaseline: bool,
    seeds: int,
    as_json: bool,
) -> None:
    """Merge a PR whose RunPod result is the new best (a merge PR when protection requires review)."""
    forge = open_forge(app.settings, app.root)
    run_baseline = policy.local_baseline_runner(app.settings, seeds) if rebaseline else None
    d = policy.merge_winner(
        forge,
        number,
        root=app.root,
        settings=app.settings,
        record_claim=record_claim,
        significance=_significance(sig_path),
        run_baseline=run_baseline,
        force=force,
        override_discard=override_discard,
        head_sha=head_sha,
    )
    if as_json:
        emit_json(d.to_dict())
    else:
        click.echo(f"#{d.pr}: {d.action} — {d.reason}")
        for r in d.baseline_rows:
            click.echo(f"  baseline {r.get('commit')}: {r.get('val_bpb')}")


def register(cli: click.Group) -> None:
    cli.add_command(experiment_group)
