"""The challenge README's Leaderboard tables → :class:`CompetitorScore` rows.

The upstream README (``openai/parameter-golf``) keeps the one authoritative list of accepted
results under ``## Leaderboard``: a record-track table, then, under a heading naming the
unlimited-compute / non-record submissions, a second table. Both have the columns
``| Run | Score | Author | Summary | Date | Info |`` (matched by name, in any order; extra
columns are ignored). Each table is its own board: ``board="record"`` rows have
``status="record"``, the other table's rows ``status="non-record"``; every row has
``provenance="leaderboard"``.

From a row: the score (4 decimals as printed), author, summary, date, the PR number (the Info
link ``…/pull/N``, else the summary's leading "On PR #N"), the record folder when Info links to
``records/<track>/<folder>/README.md`` (the row and the folder's submission.json are then known to
describe one submission; keys are ``parameter-golf:leaderboard:<folder or pr#N>``), and technique tags: the run name
split on ``+``. A row whose score is not a number in the bpb range is skipped with a warning
naming its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.research.competitors.common import (
    PG,
    PROV_LEADERBOARD,
    STATUS_NON_RECORD,
    STATUS_RECORD,
    bpb_ok,
)
from bot.state import CompetitorScore

BOARD_RECORD = "record"
BOARD_NON_RECORD = "non-record"
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_NON_RECORD = re.compile(r"non[- ]?record|unlimited", re.I)


@dataclass
class LeaderboardParse:
    rows: list[CompetitorScore] = field(default_factory=list)
    rows_present: int = 0  # table rows seen (parsed or not)
    warnings: list[str] = field(default_factory=list)


def _cells(line: str) -> list[str]:
    """A table row's cells; ``\\|`` is a pipe inside a cell (GitHub tables), not a column break."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _is_separator(line: str) -> bool:
    return bool(re.match(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)+\|?\s*$", line))


def is_leaderboard(text: str) -> bool:
    return bool(re.search(r"^#{1,6}\s+leaderboard\b", text, re.I | re.M)) and bool(
        re.search(r"\|\s*run\s*\|\s*score\s*\|", text, re.I)
    )


def _tags(run: str) -> list[str]:
    return [t.strip() for t in re.split(r"\s+\+\s+|\s*\+\s*(?=[A-Z0-9])", run) if t.strip()]


def parse_leaderboard(text: str, *, source_file: str = "README.md") -> LeaderboardParse:
    """Every row of the Leaderboard tables (record board first, then non-record)."""
    out = LeaderboardParse()
    m = re.search(r"^(#{1,6})\s+leaderboard\b.*$", text, re.I | re.M)
    if not m:
        out.warnings.append(f"{source_file}: no '## Leaderboard' section")
        return out
    level = len(m.group(1))
    end = re.compile(rf"^#{{1,{level}}}\s+(?!leaderboard)", re.I | re.M).search(text, m.end())
    section = text[m.start() : end.start() if end else len(text)]
    base_line = text.count("\n", 0, m.start()) + 1
    lines = section.splitlines()
    board = BOARD_RECORD
    cols: dict[str, int] | None = None
    for n, line in enumerate(lines):
        if re.match(r"^#{1,6}\s", line):
            board = BOARD_NON_RECORD if _NON_RECORD.search(line) else BOARD_RECORD
            cols = None
            continue
        if "|" not in line:
            cols = None if line.strip() else cols
            continue
        if n + 1 < len(lines) and _is_separator(lines[n + 1]):
            head = [re.sub(r"[*_`]", "", c).strip().lower() for c in _cells(line)]
            cols = {h: j for j, h in enumerate(head)}
            if "score" not in cols or "run" not in cols:
                cols = None
            continue
        if cols is None or _is_separator(line):
            continue
        out.rows_present += 1
        where = f"{source_file}:{base_line + n}"
        row = _row(_cells(line), cols, board, where, source_file)
        if isinstance(row, str):
            out.warnings.append(row)
        else:
            out.rows.append(row)
    return out


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _get(cells: list[str], cols: dict[str, int], name: str) -> str:
    j = cols.get(name)
    return cells[j].strip() if j is not None and j < len(cells) else ""


def _row(
    cells: list[str], cols: dict[str, int], board: str, where: str, source_file: str
) -> CompetitorScore | str:
    run = _LINK.sub(lambda m: m.group(1), _get(cells, cols, "run")).strip()
    score_cell = re.sub(r"[*_`]", "", _get(cells, cols, "score"))
    sm = re.search(r"\d+\.\d+", score_cell)
    if not sm or not bpb_ok(float(sm.group(0))):
        return f"{where}: leaderboard row {run!r}: score {score_cell!r} is not a val_bpb"
    score = float(sm.group(0))
    summary = _LINK.sub(lambda m: m.group(1), _get(cells, cols, "summary")).strip()
    author = _LINK.sub(lambda m: m.group(1), _get(cells, cols, "author")).strip()
    dm = re.search(r"\d{4}-\d{2}-\d{2}", _get(cells, cols, "date"))
    if dm and not _real_date(dm.group(0)):
        dm = None  # "2026-13-45" is not a date: stored as none rather than sorted as one
    info = _get(cells, cols, "info")
    urls = [u for _l, u in _LINK.findall(info)] or [u for _l, u in _LINK.findall(" ".join(cells))]
    pr: int | None = None
    pr_from = "link"
    folder = ""
    url = ""
    for u in urls:
        pm = re.search(r"/pull/(\d+)", u)
        if pm and pr is None:
            pr, url = int(pm.group(1)), u
        fm = re.search(r"(records/[^)\s]+?)/(?:README\.md)?$", u)
        if fm and not folder:
            folder = fm.group(1)
            url = url or u
    if pr is None:
        pm = re.match(r"\s*on\s+pr\s*#(\d+)", summary, re.I)
        if pm:
            pr, pr_from = int(pm.group(1)), "summary"
    if folder:
        key = f"{PG}:leaderboard:{folder}"
    elif pr is not None and pr_from == "link":
        key = f"{PG}:leaderboard:pr#{pr}"
    else:
        key = f"{PG}:leaderboard:{board}:{run}"
    return CompetitorScore(
        source=PG,
        name=run,
        key=key,
        val_bpb=score,
        author=author,
        pr=pr,
        date=dm.group(0) if dm else "",
        track=BOARD_NON_RECORD if board == BOARD_NON_RECORD else "record",
        techniques=" + ".join(_tags(run)) + (f" — {summary}" if summary else ""),
        url=url,
        source_file=source_file,
        provenance=PROV_LEADERBOARD,
        status=STATUS_NON_RECORD if board == BOARD_NON_RECORD else STATUS_RECORD,
        board=board,
        extra={
            "summary": summary,
            "tags": _tags(run),
            "record_folder": folder,
            "pr_from": pr_from if pr is not None else "",
            "score_text": sm.group(0),
            "line": where.rsplit(":", 1)[-1],
        },
    )
