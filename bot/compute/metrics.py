"""What a promotion needs from a training log: the final metric, artifact bytes, memory.

The training package's parser (``bot.training.logparse.parse_log``) is used when present; a
small reader of the same upstream lines is the fallback, so Tier 2 never depends on import
order. Both read the upstream formats (``final_<tag>_exact val_loss:… val_bpb:…``,
``Total submission size <tag>: N bytes``, ``Code size: N bytes``, ``peak memory allocated: N MiB``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import LogParseError

_FINAL = re.compile(
    r"^final_(?P<tag>\S+?)_exact val_loss:(?P<loss>[-\d.eE+]+) val_bpb:(?P<bpb>[-\d.eE+]+)", re.M
)
_TOTAL = re.compile(r"^Total submission size(?: (?P<tag>[^:]+))?: (?P<n>\d+) bytes", re.M)
_CODE = re.compile(r"^Code size: (?P<n>\d+) bytes", re.M)
_MEM = re.compile(r"^peak memory allocated: (?P<n>\d+) MiB", re.M)
_EARLY = re.compile(r"^stopping_early: wallclock_cap", re.M)


@dataclass
class RunMetrics:
    val_bpb: float
    val_loss: float
    artifact_bytes: int | None
    code_bytes: int | None
    peak_memory_gb: float | None
    stopped_early: bool
    tag: str = ""


def fallback_parse(text: str) -> RunMetrics:
    finals = list(_FINAL.finditer(text))
    if not finals:
        raise LogParseError("no final_<tag>_exact val_loss/val_bpb line in the log")
    last = finals[-1]
    tag = last.group("tag")
    totals = list(_TOTAL.finditer(text))
    tagged = [
        m for m in totals if m.group("tag") and m.group("tag").replace("+", "_") == tag.replace("+", "_")
    ]
    pool = tagged or totals
    total = pool[-1] if pool else None
    code = list(_CODE.finditer(text))
    mem = list(_MEM.finditer(text))
    return RunMetrics(
        val_bpb=float(last.group("bpb")),
        val_loss=float(last.group("loss")),
        artifact_bytes=int(total.group("n")) if total else None,
        code_bytes=int(code[-1].group("n")) if code else None,
        peak_memory_gb=round(int(mem[-1].group("n")) / 1024, 1) if mem else None,
        stopped_early=bool(_EARLY.search(text)),
        tag=tag,
    )


def _from_training(result: Any) -> RunMetrics:
    mib = getattr(result, "peak_memory_mib", None)
    return RunMetrics(
        val_bpb=float(result.val_bpb),
        val_loss=float(result.val_loss),
        artifact_bytes=getattr(result, "artifact_bytes", None),
        code_bytes=getattr(result, "code_bytes", None),
        peak_memory_gb=round(float(mib) / 1024, 1) if mib else None,
        stopped_early=bool(getattr(result, "stopped_early", False)),
        tag=str(getattr(result, "tag", "") or ""),
    )


def default_parser() -> Callable[[str], RunMetrics]:
    """``bot.training.logparse.parse_log`` adapted to :class:`RunMetrics`, else the fallback."""
    try:
        from bot.training.logparse import parse_log  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return fallback_parse

    def parse(text: str) -> RunMetrics:
        return _from_training(parse_log(text))

    return parse
