"""Competitor intelligence: the parameter-golf Leaderboard and records, and modded-nanogpt.

One module per job:

* :mod:`.submission` — a record's ``submission.json``;
* :mod:`.readme` — a record's ``README.md``, read like a person reads it;
* :mod:`.leaderboard` — the challenge README's Leaderboard tables (record and non-record boards);
* :mod:`.modded` — modded-nanogpt's record tables (one board per table) and their trend;
* :mod:`.files` — files, record folders and trees of them → scores;
* :mod:`.standings` — status (record / non-record / claim / closed) and which figure decides;
* :mod:`.store` — ``competitors.jsonl`` and the boards shown to people;
* :mod:`.github` — ``pgolf competitors refresh`` through the GitHub contents API.

Precedence and statuses are documented in ``docs/competitors.md``.
"""

from __future__ import annotations

from bot.research.competitors.common import (
    MNG,
    PG,
    PRECEDENCE,
    STATUS_CLAIM,
    STATUS_CLOSED,
    STATUS_NON_RECORD,
    STATUS_RECORD,
    flat_text,
)
from bot.research.competitors.files import (
    ParseResult,
    agrees,
    mark_merged,
    merge,
    parse_path,
    parse_record_folder,
    parse_text,
    scan_records,
)
from bot.research.competitors.leaderboard import is_leaderboard, parse_leaderboard
from bot.research.competitors.modded import boards, is_modded_nanogpt, parse_modded_nanogpt, trend_lines
from bot.research.competitors.readme import ReadmeScan, scan_readme, score_from_readme
from bot.research.competitors.standings import accepted, claims, resolve, sota, standings
from bot.research.competitors.store import flattened, leaderboard, save_scores, score_json
from bot.research.competitors.submission import score_from_submission

__all__ = [
    "MNG",
    "PG",
    "PRECEDENCE",
    "STATUS_CLAIM",
    "STATUS_CLOSED",
    "STATUS_NON_RECORD",
    "STATUS_RECORD",
    "ParseResult",
    "ReadmeScan",
    "accepted",
    "agrees",
    "boards",
    "claims",
    "flat_text",
    "flattened",
    "is_leaderboard",
    "is_modded_nanogpt",
    "leaderboard",
    "mark_merged",
    "merge",
    "parse_leaderboard",
    "parse_modded_nanogpt",
    "parse_path",
    "parse_record_folder",
    "parse_text",
    "resolve",
    "save_scores",
    "scan_readme",
    "scan_records",
    "score_from_readme",
    "score_from_submission",
    "score_json",
    "sota",
    "standings",
    "trend_lines",
]
