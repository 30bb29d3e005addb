"""Shared helpers of the competitor parsers: names, number parsing, track and key rules."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

PG = "parameter-golf"
MNG = "modded-nanogpt"
BPB_RANGE = (0.3, 5.0)

# Where a score came from (``CompetitorScore.provenance``), in precedence order: when two
# sources disagree about the same submission, the earlier one decides (see docs/competitors.md).
PROV_LEADERBOARD = "leaderboard"
PROV_SUBMISSION = "submission.json"
PROV_README = "README"
PROV_PR_BODY = "PR body"
PROV_LOG = "log line"
PRECEDENCE = (PROV_LEADERBOARD, PROV_SUBMISSION, PROV_README, PROV_PR_BODY, PROV_LOG)

# A score's status (``CompetitorScore.status``).
STATUS_RECORD = "record"  # accepted: on the leaderboard's record table or merged into records/
STATUS_NON_RECORD = "non-record"  # accepted on the unlimited-compute / non-record track
STATUS_CLAIM = "claim"  # an open PR, or a file of unknown origin: shown as a claim
STATUS_CLOSED = "closed"  # a PR closed without merging: never shown
STATUSES = (STATUS_RECORD, STATUS_NON_RECORD, STATUS_CLAIM, STATUS_CLOSED)

# ``CompetitorScore.extra`` keys the bot sets and reads itself (grouping, precedence, status):
# a submitter's file never sets them (see :func:`.submission.score_from_submission`).
RESERVED_EXTRA = frozenset(
    {
        "record_folder",
        "figures",
        "disagreements",
        "score_text",
        "parsed_as",
        "pr_state",
        "pr_from",
        "head_sha",
        "removed_from_leaderboard",
        "superseded",
        "sources",
        "confirmed_by",
        "upstream_track",
        "other_bpb",
        "bytes_total_stated",
        "bytes_from",
        "bytes_total_precision",
        "status",
        "log_metric",
        "score_key",
    }
)

# --------------------------------------------------------------------------- helpers


def num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        # the whole number, exponent included: "1e9" is 1e9 (out of range), never 1.0
        m = re.search(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", value.replace(",", ""))
        v = float(m.group(0)) if m else None
        return v if v is not None and math.isfinite(v) else None
    return None


def to_int(value: Any) -> int | None:
    if isinstance(value, str):
        value = value.replace(",", "").replace("_", "")
    n = num(value)
    return int(n) if n is not None else None


def bpb_ok(v: float | None) -> bool:
    return v is not None and BPB_RANGE[0] < v < BPB_RANGE[1]


def first(data: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in data and data[k] not in (None, ""):
            return data[k]
    return None


def track_from(*hints: str) -> tuple[str, str]:
    """(record | non-record, upstream track name) from a track field and/or a path."""
    upstream = ""
    for h in hints:
        if not h:
            continue
        for part in re.split(r"[/\\]", h):
            if part.startswith("track_"):
                upstream = upstream or part[len("track_") :]
        if "/" not in h and "\\" not in h and not upstream:
            upstream = h
    low = " ".join(hints).lower().replace("_", "-")
    kind = "non-record" if ("non-record" in low or "nonrecord" in low or "unlimited" in low) else "record"
    return kind, upstream


def record_key(path: Path) -> str:
    parts = path.parts
    if "records" in parts:
        i = len(parts) - 1 - list(reversed(parts)).index("records")
        return f"{PG}:" + "/".join(parts[i:])
    return f"{PG}:{path.name}"


def date_from_name(name: str) -> str:
    m = re.match(r"(\d{4}-\d{2}-\d{2})", name)
    return m.group(1) if m else ""


# C0/C1 controls (terminal escapes) and bidi embeddings/overrides/isolates: never kept in a
# scraped field (see :func:`flat_text`)
_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: the scraped text fields of a score (names, authors, summaries a competitor wrote)
SCRAPED_FIELDS = ("name", "author", "github_id", "date", "techniques", "track")
SCRAPED_LIMIT = 600


def flat_text(text: str, limit: int = SCRAPED_LIMIT) -> str:
    """A field a competitor wrote (a record title, an author, a summary), as one line: line
    breaks and other whitespace runs become one space, control and bidi characters are dropped,
    and it is cut at ``limit`` characters. What it says stays (it is data, shown as data)."""
    text = " ".join(_UNSEEN.sub(" ", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
