"""The modded-nanogpt README's record tables → :class:`CompetitorScore` rows, one board per table.

The README holds one table per speedrun track (GPT-2 small: "World record history"; GPT-2
medium: "Speedrun track 2: GPT-2 Medium"). Each table is its own board (``CompetitorScore.board``
= ``gpt2-small`` / ``gpt2-medium``, named from the heading or the target above the table;
``table-N`` when neither says), and a row's key names its board, number, date and time, so rows
of different tables (both tables start with a 05/28/24 "#1") or re-timings of one record (three
"#21" rows) never collide. Rows with or without a leading ``|``; record time in seconds, minutes
or hours (→ ``record_minutes``; a trailing ``*`` footnote is ignored); ``MM/DD/YY`` dates (→ ISO;
``-`` → none); markdown links (description link, ``[PR](…/pull/N)`` → ``pr``), contributor
handles; "not a new record, just re-timing" rows get ``track="re-timing"``.

:func:`trend_lines` summarises each board's record-time trend in one sentence the grader can cite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date as _date

from bot.research.competitors.common import MNG, STATUS_RECORD
from bot.state import CompetitorScore

SMALL = "gpt2-small"
MEDIUM = "gpt2-medium"
_HEADER = re.compile(r"\|\s*#\s*\|\s*record time\s*\|", re.I)
_ROW = re.compile(r"^\|?\s*(\d+)\s*\|")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def _minutes(text: str) -> float | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b", text, re.I)
    if not m:
        return None
    v = float(m.group(1))
    unit = m.group(2).lower()
    if unit.startswith("h"):
        return round(v * 60, 4)
    if unit.startswith("s"):
        return round(v / 60, 4)
    return v


def _us_date(text: str) -> str:
    """``MM/DD/YY`` (or an ISO date) → ISO; "" for none or for a date that does not exist."""
    m = re.search(r"(\d{1,2})/(\d{1,2})/(\d{2,4})", text)
    iso = re.search(r"(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        mo, day, yr = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif iso:
        yr, mo, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
    else:
        return ""
    if yr < 100:
        yr += 2000
    try:
        return _date(yr, mo, day).isoformat()
    except ValueError:  # 13/45/24: not a date
        return ""


def is_modded_nanogpt(text: str) -> bool:
    return bool(_HEADER.search(text))


def _board_name(preamble: str, n_table: int) -> str:
    """The board of a table from the text between the previous table and this one."""
    heads = re.findall(r"^#{1,6}\s+(.+)$", preamble, re.M)
    hint = " ".join(heads[-1:]) + " " + preamble[-800:]
    low = hint.lower()
    if re.search(r"gpt-?2[ -]?medium|track 2|\b2\.92\b|350m", low):
        return MEDIUM
    if re.search(r"gpt-?2[ -]?small|track 1|\b3\.28\b|world record history", low) or n_table == 0:
        return SMALL
    return f"table-{n_table + 1}"


def parse_modded_nanogpt(text: str, *, source_file: str = "") -> list[CompetitorScore]:
    """Every row of every record table, in table order, each with its board."""
    out: list[CompetitorScore] = []
    in_table = False
    board = SMALL
    n_table = 0
    last_end = 0
    offset = 0
    seen: set[str] = set()
    for line in text.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        line = line.rstrip("\r\n")
        if _HEADER.search(line):
            board = _board_name(text[last_end:start], n_table)
            n_table += 1
            in_table = True
            continue
        if not in_table:
            continue
        if re.match(r"^\s*\|?\s*-+\s*\|", line):
            continue
        if not _ROW.match(line):
            if line.strip():
                in_table = False
                last_end = start
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        number = int(cells[0])
        minutes = _minutes(cells[1])
        if minutes is None:
            continue
        desc_cell = cells[2]
        links = _LINK.findall(desc_cell)
        description = _LINK.sub(lambda m: m.group(1), desc_cell).strip()
        date = _us_date(cells[3])
        rest = " | ".join(cells[4:])
        pr_url = ""
        pr = None
        for _label, url in _LINK.findall(rest) + links:
            pm = re.search(r"/pull/(\d+)", url)
            if pm:
                pr, pr_url = int(pm.group(1)), url
                break
        contributors_cell = cells[5] if len(cells) > 5 else ""
        handles = re.findall(r"@([A-Za-z0-9_.\-]+[A-Za-z0-9_])", contributors_cell)
        retiming = "not a new record" in contributors_cell.lower()
        log_links = [
            u for label, u in _LINK.findall(cells[4] if len(cells) > 4 else "") if label.lower() == "log"
        ]
        key = f"{MNG}:{board}:#{number}:{date or '-'}:{minutes:g}"
        dup = 2
        while key in seen:  # the same row twice: still two keys
            key = f"{MNG}:{board}:#{number}:{date or '-'}:{minutes:g}:{dup}"
            dup += 1
        seen.add(key)
        out.append(
            CompetitorScore(
                source=MNG,
                name=description,
                key=key,
                record_minutes=minutes,
                author=_LINK.sub(lambda m: m.group(1), contributors_cell).strip(),
                github_id=handles[0] if handles else "",
                pr=pr,
                date=date,
                track="re-timing" if retiming else "record",
                techniques=description,
                url=pr_url or (links[0][1] if links else ""),
                source_file=source_file,
                provenance="leaderboard",
                status=STATUS_RECORD,
                board=board,
                extra={
                    "record_number": number,
                    "contributors": handles,
                    "log": log_links[0] if log_links else "",
                    "description_url": links[0][1] if links else "",
                },
            )
        )
    return out


def boards(scores: Iterable[CompetitorScore]) -> dict[str, list[CompetitorScore]]:
    """modded-nanogpt rows per board, fastest first (rows stored before boards existed: gpt2-small)."""
    out: dict[str, list[CompetitorScore]] = {}
    for s in scores:
        if s.source == MNG and s.record_minutes is not None:
            out.setdefault(s.board or SMALL, []).append(s)
    return {
        b: sorted(rows, key=lambda s: (s.record_minutes or 0.0, s.date)) for b, rows in sorted(out.items())
    }


def trend_lines(scores: Iterable[CompetitorScore], recent: int = 5) -> list[str]:
    """One sentence per board: first → current record time, and how much the last ``recent``
    new records cut (re-timings are not records)."""
    lines = []
    for board, rows in boards(scores).items():
        records = sorted(
            (r for r in rows if r.track != "re-timing"),
            key=lambda r: (int(r.extra.get("record_number", 0) or 0), r.date),
        )
        if not records:
            continue
        first, best = records[0], min(records, key=lambda r: r.record_minutes or 0.0)
        tail = records[-(recent + 1) :]
        line = (
            f"modded-nanogpt {board}: {first.record_minutes:g} min ({first.date or 'undated'}) → "
            f"{best.record_minutes:g} min ({best.date or 'undated'}, {one(best.name)}) over {len(records)} records"
        )
        if len(tail) >= 2 and tail[0].record_minutes:
            cut = 1 - (tail[-1].record_minutes or 0.0) / tail[0].record_minutes
            line += (
                f"; the last {len(tail) - 1} records cut {cut:.1%} "
                f"({tail[0].record_minutes:g} → {tail[-1].record_minutes:g} min: "
                + "; ".join(one(r.name, 50) for r in tail[1:])
                + ")"
            )
        lines.append(line)
    return lines


def one(text: str, limit: int = 80) -> str:
    t = " ".join(text.split())
    return t if len(t) <= limit else t[: limit - 1] + "…"
