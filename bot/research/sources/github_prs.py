"""Pull requests of the watched repositories (``watched_repos``), through PyGithub, every repository at once.

For each repository: ``GET /repos/{o}/{r}/pulls?state=all&sort=updated&direction=desc``
(Link-paginated), newest first, stopping at the first PR last updated before the window.
For the challenge repository (``challenge_repo``) each PR's changed files are listed
(``GET …/pulls/{n}/files``); for every ``records/**`` folder it touches, ``submission*.json``
and ``README.md`` are read **at the PR head** (``GET …/contents/{path}?ref=<head sha>``, base64)
and parsed by :mod:`bot.research.competitors` (a PR without record files: its body, provenance
``PR body``); each score's status follows the PR (merged → record / non-record by track, open →
claim, closed → closed); the scores ride on the item
(``extra.competitor_scores``) and the pipeline stores them in ``competitors.jsonl``. A PR with
a parsed score gets relevance 1.0 (kind ``competitor``).

``GITHUB_TOKEN`` is used when set; without it the API is read anonymously (lower rate limit).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from github import Github, GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from bot.research import competitors
from bot.research.sources.base import FetchContext, clean, iso
from bot.research.sources.github_common import make_github, record_file_text, run_blocking
from bot.state import CompetitorScore, ResearchItem, to_dict

NAME = "github_prs"
MAX_RECORD_FOLDERS = 4


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _read(repo: Repository, path: str, ref: str, warn: Callable[[str], None]) -> str | None:
    try:
        content = repo.get_contents(path, ref=ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    if isinstance(content, list):
        return None
    text, why = record_file_text(content)
    if why:
        warn(why)  # a hostile PR's huge file skips its folder, never fails the source
    return text


def record_scores(repo: Repository, pr: PullRequest, ctx: FetchContext) -> list[dict[str, Any]]:
    folders: dict[str, set[str]] = {}
    for f in pr.get_files():
        if f.status == "removed" or not f.filename.startswith("records/"):
            continue
        folder, _, name = f.filename.rpartition("/")
        if name == "README.md" or (name.startswith("submission") and name.endswith(".json")):
            folders.setdefault(folder, set()).add(name)
    out = []
    head = pr.head.sha

    def warn(message: str) -> None:
        ctx.warn(NAME, f"PR #{pr.number}: {message}")

    for folder in sorted(folders)[:MAX_RECORD_FOLDERS]:
        names = folders[folder]
        primary = fallback = None
        warnings: list[str] = []
        for name in sorted(n for n in names if n.endswith(".json")):
            text = _read(repo, f"{folder}/{name}", head, warn)
            if text is not None:
                res = competitors.parse_text(name, text, source_file=f"{folder}/{name}", record=True)
                warnings += res.warnings
                if res.scores:
                    primary = res.scores[0]
                    break
        readme = _read(repo, f"{folder}/README.md", head, warn)
        if readme is not None:
            res = competitors.parse_text("README.md", readme, source_file=f"{folder}/README.md", record=True)
            fallback = res.scores[0] if res.scores else None
        for w in warnings:
            ctx.warn(NAME, f"PR #{pr.number}: {w}")
        score = competitors.merge(primary, fallback) if primary and fallback else (primary or fallback)
        if score is None:
            ctx.warn(NAME, f"PR #{pr.number}: no score found in {folder}")
            continue
        score.pr = pr.number
        score.url = pr.html_url
        score.key = f"{competitors.PG}:pr#{pr.number}:{folder}"
        score.author = score.author or pr.user.login
        score.github_id = score.github_id or pr.user.login
        _stamp(score, pr, head)
        out.append(to_dict(score))
    if not out and pr.body:  # no record folder: the PR body's own claim, if it makes one
        body = competitors.score_from_readme(pr.body, source_file=f"PR #{pr.number} body")
        if body is not None:
            body.provenance = "PR body"
            body.key = f"{competitors.PG}:pr#{pr.number}:body"
            body.name = body.name or clean(pr.title)
            body.pr, body.url = pr.number, pr.html_url
            body.author = body.author or (pr.user.login if pr.user else "")
            body.github_id = body.github_id or (pr.user.login if pr.user else "")
            _stamp(body, pr, head, in_records=False)
            out.append(to_dict(body))
    return out


def _stamp(score: CompetitorScore, pr: PullRequest, head: str, *, in_records: bool = True) -> None:
    """The PR's state decides the score's status: merged into records/ → accepted, open (or a
    merged PR that added no record) → claim, closed → closed."""
    state = "merged" if pr.merged_at else pr.state
    score.extra = {**score.extra, "pr_state": state, "head_sha": head}
    if state == "merged" and in_records:
        competitors.mark_merged(score)
    else:
        score.status = competitors.STATUS_CLOSED if state == "closed" else competitors.STATUS_CLAIM


class GithubPrsSource:
    name = NAME

    def fetch_repo(self, gh: Github, full: str, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        items: list[ResearchItem] = []
        repo = gh.get_repo(full)
        pulls = repo.get_pulls(state="all", sort="updated", direction="desc")
        for n, pr in enumerate(pulls):
            if n >= s.source_max_items:
                break
            updated = _aware(pr.updated_at)
            if updated is not None and updated < ctx.since:
                break
            item = ResearchItem(
                source=NAME,
                id=f"{NAME}:{full}#{pr.number}",
                title=clean(pr.title),
                url=pr.html_url,
                authors=[pr.user.login] if pr.user else [],
                published=iso(_aware(pr.created_at)),
                summary=clean(pr.body)[:4000],
                raw={
                    "repo": full,
                    "number": pr.number,
                    "state": pr.state,
                    "merged": pr.merged_at is not None,
                    "updated_at": iso(updated),
                    "head_sha": pr.head.sha,
                    "labels": [lb.name for lb in pr.labels],
                },
            )
            if full.lower() == s.challenge_repo.lower():
                item.extra["competitor_pr"] = pr.number  # read now: what it claims is all it claims
                scores = record_scores(repo, pr, ctx)
                if scores:
                    item.extra["competitor_scores"] = scores
                    item.relevance = 1.0
                    item.relevance_kind = "competitor"
                    best = min(x["val_bpb"] for x in scores if x.get("val_bpb") is not None)
                    item.summary = f"val_bpb {best} — " + item.summary
            items.append(item)
        return items

    def fetch_sync(self, ctx: FetchContext) -> list[ResearchItem]:
        gh, _authed = make_github(ctx)
        repos = ctx.settings.watched_repos
        if not repos:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(repos)), thread_name_prefix="pgolf-prs") as pool:
            pages = list(pool.map(lambda full: self.fetch_repo(gh, full, ctx), repos))  # repos at once
        return [item for page in pages for item in page]

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        return await run_blocking(NAME, lambda: self.fetch_sync(ctx))


SOURCE = GithubPrsSource()
