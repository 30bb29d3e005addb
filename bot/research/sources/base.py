"""What every research source is given, and what it must do.

A source is an object with a ``name`` and ``async fetch(ctx) -> list[ResearchItem]``. It must:

* only report items published (or, when the service gives no date, updated) inside
  ``[ctx.since, ctx.now]`` — the ``since_hours`` window;
* reach its service through ``ctx.client(name, base_url)`` (an injected client when the caller
  gave one, else pgolf's client with its User-Agent) or, for SDK-based sources, pass the
  configured base URL to the SDK;
* read keys only from ``ctx.env`` (the process environment by default), and run without a key
  where the service allows it;
* raise :class:`~bot.errors.SourceError` (never a raw exception) when it cannot produce a result,
  and report partial problems with ``ctx.warn``.

The pipeline fills in ``relevance`` (keyword score) when a source leaves it ``None``, the
``sources`` list, and ``fetched_at``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import httpx

from bot.config import Settings
from bot.research.http import RetryPolicy, make_client
from bot.state import ResearchItem

T = TypeVar("T")


class Source(Protocol):
    name: str

    async def fetch(self, ctx: FetchContext) -> list[ResearchItem]: ...


@dataclass
class FetchContext:
    settings: Settings
    now: datetime
    since_hours: float
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    _owned: list[httpx.AsyncClient] = field(default_factory=list)
    window_explicit: bool = False  # since_hours was asked for (``--since-hours``), not derived

    @property
    def since(self) -> datetime:
        return self.now - timedelta(hours=self.since_hours)

    @property
    def policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(retries=s.source_retries, backoff_seconds=s.source_backoff_seconds)

    def client(
        self, source: str, base_url: str = "", headers: dict[str, str] | None = None
    ) -> httpx.AsyncClient:
        """The injected client for ``source``, or a new pgolf client (closed by :meth:`aclose`)."""
        if source in self.clients:
            return self.clients[source]
        c = make_client(
            base_url=base_url,
            timeout=self.settings.source_timeout_seconds,
            agent=self.settings.research_user_agent,
            headers=headers,
        )
        self._owned.append(c)
        return c

    def key(self, name: str) -> str:
        return (self.env.get(name) or "").strip()

    def warn(self, source: str, message: str) -> None:
        self.warnings.setdefault(source, []).append(message)

    def in_window(self, when: datetime | None) -> bool:
        """Whether ``when`` falls in the window (an unknown date is kept)."""
        if when is None:
            return True
        return self.since <= when <= self.now + timedelta(minutes=5)

    async def aclose(self) -> None:
        for c in self._owned:
            await c.aclose()
        self._owned.clear()


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 / RFC 3339 / RFC 2822 / epoch-milliseconds / ``time.struct_time`` → aware UTC
    datetime (None when unparseable)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            secs = value / 1000 if value > 10_000_000_000 else value
            return datetime.fromtimestamp(secs, UTC)
        if hasattr(value, "tm_year"):
            y, mo, d, h, mi, sec = value[:6]
            return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
        text = str(value).strip()
        if len(text) == 10 and text[4] == "-":
            text += "T00:00:00"
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            dt = parsedate_to_datetime(text)  # RFC 2822, as in RSS and Tavily news
    except (ValueError, TypeError, OverflowError, IndexError):
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else ""


def clean(text: Any) -> str:
    """Whitespace-collapsed text ("" for None)."""
    return " ".join(str(text or "").split())


async def gather_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` concurrently; the first failure cancels the rest and is raised as itself
    (not as an ExceptionGroup), so a source fails with one clear SourceError."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for c in coros:
                tasks.append(group.create_task(c))
    except BaseExceptionGroup as eg:
        first = eg.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]
