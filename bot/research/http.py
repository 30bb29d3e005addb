"""The one HTTP client factory of the research sources, and a careful GET.

Every request carries pgolf's User-Agent (setting ``research_user_agent``; empty means
:data:`DEFAULT_USER_AGENT`). :func:`request_json` / :func:`request_text` turn every way a
service can misbehave into a :class:`~bot.errors.SourceError` that says what happened:

* 429 → wait ``Retry-After`` when given (capped), else exponential backoff, then retry;
* 500/502/503/504 → retry with backoff; still failing → SourceError naming the status;
* an HTML page where JSON/XML was expected, bytes that are not UTF-8, a body that is cut short
  or does not parse → SourceError (no retry: the next cycle tries again).
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from bot import __version__
from bot.errors import SourceError

DEFAULT_USER_AGENT = (
    f"pgolf/{__version__} (parameter-golf research bot; +https://github.com/openai/parameter-golf)"
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


def user_agent(configured: str = "") -> str:
    return configured.strip() or DEFAULT_USER_AGENT


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context for every client: building one costs ~0.3 s of CPU, which would
    otherwise be paid per source, serially, on the event loop."""
    return ssl.create_default_context()


def warm_up() -> None:
    _ssl_context()


def make_client(
    *,
    base_url: str = "",
    timeout: float = 30.0,
    agent: str = "",
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with pgolf's User-Agent (the sources' default client)."""
    merged = {"User-Agent": user_agent(agent), **(headers or {})}
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout),
        headers=merged,
        follow_redirects=True,
        transport=transport,
        verify=_ssl_context(),
    )


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # extra attempts after the first
    backoff_seconds: float = 2.0  # first wait without Retry-After; doubles each time
    max_wait_seconds: float = MAX_RETRY_AFTER


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: treat as absent, back off instead


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    policy: RetryPolicy = RetryPolicy(),
    **kwargs: Any,
) -> httpx.Response:
    """Send with retries on 429/5xx; returns a 2xx response or raises SourceError."""
    attempt = 0
    while True:
        try:
            resp = await client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise SourceError(f"timed out ({type(exc).__name__})", path=source) from None
        except httpx.RemoteProtocolError as exc:
            raise SourceError(f"connection broken, body cut short ({exc})", path=source) from None
        except httpx.HTTPError as exc:
            raise SourceError(f"request failed: {type(exc).__name__}: {exc}", path=source) from None
        if resp.status_code < 400:
            return resp
        if resp.status_code in RETRY_STATUSES and attempt < policy.retries:
            wait = _retry_after(resp) if resp.status_code == 429 else None
            if wait is None:
                wait = policy.backoff_seconds * (2**attempt) * (1 + 0.1 * random.random())
            await asyncio.sleep(min(wait, policy.max_wait_seconds))
            attempt += 1
            continue
        kind = "rate limited" if resp.status_code == 429 else "HTTP error"
        raise SourceError(
            f"{kind} {resp.status_code} from {resp.request.url.path} after {attempt + 1} attempt(s)"
            f"{_html_note(resp)}",
            path=source,
        )


def _html_note(resp: httpx.Response) -> str:
    ctype = resp.headers.get("content-type", "")
    return " (an HTML page)" if "html" in ctype.lower() else ""


def decode_text(resp: httpx.Response, *, source: str) -> str:
    """The body as UTF-8 text; SourceError for bytes that are not UTF-8."""
    try:
        return resp.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"body is not UTF-8 (byte {exc.start})", path=source) from None


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype html") or head.startswith("<html")


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    policy: RetryPolicy = RetryPolicy(),
    **kwargs: Any,
) -> Any:
    resp = await request(client, method, url, source=source, policy=policy, **kwargs)
    text = decode_text(resp, source=source)
    if looks_like_html(text) or "html" in resp.headers.get("content-type", "").lower():
        raise SourceError("expected JSON, got an HTML page", path=source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"malformed JSON ({exc.msg} at char {exc.pos})", path=source) from None


async def request_text(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    policy: RetryPolicy = RetryPolicy(),
    **kwargs: Any,
) -> str:
    resp = await request(client, method, url, source=source, policy=policy, **kwargs)
    return decode_text(resp, source=source)
