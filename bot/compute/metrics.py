"""What a promotion needs from a training log: the final metric, artifact bytes, memory.

One parser reads every tier's logs: :func:`bot.training.logparse.parse_log` (upstream's
``final_<tag>_exact val_loss:… val_bpb:…``, ``Total submission size <tag>: N bytes``,
``Code size: N bytes``, ``peak memory allocated: N MiB``); this module only narrows its result
to the fields a Tier 2 row needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import LogParseError
from bot.training.logparse import TrainResult, parse_log


@dataclass
class RunMetrics:
    val_bpb: float
    val_loss: float
    artifact_bytes: int | None
    code_bytes: int | None
    peak_memory_gb: float | None
    stopped_early: bool
    tag: str = ""


def from_training(result: TrainResult) -> RunMetrics:
    if result.val_loss is None:
        raise LogParseError(f"the final {result.tag or 'result'} line has no val_loss")
    mib = result.peak_memory_mib
    return RunMetrics(
        val_bpb=float(result.val_bpb),
        val_loss=float(result.val_loss),
        artifact_bytes=result.artifact_bytes,
        code_bytes=result.code_bytes,
        peak_memory_gb=round(float(mib) / 1024, 1) if mib else None,
        stopped_early=result.stopped_early,
        tag=result.tag or "",
    )


def parse_metrics(text: str) -> RunMetrics:
    return from_training(parse_log(text))


def default_parser() -> Callable[[str], RunMetrics]:
    """The log parser a promotion uses unless the caller passes its own."""
    return parse_metrics
