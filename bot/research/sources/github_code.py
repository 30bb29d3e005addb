"""GitHub code search (PyGithub) for recent code mentioning the challenge's terms.

``GET /search/code?q=<github_code_query>`` (setting). Code search needs authentication, so
without ``GITHUB_TOKEN`` the source reports a warning and returns nothing. Code search has no
date filter: the window is applied to the repository's latest commit on its default branch
(``GET /repos/{o}/{r}/commits/{branch}``) — a repository without a commit in the window cannot
hold new code. Each hit's file text (first 2,000 characters) becomes the summary, so the keyword
score judges the code itself.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

from github import GithubException
from github.ContentFile import ContentFile
from github.Repository import Repository

from bot.research.sources.base import FetchContext, iso
from bot.research.sources.github_common import make_github, run_blocking
from bot.state import ResearchItem

NAME = "github_code"


class GithubCodeSource:
    name = NAME

    def fetch_sync(self, ctx: FetchContext) -> list[ResearchItem]:
        s = ctx.settings
        gh, authed = make_github(ctx)
        if not authed:
            ctx.warn(NAME, "GITHUB_TOKEN is not set: GitHub code search needs authentication; skipped")
            return []
        hits = []
        for n, hit in enumerate(gh.search_code(s.github_code_query)):
            if n >= s.source_max_items:
                break
            hits.append(hit)
        if not hits:
            return []
        repos = {h.repository.full_name: h.repository for h in hits}

        def latest(repo: Repository) -> str:
            when = repo.get_commit(repo.default_branch).commit.committer.date
            return iso(when.replace(tzinfo=UTC) if when.tzinfo is None else when)

        def content(hit: ContentFile) -> str:
            try:
                return hit.decoded_content.decode("utf-8", "replace")[:2000]
            except (GithubException, AssertionError, ValueError):
                return ""

        # commit dates and file texts at once (one round trip after the search)
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="pgolf-code") as pool:
            stamps_f = {full: pool.submit(latest, repo) for full, repo in repos.items()}
            texts_f = [pool.submit(content, h) for h in hits]
            stamps = {full: f.result() for full, f in stamps_f.items()}
            texts = [f.result() for f in texts_f]
        items: list[ResearchItem] = []
        for hit, text in zip(hits, texts, strict=True):
            repo = hit.repository
            full = repo.full_name
            stamp = stamps[full]
            if stamp and stamp < iso(ctx.since):
                continue
            items.append(
                ResearchItem(
                    source=NAME,
                    id=f"{NAME}:{full}/{hit.path}",
                    title=f"{full}: {hit.path}",
                    url=hit.html_url,
                    authors=[repo.owner.login] if repo.owner else [],
                    published=stamp,
                    summary=" ".join(text.split()),
                    raw={"repo": full, "path": hit.path, "sha": hit.sha, "query": s.github_code_query},
                )
            )
        return items

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        return await run_blocking(NAME, lambda: self.fetch_sync(ctx))


SOURCE = GithubCodeSource()
