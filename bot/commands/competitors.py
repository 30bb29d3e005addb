"""`pgolf competitors …`: parse competitor records and show the leaderboard."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
from bot.research import competitors as comp
from bot.state import CompetitorScore, ResearchState


def _scores_of(parse: Callable[[Path], comp.ParseResult], paths: Iterable[Path]) -> list[CompetitorScore]:
    """Every score ``parse`` finds in ``paths``; its warnings go to stderr."""
    scores: list[CompetitorScore] = []
    for p in paths:
        res = parse(p)
        for w in res.warnings:
            warn(w)
        scores += res.scores
    return scores


@click.group("competitors")
def competitors_group() -> None:
    """Competitor intelligence: parameter-golf records and modded-nanogpt speedrun records."""


@competitors_group.command("parse")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the scores as a JSON list.")
@click.option("--save", is_flag=True, help="Also store the scores in competitors.jsonl.")
@pass_app
def parse_cmd(app: AppContext, paths: tuple[Path, ...], as_json: bool, save: bool) -> None:
    """Scores in README.md / submission.json files, record folders or a modded-nanogpt README."""
    scores = _scores_of(comp.parse_path, paths)
    for s in scores:  # parsed by hand: a claim (only the Leaderboard's own rows carry a status)
        s.status = s.status or comp.STATUS_CLAIM
    if save and scores:
        n = comp.save_scores(ResearchState(app.path("state_dir")), scores)
        if not as_json:
            click.echo(f"stored {n} new or changed score(s)")
    if as_json:
        emit_json([comp.score_json(s) for s in scores])
        return
    for s in scores:
        click.echo(_line(s))
    if not scores:
        click.echo("No scores found.")


@competitors_group.command("import")
@click.argument(
    "roots", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@pass_app
def import_cmd(app: AppContext, roots: tuple[Path, ...]) -> None:
    """Parse every record folder under ROOTS (a checkout of the challenge's default branch: its
    folders are merged, so they are stored as accepted records) into the store."""
    scores = [comp.mark_merged(s) for s in _scores_of(comp.scan_records, roots)]
    n = comp.save_scores(ResearchState(app.path("state_dir")), scores)
    click.echo(f"parsed {len(scores)} record(s); stored {n} new or changed")


@competitors_group.command("refresh")
@click.option(
    "--max-new", type=click.IntRange(min=0), default=40, show_default=True, help="New record folders to read."
)
@json_option
@pass_app
def refresh_cmd(app: AppContext, max_new: int, as_json: bool) -> None:
    """Read merged challenge records and the modded-nanogpt table from GitHub into the store."""
    from bot.research.competitors.github import refresh

    report = refresh(app.settings, ResearchState(app.path("state_dir")), os.environ, max_new=max_new)
    for w in report.warnings:
        warn(w)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(
        f"records: {report.records_seen} on GitHub, {report.records_read} read"
        f"{f', {report.skipped} left for the next run' if report.skipped else ''}; "
        f"modded-nanogpt rows: {report.modded_rows}; stored {report.stored} new or changed"
    )


@competitors_group.command("list")
@click.option(
    "--source",
    type=click.Choice(["parameter-golf", "modded-nanogpt", "all"]),
    default="all",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Top N of each board.")
@json_option
@pass_app
def list_cmd(app: AppContext, source: str, limit: int | None, as_json: bool) -> None:
    """The stored boards, best first: parameter-golf accepted records, open claims and the
    non-record board (closed PRs are never listed), then each modded-nanogpt board."""
    stored = ResearchState(app.path("state_dir")).competitors()
    boards: dict[str, list[CompetitorScore]] = {}
    if source in (comp.PG, "all"):
        boards[comp.PG] = comp.accepted(stored)[:limit]
        boards[f"{comp.PG} claims"] = comp.claims(stored)[:limit]
        boards[f"{comp.PG} non-record"] = comp.accepted(stored, "non-record")[:limit]
    if source in (comp.MNG, "all"):
        for name, rows in comp.boards(stored).items():
            boards[f"{comp.MNG} {name}"] = rows[:limit]
    if as_json:
        emit_json({k: [comp.score_json(s) for s in v] for k, v in boards.items()})
        return
    if not any(boards.values()):
        click.echo("No competitor scores stored. Run `pgolf research fetch` or `pgolf competitors import`.")
        return
    for name, rows in boards.items():
        if not rows:
            continue
        click.echo(f"{name} (best first):")
        for n, s in enumerate(rows, 1):
            click.echo(f"  {n:>3}. {_line(s)}")


def _line(s: CompetitorScore) -> str:
    """One terminal line; every field a competitor wrote is flattened (stored rows may predate
    :func:`bot.research.competitors.store.flattened`)."""
    s = comp.flattened(s)
    if s.source == comp.MNG:
        pr = f" PR #{s.pr}" if s.pr else ""
        return f"{s.record_minutes:g} min  {s.date}  {s.name}{pr}  ({s.author})"
    extra = []
    if s.seeds:
        extra.append(f"{s.seeds} seeds")
    if s.std is not None:
        extra.append(f"std {s.std:g}")
    if s.bytes_total:
        extra.append(f"{s.bytes_total:,} B")
    if s.pr:
        extra.append(f"PR #{s.pr}")
    if s.status or s.provenance:
        extra.append(f"{s.status or 'claim'} from {s.provenance or 'file'}")
    for d in s.extra.get("disagreements", []):
        extra.append(f"disagreement: {comp.flat_text(str(d), 200)}")
    who = s.author or s.github_id
    tail = f" [{', '.join(extra)}]" if extra else ""
    return (
        f"{s.val_bpb:.5f} bpb  {s.date}  {s.name}{' — ' + who if who else ''}{tail}  "
        f"{comp.flat_text(s.source_file, 300)}"
    )


def register(cli: click.Group) -> None:
    cli.add_command(competitors_group)
