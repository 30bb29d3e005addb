"""Competitor intelligence: parameter-golf records and the modded-nanogpt record table.

**Parameter-golf records** (a ``records/**/<date>_<name>/`` folder, or the files of a PR):

* ``submission.json`` first. Its fields vary between records, so each value is looked up under
  every spelling seen upstream (``val_bpb``/``mean_val_bpb``/``mean_bpb``…, ``val_loss``/
  ``mean_val_loss_nats``…, ``val_bpb_std``/``std_bpb``…, ``bytes_total``/``artifact_bytes``…,
  ``bytes_code``/``code_bytes``), seeds are counted from ``seeds`` (a list, a dict or a number)
  or ``seed_results``, and a missing top-level score falls back to the mean of the per-seed
  scores. Other file names (``submission_*.json``, ``results.json``) are accepted in a folder.
* ``README.md`` as fallback (or to fill gaps). Scores are written in many shapes; the parser
  tries, in order: a bold headline (``**val_bpb: 1.1063**``, ``**val bpb = …**``,
  ``**val\\_bpb**: …``), a heading that states the score (``# Record: … — val_bpb 1.08563``,
  ``# Record: 1.1712 bpb``, ``# 1.1712 BPB: …``), the exact printed metric
  (```final_int8_zlib_roundtrip_exact val_bpb:1.22436570```), a "mean val_bpb" statement,
  then tables: the ``Mean`` row of a results table (the post-quant/post-TTT column, never a
  "pre-" column), the row or column naming this submission in an ours-vs-baseline table, the
  value column of a metric/value table; then any other labelled value or ``| val_bpb | … |``
  row. A value whose sentence (or table column) says it is a baseline, a previous/compared/
  merged/SOTA/PR-to-beat or a pre-quant/pre-TTT figure is never taken as the score ("previous
  SOTA val_bpb=1.0900. Our val_bpb=1.1000" → 1.1000). A headline value is then refined by a
  more precise figure that rounds to it (``**1.10625353 BPB**`` for ``1.1063``).
  Artifact bytes, most exact first: a stated total in bytes, the largest artifact of a
  per-seed table, this submission's column of a comparison table, the headline's
  ``~15.95 MB`` (``extra.bytes_total_precision`` = ± half its last digit). Author/GitHub
  handle, PR number and date come from labelled lines or table rows (``**Author:** Jane
  (@jd)``, ``PR: …/pull/123``, ``| PR | #55 |``) or the title (``… (PR #123)``, ``… by @jd``);
  the technique summary is a title that lists techniques, else the subject of a "Key idea: X"
  heading and the bold lead-ins of a summary's list (generic headings are never a title).
* ``bytes_total`` means the largest seed's artifact where seeds' sizes are given (upstream
  files write the mean or the max; a different stated figure stays in
  ``extra.bytes_total_stated``).

**modded-nanogpt** — the record table of its README: rows with or without a leading ``|``,
record time in seconds, minutes or hours (→ ``record_minutes``), ``MM/DD/YY`` dates (→ ISO),
markdown links (description link, ``[PR](…/pull/N)`` → ``pr``), contributor handles.

**Store** — ``competitors.jsonl`` in the research state folder (:class:`bot.state.CompetitorScore`,
latest line per ``key`` wins); :func:`leaderboard` orders best first.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.state import CompetitorScore, ResearchState, append_jsonl, to_dict

PG = "parameter-golf"
MNG = "modded-nanogpt"
BPB_RANGE = (0.3, 5.0)

# --------------------------------------------------------------------------- helpers


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.search(r"-?\d+(?:[.,]\d+)?", value.replace(",", ""))
        return float(m.group(0)) if m else None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, str):
        value = value.replace(",", "").replace("_", "")
    n = _num(value)
    return int(n) if n is not None else None


def _bpb_ok(v: float | None) -> bool:
    return v is not None and BPB_RANGE[0] < v < BPB_RANGE[1]


def _first(data: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in data and data[k] not in (None, ""):
            return data[k]
    return None


def _track_from(*hints: str) -> tuple[str, str]:
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


def _record_key(path: Path) -> str:
    parts = path.parts
    if "records" in parts:
        i = len(parts) - 1 - list(reversed(parts)).index("records")
        return f"{PG}:" + "/".join(parts[i:])
    return f"{PG}:{path.name}"


def _date_from_name(name: str) -> str:
    m = re.match(r"(\d{4}-\d{2}-\d{2})", name)
    return m.group(1) if m else ""


# --------------------------------------------------------------------------- submission.json

_BPB_KEYS = ("val_bpb", "mean_val_bpb", "val_bpb_mean", "mean_bpb", "bpb", "score", "final_val_bpb")
_LOSS_KEYS = (
    "val_loss",
    "mean_val_loss",
    "val_loss_mean",
    "mean_val_loss_nats",
    "val_loss_nats",
    "mean_loss",
)
_STD_KEYS = ("val_bpb_std", "std_bpb", "bpb_std", "std_val_bpb", "std")
_BYTES_KEYS = ("bytes_total", "artifact_bytes", "total_bytes", "artifact_bytes_max", "submission_bytes")
_CODE_KEYS = ("bytes_code", "code_bytes")


def _seed_runs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for key in ("seed_results", "seeds", "per_seed", "runs"):
        v = data.get(key)
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            return {str(k): x for k, x in v.items()}
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            return {str(x.get("seed", n)): x for n, x in enumerate(v)}
    return {}


def _seed_bpbs(runs: dict[str, dict[str, Any]]) -> list[float]:
    out = []
    for r in runs.values():
        v = _num(r.get("val_bpb"))
        if v is not None and _bpb_ok(v):
            out.append(v)
    return out


def score_from_submission(data: Any, *, source_file: str = "") -> CompetitorScore | None:
    """A score from a parsed submission.json, or None when it holds no val_bpb at all."""
    if not isinstance(data, dict):
        raise InputError("submission.json must be a JSON object", path=source_file or None)
    runs = _seed_runs(data)
    bpb = _num(_first(data, *_BPB_KEYS))
    if not _bpb_ok(bpb):
        vals = _seed_bpbs(runs)
        bpb = round(statistics.fmean(vals), 8) if vals else None
    if not _bpb_ok(bpb):
        return None
    loss = _num(_first(data, *_LOSS_KEYS))
    std = _num(_first(data, *_STD_KEYS))
    seeds_v = data.get("seeds")
    if isinstance(seeds_v, (list, dict)) and seeds_v:
        seeds: int | None = len(seeds_v)
    elif isinstance(seeds_v, int) and not isinstance(seeds_v, bool):
        seeds = seeds_v
    else:
        seeds = _int(data.get("num_seeds")) or (len(runs) or None)
    if std is None and len(runs) >= 2:
        vals = _seed_bpbs(runs)
        std = round(statistics.stdev(vals), 8) if len(vals) >= 2 else None
    # bytes_total: the largest seed's artifact when the seeds' sizes are given (each must fit
    # the cap; upstream records write either the mean or the max as bytes_total), else the
    # stated total. A differing stated figure is kept in extra["bytes_total_stated"].
    stated = _int(_first(data, *_BYTES_KEYS))
    sizes = [_int(_first(r, "artifact_bytes", "bytes_total")) for r in runs.values()]
    known = [s for s in sizes if s]
    bytes_total = _int(data.get("artifact_bytes_max")) or (max(known) if known else stated)
    path = Path(source_file) if source_file else None
    folder = path.parent if path else None
    kind, upstream = _track_from(str(data.get("track") or ""), str(folder or ""))
    pr = _int(_first(data, "pr", "pr_number", "pull_request"))
    known_keys = set(_BPB_KEYS + _LOSS_KEYS + _STD_KEYS + _BYTES_KEYS + _CODE_KEYS) | {
        "author",
        "github_id",
        "name",
        "date",
        "track",
        "seeds",
        "seed_results",
        "blurb",
        "technique_summary",
    }
    extra = {k: v for k, v in data.items() if k not in known_keys and isinstance(v, (str, int, float, bool))}
    if upstream:
        extra["upstream_track"] = upstream
    if stated is not None and stated != bytes_total:
        extra["bytes_total_stated"] = stated
    return CompetitorScore(
        source=PG,
        name=str(data.get("name") or (folder.name if folder else "")),
        key=_record_key(folder) if folder else f"{PG}:{data.get('name', '')}",
        val_bpb=bpb,
        val_loss=loss,
        seeds=seeds,
        std=std,
        bytes_total=bytes_total,
        bytes_code=_int(_first(data, *_CODE_KEYS)),
        author=str(data.get("author") or ""),
        github_id=str(data.get("github_id") or ""),
        pr=pr,
        date=str(data.get("date") or (_date_from_name(folder.name) if folder else ""))[:10],
        track=kind,
        techniques=str(_first(data, "technique_summary", "blurb", "name") or "")[:600],
        source_file=source_file,
        extra=extra,
    )


# --------------------------------------------------------------------------- README.md

_LABEL = r"(?:val(?:\\?_|[ \-])?bpb)"
_NUMBER = r"(\d\.\d{2,10})"
_EXCLUDE = re.compile(
    r"baseline|previous|prior\b|\bvs\.?\b|versus|\bbeats?\b|improv\w*\s+over|compared|comparison|"
    r"\bsota\b|merged|\bbase\b|pre[- ]?(?:quant|ttt|ema)|\bdelta\b|from pr|reference|\bwas\b|"
    r"\bold\b|to beat|leader|over pr|\bpr ?#\d+ *\(|without|ablat",
    re.I,
)
# A sentence end inside a line ("previous SOTA val_bpb=1.0900. Our val_bpb=1.1000"): words
# before it do not qualify the number after it. Abbreviations ("vs.", "e.g.") do not end one.
_SENTENCE_END = re.compile(r"(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)[.!?;]\s+(?=[A-Z*_\[(`])")
# Words that mark a column or row as this submission's own figures.
_OURS = re.compile(r"\b(?:this|ours?|our|submission|mine|new|final|result|value|score)\b", re.I)
_POST = re.compile(r"post|final|roundtrip|sliding|ttt|\bour\b|\bthis\b|mean", re.I)


def _excluded(text: str, start: int, window: int = 90) -> bool:
    """Does the text before ``start`` (same line and sentence) call the number a baseline?"""
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[max(line_start, start - window) : start]
    cuts = list(_SENTENCE_END.finditer(prefix))
    if cuts:
        prefix = prefix[cuts[-1].end() :]
    return bool(_EXCLUDE.search(prefix))


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
        if _bpb_ok(v) and not _excluded(text, m.start(1)):
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
    return [c.strip() for c in line.strip().strip("|").split("|")]


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
    return float(m.group(1)) if m and _bpb_ok(float(m.group(1))) else None


def _column_is_ours(text: str, pos: int) -> bool:
    """False when the table cell at ``pos`` sits under a baseline/comparison column header."""
    for t in _tables(text):
        for row_pos in t.pos:
            end = text.find("\n", row_pos)
            if row_pos <= pos < (end if end >= 0 else len(text)):
                col = text.count("|", row_pos, pos) - (1 if text[row_pos:pos].lstrip().startswith("|") else 0)
                return not (0 <= col < len(t.header) and _EXCLUDE.search(t.header[col]))
    return True


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
            bold = [j for j in cols if j < len(row) and row[j].startswith("**")]
            for j in bold + [c for c in reversed(cols) if c not in bold]:
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
            v = _bpb_in(row[col]) if col < len(row) else None
            if v is not None:
                m = re.search(_NUMBER, row[col])
                assert m is not None
                hits.append((bool(_POST.search(label)), _Found(v, m.group(1), "metric table", pos)))
        if hits:
            post = [f for p, f in hits if p]
            return (post or [f for _p, f in hits])[0], None
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


def _clean_title(t: str) -> str:
    t = t.lstrip("#").strip().strip("*").strip()
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
    pats = [
        rf"^[\s>*_-]*\**\s*(?:{labels})\s*\**\s*[:：]\s*\**\s*(.+?)\s*$",
        rf"^\|\s*\**\s*(?:{labels})\s*\**\s*\|\s*(.+?)\s*\|",
    ]
    for pat in pats:
        m = re.search(pat, text, re.I | re.M)
        if m:
            return m.group(1).strip().strip("*").strip()
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


def scan_readme(text: str) -> ReadmeScan:
    """Everything the README says about its own score (see the module docstring)."""
    scan = ReadmeScan(title=_title(text))
    bold = rf"\*\*\s*(?:mean\s+)?{_LABEL}\s*(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*{_NUMBER}"
    heading = rf"^#+[^\n]*?{_LABEL}\s*[:=]?\s*\**\s*{_NUMBER}"
    heading_rev = rf"^#+[^\n]*?~?{_NUMBER}\s*(?:\*\*)?\s*(?:{_LABEL}|bpb)\b"
    exact = rf"final_\w*exact\b[^`\n]*?val_bpb\s*[:=]\s*{_NUMBER}"
    mean1 = rf"mean\s+{_LABEL}\s*[:=]?\s*(?:\*\*)?\s*{_NUMBER}"
    mean2 = rf"\d+-seed mean[^\n]{{0,40}}?{_NUMBER}\s*(?:\*\*)?\s*bpb"
    labelled = rf"{_LABEL}\s*(?:\*\*)?\s*[:=]\s*`?\s*(?:\*\*)?\s*{_NUMBER}"
    row = rf"^\|[^|\n]*{_LABEL}[^|\n]*\|\s*`?(?:\*\*)?\s*{_NUMBER}"
    order = [
        (bold, "bold headline", re.I),
        (heading, "heading", re.I | re.M),
        (heading_rev, "heading", re.I | re.M),
        (exact, "exact printed metric", re.I),
        (mean1, "mean statement", re.I),
        (mean2, "mean statement", re.I),
    ]
    for pattern, how, flags in order:
        found = list(_candidates(text, pattern, how, flags))
        if found:
            scan.bpb = found[0]
            break
    if scan.bpb is None:
        scan.bpb, scan.std = _table_score(text)
    if scan.bpb is None:  # "val_bpb: 1.15" anywhere, or a bare "| val_bpb | 1.15 |" row
        found = list(_candidates(text, labelled, "labelled value"))
        found += [f for f in _candidates(text, row, "table row", re.I | re.M) if _column_is_ours(text, f.pos)]
        found.sort(key=lambda f: f.pos)
        post = [
            f for f in found if _POST.search(text[max(text.rfind("\n", 0, f.pos) + 1, f.pos - 60) : f.pos])
        ]
        picks = post or found
        scan.bpb = picks[0] if picks else None
    if scan.bpb is not None:
        _around_headline(text, scan)
        _refine(text, scan)
    _sizes(text, scan)
    if scan.loss is None:
        m = re.search(r"final_\w*exact\b[^`\n]*?val_loss\s*[:=]\s*(\d\.\d+)", text)
        if m is None:
            m = re.search(r"(?:post|final|roundtrip)[^\n]{0,40}?val_loss\s*[:=]\s*(\d\.\d+)", text, re.I)
        if m and not _excluded(text, m.start(1)):
            scan.loss = float(m.group(1))
    heads = _headings(text)
    _people(text, heads[0][1] if heads else "", scan)
    scan.techniques = _techniques(text, scan.title)
    return scan


def _refine(text: str, scan: ReadmeScan) -> None:
    assert scan.bpb is not None
    d = _decimals(scan.bpb.text)
    best = scan.bpb
    pat = rf"(?:{_LABEL}\s*[:=]?\s*`?(?:\*\*)?\s*(\d\.\d+))|(?:(\d\.\d+)\s*(?:\*\*)?\s*bpb)"
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
        m = re.search(r"(?:\bstd\b\s*[:=]?\s*|±\s*)(\d\.\d+)", line, re.I)
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
    return (_int(m.group(1)), 0) if m else (None, 0)


def _sizes(text: str, scan: ReadmeScan) -> None:
    """Artifact bytes, most exact first: a stated total in bytes; the largest artifact of a
    per-seed results table (every seed's artifact must fit the cap, and that is what
    ``bytes_total`` means in a multi-seed submission.json); this submission's column of a
    comparison table; the headline's "~15.95 MB" (± half its last digit)."""
    found: tuple[int, int, str] | None = None
    for pat in (
        r"total submission size[^\n]*?([\d,]{7,})\s*bytes",
        r"(?:artifact|submission)(?:\s+size)?(?:\s*\([^)\n]*\))?\s*[:=]\s*`?~?\s*([\d,]{7,})(?!\.\d)",
        r"\bbytes_total\s*[:=]\s*`?([\d,]{7,})",
    ):
        for m in re.finditer(pat, text, re.I):
            if not _excluded(text, m.start(1)):
                found = (_int(m.group(1)) or 0, 0, "stated total")
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
        mb = r"(?<![\w.])~?\s*(\d{1,2}(?:\.\d{1,3})?)\s*MB\b"
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
        scan.bytes_code = _int(cm.group(1))
    elif code:
        scan.bytes_code = max(code)


def score_from_readme(text: str, *, source_file: str = "") -> CompetitorScore | None:
    scan = scan_readme(text)
    if scan.bpb is None:
        return None
    folder = Path(source_file).parent if source_file else None
    kind, upstream = _track_from(str(folder or ""))
    extra: dict[str, Any] = {"parsed_as": scan.bpb.how}
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
        key=_record_key(folder) if folder else f"{PG}:{name}",
        val_bpb=scan.bpb.value,
        val_loss=scan.loss,
        seeds=scan.seeds,
        std=scan.std,
        bytes_total=scan.bytes_total,
        bytes_code=scan.bytes_code,
        author=scan.author,
        github_id=scan.github_id,
        pr=scan.pr,
        date=(_date_from_name(folder.name) if folder else "") or scan.date,
        track=kind,
        techniques=scan.techniques,
        source_file=source_file,
        extra=extra,
    )


def merge(primary: CompetitorScore, fallback: CompetitorScore) -> CompetitorScore:
    """``primary`` with its empty fields filled from ``fallback``."""
    data = to_dict(primary)
    other = to_dict(fallback)
    for k, v in other.items():
        if data.get(k) in (None, "", [], {}):
            data[k] = v
    from bot.state import from_dict

    return from_dict(CompetitorScore, data, where=primary.source_file)


# --------------------------------------------------------------------------- modded-nanogpt

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
    m = re.search(r"(\d{1,2})/(\d{1,2})/(\d{2,4})", text)
    if not m:
        return ""
    mo, day, yr = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if yr < 100:
        yr += 2000
    return f"{yr:04d}-{mo:02d}-{day:02d}"


def is_modded_nanogpt(text: str) -> bool:
    return bool(re.search(r"\|\s*#\s*\|\s*record time\s*\|", text, re.I))


def parse_modded_nanogpt(text: str, *, source_file: str = "") -> list[CompetitorScore]:
    """Every row of the record table, in table order."""
    out: list[CompetitorScore] = []
    in_table = False
    for line in text.splitlines():
        if re.search(r"\|\s*#\s*\|\s*record time\s*\|", line, re.I):
            in_table = True
            continue
        if not in_table:
            continue
        if re.match(r"^\s*\|?\s*-+\s*\|", line):
            continue
        if not _ROW.match(line):
            if line.strip():
                in_table = False
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
        out.append(
            CompetitorScore(
                source=MNG,
                name=description,
                key=f"{MNG}:#{number}:{date}",
                record_minutes=minutes,
                author=_LINK.sub(lambda m: m.group(1), contributors_cell).strip(),
                github_id=handles[0] if handles else "",
                pr=pr,
                date=date,
                track="re-timing" if retiming else "record",
                techniques=description,
                url=pr_url or (links[0][1] if links else ""),
                source_file=source_file,
                extra={
                    "record_number": number,
                    "contributors": handles,
                    "log": log_links[0] if log_links else "",
                    "description_url": links[0][1] if links else "",
                },
            )
        )
    return out


# --------------------------------------------------------------------------- files and folders


@dataclass
class ParseResult:
    scores: list[CompetitorScore]
    warnings: list[str]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return path.read_bytes().decode("latin-1")


def parse_text(name: str, text: str, *, source_file: str = "") -> ParseResult:
    """Parse one file's text by its name (``*.json`` or a README/markdown file)."""
    warnings: list[str] = []
    where = source_file or name
    if name.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return ParseResult([], [f"{where}: not JSON ({exc.msg}, line {exc.lineno})"])
        try:
            score = score_from_submission(data, source_file=source_file)
        except InputError as exc:
            return ParseResult([], [str(exc)])
        if score is None:
            warnings.append(f"{where}: no val_bpb (or mean, or per-seed scores) found")
        return ParseResult([score] if score else [], warnings)
    if is_modded_nanogpt(text):
        rows = parse_modded_nanogpt(text, source_file=source_file)
        if not rows:
            warnings.append(f"{where}: record table found but no rows parsed")
        return ParseResult(rows, warnings)
    score = score_from_readme(text, source_file=source_file)
    if score is None:
        warnings.append(f"{where}: no val_bpb score found")
    return ParseResult([score] if score else [], warnings)


def _submission_files(folder: Path) -> list[Path]:
    names = ["submission.json"]
    found = [folder / n for n in names if (folder / n).is_file()]
    found += sorted(p for p in folder.glob("submission*.json") if p not in found)
    found += [p for p in (folder / "results.json",) if p.is_file()]
    return found


def parse_record_folder(folder: Path) -> ParseResult:
    """submission.json first (any spelling), README.md to fill gaps or as the fallback."""
    warnings: list[str] = []
    primary: CompetitorScore | None = None
    for f in _submission_files(folder):
        res = parse_text(f.name, _read(f), source_file=str(f))
        warnings += res.warnings
        if res.scores:
            primary = res.scores[0]
            break
    readme = folder / "README.md"
    fallback = None
    if readme.is_file():
        res = parse_text(readme.name, _read(readme), source_file=str(readme))
        fallback = res.scores[0] if res.scores else None
        if primary is None:
            warnings += res.warnings
    if primary and fallback:
        return ParseResult([merge(primary, fallback)], warnings)
    if primary or fallback:
        return ParseResult([primary or fallback], warnings)  # type: ignore[list-item]
    if not warnings:
        warnings.append(f"{folder}: no submission.json or README.md with a score")
    return ParseResult([], warnings)


def parse_path(path: Path | str) -> ParseResult:
    """A file (README.md, submission.json, a modded-nanogpt README) or a record folder."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", path=str(p))
    if p.is_dir():
        return parse_record_folder(p)
    return parse_text(p.name, _read(p), source_file=str(p))


def scan_records(root: Path | str) -> ParseResult:
    """Every record folder (a folder holding submission*.json or README.md) under ``root``."""
    root = Path(root)
    scores: list[CompetitorScore] = []
    warnings: list[str] = []
    folders = sorted(
        {p.parent for p in root.rglob("*") if p.name == "README.md" or p.name.startswith("submission")}
    )
    for folder in folders:
        res = parse_record_folder(folder)
        scores += res.scores
        warnings += res.warnings
    return ParseResult(scores, warnings)


# --------------------------------------------------------------------------- store


def save_scores(state: ResearchState, scores: Sequence[CompetitorScore]) -> int:
    """Append the scores that are new or changed (by ``key``); returns how many were written."""
    current = {c.key or c.name: to_dict(c) for c in state.competitors()}
    fresh = []
    for s in scores:
        if not s.key:
            s.key = f"{s.source}:{s.name}"
        if current.get(s.key) != to_dict(s):
            fresh.append(s)
            current[s.key] = to_dict(s)
    return append_jsonl(state.competitors_path, fresh)


def leaderboard(scores: Iterable[CompetitorScore], source: str = PG) -> list[CompetitorScore]:
    """Best first: lowest val_bpb (parameter-golf) or fewest minutes (modded-nanogpt)."""
    if source == MNG:
        rows = [s for s in scores if s.source == MNG and s.record_minutes is not None]
        return sorted(rows, key=lambda s: (s.record_minutes or 0.0, s.date))
    rows = [s for s in scores if s.source == source and s.val_bpb is not None]
    return sorted(rows, key=lambda s: (s.val_bpb or 0.0, s.date))


def score_json(s: CompetitorScore) -> dict[str, Any]:
    """The JSON object ``pgolf competitors parse`` prints (empty fields left out)."""
    data = to_dict(s)
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}
