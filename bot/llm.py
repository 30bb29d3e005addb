"""The one Anthropic client layer of pgolf: client construction, retries, usage and dollars.

Everything that talks to Claude (grading, verification, the experimenter) goes through
:class:`LLM`:

* **Client** — ``anthropic.Anthropic(api_key=$ANTHROPIC_API_KEY, base_url=$ANTHROPIC_BASE_URL or
  the ``anthropic_base_url`` setting)``. No key → :func:`make_llm` returns ``None`` and callers use
  their offline path. The key is read from the environment only and never logged.
* **Retries** — the SDK's own retries are switched off (``max_retries=0``) and this module retries
  429 (rate limited), 529 (overloaded), 5xx, 408/409 and connection errors itself, up to
  ``llm_max_retries`` times, waiting what the service asks for (``retry-after-ms``, then
  ``retry-after`` in seconds or as an HTTP date) or an exponential backoff when it does not say,
  never longer than ``llm_retry_max_wait_seconds``. Doing it here makes each retry visible in the
  run's usage log (:attr:`UsageMeter.retries`).
* **Dollars** — :data:`PRICES` holds the per-model list prices (USD per million tokens). A
  response's ``usage`` is billed as documented by Anthropic:

  ====================================  ===========================
  usage field                           price
  ====================================  ===========================
  ``input_tokens``                      1 × input price
  ``cache_creation_input_tokens``       1.25 × input price (5-minute cache write)
  ``cache_read_input_tokens``           0.1 × input price
  ``output_tokens``                     1 × output price
  any of the above in a Message Batch   50 % of the above
  ====================================  ===========================

* **Budget** — a :class:`UsageMeter` carries the per-run ``max_usd``. Before each request the
  caller asks :meth:`UsageMeter.can_afford` with a worst-case estimate (:func:`estimate_cost`:
  every prompt token billed at the full input price, ``max_tokens`` of output); a request that
  could overrun the budget is not sent and the caller stops cleanly.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic

from bot.config import Settings
from bot.errors import BudgetBlocked, GradingError

CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.1
BATCH_MULTIPLIER = 0.5
CHARS_PER_TOKEN = 3.5  # conservative (over-)estimate of tokens from characters, for budgeting


@dataclass(frozen=True)
class ModelPrice:
    """List prices in USD per million tokens."""

    input: float
    output: float


# Per-model prices (USD / MTok), the one place they live. Dated model ids (…-20250929) match
# the longest listed prefix. Unknown models are billed at FALLBACK_PRICE (the dearest) so that
# a budget can only be overestimated.
PRICES: dict[str, ModelPrice] = {
    "claude-opus-5": ModelPrice(5.0, 25.0),
    "claude-opus-4-8": ModelPrice(5.0, 25.0),
    "claude-opus-4-7": ModelPrice(5.0, 25.0),
    "claude-opus-4-6": ModelPrice(5.0, 25.0),
    "claude-opus-4-5": ModelPrice(5.0, 25.0),
    "claude-opus-4-1": ModelPrice(15.0, 75.0),
    "claude-opus-4": ModelPrice(15.0, 75.0),
    "claude-sonnet-5": ModelPrice(2.0, 10.0),
    "claude-sonnet-4-6": ModelPrice(3.0, 15.0),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0),
    "claude-sonnet-4": ModelPrice(3.0, 15.0),
    "claude-3-7-sonnet": ModelPrice(3.0, 15.0),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0),
    "claude-3-5-haiku": ModelPrice(0.8, 4.0),
    "claude-3-haiku": ModelPrice(0.25, 1.25),
}
FALLBACK_PRICE = ModelPrice(15.0, 75.0)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def price_for(model: str) -> tuple[ModelPrice, bool]:
    """``(price, known)`` for ``model``; unknown models get :data:`FALLBACK_PRICE`."""
    best = ""
    for name in PRICES:
        if (model == name or model.startswith(name + "-")) and len(name) > len(best):
            best = name
    if best:
        return PRICES[best], True
    return FALLBACK_PRICE, False


@dataclass
class Usage:
    """Token counts of one or more responses."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def from_response(cls, usage: Any) -> Usage:
        """From an SDK ``Usage`` object or a plain dict (batch results)."""
        get: Callable[[str], Any]
        if isinstance(usage, Mapping):
            get = usage.get
        else:

            def get(name: str) -> Any:
                return getattr(usage, name, None)

        return cls(
            int(get("input_tokens") or 0),
            int(get("output_tokens") or 0),
            int(get("cache_creation_input_tokens") or 0),
            int(get("cache_read_input_tokens") or 0),
        )

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens

    def cost(self, price: ModelPrice, *, batch: bool = False) -> float:
        """Dollars for these tokens with the documented multipliers."""
        per = 1e-6
        usd = (
            self.input_tokens * price.input * per
            + self.cache_creation_input_tokens * price.input * CACHE_WRITE_MULTIPLIER * per
            + self.cache_read_input_tokens * price.input * CACHE_READ_MULTIPLIER * per
            + self.output_tokens * price.output * per
        )
        return usd * (BATCH_MULTIPLIER if batch else 1.0)

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }


@dataclass
class UsageMeter:
    """Usage and dollars of one run, with its budget."""

    model: str
    max_usd: float | None = None
    usage: Usage = field(default_factory=Usage)
    batch_usage: Usage = field(default_factory=Usage)
    usd: float = 0.0
    requests: int = 0
    batch_requests: int = 0
    retries: int = 0

    @property
    def price(self) -> ModelPrice:
        return price_for(self.model)[0]

    @property
    def price_known(self) -> bool:
        return price_for(self.model)[1]

    def record(self, usage: Usage, *, batch: bool = False) -> float:
        """Add one response's usage; returns its cost in dollars."""
        cost = usage.cost(self.price, batch=batch)
        if batch:
            self.batch_usage.add(usage)
            self.batch_requests += 1
        else:
            self.usage.add(usage)
            self.requests += 1
        self.usd += cost
        return cost

    @property
    def remaining(self) -> float | None:
        return None if self.max_usd is None else max(0.0, self.max_usd - self.usd)

    def can_afford(self, estimate_usd: float) -> bool:
        return self.max_usd is None or self.usd + estimate_usd <= self.max_usd + 1e-12

    def require(self, estimate_usd: float, what: str = "request") -> None:
        if not self.can_afford(estimate_usd):
            raise BudgetBlocked(
                f"{what} could cost up to ${estimate_usd:.4f}; ${self.usd:.4f} of the run's "
                f"${self.max_usd:.2f} is spent"
            )

    def total_usage(self) -> Usage:
        total = Usage()
        total.add(self.usage)
        total.add(self.batch_usage)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "price_per_mtok": {"input": self.price.input, "output": self.price.output},
            "price_known": self.price_known,
            "max_usd": self.max_usd,
            "usd": round(self.usd, 6),
            "requests": self.requests,
            "batch_requests": self.batch_requests,
            "retries": self.retries,
            "usage": self.usage.to_dict(),
            "batch_usage": self.batch_usage.to_dict(),
        }


def estimate_tokens(params: Mapping[str, Any]) -> int:
    """A deliberately high estimate of a request's prompt tokens (characters / 3.5)."""
    chars = 0
    for key in ("system", "messages", "tools"):
        if key in params:
            chars += len(json.dumps(params[key], ensure_ascii=False))
    return math.ceil(chars / CHARS_PER_TOKEN)


def estimate_cost(params: Mapping[str, Any], *, batch: bool = False) -> float:
    """Worst-case dollars of one request: all prompt tokens at full price, ``max_tokens`` out."""
    price, _ = price_for(str(params.get("model", "")))
    usd = (
        estimate_tokens(params) * price.input * 1e-6 + int(params.get("max_tokens", 0)) * price.output * 1e-6
    )
    return usd * (BATCH_MULTIPLIER if batch else 1.0)


def parse_retry_after(headers: Mapping[str, str] | Any, now: float | None = None) -> float | None:
    """Seconds the service asks us to wait: ``retry-after-ms``, then ``retry-after`` (s or date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(ra)
    if parsed is None:
        return None
    # the server's date is on the real clock: a duration from epoch seconds, not pgolf's (pinnable) date
    return max(0.0, float(email.utils.mktime_tz(parsed)) - (time.time() if now is None else now))


class LLM:
    """An Anthropic client with pgolf's retry policy and usage accounting."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        meter: UsageMeter,
        *,
        max_retries: int = 4,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.meter = meter
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep
        self.retry_log: list[dict[str, Any]] = []

    @property
    def model(self) -> str:
        return self.meter.model

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ retries
    def _wait_for(self, attempt: int, headers: Any) -> float:
        asked = parse_retry_after(headers)
        if asked is not None:
            return min(asked, self.max_wait)
        return min(self.max_wait, 0.5 * 2**attempt * (0.75 + 0.25 * random.random()))

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (one SDK call), retrying what the service says is transient."""
        attempt = 0
        while True:
            try:
                return fn()
            except anthropic.APIStatusError as exc:
                status = exc.status_code
                if status not in RETRY_STATUSES or attempt >= self.max_retries:
                    raise
                headers = exc.response.headers
            except anthropic.APIConnectionError:
                if attempt >= self.max_retries:
                    raise
                status, headers = 0, None
            wait = self._wait_for(attempt, headers)
            self.meter.retries += 1
            self.retry_log.append({"what": what, "status": status, "wait_s": round(wait, 3)})
            self.sleep(wait)
            attempt += 1

    # ------------------------------------------------------------------ messages
    def create_message(self, params: Mapping[str, Any], *, what: str = "messages.create") -> Any:
        """``messages.create(**params)`` with budget check, retries and usage accounting."""
        params = dict(params)
        params.setdefault("model", self.model)
        self.meter.require(estimate_cost(params), what)
        message = self.call(what, lambda: self.client.messages.create(**params))
        self.meter.record(Usage.from_response(message.usage))
        return message

    # ------------------------------------------------------------------ batches
    def create_batch(self, requests: list[dict[str, Any]]) -> Any:
        total = sum(estimate_cost(r["params"], batch=True) for r in requests)
        self.meter.require(total, f"a batch of {len(requests)} request(s)")
        return self.call("batches.create", lambda: self.client.messages.batches.create(requests=requests))  # type: ignore[arg-type]

    def retrieve_batch(self, batch_id: str) -> Any:
        return self.call("batches.retrieve", lambda: self.client.messages.batches.retrieve(batch_id))

    def cancel_batch(self, batch_id: str) -> Any:
        return self.call("batches.cancel", lambda: self.client.messages.batches.cancel(batch_id))

    def batch_results(self, batch_id: str) -> Iterator[Any]:
        """Every result line of an ended batch; succeeded ones are billed at the batch price."""
        results = self.call("batches.results", lambda: list(self.client.messages.batches.results(batch_id)))
        for entry in results:
            if entry.result.type == "succeeded":
                self.meter.record(Usage.from_response(entry.result.message.usage), batch=True)
            yield entry

    def wait_for_batch(
        self,
        batch_id: str,
        *,
        poll_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Any:
        """Poll until the batch has ended; on timeout cancel it and wait for the cancel to end it."""
        start = clock()
        canceled = False
        while True:
            batch = self.retrieve_batch(batch_id)
            if batch.processing_status == "ended":
                return batch
            if not canceled and clock() - start > timeout_seconds:
                self.cancel_batch(batch_id)
                canceled = True
            if canceled and clock() - start > timeout_seconds * 2 + 60:
                raise GradingError(f"batch {batch_id} did not end after being canceled")
            self.sleep(poll_seconds)


def api_key_from_env(env: Mapping[str, str]) -> str:
    return (env.get("ANTHROPIC_API_KEY") or "").strip()


def make_client(settings: Settings, env: Mapping[str, str]) -> anthropic.Anthropic | None:
    """The SDK client, or None when ``ANTHROPIC_API_KEY`` is not set (offline)."""
    key = api_key_from_env(env)
    if not key:
        return None
    base_url = (env.get("ANTHROPIC_BASE_URL") or settings.anthropic_base_url or "").strip() or None
    return anthropic.Anthropic(
        api_key=key,
        base_url=base_url,
        max_retries=0,  # retries are ours (LLM.call), so that each one is counted
        timeout=settings.llm_timeout_seconds,
    )


def make_llm(
    settings: Settings,
    env: Mapping[str, str],
    *,
    model: str,
    max_usd: float | None,
    sleep: Callable[[float], None] = time.sleep,
) -> LLM | None:
    """An :class:`LLM` for ``model`` with a fresh meter, or None offline."""
    client = make_client(settings, env)
    if client is None:
        return None
    meter = UsageMeter(model=model, max_usd=max_usd)
    return LLM(
        client,
        meter,
        max_retries=settings.llm_max_retries,
        max_wait=settings.llm_retry_max_wait_seconds,
        sleep=sleep,
    )
