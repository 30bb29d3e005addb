"""The challenge's Leaderboard (``challenge_repo``'s README.md), through the GitHub contents API.

``GET /repos/{challenge_repo}/contents/README.md`` (PyGithub, base64) → both Leaderboard tables
(:mod:`bot.research.competitors.leaderboard`): the record board and the unlimited-compute /
non-record board. The rows ride on one item (``extra.competitor_scores``; the pipeline stores
them in ``competitors.jsonl`` as accepted records with provenance ``leaderboard``). The item's
id carries the README's blob SHA, so an unchanged README is a duplicate (no new item), while its
rows are still handed to the store (which appends only changed rows). The window does not apply:
the Leaderboard is a current list, not a feed.
"""

from __future__ import annotations

from github import GithubException

from bot.errors import SourceError
from bot.research.competitors.leaderboard import parse_leaderboard
from bot.research.sources.base import FetchContext, iso
from bot.research.sources.github_common import make_github, run_blocking
from bot.state import ResearchItem, to_dict

NAME = "github_leaderboard"


class GithubLeaderboardSource:
    name = NAME

    def fetch_sync(self, ctx: FetchContext) -> list[ResearchItem]:
        gh, _authed = make_github(ctx)
        full = ctx.settings.challenge_repo
        try:
            content = gh.get_repo(full).get_contents("README.md")
        except GithubException as exc:
            if exc.status == 404:
                raise SourceError("README.md not found", path=full) from None
            raise
        if isinstance(content, list):
            raise SourceError("README.md is a folder", path=full)
        text = content.decoded_content.decode("utf-8", "replace")
        parsed = parse_leaderboard(text, source_file=f"{full}/README.md")
        for w in parsed.warnings:
            ctx.warn(NAME, w)
        if not parsed.rows:
            return []
        best = min(parsed.rows, key=lambda r: r.val_bpb or 9.0) if parsed.rows else None
        records = [r for r in parsed.rows if r.board == "record"]
        item = ResearchItem(
            source=NAME,
            id=f"{NAME}:{full}@{content.sha[:12]}",
            title=f"{full} leaderboard: {len(records)} records, best {best.val_bpb if best else '-'}",
            url=f"https://github.com/{full}#leaderboard",
            published=iso(ctx.now),
            summary="; ".join(f"{r.val_bpb} {r.name} ({r.author}, {r.date})" for r in records[:10]),
            relevance=1.0,
            relevance_kind="competitor",
            raw={
                "repo": full,
                "sha": content.sha,
                "rows": len(parsed.rows),
                "rows_present": parsed.rows_present,
            },
            extra={"competitor_scores": [to_dict(r) for r in parsed.rows]},
        )
        return [item]

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]:
        return await run_blocking(NAME, lambda: self.fetch_sync(ctx))


SOURCE = GithubLeaderboardSource()
