"""Grading's own research state: the daily dollar ledger and the batches still to collect.

``grading_state.json`` in the research state folder::

    {"spend": {"2026-12-02": 1.234, …},            # dollars per UTC day, every run together
     "pending_batches": [{"id": "msgbatch_…", "created_at": "…", "estimate_usd": 0.8,
                          "context_version": "…", "requests": {"grade-0000": ["arxiv:…", …]}}]}

* **Daily cap** (setting ``grading_daily_max_usd``): a run may spend at most what today's cap
  leaves after the dollars already recorded today *and* the estimates of batches submitted today
  that are not collected yet (they are paid for whether or not this run reads them). Dollars are
  recorded after every request, so a run killed mid-way has still counted what it spent.
* **Pending batches**: a batch's id is written the moment it is created, before any polling, so
  a run that times out (or is killed) while the batch is still processing leaves it here and the
  next run collects its results instead of paying for the same items again.

Written atomically under a lock; a corrupt file is a :class:`StateError` naming it (a silently
reset file would reset the day's spend).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot import clock
from bot.errors import StateError
from bot.fileio import atomic_write_text, file_lock

FILE = "grading_state.json"
KEEP_DAYS = 60


def _dollars(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


class GradingState:
    def __init__(self, state_dir: Path | str):
        self.path = Path(state_dir) / FILE

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"spend": {}, "pending_batches": []}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StateError(f"not JSON ({exc})", path=str(self.path)) from None
        if not isinstance(data, dict):
            raise StateError("expected a JSON object", path=str(self.path))
        spend = data.setdefault("spend", {})
        pending = data.setdefault("pending_batches", [])
        if not isinstance(spend, dict) or not all(_dollars(v) for v in spend.values()):
            # a negative, NaN or infinite day would lift (or silently disable) the cap
            raise StateError("expected {day: dollars ≥ 0}", path=str(self.path), field="spend")
        if not isinstance(pending, list) or not all(isinstance(b, dict) and b.get("id") for b in pending):
            raise StateError("expected a list of {id, …}", path=str(self.path), field="pending_batches")
        for n, b in enumerate(pending):
            if b.get("estimate_usd") is not None and not _dollars(b["estimate_usd"]):
                raise StateError(
                    "expected dollars ≥ 0", path=str(self.path), field=f"pending_batches[{n}].estimate_usd"
                )
            reqs = b.get("requests")
            if reqs is not None and not (
                isinstance(reqs, dict)
                and all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in reqs.values())
            ):
                raise StateError(
                    "expected {custom_id: [item id, …]}",
                    path=str(self.path),
                    field=f"pending_batches[{n}].requests",
                )
        return data

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under the lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path):
            data = self.load()
            yield data
            days = sorted(data["spend"])
            for old in days[:-KEEP_DAYS]:
                del data["spend"][old]
            atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    # -- spend
    @staticmethod
    def today() -> str:
        return clock.stamp()[:10]

    def spent_today(self) -> float:
        data = self.load()
        day = self.today()
        reserved = sum(
            float(b.get("estimate_usd") or 0.0)
            for b in data["pending_batches"]
            if str(b.get("created_at", ""))[:10] == day
        )
        return float(data["spend"].get(day, 0.0)) + reserved

    def add_spend(self, usd: float, day: str | None = None) -> None:
        """Add ``usd`` to ``day``'s total (default today; a collected batch goes to the day it
        was submitted on, whose cap reserved it)."""
        if usd <= 0:
            return
        with self.edit() as data:
            day = day or self.today()
            data["spend"][day] = round(float(data["spend"].get(day, 0.0)) + usd, 6)

    # -- batches
    def pending(self) -> list[dict[str, Any]]:
        return list(self.load()["pending_batches"])

    def add_batch(self, record: dict[str, Any]) -> None:
        with self.edit() as data:
            data["pending_batches"] = [b for b in data["pending_batches"] if b["id"] != record["id"]]
            data["pending_batches"].append(record)

    def drop_batch(self, batch_id: str) -> None:
        with self.edit() as data:
            data["pending_batches"] = [b for b in data["pending_batches"] if b["id"] != batch_id]
