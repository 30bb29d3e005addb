"""The instant the whole suite runs at (``bot.clock`` pinned by the autouse ``frozen_now`` fixture
of ``tests/conftest.py``, and ``$PGOLF_NOW`` for the subprocesses tests start).

Never today's date, so that the suite means the same on any day; a test that needs another
instant nests ``clock.pinned(...)`` or passes ``now=`` explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime

FROZEN_NOW = datetime(2026, 6, 15, 12, 0, 0, tzinfo=UTC)
