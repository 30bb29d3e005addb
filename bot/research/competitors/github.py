"""`pgolf competitors refresh`: read the challenge's Leaderboard, its merged records and the
modded-nanogpt record tables from GitHub (PyGithub, the configured ``github_api_url``).

* the Leaderboard: ``GET /repos/{challenge_repo}/contents/README.md`` → both tables (record and
  non-record boards, :mod:`.leaderboard`); a row stored earlier that the README no longer lists
  is stored again as ``closed`` (``extra.removed_from_leaderboard``): removed rows stop counting;
* parameter-golf: ``GET /repos/{challenge_repo}/contents/records`` lists the track folders,
  each track folder lists its record folders; only folders not yet in the store are read
  (``submission*.json`` first, ``README.md`` as fallback), at most ``max_new`` per run, so a
  refresh stays cheap even anonymously (60 requests/hour); they are merged, so their status is
  ``record`` / ``non-record`` by track;
* modded-nanogpt: ``GET /repos/{modded_nanogpt_repo}/contents/README.md`` → the record tables,
  one board each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from github import GithubException
from github.ContentFile import ContentFile
from github.Repository import Repository

from bot import clock
from bot.config import Settings, upstream_api_base
from bot.errors import SourceError
from bot.research.competitors.common import PG, STATUS_CLOSED
from bot.research.competitors.files import mark_merged, merge, parse_text
from bot.research.competitors.leaderboard import parse_leaderboard
from bot.research.competitors.modded import parse_modded_nanogpt
from bot.research.competitors.store import save_scores
from bot.research.sources.base import FetchContext
from bot.research.sources.github_common import describe, make_github, record_file_text
from bot.state import CompetitorScore, ResearchState


@dataclass
class RefreshReport:
    leaderboard_rows: int = 0  # rows parsed out of the README's Leaderboard tables
    leaderboard_rows_present: int = 0  # table rows present
    leaderboard_removed: int = 0
    records_seen: int = 0
    records_read: int = 0
    modded_rows: int = 0
    stored: int = 0
    skipped: int = 0  # folders left for a later run (max_new)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _listing(repo: Repository, path: str) -> list[ContentFile]:
    got = repo.get_contents(path)
    return got if isinstance(got, list) else [got]


def _record_folders(repo: Repository) -> list[str]:
    folders: list[str] = []
    try:
        top = _listing(repo, "records")
    except GithubException as exc:
        if exc.status == 404:  # no records/ yet: the Leaderboard may still list PR-only records
            return []
        raise
    for entry in top:
        if entry.type != "dir":
            continue
        children = _listing(repo, entry.path)
        subdirs = [c for c in children if c.type == "dir"]
        if any(c.name.startswith("submission") or c.name == "README.md" for c in children):
            folders.append(entry.path)  # a record folder directly under records/
        folders += [c.path for c in subdirs]
    return folders


def _read_folder(repo: Repository, folder: str) -> tuple[CompetitorScore | None, list[str]]:
    names = {c.name: c for c in _listing(repo, folder) if c.type == "file"}
    warnings: list[str] = []
    primary = fallback = None
    for name in sorted(n for n in names if n.startswith("submission") and n.endswith(".json")):
        text, why = record_file_text(names[name])
        if text is None:
            warnings.append(why)
            continue
        res = parse_text(name, text, source_file=f"{folder}/{name}", record=True)
        warnings += res.warnings
        if res.scores:
            primary = res.scores[0]
            break
    readme, why = record_file_text(names["README.md"]) if "README.md" in names else (None, "")
    if why:
        warnings.append(why)
    if readme is not None:
        res = parse_text("README.md", readme, source_file=f"{folder}/README.md", record=True)
        fallback = res.scores[0] if res.scores else None
        if primary is None:
            warnings += res.warnings
    score = merge(primary, fallback) if primary and fallback else (primary or fallback)
    return score, warnings


def _leaderboard(
    repo: Repository, full: str, stored: list[CompetitorScore], report: RefreshReport
) -> list[CompetitorScore]:
    readme = repo.get_contents("README.md")
    if isinstance(readme, list):
        raise SourceError("README.md is a folder", path=full)
    parsed = parse_leaderboard(
        readme.decoded_content.decode("utf-8", "replace"), source_file=f"{full}/README.md"
    )
    report.leaderboard_rows = len(parsed.rows)
    report.leaderboard_rows_present = parsed.rows_present
    report.warnings += parsed.warnings
    if not parsed.rows:  # a README without the tables (renamed section?) removes nothing
        return []
    current = {r.key for r in parsed.rows}
    # a board none of whose rows was read this time (its table renamed, reshaped) says nothing
    # about which rows left it: only a board read now can tell that a row disappeared
    read = {r.board for r in parsed.rows}
    gone = []
    for old in stored:
        stale = (
            old.provenance == "leaderboard"
            and old.source == PG
            and old.key not in current
            and (old.board or "record") in read
        )
        if stale and old.status != STATUS_CLOSED:
            old.status = STATUS_CLOSED
            old.extra["removed_from_leaderboard"] = clock.stamp()
            gone.append(old)
    report.leaderboard_removed = len(gone)
    return parsed.rows + gone


def refresh(
    settings: Settings, state: ResearchState, env: Mapping[str, str], *, max_new: int = 40
) -> RefreshReport:
    ctx = FetchContext(settings=settings, now=clock.now(), since_hours=settings.since_hours, env=env)
    gh, _authed = make_github(ctx)
    report = RefreshReport()
    stored = state.competitors()
    known = {c.key for c in stored}
    scores: list[CompetitorScore] = []
    try:
        repo = gh.get_repo(settings.challenge_repo)
        scores += _leaderboard(repo, settings.challenge_repo, stored, report)
        folders = _record_folders(repo)
        report.records_seen = len(folders)
        fresh = [f for f in folders if f"{PG}:{f}" not in known]
        report.skipped = max(0, len(fresh) - max_new)
        for folder in fresh[:max_new]:
            score, warnings = _read_folder(repo, folder)
            report.warnings += warnings
            if score is not None:
                mark_merged(score)
                score.url = score.url or f"https://github.com/{settings.challenge_repo}/tree/main/{folder}"
                scores.append(score)
                report.records_read += 1
        modded = gh.get_repo(settings.modded_nanogpt_repo).get_contents("README.md")
        if isinstance(modded, list):
            raise SourceError("README.md is a folder", path=settings.modded_nanogpt_repo)
        rows = parse_modded_nanogpt(
            modded.decoded_content.decode("utf-8", "replace"),
            source_file=f"{settings.modded_nanogpt_repo}/README.md",
        )
        report.modded_rows = len(rows)
        scores += rows
    except GithubException as exc:
        raise SourceError(describe(exc), path=upstream_api_base(settings)) from None
    except SourceError:
        raise
    except Exception as exc:  # transport errors of requests/urllib3, translated at the edge
        raise SourceError(describe(exc), path=upstream_api_base(settings)) from None
    report.stored = save_scores(state, scores)
    return report
