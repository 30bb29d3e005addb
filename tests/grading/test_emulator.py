"""The Anthropic emulator's own contract: auth, validation, cache semantics, batch states."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.emulators.anthropic import AnthropicEmulator, tokens_of

MODEL = "claude-haiku-4-5"


@pytest.fixture
def client(emu: AnthropicEmulator) -> Iterator[anthropic.Anthropic]:
    c = anthropic.Anthropic(api_key=emu.api_key, base_url=emu.url, max_retries=0)
    yield c
    c.close()


def _sys(text: str, cache: bool = True) -> list[dict[str, object]]:
    block: dict[str, object] = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return [block]


def test_auth_and_validation(emu: AnthropicEmulator) -> None:
    bad = anthropic.Anthropic(api_key="nope", base_url=emu.url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    good = anthropic.Anthropic(api_key=emu.api_key, base_url=emu.url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="first message must use the 'user' role"):
        good.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "assistant", "content": "x"}])
    too_many = [{"type": "text", "text": f"b{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        good.messages.create(
            model=MODEL, max_tokens=5, system=too_many, messages=[{"role": "user", "content": "x"}]
        )  # type: ignore[arg-type]


def test_short_prefixes_are_not_cached(client: anthropic.Anthropic) -> None:
    for _ in range(2):
        m = client.messages.create(
            model=MODEL, max_tokens=5, system=_sys("short"), messages=[{"role": "user", "content": "x"}]
        )  # type: ignore[arg-type]
        assert m.usage.cache_creation_input_tokens == 0 and m.usage.cache_read_input_tokens == 0


def test_prefix_match_up_to_the_breakpoint_and_expiry(
    emu: AnthropicEmulator, client: anthropic.Anthropic
) -> None:
    now = [1000.0]
    emu.clock = lambda: now[0]
    system = _sys("x" * 6000)
    a = client.messages.create(
        model=MODEL, max_tokens=5, system=system, messages=[{"role": "user", "content": "a"}]
    )  # type: ignore[arg-type]
    total = a.usage.input_tokens + a.usage.cache_creation_input_tokens
    assert a.usage.cache_creation_input_tokens == tokens_of({"type": "text", "text": "x" * 6000})
    b = client.messages.create(
        model=MODEL, max_tokens=5, system=system, messages=[{"role": "user", "content": "b"}]
    )  # type: ignore[arg-type]
    assert b.usage.cache_read_input_tokens == a.usage.cache_creation_input_tokens
    assert b.usage.input_tokens + b.usage.cache_read_input_tokens == total
    other_model = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=5, system=system, messages=[{"role": "user", "content": "b"}]
    )  # type: ignore[arg-type]
    assert other_model.usage.cache_read_input_tokens == 0
    now[0] += 301  # the 5-minute TTL (refreshed by the hit at t=1000) has passed
    c = client.messages.create(
        model=MODEL, max_tokens=5, system=system, messages=[{"role": "user", "content": "c"}]
    )  # type: ignore[arg-type]
    assert c.usage.cache_read_input_tokens == 0 and c.usage.cache_creation_input_tokens > 0


def test_results_only_after_the_batch_ended(emu: AnthropicEmulator, client: anthropic.Anthropic) -> None:
    emu.polls_until_ended = 5
    params = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": params}])  # type: ignore[list-item]
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 1
    with pytest.raises(anthropic.BadRequestError):
        client.get(f"/v1/messages/batches/{batch.id}/results", cast_to=object)
    with pytest.raises(anthropic.BadRequestError, match="duplicate"):
        client.messages.batches.create(requests=[{"custom_id": "a", "params": params}] * 2)  # type: ignore[list-item]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_missing")
