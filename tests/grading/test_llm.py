"""bot.llm: prices, usage → dollars, retry policy and budget, against the Anthropic emulator."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

import anthropic
import pytest

from bot.errors import BudgetBlocked
from bot.llm import (
    FALLBACK_PRICE,
    LLM,
    Usage,
    UsageMeter,
    estimate_cost,
    make_client,
    make_llm,
    parse_retry_after,
    price_for,
)
from tests.emulators.anthropic import AnthropicEmulator
from tests.grading.conftest import settings_for

MODEL = "claude-sonnet-4-6"


def _params(system_chars: int = 8000, user: str = "hello") -> dict[str, object]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "system": [{"type": "text", "text": "r" * system_chars, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": user}],
    }


def test_price_table_matches_dated_ids_and_falls_back_high() -> None:
    price, known = price_for("claude-sonnet-4-5-20250929")
    assert known and (price.input, price.output) == (3.0, 15.0)
    assert price_for("claude-opus-4-1")[0].input == 15.0
    assert price_for("claude-opus-4-5")[0].input == 5.0  # the longest prefix wins over claude-opus-4
    price, known = price_for("some-new-model")
    assert not known and price == FALLBACK_PRICE


def test_usage_cost_uses_documented_multipliers() -> None:
    price = price_for(MODEL)[0]
    m = 1_000_000
    assert Usage(input_tokens=m).cost(price) == pytest.approx(3.0)
    assert Usage(cache_creation_input_tokens=m).cost(price) == pytest.approx(3.75)  # 1.25×
    assert Usage(cache_read_input_tokens=m).cost(price) == pytest.approx(0.30)  # 0.1×
    assert Usage(output_tokens=m).cost(price) == pytest.approx(15.0)
    both = Usage(m, m, m, m)
    assert both.cost(price, batch=True) == pytest.approx(both.cost(price) / 2)  # batch 50 % off


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    date = formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after({}) is None
    # a server's HTTP date is on the real clock, whatever date pgolf's clock is pinned to
    soon = parse_retry_after({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert soon is not None and 25.0 <= soon <= 31.0, soon
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_no_key_means_offline(tmp_path: Path) -> None:
    s = settings_for(tmp_path)
    assert make_client(s, {}) is None
    assert make_llm(s, {"ANTHROPIC_API_KEY": "  "}, model=MODEL, max_usd=1.0) is None


def test_base_url_env_wins_over_setting(tmp_path: Path, emu: AnthropicEmulator) -> None:
    s = settings_for(tmp_path, anthropic_base_url="http://127.0.0.1:9")
    client = make_client(s, {"ANTHROPIC_API_KEY": emu.api_key, "ANTHROPIC_BASE_URL": emu.url})
    assert client is not None and str(client.base_url).rstrip("/") == emu.url
    client2 = make_client(s, {"ANTHROPIC_API_KEY": emu.api_key})
    assert client2 is not None and str(client2.base_url).startswith("http://127.0.0.1:9")


def _llm(emu: AnthropicEmulator, tmp_path: Path, waits: list[float], **kw: object) -> LLM:
    s = settings_for(tmp_path, llm_retry_max_wait_seconds=30, **kw)
    llm = make_llm(
        s,
        {"ANTHROPIC_API_KEY": emu.api_key, "ANTHROPIC_BASE_URL": emu.url},
        model=MODEL,
        max_usd=5.0,
        sleep=waits.append,
    )
    assert llm is not None
    return llm


@pytest.mark.parametrize("status", ["429", "529"])
def test_retries_follow_retry_after(emu: AnthropicEmulator, tmp_path: Path, status: str) -> None:
    waits: list[float] = []
    llm = _llm(emu, tmp_path, waits)
    emu.fail_next(status, times=2, retry_after="3")
    msg = llm.create_message(_params())
    assert msg.content[0].text == "OK"
    assert waits == [3.0, 3.0]  # exactly what the service asked for
    assert llm.meter.retries == 2 and llm.meter.requests == 1
    assert [r["status"] for r in llm.retry_log] == [int(status)] * 2
    assert len([r for r in emu.requests if r.path == "/v1/messages"]) == 3


def test_retries_exhausted_raise_typed_error(emu: AnthropicEmulator, tmp_path: Path) -> None:
    waits: list[float] = []
    llm = _llm(emu, tmp_path, waits, llm_max_retries=2)
    emu.fail_next("529", times=5)  # no retry-after: exponential backoff
    with pytest.raises(anthropic.InternalServerError) as info:
        llm.create_message(_params())
    assert info.value.status_code == 529
    assert len(waits) == 2 and waits[1] > waits[0] > 0
    assert llm.meter.requests == 0 and llm.meter.usd == 0


def test_client_errors_are_not_retried(emu: AnthropicEmulator, tmp_path: Path) -> None:
    waits: list[float] = []
    llm = _llm(emu, tmp_path, waits)
    with pytest.raises(anthropic.BadRequestError):
        llm.create_message({"model": MODEL, "max_tokens": 5, "messages": []})
    assert waits == []


def test_usage_accounting_with_cache_hits(emu: AnthropicEmulator, tmp_path: Path) -> None:
    llm = _llm(emu, tmp_path, [])
    first = llm.create_message(_params(user="one"))
    second = llm.create_message(_params(user="two"))
    assert first.usage.cache_creation_input_tokens > 1024 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    price = price_for(MODEL)[0]
    expected = Usage.from_response(first.usage).cost(price) + Usage.from_response(second.usage).cost(price)
    assert llm.meter.usd == pytest.approx(expected)
    assert llm.meter.usage.cache_read_input_tokens == second.usage.cache_read_input_tokens
    # A different prefix misses the cache.
    third = llm.create_message(_params(system_chars=8004, user="two"))
    assert third.usage.cache_read_input_tokens == 0 and third.usage.cache_creation_input_tokens > 0


def test_budget_refuses_a_request_that_could_overrun(emu: AnthropicEmulator, tmp_path: Path) -> None:
    llm = _llm(emu, tmp_path, [])
    llm.meter.max_usd = estimate_cost(_params()) * 0.5
    with pytest.raises(BudgetBlocked):
        llm.create_message(_params())
    assert emu.requests == []  # nothing was sent


def test_meter_to_dict_has_the_breakdown() -> None:
    meter = UsageMeter(model=MODEL, max_usd=1.0)
    cost = meter.record(Usage(100, 10, 1000, 0))
    meter.record(Usage(100, 10, 0, 1000), batch=True)
    d = meter.to_dict()
    assert d["usage"]["cache_creation_input_tokens"] == 1000
    assert d["batch_usage"]["cache_read_input_tokens"] == 1000
    assert d["requests"] == 1 and d["batch_requests"] == 1
    assert cost == pytest.approx((100 * 3 + 10 * 15 + 1000 * 3.75) / 1e6)
    assert meter.remaining == pytest.approx(1.0 - meter.usd)
