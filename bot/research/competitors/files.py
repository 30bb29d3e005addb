"""Files and folders → scores: a submission.json, a README (a record's, the challenge's
Leaderboard, or modded-nanogpt's record tables), a record folder, a tree of record folders.

A record folder is read submission.json first (any spelling: ``submission*.json``,
``results.json``), its README to fill the gaps or as the fallback (:func:`merge`). The parsers
say where a score came from (``provenance``) but not its status: that depends on where the
folder was found (:func:`mark_merged` for a folder on the challenge's default branch or in a
checkout of it; a PR's state for a PR's folder).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InputError
from bot.research.competitors.common import (
    PG,
    PROV_LOG,
    STATUS_NON_RECORD,
    STATUS_RECORD,
    bpb_ok,
    date_from_name,
    record_key,
    track_from,
)
from bot.research.competitors.leaderboard import is_leaderboard, parse_leaderboard
from bot.research.competitors.modded import is_modded_nanogpt, parse_modded_nanogpt
from bot.research.competitors.readme import score_from_readme
from bot.research.competitors.submission import score_from_submission
from bot.state import CompetitorScore, from_dict, to_dict


def merge(primary: CompetitorScore, fallback: CompetitorScore) -> CompetitorScore:
    """``primary`` with its empty fields filled from ``fallback``; both sources' bpb figures are
    kept in ``extra.figures`` and a disagreement beyond the fallback's rounding is named in
    ``extra.disagreements`` (the primary's value stands: see :mod:`.standings`)."""
    data = to_dict(primary)
    other = to_dict(fallback)
    for k, v in other.items():
        if k in ("score_text", "parsed_as", "figures", "disagreements"):
            continue
        if data.get(k) in (None, "", [], {}):
            data[k] = v
    merged = from_dict(CompetitorScore, data, where=primary.source_file)
    figures = dict(primary.extra.get("figures") or {})
    if primary.val_bpb is not None:
        figures.setdefault(primary.provenance or "primary", primary.val_bpb)
    if fallback.val_bpb is not None:
        figures.setdefault(fallback.provenance or "fallback", fallback.val_bpb)
        text = str(fallback.extra.get("score_text") or "")
        if primary.val_bpb is not None and not agrees(fallback.val_bpb, primary.val_bpb, text):
            merged.extra["disagreements"] = [
                *merged.extra.get("disagreements", []),
                f"{fallback.provenance or 'fallback'} says {fallback.val_bpb:g}, "
                f"{primary.provenance or 'primary'} says {primary.val_bpb:g}: "
                f"{primary.provenance or 'primary'} wins",
            ]
    if figures:
        merged.extra["figures"] = figures
    return merged


def agrees(rounded: float, exact: float, text: str = "") -> bool:
    """Is ``rounded`` (printed as ``text``, e.g. "1.1063") ``exact`` at its own precision?"""
    decimals = len(text.split(".")[1]) if "." in text else len(repr(rounded).split(".")[1])
    return abs(rounded - exact) <= 0.5 * 10**-decimals + 1e-9


@dataclass
class ParseResult:
    scores: list[CompetitorScore]
    warnings: list[str]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return path.read_bytes().decode("latin-1")


def parse_text(name: str, text: str, *, source_file: str = "", record: bool = False) -> ParseResult:
    """Parse one file's text by its name (``*.json`` or a README/markdown file).

    ``record``: the file sits in a record folder (a checkout's, the default branch's, a PR's),
    so a README there is a record's README; one that looks like the challenge's Leaderboard or
    the modded-nanogpt tables is not read at all (a PR cannot make its own board, and the root
    README of a checkout is no record)."""
    warnings: list[str] = []
    where = source_file or name
    if name.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return ParseResult([], [f"{where}: not JSON ({exc.msg}, line {exc.lineno})"])
        except RecursionError:  # "[[[[…" nested deeper than the decoder goes
            return ParseResult([], [f"{where}: not JSON we can read (nested too deeply)"])
        try:
            score = score_from_submission(data, source_file=source_file)
        except InputError as exc:
            return ParseResult([], [str(exc)])
        if score is None:
            warnings.append(f"{where}: no val_bpb (or mean, or per-seed scores) found")
        return ParseResult([score] if score else [], warnings)
    if record and (is_leaderboard(text) or is_modded_nanogpt(text)):
        # a challenge/speedrun README where a record's README should be (a checkout's root, or
        # a PR's imitation): neither a record nor the maintainers' board
        return ParseResult([], [f"{where}: a Leaderboard/record-table README, not a record's: not read"])
    if is_leaderboard(text):
        lb = parse_leaderboard(text, source_file=source_file or name)
        if not lb.rows:
            lb.warnings.append(f"{where}: Leaderboard section found but no rows parsed")
        return ParseResult(lb.rows, lb.warnings)
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


_EXACT = re.compile(r"final_(\w+?)_exact\s+val_loss:\s*(\d+\.\d+)\s+val_bpb:\s*(\d+\.\d+)")


def score_from_logs(folder: Path) -> CompetitorScore | None:
    """The last ``final_<tag>_exact val_loss:… val_bpb:…`` line of the folder's training logs
    (provenance ``log line``): a raw figure, lowest in precedence, kept to show disagreements."""
    logs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".log", ".txt"))
    for p in logs:
        if p.stat().st_size > 20_000_000:
            continue
        hits = list(_EXACT.finditer(_read(p)))
        if hits:
            tag, loss, bpb = hits[-1].groups()
            value = float(bpb)
            if not bpb_ok(value):
                continue
            kind, upstream = track_from(str(folder))
            return CompetitorScore(
                source=PG,
                name=folder.name,
                key=record_key(folder),
                val_bpb=value,
                val_loss=float(loss),
                date=date_from_name(folder.name),
                track=kind,
                source_file=str(p),
                provenance=PROV_LOG,
                extra={"score_text": bpb, "log_metric": f"final_{tag}_exact"}
                | ({"upstream_track": upstream} if upstream else {}),
            )
    return None


def parse_record_folder(folder: Path) -> ParseResult:
    """submission.json first (any spelling), README.md to fill gaps or as the fallback, the
    training log's exact final line last (each figure kept in ``extra.figures``)."""
    warnings: list[str] = []
    primary: CompetitorScore | None = None
    for f in _submission_files(folder):
        res = parse_text(f.name, _read(f), source_file=str(f), record=True)
        warnings += res.warnings
        if res.scores:
            primary = res.scores[0]
            break
    readme = folder / "README.md"
    fallback = None
    if readme.is_file():
        res = parse_text(readme.name, _read(readme), source_file=str(readme), record=True)
        fallback = res.scores[0] if res.scores else None
        if primary is None:
            warnings += res.warnings
    log = score_from_logs(folder)
    if primary and fallback:
        primary = merge(primary, fallback)
    best = primary or fallback
    if best is not None and log is not None:
        return ParseResult([merge(best, log)], warnings)
    if best is not None:
        return ParseResult([best], warnings)
    if log is not None:
        return ParseResult([log], warnings)
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


def mark_merged(score: CompetitorScore) -> CompetitorScore:
    """A folder merged into the challenge's records/: an accepted record (or non-record)."""
    score.status = STATUS_NON_RECORD if score.track == "non-record" else STATUS_RECORD
    score.board = score.board or ("non-record" if score.track == "non-record" else "record")
    return score
