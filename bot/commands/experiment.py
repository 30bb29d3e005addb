"""`pgolf experiment …`: the autonomous experimenter and its policies.

* ``propose`` — pick a research item, implement it in both training scripts (LLM through editing
  tools, or the offline menu), validate, open PR ``exp/<slug>``;
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
from bot.context import AppContext, emit_json, json_option, pass_app, warn
from bot.errors import InputError
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
                f"  {'✓' if c.get('ok') else '✗'} {c.get('name')}: {str(c.get('detail', '')).splitlines()[0][:150]}"
            )
        if p.pr is not None:
            click.echo(f"opened PR #{p.pr} from {p.branch}" + (f" — {p.pr_url}" if p.pr_url else ""))
        if p.reason:
            click.echo(f"reason:   {p.reason.splitlines()[0][:300]}")
        if p.patch_path:
            click.echo(f"diff:     {p.patch_path}")
    if not result.ok:
        raise SystemExit(1)


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
        raise SystemExit(1)


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
    )
    if as_json:
        emit_json(d.to_dict())
    else:
        click.echo(f"#{d.pr}: {d.action} — {d.reason}")
        for r in d.baseline_rows:
            click.echo(f"  baseline {r.get('commit')}: {r.get('val_bpb')}")


def register(cli: click.Group) -> None:
    cli.add_command(experiment_group)
