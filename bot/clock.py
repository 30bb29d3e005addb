"""The one clock: every "now" in pgolf comes from here, so that tests (and replays) can pin it.

Durations keep using ``time.monotonic()``; this module is for wall-clock *dates*: ledger stamps,
research windows, daily limits, deadlines. Three ways to read it, one source:

- ``now()``: an aware UTC ``datetime``;
- ``stamp()``: the same instant as ``YYYY-MM-DDTHH:MM:SSZ`` (what every state file stores);
- ``parse()``: the inverse, tolerant of ``Z``/offsets/naive values (naive means UTC).

The clock is pinned with ``pinned(at)`` (a context manager, for in-process tests) or, for a
subprocess such as the CLI started by a test, with the environment variable ``PGOLF_NOW`` holding
an ISO timestamp. Pinned time does not advance: code that needs elapsed time uses ``monotonic``.

Not from here: pod lifetimes (``compute/``: deadlines, uptime, cost by wall-clock seconds) are
epoch seconds (``time.time()``) shared with other processes and with the pods themselves, which
count real seconds; they measure durations, not dates. ``tests/foundation/test_clock.py``
checks that no other module of bot/ reads today's date.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

ENV_VAR = "PGOLF_NOW"

_pinned: list[datetime] = []


def parse(value: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime; ``Z`` and offsets accepted, naive = UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def now() -> datetime:
    """The current instant (aware, UTC): pinned by ``pinned()`` or ``$PGOLF_NOW`` when set."""
    if _pinned:
        return _pinned[-1]
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        try:
            return parse(env)
        except ValueError as exc:
            from bot.errors import ConfigError

            raise ConfigError(f"{ENV_VAR}={env!r} is not an ISO-8601 timestamp") from exc
    return datetime.now(UTC)


def stamp(at: datetime | None = None) -> str:
    """``at`` (default: now) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    dt = now() if at is None else at
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def pinned(at: datetime | str) -> Iterator[datetime]:
    """Pin ``now()`` to ``at`` inside the block (nests; the innermost wins)."""
    dt = parse(at) if isinstance(at, str) else (at if at.tzinfo else at.replace(tzinfo=UTC))
    _pinned.append(dt.astimezone(UTC))
    try:
        yield _pinned[-1]
    finally:
        _pinned.pop()
