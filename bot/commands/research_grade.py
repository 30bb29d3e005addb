"""`pgolf research grade | calibration | frontier | verify`: thin commands over bot.grading."""

from __future__ import annotations

import os

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
from bot.errors import InputError
from bot.grading import calibration, frontier, grader, verify
from bot.grading import taxonomy as tax


def _max_usd(value: float | None) -> float | None:
    if value is not None and value < 0:
        raise InputError(f"{value} must not be negative", field="--max-usd")
    return value


@click.command("grade")
@click.option(
    "--max-usd",
    type=float,
    default=None,
    help="Stop this run before spending more (default: grading_max_usd).",
)
@json_option
@click.option("--offline", is_flag=True, help="Use the deterministic offline grader even with an API key.")
@click.option(
    "--batch/--no-batch",
    "use_batch",
    default=None,
    help="Use the Message Batches API (default: grading_use_batches).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Grade at most this many items.")
@pass_app
def grade_cmd(
    app: AppContext,
    max_usd: float | None,
    as_json: bool,
    offline: bool,
    use_batch: bool | None,
    limit: int | None,
) -> None:
    """Grade new or changed research items against the rubric (cached, batched, budgeted)."""
    run = grader.grade(
        app.root,
        app.settings,
        os.environ,
        max_usd=_max_usd(max_usd),
        offline_only=offline,
        use_batches=use_batch,
        limit=limit,
    )
    if as_json:
        emit_json(run.to_dict(with_grades=True))
        return
    for w in run.warnings:
        warn(w)
    tiers = run.to_dict()["tiers"]
    click.echo(
        f"Graded {run.graded} item(s) ({run.mode if run.mode == 'offline' else f'{run.mode}, {run.model}'}): A {tiers['A']}, B {tiers['B']}, C {tiers['C']}; "
        f"{run.ungradable} ungradable, {run.skipped} unchanged and skipped, {run.left} left for later."
    )
    if run.graders:
        click.echo("Graders that ran: " + ", ".join(f"{k} ({v})" for k, v in sorted(run.graders.items())))
    if run.regraded_for:
        click.echo("Re-graded because: " + "; ".join(f"{k} ({v})" for k, v in run.regraded_for.items()))
    if run.collected or run.pending_batches:
        click.echo(
            f"Earlier batches: {len(run.collected)} collected, {len(run.pending_batches)} still processing."
        )
    if run.cost:
        c = run.cost
        u, b = c["usage"], c["batch_usage"]
        click.echo(
            f"Cost ${c['usd']:.4f} in {c['requests']} request(s) + {c['batch_requests']} batch request(s), "
            f"{c['retries']} retr(ies). Tokens: input {u['input_tokens'] + b['input_tokens']}, "
            f"cache write {u['cache_creation_input_tokens'] + b['cache_creation_input_tokens']}, "
            f"cache read {u['cache_read_input_tokens'] + b['cache_read_input_tokens']}, "
            f"output {u['output_tokens'] + b['output_tokens']}."
        )
    for g in sorted(run.grades, key=lambda g: (-g.total, g.item_id))[:10]:
        mark = f"[{g.tier} {g.total}/{g.max_total}]" if g.tier != "ungradable" else "[ungradable]"
        click.echo(f"  {mark} {g.title[:90]}" + (f" — {g.error}" if g.error else ""))


@click.command("calibration")
@json_option
@pass_app
def calibration_cmd(app: AppContext, as_json: bool) -> None:
    """Compare grades with the realised Δval_bpb of the experiments they motivated."""
    cal = calibration.load(app.root, app.settings)
    if as_json:
        emit_json(cal.to_dict())
        return
    click.echo(
        f"{len(cal.outcomes)} linked result(s); {cal.unlinked} experiment row(s) without an item reference "
        f"(add {calibration.item_tag('<item-id>')} to the description)."
    )
    if cal.unknown_items:
        click.echo(f"Referenced but not graded: {', '.join(cal.unknown_items)}")
    for o in cal.outcomes:
        d = "n/a" if o.delta is None else f"{o.delta:+.4f}"
        click.echo(
            f"  {o.commit[:10]:<10} {o.tier:<7} Δ {d:>8}  {'improved' if o.improved else 'no gain':<8} "
            f"tier {o.grade_tier} {o.total}/{o.max_total} {o.category}  {o.item_id}"
        )
    for line in calibration.summary_lines(cal):
        click.echo(f"- {line}")


@click.command("frontier")
@json_option
@pass_app
def frontier_cmd(app: AppContext, as_json: bool) -> None:
    """Technique categories: tried / improved / failed, and the selection bonus."""
    fr = frontier.load(app.root, app.settings)
    if as_json:
        emit_json(fr.to_dict())
        return
    click.echo(fr.table())
    click.echo(f"\nBonus rule: {frontier.RULES}.")
    under = fr.under_explored()
    if under:
        click.echo("Under-explored: " + ", ".join(tax.label(c.name) for c in under))


@click.command("verify")
@json_option
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    help="How many tier-A items (default: grading_verify_top).",
)
@click.option("--offline", is_flag=True, help="Offline re-grade and brief even with an API key.")
@click.option(
    "--max-usd", type=float, default=None, help="Stop before spending more (default: grading_max_usd)."
)
@pass_app
def verify_cmd(app: AppContext, as_json: bool, top: int | None, offline: bool, max_usd: float | None) -> None:
    """Verify tier-A items with their full text and write implementation briefs."""
    run = verify.verify(
        app.root, app.settings, os.environ, top=top, offline_only=offline, max_usd=_max_usd(max_usd)
    )
    if as_json:
        emit_json(run.to_dict())
        return
    for w in run.warnings:
        warn(w)
    click.echo(
        f"Verified {len(run.verified)} of {run.candidates} tier-A candidate(s) ({run.mode}); "
        f"{run.skipped} already verified"
        + (f"; {run.unverified} unverified: full text unreachable." if run.unverified else ".")
    )
    for b in run.verified:
        status = "" if b.extra.get("status", "verified") == "verified" else f" ({b.extra['status']})"
        click.echo(f"  {b.score_before} → {b.score_after} [{b.tier}] {b.title[:90]}{status}")


def register_research(group: click.Group) -> None:
    for cmd in (grade_cmd, calibration_cmd, frontier_cmd, verify_cmd):
        group.add_command(cmd)
