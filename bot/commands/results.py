"""`pgolf results …`: read and append the results.tsv ledger."""

from __future__ import annotations

import click

from bot import ledger as ledger_mod
from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
from bot.ledger import Ledger, make_row, parse_number


@click.group("results")
def results_group() -> None:
    """The experiment ledger (results.tsv)."""


def _load(app: AppContext) -> Ledger:
    led = Ledger.load(app.path("results_path"))
    for w in led.warnings:
        warn(w)
    return led


@results_group.command("show")
@click.option("--tier", type=click.Choice(ledger_mod.TIERS), help="Only this tier.")
@click.option("--status", help="Only this status (keep, discard, crash, or any other found).")
@json_option
@pass_app
def show(app: AppContext, tier: str | None, status: str | None, as_json: bool) -> None:
    """List ledger rows (file order)."""
    led = _load(app)
    rows = led.filter(tier, status.lower() if status else None)
    if as_json:
        emit_json({"rows": [r.to_dict() for r in rows], "warnings": led.warnings})
        return
    if not rows:
        click.echo("No rows.")
        return
    click.echo(
        f"{'commit':<10} {'tier':<7} {'val_bpb':>8} {'bytes':>10} {'status':<8} {'prom':<7} {'cost':>8}  description"
    )
    for r in rows:
        bpb = "n/a" if r.val_bpb is None else f"{r.val_bpb:.4f}"
        size = "n/a" if r.artifact_bytes is None else str(r.artifact_bytes)
        cost = "n/a" if r.cost_usd is None else f"${r.cost_usd:.2f}"
        click.echo(
            f"{r.commit[:10]:<10} {r.tier:<7} {bpb:>8} {size:>10} {r.status:<8} {r.promoted:<7} {cost:>8}  {r.description}"
        )


@results_group.command("best")
@json_option
@pass_app
def best(app: AppContext, as_json: bool) -> None:
    """Best RunPod val_bpb (status keep), plus the running local baseline."""
    led = _load(app)
    row = led.best_row("runpod")
    window = app.settings.baseline_window
    data = {
        "best_bpb": led.current_best_bpb(),
        "commit": row.commit if row else None,
        "description": row.description if row else None,
        "running_local_baseline": led.running_local_baseline(window),
        "noise_floor": led.noise_floor(window),
    }
    if as_json:
        emit_json(data)
        return
    if row is None:
        click.echo("No RunPod result with status keep yet.")
    else:
        click.echo(f"best_bpb: {row.val_bpb:.4f} ({row.commit}: {row.description})")
    base = data["running_local_baseline"]
    click.echo("running_local_baseline: " + ("n/a" if base is None else f"{base:.4f}"))


@results_group.command("correlation")
@json_option
@pass_app
def correlation(app: AppContext, as_json: bool) -> None:
    """Local vs RunPod val_bpb of the same commits."""
    corr = _load(app).tier_correlation()
    if as_json:
        emit_json(corr.to_dict())
    else:
        click.echo(corr.summary())


@results_group.command("append")
@click.option("--commit", required=True, help="Commit SHA (short or full).")
@click.option("--tier", required=True, type=click.Choice(ledger_mod.TIERS))
@click.option("--val-bpb", required=True, help="Validation bits per byte ('n/a' only for crash).")
@click.option("--artifact-bytes", default="n/a", show_default=True)
@click.option("--memory-gb", default="n/a", show_default=True)
@click.option("--status", required=True, type=click.Choice(ledger_mod.STATUSES))
@click.option("--promoted", default="no", show_default=True, type=click.Choice(ledger_mod.PROMOTED))
@click.option("--cost-usd", default="0", show_default=True)
@click.option("--description", default="", help="Free text (no tabs or newlines).")
@pass_app
def append(
    app: AppContext,
    commit: str,
    tier: str,
    val_bpb: str,
    artifact_bytes: str,
    memory_gb: str,
    status: str,
    promoted: str,
    cost_usd: str,
    description: str,
) -> None:
    """Validate and atomically append one row."""
    row = make_row(
        commit=commit,
        tier=tier,
        val_bpb=parse_number(val_bpb, "val_bpb"),
        artifact_bytes=parse_number(artifact_bytes, "artifact_bytes", int),  # type: ignore[arg-type]
        memory_gb=parse_number(memory_gb, "memory_gb"),
        status=status,
        promoted=promoted,
        cost_usd=parse_number(cost_usd, "cost_usd"),
        description=description,
    )
    path = app.path("results_path")
    led = Ledger.append(path, row)
    click.echo(f"appended to {path} (now {len(led.rows)} rows): {row.raw_line()}")


def register(cli: click.Group) -> None:
    cli.add_command(results_group)
