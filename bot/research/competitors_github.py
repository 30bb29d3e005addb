"""`pgolf competitors refresh`: read the challenge's merged records and the modded-nanogpt
record table from GitHub (PyGithub, the configured ``github_api_url``).

* parameter-golf: ``GET /repos/{challenge_repo}/contents/records`` lists the track folders,
  each track folder lists its record folders; only folders not yet in the store are read
  (``submission*.json`` first, ``README.md`` as fallback), at most ``max_new`` per run, so a
  refresh stays cheap even anonymously (60 requests/hour);
* modded-nanogpt: ``GET /repos/{modded_nanogpt_repo}/contents/README.md`` → the record table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from github import GithubException
from github.ContentFile import ContentFile
from github.Repository import Repository

from bot import clock
from bot.config import Settings
from bot.errors import SourceError
from bot.research import competitors as comp
from bot.research.sources.base import FetchContext
from bot.research.sources.github_common import describe, make_github
from bot.state import CompetitorScore, ResearchState


@dataclass
class RefreshReport:
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
    for entry in _listing(repo, "records"):
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
        text = names[name].decoded_content.decode("utf-8", "replace")
        res = comp.parse_text(name, text, source_file=f"{folder}/{name}")
        warnings += res.warnings
        if res.scores:
            primary = res.scores[0]
            break
    if "README.md" in names:
        text = names["README.md"].decoded_content.decode("utf-8", "replace")
        res = comp.parse_text("README.md", text, source_file=f"{folder}/README.md")
        fallback = res.scores[0] if res.scores else None
        if primary is None:
            warnings += res.warnings
    score = comp.merge(primary, fallback) if primary and fallback else (primary or fallback)
    return score, warnings


def refresh(
    settings: Settings, state: ResearchState, env: Mapping[str, str], *, max_new: int = 40
) -> RefreshReport:
    ctx = FetchContext(settings=settings, now=clock.now(), since_hours=settings.since_hours, env=env)
    gh, _authed = make_github(ctx)
    report = RefreshReport()
    known = {c.key for c in state.competitors()}
    scores: list[CompetitorScore] = []
    try:
        repo = gh.get_repo(settings.challenge_repo)
        folders = _record_folders(repo)
        report.records_seen = len(folders)
        fresh = [f for f in folders if f"{comp.PG}:{f}" not in known]
        report.skipped = max(0, len(fresh) - max_new)
        for folder in fresh[:max_new]:
            score, warnings = _read_folder(repo, folder)
            report.warnings += warnings
            if score is not None:
                score.url = score.url or f"https://github.com/{settings.challenge_repo}/tree/main/{folder}"
                scores.append(score)
                report.records_read += 1
        modded = gh.get_repo(settings.modded_nanogpt_repo).get_contents("README.md")
        if isinstance(modded, list):
            raise SourceError("README.md is a folder", path=settings.modded_nanogpt_repo)
        rows = comp.parse_modded_nanogpt(
            modded.decoded_content.decode("utf-8", "replace"),
            source_file=f"{settings.modded_nanogpt_repo}/README.md",
        )
        report.modded_rows = len(rows)
        scores += rows
    except GithubException as exc:
        raise SourceError(describe(exc), path=settings.github_api_url) from None
    except SourceError:
        raise
    except Exception as exc:  # transport errors of requests/urllib3, translated at the edge
        raise SourceError(describe(exc), path=settings.github_api_url) from None
    report.stored = comp.save_scores(state, scores)
    return report
