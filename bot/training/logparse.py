"""One parser for every training log: ours (both scripts) and upstream's record logs.

Public API (stable; other modules import these names):

* :func:`parse_log(text) -> TrainResult` — raises :class:`bot.errors.LogParseError` when the log
  has no final metric (the reason names the last step reached and, if present, the exception).
* :class:`TrainResult`, :class:`StepPoint`.

What is recognised (anywhere in a line, so ``[rank0]:`` prefixes and carriage-return progress
output do not matter):

* final metric: ``final_<tag>_exact val_loss:X val_bpb:Y`` — any tag (``int8_zlib_roundtrip``,
  ``int6_zstd_roundtrip``, ``int6_sliding_window``, …); ``val_loss`` may be missing. When several
  are printed, the *last* one is the result (upstream prints the submission score last); all of
  them are kept in ``finals``;
* sizes: ``Total submission size <codec>: N bytes`` (any codec name: ``int8+zlib``, ``int6+zstd``,
  ``int6+lzma``…; thousands separators allowed), ``Serialized model <codec>: N bytes``,
  ``Code size: N bytes``; the compressed total (with a codec) is ``artifact_bytes``;
* step lines with or without the ``step:`` prefix: ``step:N/M train_loss:…`` or
  ``N/M val_loss:… val_bpb:… train_time:…ms step_avg:…ms``;
* ``stopping_early: wallclock_cap …`` and ``peak memory allocated: N MiB``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.errors import LogParseError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_FINAL = re.compile(
    rf"final_(?P<tag>[A-Za-z0-9_+\-.]+?)_exact\b(?:\s+val_loss:(?P<loss>{_NUM}))?\s+val_bpb:(?P<bpb>{_NUM})"
)
_TOTAL = re.compile(r"Total submission size(?:\s+(?P<codec>[^:\n]+?))?\s*:\s*(?P<n>[\d,]+)\s*bytes")
_SERIAL = re.compile(r"Serialized model(?:\s+(?P<codec>[^:\n]+?))?\s*:\s*(?P<n>[\d,]+)\s*bytes")
_CODE = re.compile(r"Code size\s*:\s*(?P<n>[\d,]+)\s*bytes")
_STEP = re.compile(
    r"(?:^|[\s\]:])(?:step:)?(?P<step>\d+)/(?P<total>\d+)\s+(?P<rest>(?:train_loss|val_loss|val_bpb)\b.*)"
)
_KV = re.compile(rf"(?P<k>[a-z_]+):(?P<v>{_NUM})(?:ms)?")
_PEAK = re.compile(r"peak memory allocated:\s*(?P<n>\d+)\s*MiB")
_STOP = re.compile(r"stopping_early:\s*wallclock_cap")
_EXC = re.compile(r"^(?:[\w.]+(?:Error|Exception|Interrupt)|error):\s.*")


@dataclass
class StepPoint:
    step: int
    total: int
    train_loss: float | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    train_time_ms: float | None = None
    step_avg_ms: float | None = None


@dataclass
class TrainResult:
    val_bpb: float
    val_loss: float | None
    tag: str  # e.g. "int8_zlib_roundtrip"
    finals: dict[str, dict[str, float | None]] = field(default_factory=dict)
    artifact_bytes: int | None = None  # "Total submission size <codec>: N bytes"
    codec: str | None = None  # e.g. "int8+zlib"
    model_bytes: int | None = None  # compressed model ("Serialized model <codec>")
    code_bytes: int | None = None
    steps: list[StepPoint] = field(default_factory=list)
    last_step: int | None = None
    total_steps: int | None = None
    stopped_early: bool = False
    train_time_ms: float | None = None
    step_avg_ms: float | None = None
    pre_quant_val_bpb: float | None = None  # last periodic/final val line before export
    peak_memory_mib: int | None = None

    @property
    def train_points(self) -> list[StepPoint]:
        return [s for s in self.steps if s.train_loss is not None]

    @property
    def val_points(self) -> list[StepPoint]:
        return [s for s in self.steps if s.val_bpb is not None]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["steps"] = len(self.steps)
        return d


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _step_point(m: re.Match[str]) -> StepPoint:
    sp = StepPoint(step=int(m["step"]), total=int(m["total"]))
    for kv in _KV.finditer(m["rest"]):
        k, v = kv["k"], float(kv["v"])
        if k == "train_loss":
            sp.train_loss = v
        elif k == "val_loss":
            sp.val_loss = v
        elif k == "val_bpb":
            sp.val_bpb = v
        elif k == "train_time":
            sp.train_time_ms = v
        elif k == "step_avg":
            sp.step_avg_ms = v
    return sp


def parse_log(text: str) -> TrainResult:
    """Parse a training log; LogParseError (with the reason) if there is no final metric."""
    finals: dict[str, dict[str, float | None]] = {}
    last_final: tuple[str, float, float | None] | None = None
    totals: list[tuple[str | None, int]] = []
    serials: list[tuple[str | None, int]] = []
    code_bytes = peak = None
    steps: list[StepPoint] = []
    stopped = False
    exc_line: str | None = None
    for raw in text.replace("\r", "\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := _FINAL.search(line):
            loss = float(m["loss"]) if m["loss"] is not None else None
            finals[m["tag"]] = {"val_loss": loss, "val_bpb": float(m["bpb"])}
            last_final = (m["tag"], float(m["bpb"]), loss)
            continue
        if m := _TOTAL.search(line):
            totals.append(((m["codec"] or "").strip() or None, _int(m["n"])))
            continue
        if m := _SERIAL.search(line):
            serials.append(((m["codec"] or "").strip() or None, _int(m["n"])))
            continue
        if m := _CODE.search(line):
            code_bytes = _int(m["n"])
            continue
        if m := _PEAK.search(line):
            peak = int(m["n"])
            continue
        if _STOP.search(line):
            stopped = True
            continue
        if m := _STEP.search(line):
            steps.append(_step_point(m))
            continue
        if _EXC.match(line):
            exc_line = line
    last = steps[-1] if steps else None
    if last_final is None:
        where = f"last step {last.step}/{last.total}" if last else "no step lines"
        why = f"; {exc_line}" if exc_line else ""
        raise LogParseError(f"log has no final metric (no 'final_<tag>_exact … val_bpb:' line; {where}{why})")
    tag, bpb, loss = last_final
    compressed = [t for t in totals if t[0]]
    total = compressed[-1] if compressed else (totals[-1] if totals else (None, None))
    serial = [s for s in serials if s[0]]
    timed = [s for s in steps if s.train_time_ms is not None]
    vals = [s for s in steps if s.val_bpb is not None]
    return TrainResult(
        val_bpb=bpb,
        val_loss=loss,
        tag=tag,
        finals=finals,
        artifact_bytes=total[1],
        codec=total[0],
        model_bytes=serial[-1][1] if serial else None,
        code_bytes=code_bytes,
        steps=steps,
        last_step=last.step if last else None,
        total_steps=last.total if last else None,
        stopped_early=stopped,
        train_time_ms=timed[-1].train_time_ms if timed else None,
        step_avg_ms=timed[-1].step_avg_ms if timed else None,
        pre_quant_val_bpb=vals[-1].val_bpb if vals else None,
        peak_memory_mib=peak,
    )
