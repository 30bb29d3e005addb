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
  ``**val\\_bpb**: …``), a heading that states the score (``# Record: … — val_bpb 1.08563``),
  the exact printed metric (```final_int8_zlib_roundtrip_exact val_bpb:1.22436570```), a
  "mean val_bpb" statement, the ``Mean`` row of a results table (the post-quant/post-TTT
  column, never a "pre-" column), then any other labelled value. A value whose line says it is
  a baseline, a previous/compared/merged/SOTA/PR-to-beat or a pre-quant/pre-TTT figure is
  never taken as the score. A headline value is then refined by a more precise figure that
  rounds to it (``**1.10625353 BPB**`` for ``1.1063``).

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
    bytes_total = _int(_first(data, *_BYTES_KEYS))
    if bytes_total is None and runs:
        sizes = [_int(_first(r, "artifact_bytes", "bytes_total")) for r in runs.values()]
        known = [s for s in sizes if s]
        bytes_total = max(known) if known else None
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


def _excluded(text: str, start: int, window: int = 90) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[max(line_start, start - window) : start]
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
    title: str = ""
    notes: list[str] = field(default_factory=list)


def _candidates(text: str, pattern: str, how: str, flags: int = re.I) -> Iterable[_Found]:
    for m in re.finditer(pattern, text, flags):
        g = m.group(1)
        v = float(g)
        if _bpb_ok(v) and not _excluded(text, m.start()):
            yield _Found(v, g, how, m.start())


def _title(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            t = line.lstrip("#").strip()
            t = re.sub(r"^record\s*:\s*", "", t, flags=re.I)
            t = re.sub(r"\s*[—–-]+\s*val.?bpb.*$", "", t, flags=re.I)
            t = re.sub(r"\s*\(\s*val.?bpb[^)]*\)\s*$", "", t, flags=re.I)
            return t.strip()
    m = re.search(r"captures the `([^`]+)`", text)
    return m.group(1) if m else ""


def _table_mean(text: str) -> tuple[_Found | None, float | None]:
    """The bpb of a results table's Mean row (post-quant / post-TTT column), and its std."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "|" not in line or not re.search(r"bpb|val.?bpb", line, re.I):
            continue
        if i + 1 >= len(lines) or not re.match(r"^\s*\|?\s*:?-", lines[i + 1]):
            continue
        header = [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
        cols = [
            j
            for j, h in enumerate(header)
            if re.search(r"bpb", h, re.I) and not re.search(r"pre|gain|delta|quant(?!.*ttt)|ema", h, re.I)
        ]
        if not cols:
            continue
        for row in lines[i + 2 :]:
            if "|" not in row:
                break
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if not cells or not re.match(r"^\**\s*mean", cells[0], re.I):
                continue
            bold = [j for j in cols if j < len(cells) and cells[j].startswith("**")]
            for j in bold + [c for c in reversed(cols) if c not in bold]:
                if j >= len(cells):
                    continue
                m = re.search(_NUMBER, cells[j])
                if m and _bpb_ok(float(m.group(1))):
                    sm = re.search(r"(?:std|±)\s*=?\s*(\d\.\d+)", cells[j])
                    pos = text.find(row)
                    return _Found(float(m.group(1)), m.group(1), "table mean row", pos), (
                        float(sm.group(1)) if sm else None
                    )
    return None, None


def scan_readme(text: str) -> ReadmeScan:
    """Everything the README says about its own score (see the module docstring)."""
    scan = ReadmeScan(title=_title(text))
    bold = rf"\*\*\s*(?:mean\s+)?{_LABEL}\s*(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*{_NUMBER}"
    heading = rf"^#+[^\n]*?{_LABEL}\s*[:=]?\s*\**\s*{_NUMBER}"
    exact = rf"final_\w*exact\b[^`\n]*?val_bpb\s*[:=]\s*{_NUMBER}"
    mean1 = rf"mean\s+{_LABEL}\s*[:=]?\s*(?:\*\*)?\s*{_NUMBER}"
    mean2 = rf"\d+-seed mean[^\n]{{0,40}}?{_NUMBER}\s*(?:\*\*)?\s*bpb"
    labelled = rf"{_LABEL}\s*(?:\*\*)?\s*[:=]\s*`?\s*(?:\*\*)?\s*{_NUMBER}"
    order = [
        (bold, "bold headline", re.I),
        (heading, "heading", re.I | re.M),
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
        scan.bpb, scan.std = _table_mean(text)
    if scan.bpb is None:
        found = list(_candidates(text, labelled, "labelled value"))
        post = [
            f
            for f in found
            if re.search(r"post|final|roundtrip|sliding", text[max(0, f.pos - 60) : f.pos], re.I)
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
    return scan


def _refine(text: str, scan: ReadmeScan) -> None:
    assert scan.bpb is not None
    d = _decimals(scan.bpb.text)
    best = scan.bpb
    pat = rf"(?:{_LABEL}\s*[:=]?\s*`?(?:\*\*)?\s*(\d\.\d+))|(?:(\d\.\d+)\s*(?:\*\*)?\s*bpb)"
    for m in re.finditer(pat, text, re.I):
        g = m.group(1) or m.group(2)
        if _decimals(g) <= _decimals(best.text) or _excluded(text, m.start()):
            continue
        if round(float(g), d) == round(scan.bpb.value, d):
            best = _Found(float(g), g, scan.bpb.how + " (refined)", m.start())
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


def _sizes(text: str, scan: ReadmeScan) -> None:
    m = re.search(r"total submission size[^\n]*?([\d,]{7,})\s*bytes", text, re.I)
    if m is None:
        m = re.search(r"artifact[^\n|]*?:\s*([\d,]{7,})\s*bytes", text, re.I)
    if m:
        scan.bytes_total = _int(m.group(1))
    m = re.search(r"code(?: size)?\s*[:|]\s*`?\**\s*([\d,]{4,})(?:\s*bytes)?", text, re.I)
    if m:
        scan.bytes_code = _int(m.group(1))


def score_from_readme(text: str, *, source_file: str = "") -> CompetitorScore | None:
    scan = scan_readme(text)
    if scan.bpb is None:
        return None
    folder = Path(source_file).parent if source_file else None
    kind, upstream = _track_from(str(folder or ""))
    author = ""
    m = re.search(r"^\**author(?:s)?\**\s*:\s*\**\s*(.+)$", text, re.I | re.M)
    if m:
        author = m.group(1).strip().strip("*")
    extra: dict[str, Any] = {"parsed_as": scan.bpb.how}
    if upstream:
        extra["upstream_track"] = upstream
    return CompetitorScore(
        source=PG,
        name=scan.title or (folder.name if folder else ""),
        key=_record_key(folder) if folder else f"{PG}:{scan.title}",
        val_bpb=scan.bpb.value,
        val_loss=scan.loss,
        seeds=scan.seeds,
        std=scan.std,
        bytes_total=scan.bytes_total,
        bytes_code=scan.bytes_code,
        author=author,
        date=_date_from_name(folder.name) if folder else "",
        track=kind,
        techniques=scan.title,
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
