"""`pgolf research fetch` and `pgolf research breaking`: run the research pipeline."""

from __future__ import annotations

import click

from bot.commands.context import AppContext, emit_json, pass_app, warn
from bot.errors import ResearchError
from bot.research import pipeline
from bot.research.sources import SOURCE_NAMES


def _names(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def _print(report: pipeline.CycleReport, title: str) -> None:
    d = report.to_dict()
    errors = len(d["errors"])
    click.echo(
        f"{title}: {d['new']} new, {d['duplicates']} duplicates dropped, "
        f"{d['below_threshold']} below threshold ({d['threshold']:.2f}), "
        f"{errors} source error{'s' if errors != 1 else ''}  [{d['seconds']:.1f} s]"
    )
    click.echo(f"  {'source':<17}{'fetched':>8}{'new':>6}{'dup':>6}{'low':>6}{'time':>8}  status")
    for o in report.outcomes:
        status = f"error: {o.error}" if o.error else "ok"
        if o.warnings:
            status += f" ({len(o.warnings)} warning{'s' if len(o.warnings) != 1 else ''})"
        click.echo(
            f"  {o.name:<17}{o.fetched:>8}{o.new:>6}{o.duplicates:>6}{o.below_threshold:>6}"
            f"{o.seconds:>7.1f}s  {status}"
        )
    if report.competitor_scores:
        click.echo(f"  competitor scores stored: {report.competitor_scores}")
    if report.new_items:
        click.echo("new items:")
        for i in report.new_items:
            rel = f"{i.relevance:.2f}" if i.relevance is not None else " n/a"
            click.echo(f"  [{rel}] {i.title}  <{i.url}>  ({', '.join(i.sources)})")


def _finish(report: pipeline.CycleReport, as_json: bool, title: str) -> None:
    for o in report.outcomes:
        for w in o.warnings:
            warn(f"{o.name}: {w}")
    if as_json:
        emit_json(report.to_dict())
    else:
        _print(report, title)
    if report.outcomes and all(o.error for o in report.outcomes):
        raise ResearchError(
            "every source failed: " + "; ".join(f"{k}: {v}" for k, v in report.errors.items())
        )


def register_research(group: click.Group) -> None:
    @group.command("fetch")
    @click.option(
        "--since-hours",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Window (default: setting since_hours).",
    )
    @click.option(
        "--source",
        "sources",
        multiple=True,
        metavar="NAME",
        help=f"Only these sources (repeatable or comma-separated): {', '.join(SOURCE_NAMES)}.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the cycle report as JSON.")
    @pass_app
    def fetch_cmd(
        app: AppContext, since_hours: float | None, sources: tuple[str, ...], as_json: bool
    ) -> None:
        """Query every source at once; dedup, filter and append new items to raw_cache.jsonl."""
        names = _names(sources) or None
        report = pipeline.fetch(app.settings, app.path("state_dir"), sources=names, since_hours=since_hours)
        _finish(report, as_json, "research fetch")

    @group.command("breaking")
    @click.option(
        "--since-hours", type=click.FloatRange(min=0, min_open=True, max=24), default=24.0, show_default=True
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @pass_app
    def breaking_cmd(app: AppContext, since_hours: float, as_json: bool) -> None:
        """Hourly breaking news (Tavily topic news of the last day) into the raw cache."""
        report = pipeline.fetch(
            app.settings, app.path("state_dir"), sources=["tavily_news"], since_hours=since_hours
        )
        _finish(report, as_json, "breaking news")
