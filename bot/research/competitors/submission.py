"""``submission.json`` of a parameter-golf record folder → :class:`CompetitorScore`.

Its fields vary between records, so each value is looked up under every spelling seen upstream
(``val_bpb``/``mean_val_bpb``/``mean_bpb``…, ``val_loss``/``mean_val_loss_nats``…,
``val_bpb_std``/``std_bpb``…, ``bytes_total``/``artifact_bytes``…, ``bytes_code``/``code_bytes``);
seeds are counted from ``seeds`` (a list, a dict or a number) or ``seed_results``, and a missing
top-level score falls back to the mean of the per-seed scores. ``bytes_total`` means the largest
seed's artifact where the seeds' sizes are given (a different stated figure stays in
``extra.bytes_total_stated``). Other bpb figures the file states (``sliding_val_bpb``,
``pre_quant_val_bpb``…) are kept in ``extra.other_bpb`` so that a disagreement with the README
or the leaderboard can be explained.

A sliding-window figure stated beside ``val_bpb`` (``sliding_val_bpb``, ``sliding_bpb_mean``…) is
the score when it is the lower one: sliding-window evaluation re-scores the same weights with
more context, so a ``val_bpb`` above it is the standard evaluation and the sliding figure is the
one the Leaderboard ranks (``extra.score_key`` names it). A sliding figure above ``val_bpb`` is an
earlier stage (``val_bpb`` is already after test-time training) and changes nothing.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.research.competitors.common import (
    PG,
    PROV_SUBMISSION,
    RESERVED_EXTRA,
    bpb_ok,
    date_from_name,
    first,
    num,
    record_key,
    to_int,
    track_from,
)
from bot.state import CompetitorScore

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
_SLIDING_KEY = re.compile(r"sliding", re.I)
# not a submission-wide score: an earlier stage, a difference, a spread, another run's figure,
# one seed's figure ("seed42_sliding_bpb") or an extreme of several
_NOT_SCORE_KEY = re.compile(
    r"pre|delta|gain|std|diff|baseline|base_|comparison|best|worst|seed|run|trial|min|max", re.I
)


def _sliding_score(data: dict[str, Any], bpb: float) -> tuple[str, float] | None:
    """(key, value) of a sliding-window figure below ``bpb`` (see the module docstring)."""
    found = [
        (k, float(v))
        for k, v in data.items()
        if isinstance(v, (int, float))
        and not isinstance(v, bool)
        and "bpb" in k.lower()
        and _SLIDING_KEY.search(k)
        and not _NOT_SCORE_KEY.search(k)
        and bpb_ok(float(v))
    ]
    lower = [(k, v) for k, v in found if v < bpb]
    return min(lower, key=lambda kv: kv[1]) if lower else None


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
        v = num(r.get("val_bpb"))
        if v is not None and bpb_ok(v):
            out.append(v)
    return out


def score_from_submission(data: Any, *, source_file: str = "") -> CompetitorScore | None:
    """A score from a parsed submission.json, or None when it holds no val_bpb at all."""
    if not isinstance(data, dict):
        raise InputError("submission.json must be a JSON object", path=source_file or None)
    runs = _seed_runs(data)
    bpb = num(first(data, *_BPB_KEYS))
    if not bpb_ok(bpb):
        vals = _seed_bpbs(runs)
        bpb = round(statistics.fmean(vals), 8) if vals else None
    if not bpb_ok(bpb):
        return None
    assert bpb is not None
    sliding = _sliding_score(data, bpb)
    loss = num(first(data, *_LOSS_KEYS))
    std = num(first(data, *_STD_KEYS))
    seeds_v = data.get("seeds")
    if isinstance(seeds_v, (list, dict)) and seeds_v:
        seeds: int | None = len(seeds_v)
    elif isinstance(seeds_v, int) and not isinstance(seeds_v, bool):
        seeds = seeds_v
    else:
        seeds = to_int(data.get("num_seeds")) or (len(runs) or None)
    if std is None and len(runs) >= 2:
        vals = _seed_bpbs(runs)
        std = round(statistics.stdev(vals), 8) if len(vals) >= 2 else None
    # bytes_total: the largest seed's artifact when the seeds' sizes are given (each must fit
    # the cap; upstream records write either the mean or the max as bytes_total), else the
    # stated total. A differing stated figure is kept in extra["bytes_total_stated"].
    stated = to_int(first(data, *_BYTES_KEYS))
    sizes = [to_int(first(r, "artifact_bytes", "bytes_total")) for r in runs.values()]
    known = [s for s in sizes if s]
    bytes_total = to_int(data.get("artifact_bytes_max")) or (max(known) if known else stated)
    path = Path(source_file) if source_file else None
    folder = path.parent if path else None
    kind, upstream = track_from(str(data.get("track") or ""), str(folder or ""))
    pr = to_int(first(data, "pr", "pr_number", "pull_request"))
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
    extra: dict[str, Any] = {
        k: v
        for k, v in data.items()
        if k not in known_keys and k not in RESERVED_EXTRA and isinstance(v, (str, int, float, bool))
    }
    if upstream:
        extra["upstream_track"] = upstream
    if stated is not None and stated != bytes_total:
        extra["bytes_total_stated"] = stated
    others = {
        k: v
        for k, v in data.items()
        if isinstance(v, (int, float))
        and not isinstance(v, bool)
        and "bpb" in k.lower()
        and k not in _BPB_KEYS
    }
    if sliding is not None:
        extra["score_key"] = sliding[0]
        others[next(k for k in _BPB_KEYS if first(data, k) is not None)] = bpb
        bpb = sliding[1]
    if others:
        extra["other_bpb"] = others
    return CompetitorScore(
        source=PG,
        name=str(data.get("name") or (folder.name if folder else "")),
        key=record_key(folder) if folder else f"{PG}:{data.get('name', '')}",
        val_bpb=bpb,
        val_loss=loss,
        seeds=seeds,
        std=std,
        bytes_total=bytes_total,
        bytes_code=to_int(first(data, *_CODE_KEYS)),
        author=str(data.get("author") or ""),
        github_id=str(data.get("github_id") or ""),
        pr=pr,
        date=str(data.get("date") or (date_from_name(folder.name) if folder else ""))[:10],
        track=kind,
        techniques=str(first(data, "technique_summary", "blurb", "name") or "")[:600],
        source_file=source_file,
        provenance=PROV_SUBMISSION,
        extra=extra,
    )
