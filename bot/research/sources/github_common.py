"""PyGithub for the GitHub sources: one configured client, exceptions → SourceError, and a
daemon-thread runner so a hanging call cannot hold the event loop (or the process) past the
pipeline's per-source timeout."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException
from github.ContentFile import ContentFile

from bot.config import github_api_base, upstream_api_base
from bot.errors import SourceError
from bot.research.http import user_agent
from bot.research.sources.base import FetchContext

T = TypeVar("T")

# A record's README.md / submission.json larger than this is not read (upstream's largest is
# ~45 KB); GitHub's contents API itself answers files over 1 MB without their bytes.
MAX_RECORD_FILE_BYTES = 256 * 1024


def record_file_text(content: ContentFile) -> tuple[str | None, str]:
    """(text, "") of a record file read through the contents API, or (None, why not): too
    large for a record file, or served without its bytes (GitHub's encoding "none")."""
    if content.size is not None and content.size > MAX_RECORD_FILE_BYTES:
        return None, f"{content.path}: too large ({content.size} bytes > {MAX_RECORD_FILE_BYTES}): not read"
    if content.encoding != "base64":
        return (
            None,
            f"{content.path}: too large for the contents API (encoding {content.encoding!r}): not read",
        )
    return content.decoded_content.decode("utf-8", "replace"), ""


def make_github(ctx: FetchContext) -> tuple[Github, bool]:
    """(client, authenticated) for upstream's GitHub (:func:`bot.config.upstream_api_base`).
    ``GITHUB_TOKEN`` (or ``GH_TOKEN``) from the environment goes along only when it belongs to that
    server: a GitHub Enterprise runner's token is never sent to github.com."""
    s = ctx.settings
    base = upstream_api_base(s)
    token = ctx.key("GITHUB_TOKEN") or ctx.key("GH_TOKEN")
    if github_api_base(s, ctx.env) != base:
        token = ""
    retry = GithubRetry(
        total=s.source_retries,
        backoff_factor=s.source_backoff_seconds / 2,
        max_rate_limit_wait=s.source_timeout_seconds,
        secondary_rate_wait=min(60.0, s.source_timeout_seconds),
    )
    gh = Github(
        base_url=base,
        auth=Auth.Token(token) if token else None,
        user_agent=user_agent(s.research_user_agent),
        timeout=max(1, round(s.source_timeout_seconds)),
        per_page=30,  # GitHub's default page; more pages follow the Link header
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,  # no request until something is read
        pool_size=8,  # the sources call from a few threads at once
    )
    return gh, bool(token)


def describe(exc: BaseException) -> str:
    if isinstance(exc, RateLimitExceededException):
        return f"rate limited ({exc.status}): {_message(exc)}"
    if isinstance(exc, GithubException):
        if exc.status in (401,):
            return "401 Bad credentials (check GITHUB_TOKEN)"
        return f"HTTP {exc.status}: {_message(exc)}"
    if isinstance(exc, requests.exceptions.RetryError):
        return f"gave up after retries ({exc})"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "bad response: the body was cut short (truncated)"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"request failed: {type(exc).__name__}"
    if isinstance(exc, (TypeError, KeyError, AttributeError)):
        # PyGithub met JSON of an unexpected shape (e.g. a non-UTF-8 body decoded as latin-1).
        return f"bad response: unexpected JSON shape ({type(exc).__name__}: {exc})"
    if isinstance(exc, (ValueError, UnicodeDecodeError)):
        return f"bad response: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(data)[:200] if data else ""


async def run_blocking(source: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a daemon thread; its exceptions become SourceError."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)

    def target() -> None:
        try:
            value, error = fn(), None
        except SourceError as exc:
            value, error = None, exc
        except Exception as exc:  # SDK/transport errors: translated here, at the edge
            value, error = None, SourceError(describe(exc), path=source)
        # RuntimeError: the loop is gone (timed out and closed): nothing to report to
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=target, name=f"pgolf-{source}", daemon=True).start()
    result: T = await fut
    return result
