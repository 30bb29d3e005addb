"""A record's ``README.md`` → :class:`CompetitorScore`, read the way a person reads it.

The score is the figure the README presents as its result, never a baseline, a comparison, an
ablation, a pre-quantisation or standard-eval figure when a final/sliding one is given. The
parser tries, in order: a bold headline (``**val_bpb: 1.1063**``, ``**1.3281 val_bpb**``), a
heading that states the score (``# Record: … — val_bpb 1.08563``, ``# 1.1712 BPB: …``), the
exact printed metric (``final_int8_zlib_roundtrip_exact val_bpb:1.22436570``), a "mean" statement
(``Mean val_bpb (sliding): 1.1598``, ``3-seed mean … 1.1598 bpb``), then tables: the ``Mean``
row of a results table (its post-quant/sliding column), the row or column naming this
submission in an ours-vs-baseline table, the value column of a metric/value table; then any
other labelled value (``val_bpb: 1.15``, ``bpb=1.195``, ``1.3595 BPB``). A value whose sentence
(or table column) calls it a baseline, previous/compared/flat-comparison/SOTA/PR-to-beat,
pre-quant/pre-TTT or an ablation is never the score. When the README states several different
"final" figures without saying which is the result, the parser abstains: no number is better
than a wrong one. A headline value is refined by a more precise figure that rounds to it.

Artifact bytes, most exact first: a stated total in bytes, the largest artifact of a per-seed
table, this submission's column of a comparison table, the headline's ``~15.95 MB``
(``extra.bytes_total_precision`` = ± half its last digit). Author, PR and date come from labelled
lines or table rows or the title; the technique summary is a title that lists techniques, else
the subject of a "Key idea: X" heading and the bold lead-ins of a summary's list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.research.competitors.common import (
    PG,
    PROV_README,
    bpb_ok,
    date_from_name,
    record_key,
    to_int,
    track_from,
)
from bot.state import CompetitorScore

_LABEL = r"(?:val(?:\\?_|[ \-])?bpb)"
_NUMBER = r"(\d\.\d{2,10})"
_EXCLUDE = re.compile(
    r"baseline|previous|prior\b|\bvs\.?\b|versus|\bbeats?\b|improv\w*\s+over|compared|comparison|"
    r"\bsota\b|merged|\bbase\b|pre[- ]?(?:quant|ttt|ema|roundtrip|export)|\bdelta\b|from pr|reference|\bwas\b|"
    r"\bold\b|to beat|leader|over pr|\bpr ?#\d+ *\(|without|ablat|diagnostic|\bcontrol\b|before quant|"
    r"\bgap\b|\bworth\b|estimated|expected|best case|"
    # someone else's entry, said as such ("reached by the other team's entry:"), not "unlike other entries"
    r"\b(?:by|from)\s+(?:the\s+)?(?:other|another|competing)\s+(?:team|entr|submission|author|competitor)|"
    r"\b(?:other|another|competing)\s+(?:team|entry|submission|author|competitor)(?:'s|’s)|"
    r"(?<!\d)\d+/\d+\s+val.?bpb\s*[:=]\s*$",
    re.I,
)
# A sentence end inside a line ("previous SOTA val_bpb=1.0900. Our val_bpb=1.1000"): words
# before it do not qualify the number after it. Abbreviations ("vs.", "e.g.") do not end one.
_SENTENCE_END = re.compile(r"(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)[.!?;]\s+(?=[A-Z*_\[(`])")
# Words that mark a column or row as this submission's own figures.
_OURS = re.compile(r"\b(?:this|ours?|our|submission|mine|new|final|result|value|score)\b", re.I)
_POST = re.compile(r"post|final|roundtrip|sliding|ttt|\bour\b|\bthis\b|mean", re.I)


def _line_start(text: str, pos: int, reach: int) -> int:
    """The start of ``pos``'s line, looking back at most ``reach`` characters (a hostile
    single-line README must not make every candidate rescan the whole line)."""
    lo = max(0, pos - reach)
    i = text.rfind("\n", lo, pos)
    return i + 1 if i >= 0 else lo


# The same qualifiers in parentheses between a label and its sign ("val_bpb (bf16): 1.21",
# "`val_bpb` (PR #77): `1.19`"): not the score, as after the figure.
_BEFORE_EXCLUDE = re.compile(
    r"\(([^()\n]{1,40})\)[`* \t]*[:=≈][`* \t]*~?$",
)
_QUALIFIER_NOT_OURS = re.compile(
    r"\b(?:pre[- ]?(?:quant\w*|roundtrip|export)|baseline|fp32|bf16|unquanti[sz]ed|estimated|projected|"
    r"regression|pr\s*#?\d+)\b",
    re.I,
)


def _excluded(text: str, start: int, window: int = 90) -> bool:
    """Does the text before ``start`` (same line and sentence) call the number a baseline?"""
    line_start = _line_start(text, start, 600)
    qualified = _BEFORE_EXCLUDE.search(text[max(line_start, start - 60) : start])
    if qualified and _QUALIFIER_NOT_OURS.search(qualified.group(1)):
        return True
    # link targets do not count towards the window: "Current merged SOTA ([title](long url)): 1.11"
    prefix = re.sub(r"\]\([^)\s]*\)", "]", text[line_start:start])[-window:]
    cuts = list(_SENTENCE_END.finditer(prefix))
    if cuts:
        prefix = prefix[cuts[-1].end() :]
    return bool(_EXCLUDE.search(prefix))


# A qualifier right after the number (in parentheses, on its line) that makes it a figure before
# quantisation or someone else's: "**val_bpb = 1.1093** (pre-quant) | **1.1026** (sliding)". Not a
# comparison in the parentheses ("1.2314 (vs 1.2303 baseline)", "1.2154 (baseline: 1.2244)").
_AFTER_EXCLUDE = re.compile(
    r"^[`* \t]*(?:(?:val[_ ]?)?bpb\b)?[`* \t]*\(\s*(?:(?!vs\b|than\b|over\b|from\b|compared)[^)\d\n]){0,24}?"
    r"\b(?:pre[- ]?(?:quant\w*|roundtrip|export)|baseline|fp32|bf16|unquantized|estimated|projected|regression)\b"
    r"(?![\s:=]*~?\d)"
    # or the same said plainly right after it ("val_bpb ≈ 1.30 before quantization", "1.30 —
    # pre-quant", "1.30 before GPTQ"), unless a figure follows that it qualifies ("1.21 — before
    # quantization it was 1.20")
    r"|^[`*]*+(?:[ \t]*+(?:val[_ ]?)?bpb\b)?[`*]*+[ \t]*+[,;—–-]?[ \t]*+(?:"
    r"(?:pre[-– ]?(?:quant\w*|roundtrip|export|ttt|gptq|ema)\b|unquanti[sz]ed\b|"
    r"(?:before|prior[ \t]+to)[ \t]+(?:applying[ \t]+|any[ \t]+|the[ \t]+(?:final[ \t]+)?)?(?:int\d+[ \t]+)?"
    r"(?:quanti[sz]\w*|export|roundtrip|compression|ttt|test-time|gptq|ema)\b)"
    r"(?![^\n\d]{0,24}?\b(?:was|is|were|of|at|gave|reads?)\b[ \t:=]*~?\d))",
    re.I,
)


def _excluded_after(text: str, end: int) -> bool:
    return bool(_AFTER_EXCLUDE.match(text[end : end + 60]))


def _decimals(s: str) -> int:
    return len(s.split(".", 1)[1]) if "." in s else 0


@dataclass
class _Found:
    value: float
    text: str
    how: str
    pos: int


@dataclass
class ReadmeScan:
    bpb: _Found | None = None
    loss: float | None = None
    std: float | None = None
    seeds: int | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    bytes_how: str = ""
    bytes_precision: int = 0  # ± bytes the stated figure allows (0: exact bytes)
    title: str = ""
    techniques: str = ""
    author: str = ""
    github_id: str = ""
    pr: int | None = None
    date: str = ""
    notes: list[str] = field(default_factory=list)


def _candidates(text: str, pattern: str, how: str, flags: int = re.I) -> Iterable[_Found]:
    for m in re.finditer(pattern, text, flags):
        g = m.group(1)
        v = float(g)
        if bpb_ok(v) and not _excluded(text, m.start(1)) and not _excluded_after(text, m.end(1)):
            yield _Found(v, g, how, m.start(1))


# ------------------------------------------------------------------ tables


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    pos: list[int]  # offset of each row in the text


def _plain(cell: str) -> str:
    return re.sub(r"[*`]", "", cell).strip()


def _cells(line: str) -> list[str]:
    """A table row's cells; ``\\|`` is a pipe inside a cell (GitHub tables), not a column break."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")


def _tables(text: str) -> list[_Table]:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out: list[_Table] = []
    i = 0
    while i + 1 < len(lines):
        if "|" in lines[i] and _SEPARATOR.match(lines[i + 1]) and "-" in lines[i + 1]:
            table = _Table(_cells(lines[i]), [], [])
            j = i + 2
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                table.rows.append(_cells(lines[j]))
                table.pos.append(offsets[j])
                j += 1
            out.append(table)
            i = j
        else:
            i += 1
    return out


def _value_column(header: list[str]) -> int | None:
    """The column of a comparison/metric table that holds this submission's figures."""
    cols = list(range(1, len(header)))
    ours = [j for j in cols if _OURS.search(_plain(header[j])) and not _EXCLUDE.search(header[j])]
    if ours:
        return ours[0]
    free = [j for j in cols if not _EXCLUDE.search(header[j])]
    return free[0] if len(free) == 1 else None


def _bpb_in(cell: str) -> float | None:
    m = re.search(_NUMBER, cell)
    return float(m.group(1)) if m and bpb_ok(float(m.group(1))) else None


def _aligned(label: str, cell: str) -> str:
    """The part of ``cell`` that holds the bpb when label and cell pair several figures
    ("val_loss / val_bpb" | "2.1580 / 1.2781" → "1.2781"); else the whole cell."""
    names, parts = label.split("/"), cell.split("/")
    if len(names) < 2 or len(names) != len(parts):
        return cell
    at = [i for i, n in enumerate(names) if re.search(rf"{_LABEL}|\bbpb\b", n, re.I)]
    return parts[at[0]] if len(at) == 1 else cell


def _column_is_ours(text: str, pos: int, rows: dict[int, _Table]) -> bool:
    """False when the table cell at ``pos`` sits under a baseline/comparison column header
    (``rows``: each table row's offset → its table, see :func:`_rows_by_offset`)."""
    row_pos = text.rfind("\n", 0, pos) + 1
    t = rows.get(row_pos)
    if t is None:
        return True
    col = text.count("|", row_pos, pos) - (1 if text[row_pos:pos].lstrip().startswith("|") else 0)
    return not (0 <= col < len(t.header) and _EXCLUDE.search(t.header[col]))


def _rows_by_offset(tables: list[_Table]) -> dict[int, _Table]:
    return {p: t for t in tables for p in t.pos}


def _stage(header: str) -> int:
    """How late an evaluation stage a column header names: test-time training / n-gram or
    mixture / "final" (3) after sliding-window (2) after a plain quantised roundtrip (1)."""
    h = _plain(header)
    if re.search(r"ttt|gram\b|backoff|mix|ppm|cache|final|submitted", h, re.I):
        return 3
    if re.search(r"sliding|stride", h, re.I):
        return 2
    if re.search(r"roundtrip|quant|int\d|standard|zlib|lzma|brotli", h, re.I):
        return 1
    return 0


def _table_score(text: str) -> tuple[_Found | None, float | None]:
    """A results table's score: the Mean row (post-quant / post-TTT column) first, then the
    row or column that names this submission in an ours-vs-baseline table, then the value
    column of a metric/value table."""
    tables = _tables(text)
    for t in tables:  # a bpb column: its Mean row
        cols = [
            j
            for j, h in enumerate(t.header)
            if re.search(r"bpb", h, re.I) and not re.search(r"pre|gain|delta|quant(?!.*ttt)|ema", h, re.I)
        ]
        cols = [j for j in cols if not _EXCLUDE.search(t.header[j])]
        if not cols:
            continue
        for row, pos in zip(t.rows, t.pos, strict=True):
            if not row or not re.match(r"^\**\s*mean", row[0], re.I):
                continue
            # the column the header bolds ("**Mix BPB**") is the README's pick; else the latest
            # evaluation stage (see _stage), the rightmost of equals: tables list stages left
            # to right
            bold = [j for j in cols if t.header[j].startswith("**")]
            rest = sorted((c for c in cols if c not in bold), key=lambda c: (_stage(t.header[c]), c))
            for j in bold + rest[::-1]:
                v = _bpb_in(row[j]) if j < len(row) else None
                if v is not None:
                    sm = re.search(r"(?:std|±)\s*=?\s*(\d\.\d+)", row[j])
                    num = re.search(_NUMBER, row[j])
                    assert num is not None
                    return _Found(v, num.group(1), "table mean row", pos), (
                        float(sm.group(1)) if sm else None
                    )
    for t in tables:  # a bpb column: the row that is ours (or the one row not a baseline)
        cols = [j for j, h in enumerate(t.header) if re.search(r"bpb", h, re.I) and not _EXCLUDE.search(h)]
        cols = [j for j in cols if not re.search(r"pre|gain|delta", t.header[j], re.I)]
        if not cols or len(t.rows) < 2:
            continue
        labelled = [(r, p) for r, p in zip(t.rows, t.pos, strict=True) if r and not _EXCLUDE.search(r[0])]
        ours = [(r, p) for r, p in labelled if _OURS.search(_plain(r[0]))]
        picks = ours or (labelled if len(labelled) == 1 else [])
        for row, pos in picks:
            for j in reversed(cols):
                v = _bpb_in(row[j]) if j < len(row) else None
                if v is not None:
                    return _Found(v, f"{v}", "table row (ours)", pos), None
    for t in tables:  # a metric/value or metric/baseline/ours table
        col = _value_column(t.header)
        if col is None:
            continue
        hits = []
        for row, pos in zip(t.rows, t.pos, strict=True):
            label = _plain(row[0]) if row else ""
            if not re.search(rf"{_LABEL}|\bbpb\b", label, re.I) or _EXCLUDE.search(label):
                continue
            cell = _aligned(label, row[col]) if col < len(row) else ""
            v = _bpb_in(cell)
            if v is not None:
                m = re.search(_NUMBER, cell)
                assert m is not None
                is_bold = row[col].strip().startswith("**") or (row[0].strip().startswith("**"))
                hits.append((is_bold, bool(_POST.search(label)), _Found(v, m.group(1), "metric table", pos)))
        if hits:
            # a bolded row is the README's own pick; else the last post-quant/final row (tables
            # list pre-quant, then each post-quant variant, the submitted one last)
            bolded = [f for b, _p, f in hits if b]
            post = [f for _b, p, f in hits if p]
            if bolded:
                return bolded[0], None
            return (post[-1] if post else hits[0][2]), None
    for t in tables:  # a per-seed table with no mean/average row: the first run's row
        # (the first seed is the run the README describes; later seeds reproduce it)
        if not t.header or not re.match(r"^seed", _plain(t.header[0]), re.I):
            continue
        if any(r and not re.fullmatch(r"\d+", _plain(r[0])) for r in t.rows):
            continue  # a mean/avg/std row (or anything else): not this simple shape
        cols = [
            j
            for j, h in enumerate(t.header)
            if re.search(r"bpb", h, re.I) and not re.search(r"pre|gain|delta|standard|ema", h, re.I)
        ]
        if len(t.rows) < 2 or len(cols) != 1:
            continue  # one column only: with a standard and a sliding column, which one?
        row, pos = t.rows[0], t.pos[0]
        num = re.search(_NUMBER, row[cols[0]]) if cols[0] < len(row) else None
        if num and bpb_ok(float(num.group(1))) and not _EXCLUDE.search(" ".join(t.header)):
            return _Found(float(num.group(1)), num.group(1), "per-seed table (first run)", pos), None
    return None, None


# ------------------------------------------------------------------ titles and summaries

_GENERIC_HEAD = re.compile(
    r"^(?:summary|overview|intro(?:duction)?|abstract|tl;?dr|results?|key (?:ideas?|innovations?|"
    r"metrics|changes|results|points|techniques?)|details|description|approach|method(?:ology)?|"
    r"notes?|changes?|configuration|command|run command|requirements|reproduc\w*|architecture|"
    r"credits|lineage|included files|what'?s new|background|motivation|techniques?(?: stack)?|"
    r"how it works|main (?:idea|changes?))\b\s*(?:[:—–-]+\s*(.*))?$",
    re.I,
)


_TITLE_MAX = 300


def _clean_title(t: str) -> str:
    # one line, blanks collapsed and capped: the suffix strippers below start at every blank,
    # so a title of 60 000 blanks or dashes was quadratic (hostile input: a PR's README)
    t = " ".join(t.lstrip("#").split())[:_TITLE_MAX].strip("*").strip()
    t = re.sub(r"^record\s*[:—–-]\s*", "", t, flags=re.I)
    t = re.sub(rf"^~?\d\.\d+\s*(?:{_LABEL}|bpb)\b\s*[:—–\-|]*\s*", "", t, flags=re.I)
    t = re.sub(r"\s*[—–-]+\s*val.?bpb.*$", "", t, flags=re.I)
    t = re.sub(r"\s*\(\s*val.?bpb[^)]*\)\s*$", "", t, flags=re.I)
    t = re.sub(r"\s*[\(\[]\s*PR\s*#\d+\s*[\)\]]\s*$", "", t, flags=re.I)
    t = re.sub(r"\s+by\s+(?:@[\w-]+|\[[^\]]+\]\([^)]*\))\s*$", "", t, flags=re.I)
    return t.strip(" -—–:")


def _headings(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(1).strip()) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M)]


def _title(text: str) -> str:
    """The record's own title: the first heading unless it is a generic section name, else
    the ``This record captures the `X` …`` phrase of the early records."""
    heads = _headings(text)
    if heads and not _GENERIC_HEAD.match(_plain(heads[0][1])):
        return _clean_title(heads[0][1])
    m = re.search(r"captures the `([^`]+)`", text)
    return m.group(1) if m else ""


def _section(text: str, start: int) -> str:
    end = re.compile(r"^#{1,6}\s", re.M).search(text, start + 1)
    return text[start : end.start() if end else len(text)]


def _techniques(text: str, title: str) -> str:
    """A technique summary: a title that lists techniques as it is; otherwise the subject of
    a "Key idea: X" heading and the bold lead-ins of a summary section's list."""
    if title and re.search(r"\+|,|&|\band\b", title):
        return title
    parts: list[str] = []
    for pos, head in _headings(text):
        m = _GENERIC_HEAD.match(_plain(head))
        if not m:
            continue
        if m.group(1):
            parts.append(m.group(1).strip())
        elif re.match(r"summary|overview|tl;?dr|key|what'?s new|approach|main|changes", _plain(head), re.I):
            body = _section(text, pos)
            parts += re.findall(r"^\s*(?:[-*+]|\d+[.)])\s+\*\*([^*\n]{3,80})\*\*", body, re.M)
        if len(parts) >= 6:
            break
    parts = list(dict.fromkeys(p.strip(" :.") for p in parts if p.strip(" :.")))[:6]
    if title and parts:
        return f"{title}: {' + '.join(parts)}"[:600]
    if title or parts:
        return (title or " + ".join(parts))[:600]
    for para in re.split(r"\n\s*\n", text):
        p = para.strip()
        if p and not p.startswith(("#", "|", "`", "-", "*", ">", "!")):
            return re.split(r"(?<=[.!?])\s", p, maxsplit=1)[0][:300]
    return ""


# ------------------------------------------------------------------ author, PR, date

_HANDLE = r"@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))"


def _labelled_field(text: str, labels: str) -> str:
    # one character class per run (no two adjacent quantifiers that match the same characters):
    # a hostile line of stars or blanks must not backtrack quadratically
    pats = [
        rf"^[ \t>*_-]*(?:{labels})[ \t*]*[:：]([^\n]*)",
        rf"^\|[ \t*]*(?:{labels})[ \t*]*\|([^|\n]*)\|",
    ]
    for pat in pats:
        for m in re.finditer(pat, text, re.I | re.M):
            value = m.group(1).strip().strip("*").strip()
            if value:
                return value
    return ""


def _person(value: str) -> tuple[str, str]:
    """(display name, GitHub handle) from "Jane (@jd)", "@jd", "[Jane](https://github.com/jd)"."""
    handle = ""
    m = re.search(r"github\.com/([A-Za-z0-9-]+)(?:[/)\s]|$)", value) or re.search(_HANDLE, value)
    if m:
        handle = m.group(1)
    name = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", value)
    name = re.sub(rf"\(\s*{_HANDLE}\s*\)", "", name)
    name = re.sub(r"\s+", " ", name).strip(" ,;-—*").lstrip("@")
    return name or handle, handle


def _people(text: str, title_line: str, scan: ReadmeScan) -> None:
    value = _labelled_field(text, r"authors?|submitted by|submitter|contributors?")
    if not value:
        m = re.search(
            rf"\bby\s+({_HANDLE}|\[[^\]]+\]\(https?://github\.com/[A-Za-z0-9-]+/?\))", title_line, re.I
        )
        value = m.group(1) if m else ""
    if value:
        scan.author, scan.github_id = _person(value)
    gh = _labelled_field(text, r"github(?: id| handle| user(?:name)?)?")
    if gh and not scan.github_id:
        scan.github_id = _person(gh)[1] or gh.lstrip("@").split()[0]
    pr = _labelled_field(text, r"pr|pull request|submission pr|pr number|pr link")
    m = re.search(r"/pull/(\d+)|#?(\d+)", pr) if pr else None
    if m:
        scan.pr = int(m.group(1) or m.group(2))
    else:
        m = re.search(r"(?:[\(\[]\s*PR\s*#(\d+)\s*[\)\]]\s*$|^#*\s*PR\s*#(\d+)\s*[:—–-])", title_line, re.I)
        if m:
            scan.pr = int(m.group(1) or m.group(2))
    m = re.search(r"(\d{4}-\d{2}-\d{2})", _labelled_field(text, r"date|submitted|submission date"))
    scan.date = m.group(1) if m else ""


# ------------------------------------------------------------------ the scan


def _blank_code(text: str) -> str:
    """``text`` with fenced code blocks blanked (same length: offsets stay valid). A ``#`` line
    in a code block is a comment, not a heading."""
    return re.sub(r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.M | re.S)


def _submitted_seed(text: str) -> _Found | None:
    """ "Submitted: seed 1337" → that seed's row of the per-seed results table."""
    m = re.search(
        r"submitted\W{0,6}(?:(?:with|artifact|run|model)\s+)?(?:(?:is|corresponds\s+to|comes\s+from|from)\s+)?"
        r"(?:the\s+)?seed\s*(?:[=:]\s*)?(?:\*+\s*)?(\d+)",
        text,
        re.I,
    )
    if not m:
        return None
    for t in _tables(text):
        if not t.header or not re.match(r"^\**\s*seed", _plain(t.header[0]), re.I):
            continue
        cols = [
            j
            for j, h in enumerate(t.header)
            if re.search(r"bpb", h, re.I) and not re.search(r"pre|gain|delta|standard", h, re.I)
        ]
        if not cols:  # "| Seed | BF16 | Post-quant+TTT |": the latest evaluation stage's column
            staged = [j for j in range(1, len(t.header)) if _stage(t.header[j]) > 0]
            staged = [
                j
                for j in staged
                if not re.search(r"pre|gain|delta|bf16|fp32|time|size|bytes", t.header[j], re.I)
            ]
            cols = sorted(staged, key=lambda j: (_stage(t.header[j]), j))
        for row, pos in zip(t.rows, t.pos, strict=True):
            if row and _plain(row[0]) == m.group(1):
                for j in reversed(cols):
                    v = _bpb_in(row[j]) if j < len(row) else None
                    num = re.search(_NUMBER, row[j]) if j < len(row) else None
                    if v is not None and num:
                        return _Found(v, num.group(1), "submitted seed", pos)
    return None


_QUALIFIER_REACH = 200


def _qualifier(text: str, f: _Found) -> str:
    """The words that qualify a figure on its line: from the previous ``|`` (or the line
    start) to the next ``|`` (or 50 characters after it)."""
    # at most _QUALIFIER_REACH back: a hostile one-line README of 30 000 figures made every
    # figure's stage a search of the whole line before it (quadratic: minutes for 600 KB)
    lo = _line_start(text, f.pos, _QUALIFIER_REACH)
    start = max(lo, text.rfind("|", lo, f.pos) + 1)
    end = f.pos + len(f.text)
    stop = [i for i in (text.find("\n", end, end + 50), text.find("|", end, end + 50)) if i >= 0]
    return text[start : min([*stop, end + 50])]


def _latest_stage(text: str, found: list[_Found], least: int = 1) -> list[_Found]:
    """Of figures that disagree, the one qualified as the latest evaluation stage ("1.2196
    (sliding window eval …)" over "1.2533 (standard int8+zlib roundtrip)"), when exactly one
    is, and that stage is at least ``least``; otherwise all of them (the caller abstains)."""
    stages = [(_stage(_qualifier(text, f)), f) for f in found]
    top = max(st for st, _ in stages)
    best = [f for st, f in stages if st == top]
    return best if top >= max(least, 1) and _agree_all(best) else found


# a metric line a training script prints: "final_int6_roundtrip_exact val_bpb:1.36",
# "legal_ttt_exact val_bpb = 0.37", "final_int8_ttt_lora val_bpb: 1.38"
_PRINTED = re.compile(rf"\b((?:final|legal)_\w+)\b[^`\n]{{0,200}}?val_bpb\s*[:=]\s*{_NUMBER}")


def _latest_printed(text: str) -> list[_Found]:
    """The printed metric the README says is scored ("Scored metric: `final_…`"), else the one
    of the latest evaluation stage it quotes (a log prints the roundtrip, then the sliding
    window, then test-time training): ``[found]``, or ``[]`` when no named metric line is
    quoted. Each name's stage: :func:`_stage` without its ``final_``."""
    best: tuple[int, int, int] | None = None
    out: list[_Found] = []
    for m in _PRINTED.finditer(text):
        name = m.group(1).lower()
        v = float(m.group(2))
        if not bpb_ok(v) or re.search(r"pre|ema|raw|diag", name) or _excluded(text, m.start(1)):
            continue
        stage = _stage(name.removeprefix("final_").removeprefix("legal_"))
        if name.startswith("legal_"):
            stage = max(stage, 3)
        # a line that names its metric the scored one ("Scored metric: `final_…`") decides
        said = text[_line_start(text, m.start(1), 200) : m.start(1)]
        scored = int(
            bool(re.search(r"\bscored\b|\bsubmi|\bofficial\b", said, re.I))
            and not re.search(r"\bnot\b|n't\b|\bunofficial\b|\bunscored\b", said, re.I)
        )
        rank = (scored, stage, -m.start())
        if best is None or rank > best:
            best = rank
            out = [_Found(v, m.group(2), "exact printed metric", m.start(2))]
    return out


_LEAD_LINES = 12


def _lead_end(text: str) -> int:
    """Offset of the end of the README's lead: its first :data:`_LEAD_LINES` non-blank lines,
    cut at the first table or second heading."""
    seen = 0
    heads = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("#"):
            heads += 1
            if heads > 1 and seen:
                return pos
        if stripped.startswith("|"):
            return pos
        if stripped:
            seen += 1
            if seen > _LEAD_LINES:
                return pos
        pos += len(line)
    return pos


def _agree_all(found: list[_Found]) -> bool:
    """Do these figures agree (each rounds to the least precise one)?"""
    d = min(_decimals(f.text) for f in found)
    return len({round(f.value, d) for f in found}) == 1


def scan_readme(text: str) -> ReadmeScan:
    """Everything the README says about its own score (see the module docstring)."""
    scan = ReadmeScan(title=_title(text))
    prose = _blank_code(text)
    qual = r"(?:\s*\([^)\n]{1,40}\))?"  # "val_bpb (sliding, stride=64)"
    bold = rf"\*\*\s*(?:mean\s+)?{_LABEL}{qual}\s*(?:\*\*\s*)?[:=]\s*(?:\*\*\s*)?{_NUMBER}"
    bold_rev = rf"\*\*\s*~?{_NUMBER}(?:\s*±\s*\d\.\d+)?\s*(?:{_LABEL}|bpb)\s*\*\*"
    # a bold span that labels its own figure, with words between ("**Mean TTT LoRA val_bpb:
    # 1.1925**", "**Score: 0.99145 BPB**"), or a bold label followed by the figure
    # ("**Best verified result:** 1.1257 BPB", "**FineWeb BPB:** 0.8335")
    lab = rf"(?:{_LABEL}|\bbpb\b|\bscore\b)"
    bold_label = (
        rf"\*\*[^*\n]{{0,60}}?{lab}[^*\n\d]{{0,30}}?[:=]\s*`?~?{_NUMBER}`?\s*(?:(?:{_LABEL}|bpb)\s*)?\*\*"
    )
    bold_lead = (
        rf"\*\*[^*\n]{{0,60}}?(?:{lab}|\bresult\b)[^*\n\d]{{0,40}}?:?\s*\*\*\s*(?::\s*)?(?:\*\*)?`?~?{_NUMBER}"
        rf"(?=(?:\*\*)?`?\s*(?:{_LABEL}|bpb)\b|(?:\*\*)?`?\s*(?:\(|\||$))"
    )
    # the bold run is looked through once for "final", then taken whole (possessive): a run of
    # "final" words made every one of them a new split of the run (quadratic)
    final = rf"\*\*(?=[^*\n]*?\bfinal\b)[^*\n]*+\*\*\s*+(?::\s*)?{_NUMBER}\s*(?:{_LABEL}|bpb)\b"
    heading = rf"^#{{1,6}}[ \t][^\n]*?{_LABEL}\s*(?:[:=]\s*)?(?:\*+\s*)?{_NUMBER}"
    heading_rev = rf"^#{{1,6}}[ \t][^\n]*?~?{_NUMBER}\s*(?:\*\*\s*)?(?:{_LABEL}|bpb)\b"
    exact = rf"\bfinal_\w*exact\b[^`\n]{{0,200}}?val_bpb\s*[:=]\s*{_NUMBER}"
    mean1 = rf"mean\s+{_LABEL}{qual}\s*(?:[:=]\s*)?(?:\*\*\s*)?{_NUMBER}"
    mean2 = rf"(?<!\d)\d+-seed mean[^\n]{{0,40}}?{_NUMBER}\s*(?:\*\*\s*)?bpb"
    # "val_bpb: 1.15", "`val_bpb`: `1.15`", "val_bpb (exact): **1.15**", "val_bpb ≈ 1.15"
    labelled = rf"{_LABEL}`?{qual}\s*(?:\*\*\s*)?[:=≈]\s*(?:`\s*)?(?:\*\*\s*)?{_NUMBER}"
    row = rf"^\|[^|\n]*{_LABEL}[^|\n]*\|\s*`?(?:\*\*\s*)?{_NUMBER}"
    scan.bpb = _submitted_seed(text)
    if scan.bpb is None:
        headline = sorted(
            {
                f.pos: f
                for pat in (bold, bold_rev, bold_label, bold_lead)
                for f in _candidates(prose, pat, "bold headline", re.I | re.M)
            }.values(),
            key=lambda f: f.pos,
        )
        # the lead (the title's first lines) states the result; a bold figure deep in the
        # body ("early chunks achieve **1.109 BPB**") is narrative. Bold figures in the lead
        # first, then a labelled status line of the lead ("val_bpb: 1.1261 | ~15.99 MB"),
        # then bold figures anywhere.
        lead_end = _lead_end(prose)
        in_lead = [f for f in headline if f.pos < lead_end]
        if not in_lead:
            status = rf"^[ \t>*_-]*{_LABEL}\s*[:=]\s*`?(?:\*\*)?{_NUMBER}(?:\*\*)?`?\s*(?:\(|\||$)"
            in_lead = [f for f in _candidates(prose[:lead_end], status, "lead status line", re.I | re.M)]
        if in_lead:
            headline = in_lead
        if headline and headline[0].how == "lead status line" and not _agree_all(headline):
            headline = _latest_stage(prose, headline)
        if headline and not _agree_all(headline):
            # several bold figures that disagree, none said to be the result: unsure → nothing
            scan.notes.append(
                "abstained: bold figures disagree (" + ", ".join(f.text for f in headline[:4]) + ")"
            )
            _sizes(text, scan)
            return scan
        if headline:
            scan.bpb = headline[0]
    order = [
        (final, "final statement", re.I, prose),
        (heading, "heading", re.I | re.M, prose),
        (heading_rev, "heading", re.I | re.M, prose),
        (exact, "exact printed metric", re.I, text),
        (mean1, "mean statement", re.I, text),
        (mean2, "mean statement", re.I, text),
    ]
    for pattern, how, flags, where in order:
        if scan.bpb is not None:
            break
        found = list(_candidates(where, pattern, how, flags))
        if how == "exact printed metric":
            found = _latest_printed(text) or found
        if found:
            scan.bpb = found[0]
            break
    if scan.bpb is None:
        scan.bpb, scan.std = _table_score(text)
    if scan.bpb is None:  # "val_bpb: 1.15" anywhere, or a bare "| val_bpb | 1.15 |" row
        found = list(_candidates(text, labelled, "labelled value"))
        rows = _rows_by_offset(_tables(text))
        found += [
            f for f in _candidates(text, row, "table row", re.I | re.M) if _column_is_ours(text, f.pos, rows)
        ]
        # "bpb=1.195", "1.3595 BPB" in prose — not a threshold ("submitting at bpb=1.195", "< 1.2")
        for f in [
            *_candidates(prose, rf"(?<![\w.])bpb\s*[:=]\s*`?{_NUMBER}", "labelled value"),
            *_candidates(prose, rf"(?<![\w.]){_NUMBER}\s*BPB\b", "labelled value", 0),
        ]:
            before = text[max(0, f.pos - 25) : f.pos].lower()
            ranged = re.search(r"\d\s*[-–]\s*$", before) or re.match(
                r"\s*[-–]\s*\d", text[f.pos + len(f.text) :]
            )
            if not ranged and not re.search(
                r"\bat\b|<|>|≤|threshold|p-value|target|under|below|above", before
            ):
                found.append(f)
        found.sort(key=lambda f: f.pos)
        post = [f for f in found if _POST.search(text[_line_start(text, f.pos, 200) : f.pos])]
        picks = post or found
        if len(picks) > 1 and not _agree_all(picks):
            # labelled figures that disagree: the one qualified as the latest evaluation stage
            # ("roundtrip exact … 1.1463", "sliding window exact … 1.1230")
            # (a bare "int8"/"roundtrip" is not enough here: loose lines name schemes, not stages)
            staged = _latest_stage(text, picks, least=2)
            if _agree_all(staged):
                picks = staged
            else:  # several figures, none said to be the result: unsure → nothing
                shown = ", ".join(f.text for f in picks[:4])
                scan.notes.append(f"abstained: labelled figures disagree ({shown})")
                picks = []
        scan.bpb = picks[0] if picks else None
    if scan.bpb is not None and _mean_and_best(text, scan.bpb):
        scan.notes.append(f"abstained: a mean ({scan.bpb.text}) and a best seed stated side by side")
        scan.bpb = None
    if scan.bpb is not None:
        _around_headline(text, scan)
        _refine(text, scan)
    _sizes(text, scan)
    if scan.loss is None:
        m = re.search(r"\bfinal_\w*exact\b[^`\n]{0,200}?val_loss\s*[:=]\s*(\d\.\d+)", text)
        if m is None:
            m = re.search(r"(?:post|final|roundtrip)[^\n]{0,40}?val_loss\s*[:=]\s*(\d\.\d+)", text, re.I)
        if m and not _excluded(text, m.start(1)):
            scan.loss = float(m.group(1))
    heads = _headings(text)
    _people(text, heads[0][1] if heads else "", scan)
    scan.techniques = _techniques(text, scan.title)
    return scan


_BEST = re.compile(r"\bbest(?:\s+seed)?\b\W{0,4}(?:\(?seed\s*\d+\)?\s*)?[:=]?\W{0,4}(\d\.\d{3,})", re.I)


def _mean_and_best(text: str, found: _Found) -> bool:
    """Does the headline's line state a mean and, beside it, a different best seed's figure
    ("**Mean val_bpb: 1.1480** (3 seeds) | **Best: 1.1453** (seed 1337)")? Which of the two the
    submission reports is then a guess: submissions do both."""
    start = text.rfind("\n", 0, found.pos) + 1
    end = text.find("\n", found.pos)
    line = text[start : end if end >= 0 else len(text)]
    if not re.search(r"\bmean\b|\baverage\b|\bavg\b", line, re.I):
        return False
    d = _decimals(found.text)
    return any(
        round(float(m.group(1)), d) != round(found.value, d)
        # "previous best: 1.1228", "the SOTA's best seed": someone else's figure
        and not _EXCLUDE.search(line[max(0, m.start() - 30) : m.start()])
        for m in _BEST.finditer(line)
    )


def _refine(text: str, scan: ReadmeScan) -> None:
    assert scan.bpb is not None
    d = _decimals(scan.bpb.text)
    best = scan.bpb
    # possessive blanks: a label followed by blanks was split three ways (cubic: 4 KB took minutes)
    pat = rf"(?:{_LABEL}\s*+[:=]?\s*+`?(?:\*\*)?\s*+(\d\.\d+))|(?:(\d\.\d+)\s*+(?:\*\*)?\s*+bpb)"
    for m in re.finditer(pat, text, re.I):
        g = m.group(1) or m.group(2)
        start = m.start(1) if m.group(1) else m.start(2)
        if _decimals(g) <= _decimals(best.text) or _excluded(text, start):
            continue
        if round(float(g), d) == round(scan.bpb.value, d):
            best = _Found(float(g), g, scan.bpb.how + " (refined)", start)
    scan.bpb = best


def _around_headline(text: str, scan: ReadmeScan) -> None:
    """std, seed count and val_loss stated on the headline's line (or the first lines)."""
    assert scan.bpb is not None
    start = text.rfind("\n", 0, scan.bpb.pos) + 1
    end = text.find("\n", scan.bpb.pos)
    line = text[start : end if end >= 0 else len(text)]
    top = line + "\n" + "\n".join(text.splitlines()[:8])
    if scan.std is None:
        m = re.search(r"(?:\bstd\b\s*+[:=]?\s*+|±\s*+)(\d\.\d+)", line, re.I)
        scan.std = float(m.group(1)) if m else None
    m = re.search(r"(\d+)[- ]seed", top, re.I)
    if m:
        scan.seeds = int(m.group(1))
    m = re.search(r"val.?loss\s*[:=]\s*(\d\.\d+)\s*nats|\*\*(\d\.\d+)\s*nats", line, re.I)
    if m:
        scan.loss = float(m.group(1) or m.group(2))


# ------------------------------------------------------------------ artifact bytes

_BYTES_COL = re.compile(r"artifact|total|submission|bytes|size", re.I)
_NOT_TOTAL = re.compile(r"code|model|headroom|margin|delta|gain|saved|time|\bms\b|tokens|vocab", re.I)


def _bytes_in(cell: str) -> tuple[int | None, int]:
    """(bytes, ± precision) of "15,977,386", "15977386 bytes", "~15.95 MB", "15.5 MB"."""
    c = _plain(cell)
    m = re.search(r"~?\s*(\d+(?:\.\d+)?)\s*(MB|KB|kB)\b", c)
    if m:
        scale = 1_000_000 if m.group(2) == "MB" else 1_000
        d = _decimals(m.group(1))
        return round(float(m.group(1)) * scale), int(0.5 * scale / 10**d)
    m = re.search(r"(\d{1,3}(?:,\d{3})+|\d{5,})", c)
    return (to_int(m.group(1)), 0) if m else (None, 0)


def _sizes(text: str, scan: ReadmeScan) -> None:
    """Artifact bytes, most exact first: a stated total in bytes; the largest artifact of a
    per-seed results table (every seed's artifact must fit the cap, and that is what
    ``bytes_total`` means in a multi-seed submission.json); this submission's column of a
    comparison table; the headline's "~15.95 MB" (± half its last digit)."""
    found: tuple[int, int, str] | None = None
    for pat in (
        r"total submission size[^\n]{0,200}?([\d,]{7,})\s*bytes",
        r"(?:artifact|submission)(?:\s+size)?(?:\s*\([^)\n]{0,80}\))?\s*[:=]\s*`?~?\s*([\d,]{7,})(?!\.\d)",
        r"\bbytes_total\s*[:=]\s*`?([\d,]{7,})",
    ):
        for m in re.finditer(pat, text, re.I):
            if not _excluded(text, m.start(1)):
                found = (to_int(m.group(1)) or 0, 0, "stated total")
                break
        if found:
            break
    tables = _tables(text)
    code: list[int] = []
    if found is None:
        for t in tables:
            if not t.header or not re.match(r"^\**\s*seed", t.header[0], re.I):
                continue
            cols = [j for j, h in enumerate(t.header) if _BYTES_COL.search(h) and not _NOT_TOTAL.search(h)]
            cols.sort(key=lambda j: 0 if re.search(r"artifact", t.header[j], re.I) else 1)
            code_cols = [j for j, h in enumerate(t.header) if re.search(r"code", h, re.I)]
            seed_rows = [r for r in t.rows if r and re.fullmatch(r"\d+", _plain(r[0]))]
            for j in code_cols:
                code += [b for r in seed_rows if j < len(r) for b in [_bytes_in(r[j])[0]] if b]
            for j in cols:
                sizes = [
                    b for r in seed_rows if j < len(r) for b in [_bytes_in(r[j])[0]] if b and b > 100_000
                ]
                if sizes:
                    found = (max(sizes), 0, "per-seed table (largest)")
                    break
            if found:
                break
    if found is None:
        for t in tables:
            col = _value_column(t.header)
            if col is None:
                continue
            for row in t.rows:
                label = _plain(row[0]) if row else ""
                if not re.search(r"artifact|total|submission size|^size", label, re.I):
                    continue
                if _NOT_TOTAL.search(label) or _EXCLUDE.search(label) or col >= len(row):
                    continue
                b, prec = _bytes_in(row[col])
                if b and b > 100_000:
                    found = (b, prec, "comparison table")
                    break
            if found:
                break
    if found is None:
        lines = []
        if scan.bpb is not None:
            s = text.rfind("\n", 0, scan.bpb.pos) + 1
            e = text.find("\n", scan.bpb.pos)
            lines.append(text[s : e if e >= 0 else len(text)])
        lines += [ln for ln in text.splitlines() if re.search(r"artifact|submission size", ln, re.I)]
        # blanks only after a "~": a bare \s* here rescans a line of blanks from every position
        mb = r"(?<![\w.])(?:~\s*)?(\d{1,2}(?:\.\d{1,3})?)\s*MB\b"
        for ln in lines:
            for m in re.finditer(mb, ln):
                before = ln[max(0, m.start() - 25) : m.start()].lower()
                after = ln[m.end() : m.end() + 15].lower()
                if re.search(r"under|cap|limit|<|≤|over|saves?|headroom|margin", before + " " + after):
                    continue
                if _EXCLUDE.search(before):
                    continue
                b, prec = _bytes_in(m.group(0))
                if b:
                    found = (b, prec, "MB figure")
                    break
            if found:
                break
    if found:
        scan.bytes_total, scan.bytes_precision, scan.bytes_how = found
    cm = re.search(r"code(?: size)?\s*[:|]\s*`?\**\s*([\d,]{4,})(?:\s*bytes)?", text, re.I)
    if cm:
        scan.bytes_code = to_int(cm.group(1))
    elif code:
        scan.bytes_code = max(code)


def score_from_readme(text: str, *, source_file: str = "") -> CompetitorScore | None:
    scan = scan_readme(text)
    if scan.bpb is None:
        return None
    folder = Path(source_file).parent if source_file else None
    kind, upstream = track_from(str(folder or ""))
    extra: dict[str, Any] = {"parsed_as": scan.bpb.how, "score_text": scan.bpb.text}
    if upstream:
        extra["upstream_track"] = upstream
    if scan.bytes_total is not None:
        extra["bytes_from"] = scan.bytes_how
        if scan.bytes_precision:
            extra["bytes_total_precision"] = scan.bytes_precision
    name = scan.title or (folder.name if folder else "") or scan.techniques
    return CompetitorScore(
        source=PG,
        name=name,
        key=record_key(folder) if folder else f"{PG}:{name}",
        val_bpb=scan.bpb.value,
        val_loss=scan.loss,
        seeds=scan.seeds,
        std=scan.std,
        bytes_total=scan.bytes_total,
        bytes_code=scan.bytes_code,
        author=scan.author,
        github_id=scan.github_id,
        pr=scan.pr,
        date=(date_from_name(folder.name) if folder else "") or scan.date,
        track=kind,
        techniques=scan.techniques,
        source_file=source_file,
        provenance=PROV_README,
        extra=extra,
    )
