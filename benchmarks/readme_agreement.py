"""README-only score parsing against submission.json, on record folders the tests never saw.

Usage: ``python benchmarks/readme_agreement.py [--leaderboard README.md] FOLDER [FOLDER …]`` —
with ``--leaderboard`` the challenge README's Leaderboard tables are parsed too and the rows
parsed out of the table rows present are reported. Every record folder (one
holding both ``submission.json`` and ``README.md``) under the given roots, deduplicated by folder
name, is parsed twice: the README alone and the submission.json alone. A README value *agrees*
when it equals the JSON's value rounded (or truncated: 1.21925538 written 1.2192, counted
apart as ``agree_truncated``) to the README's own precision; it is *wrong* when it
differs (when the JSON states fewer decimals than the README, at the JSON's precision); *abstained* when the README parser returns nothing (abstaining is not wrong).

Targets (issue 14): agreement ≥ 90 % of the folders, at most 1 wrong value per 30 folders.
``ok`` judges the strict figures. A wrong value is also classified: *contradiction* when the
README states it as its own headline result (a bold headline, a heading, a "mean"/"final"
statement) — the README was read right and disagrees with its submission.json, which wins by
precedence (see docs/competitors.md) — or *misread* when it came from a weaker reading (tables,
loose labels). Both counts are printed, with each folder's verdict.
With ``--leaderboard``, each folder a Leaderboard row links to is also judged against that row's
score — upstream's own ground truth, which outranks submission.json (docs/competitors.md) — and
``leaderboard.vs_leaderboard`` counts the README's and the submission.json's agreement with it
(information only: ``ok`` judges the issue's figures against submission.json).
Ends with one JSON line of figures, targets and ``ok``.
"""

from __future__ import annotations

import json
import sys
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from bot.research import competitors as comp


def _places(value: float, text: str = "") -> int:
    return len(text.split(".")[1]) if "." in text else len(repr(value).split(".")[1])


def agrees(readme_value: float, json_value: float, text: str = "") -> bool:
    """Equal at the precision both state (:func:`rounds_to`), or cut short (:func:`truncated`)."""
    return rounds_to(readme_value, json_value, text) or truncated(readme_value, json_value, text)


def rounds_to(readme_value: float, json_value: float, text: str = "") -> bool:
    """Equal at the precision both state: the README's figure rounded to the JSON's places when
    the JSON is the coarser one (``0.94182151`` vs ``0.941822``), else the JSON's value rounded
    to the README's places (``1.1586`` vs ``1.15861696``)."""
    mine, theirs = _places(readme_value, text), _places(json_value)
    if 2 <= theirs < mine:  # rounded half up, as people round: 1.09785 → 1.0979
        exact = Decimal(text if "." in text else repr(readme_value))
        return float(exact.quantize(Decimal(1).scaleb(-theirs), rounding=ROUND_HALF_UP)) == json_value
    return abs(readme_value - json_value) <= 0.5 * 10**-mine + 1e-9


def truncated(readme_value: float, json_value: float, text: str = "") -> bool:
    """The README cut the figure short instead of rounding it (1.21925538 written 1.2192): the
    same measurement. Counted as agreement, and reported apart (``agree_truncated``)."""
    mine, theirs = _places(readme_value, text), _places(json_value)
    cut = Decimal(repr(json_value)).quantize(Decimal(1).scaleb(-mine), rounding=ROUND_DOWN)
    return theirs > mine and float(cut) == readme_value


def folders(roots: list[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for root in roots:
        for sub in sorted(root.rglob("submission.json")):
            folder = sub.parent
            if (folder / "README.md").is_file():
                seen.setdefault(folder.name, folder)
    return [seen[k] for k in sorted(seen)]


def main(argv: list[str]) -> int:
    board: dict[str, Any] = {}
    accepted: dict[str, float] = {}  # record folder name → the Leaderboard's score
    if "--leaderboard" in argv:
        i = argv.index("--leaderboard")
        lb = comp.parse_leaderboard(Path(argv[i + 1]).read_text(encoding="utf-8"), source_file=argv[i + 1])
        for w in lb.warnings:
            print(f"leaderboard: {w}")
        board = {
            "rows_present": lb.rows_present,
            "rows_parsed": len(lb.rows),
            "record_rows": sum(r.board == "record" for r in lb.rows),
            "non_record_rows": sum(r.board == "non-record" for r in lb.rows),
        }
        accepted = {
            Path(str(r.extra["record_folder"])).name: r.val_bpb
            for r in lb.rows
            if r.extra.get("record_folder") and r.val_bpb is not None
        }
        argv = argv[:i] + argv[i + 2 :]
    roots = [Path(a) for a in argv] or [Path("records")]
    rows = []
    for folder in folders(roots):
        js = comp.parse_path(folder / "submission.json").scores
        if not js or js[0].val_bpb is None:
            continue  # a submission.json without a score cannot judge the README
        rd = comp.parse_path(folder / "README.md").scores
        jv = js[0].val_bpb
        rv = rd[0].val_bpb if rd else None
        text = str(rd[0].extra.get("score_text", "")) if rd else ""
        verdict = "abstained" if rv is None else ("agree" if agrees(rv, jv, text) else "wrong")
        how = str(rd[0].extra.get("parsed_as", "")) if rd else ""
        kind = ""
        if verdict == "wrong":
            headline = any(
                k in how for k in ("bold headline", "heading", "mean statement", "final statement")
            )
            kind = "contradiction" if headline else "misread"
        row: dict[str, Any] = {
            "folder": folder.name,
            "json": jv,
            "readme": rv,
            "verdict": verdict,
            "how": how,
            "kind": kind,
            "truncated": verdict == "agree" and rv is not None and not rounds_to(rv, jv, text),
        }
        if folder.name in accepted:
            lv = accepted[folder.name]
            row["board"] = lv
            row["board_readme"] = (
                "abstained" if rv is None else ("agree" if agrees(rv, lv, text) else "wrong")
            )
            row["board_json"] = "agree" if agrees(jv, lv) else "wrong"
        rows.append(row)
    n = len(rows)
    agree = sum(r["verdict"] == "agree" for r in rows)
    wrong = sum(r["verdict"] == "wrong" for r in rows)
    abstained = sum(r["verdict"] == "abstained" for r in rows)
    for r in rows:
        if r["verdict"] != "agree":
            print(
                f"{r['verdict']:>9}  json {r['json']}  readme {r['readme']}  {r['folder']}"
                + (f"  [{r['kind']}: README {r['how']}]" if r["kind"] else "")
            )
    on_board = [r for r in rows if "board" in r]
    for r in on_board:
        if r["board_readme"] != "agree" or r["board_json"] != "agree":
            print(
                f"leaderboard {r['board']}: README {r['readme']} ({r['board_readme']}), "
                f"submission.json {r['json']} ({r['board_json']})  {r['folder']}"
            )
    if on_board:
        board["vs_leaderboard"] = {
            "folders": len(on_board),
            "readme_agree": sum(r["board_readme"] == "agree" for r in on_board),
            "readme_wrong": sum(r["board_readme"] == "wrong" for r in on_board),
            "readme_abstained": sum(r["board_readme"] == "abstained" for r in on_board),
            "json_agree": sum(r["board_json"] == "agree" for r in on_board),
        }
    rate = agree / n if n else 0.0
    wrong_per_30 = wrong * 30 / n if n else 0.0
    figures = {
        "benchmark": "readme_agreement",
        "folders": n,
        "agree": agree,
        "wrong": wrong,
        "abstained": abstained,
        "agree_truncated": sum(r["truncated"] for r in rows),
        "agreement": round(rate, 4),
        "wrong_per_30": round(wrong_per_30, 3),
        "wrong_contradictions": sum(r["kind"] == "contradiction" for r in rows),
        "wrong_misread": sum(r["kind"] == "misread" for r in rows),
        "leaderboard": board,
        "targets": {"agreement": ">= 0.90", "wrong_per_30": "<= 1"},
        "ok": n > 0
        and rate >= 0.90
        and wrong_per_30 <= 1.0
        and (not board or board["rows_parsed"] == board["rows_present"]),
    }
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
