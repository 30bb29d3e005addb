"""Anthropic API emulator: Messages and Message Batches on 127.0.0.1.

Speaks the documented wire format the ``anthropic`` SDK expects:

* ``POST /v1/messages`` → a ``message`` object (``content`` blocks, ``stop_reason``, ``usage`` with
  ``input_tokens``, ``output_tokens``, ``cache_creation_input_tokens``,
  ``cache_read_input_tokens``); requests need ``x-api-key`` and ``anthropic-version`` headers.
* ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
  ``POST /v1/messages/batches/{id}/cancel``, ``GET /v1/messages/batches/{id}/results`` (JSONL of
  ``{"custom_id", "result": {"type": "succeeded"|"errored"|"expired"|"canceled", …}}``).
* Errors as ``{"type": "error", "error": {"type": …, "message": …}, "request_id": …}`` with the
  documented types (``rate_limit_error`` 429 and ``overloaded_error`` 529 with ``retry-after``).

**Prompt caching.** Tokens are counted as ``ceil(len(json)/4)`` per block. The prompt is the
sequence tools → system blocks → message content blocks. A block carrying ``cache_control``
is a breakpoint; a request whose prefix up to a breakpoint equals (same model, same blocks) one
cached earlier and not expired (5 minutes, or 1 hour with ``"ttl": "1h"``) reads those tokens
from the cache; otherwise the prefix up to the last breakpoint is written to the cache when it is
at least ``min_cache_tokens`` long. ``input_tokens`` counts only the tokens after the cached or
written prefix, as the real API reports.

**Answers.** Each request is answered by, in order: the next entry of :attr:`script` (a list of
content blocks, or a callable ``body -> blocks``), then :attr:`responder` (callable), else a text
block ``"OK"``. Scripted answers may be malformed on purpose (text where a tool call was asked,
out-of-range values, …). :meth:`batch_outcome` scripts a batch entry's result as errored, expired
or canceled.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import clock
from tests.emulators.base import Emulator, Request, Response, json_response

Blocks = list[dict[str, Any]]
Answer = Blocks | Callable[[dict[str, Any]], Blocks]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def tokens_of(obj: Any) -> int:
    """The emulator's tokenizer: one token per 4 characters of the block's JSON."""
    return max(1, math.ceil(len(json.dumps(obj, ensure_ascii=False, sort_keys=True)) / 4))


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_block(name: str, input_: Any, id_: str | None = None) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": id_ or f"toolu_{hashlib.sha1(repr(input_).encode()).hexdigest()[:20]}",
        "name": name,
        "input": input_,
    }


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Batch:
    id: str
    requests: list[dict[str, Any]]
    created_at: datetime
    polls: int = 0
    status: str = "in_progress"
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


class AnthropicEmulator(Emulator):
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str = "sk-ant-test",
        min_cache_tokens: int = 1024,
        polls_until_ended: int = 2,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.min_cache_tokens = min_cache_tokens
        self.polls_until_ended = polls_until_ended
        self.script: deque[Answer] = deque()
        self.responder: Callable[[dict[str, Any]], Blocks] | None = None
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.cache: dict[str, float] = {}
        self.batches: dict[str, Batch] = {}
        self.messages: list[dict[str, Any]] = []  # every answered request: body + usage (incl. batch entries)
        self.clock: Callable[[], float] = time.time
        self._ids = itertools.count(1)
        self._state = threading.Lock()
        self.add_route("POST", r"/v1/messages", self._messages)
        self.add_route("POST", r"/v1/messages/batches", self._batch_create)
        self.add_route("GET", r"/v1/messages/batches/(?P<id>[^/]+)", self._batch_get)
        self.add_route("POST", r"/v1/messages/batches/(?P<id>[^/]+)/cancel", self._batch_cancel)
        self.add_route("GET", r"/v1/messages/batches/(?P<id>[^/]+)/results", self._batch_results)

    # ------------------------------------------------------------------ scripting
    def answer_with(self, *answers: Answer) -> None:
        """Queue answers for the next requests (Messages or batch entries, in processing order)."""
        self.script.extend(answers)

    def batch_outcome(self, custom_id: str, kind: str, error_type: str = "api_error") -> None:
        """Make the batch entry ``custom_id`` end as ``errored`` / ``expired`` / ``canceled``."""
        if kind not in ("errored", "expired", "canceled"):
            raise ValueError(kind)
        self.outcomes[custom_id] = {"kind": kind, "error_type": error_type}

    # ------------------------------------------------------------------ errors
    def error_body(self, status: int) -> Any:
        return self._error(status, f"emulated HTTP {status}")

    def _error(self, status: int, message: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": f"req_emu{next(self._ids):06d}",
        }

    def _auth(self, req: Request) -> Response | None:
        bearer = (req.header("authorization") or "").removeprefix("Bearer ").strip()
        if self.api_key not in (req.header("x-api-key"), bearer):
            return json_response(self._error(401, "invalid x-api-key"), 401)
        if not req.header("anthropic-version"):
            return json_response(self._error(400, "anthropic-version header is required"), 400)
        return None

    # ------------------------------------------------------------------ messages
    @staticmethod
    def validate_params(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body: expected an object"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            return "max_tokens: Field required"
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return "messages: Field required"
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if msgs[0].get("role") != "user":
            return "messages: first message must use the 'user' role"
        tools = body.get("tools", [])
        if not isinstance(tools, list) or any(
            not isinstance(t, dict) or not t.get("name") or "input_schema" not in t for t in tools
        ):
            return "tools: each tool needs name and input_schema"
        choice = body.get("tool_choice")
        if (
            isinstance(choice, dict)
            and choice.get("type") == "tool"
            and choice.get("name") not in {t["name"] for t in tools}
        ):
            return f"tool_choice.name: no tool named {choice.get('name')!r}"
        breakpoints = sum(1 for _, cc in AnthropicEmulator._segments(body) if cc)
        if breakpoints > 4:
            return "A maximum of 4 blocks with cache_control may be provided."
        return None

    @staticmethod
    def _segments(body: dict[str, Any]) -> list[tuple[Any, dict[str, Any] | None]]:
        """The prompt as (block without cache_control, cache_control or None), in cache order."""
        out: list[tuple[Any, dict[str, Any] | None]] = []

        def strip(b: Any) -> tuple[Any, dict[str, Any] | None]:
            if isinstance(b, dict) and "cache_control" in b:
                rest = {k: v for k, v in b.items() if k != "cache_control"}
                return rest, b["cache_control"]
            return b, None

        for t in body.get("tools") or []:
            out.append(strip(t))
        system = body.get("system")
        if isinstance(system, str) and system:
            out.append((system, None))
        elif isinstance(system, list):
            out.extend(strip(b) for b in system)
        for m in body.get("messages") or []:
            content = m.get("content")
            if isinstance(content, str):
                out.append(({"role": m.get("role"), "text": content}, None))
            elif isinstance(content, list):
                for b in content:
                    blk, cc = strip(b)
                    out.append(({"role": m.get("role"), "block": blk}, cc))
        return out

    def _usage_for(self, body: dict[str, Any]) -> dict[str, int]:
        segs = self._segments(body)
        cum: list[int] = []
        total = 0
        for blk, _ in segs:
            total += tokens_of(blk)
            cum.append(total)
        now = self.clock()
        keys: list[tuple[int, str, float]] = []
        h = hashlib.sha256(str(body.get("model")).encode())
        for i, (blk, cc) in enumerate(segs):
            h.update(json.dumps(blk, sort_keys=True).encode())
            if cc is not None:
                ttl = 3600.0 if cc.get("ttl") == "1h" else 300.0
                keys.append((i, h.copy().hexdigest(), ttl))
        read = 0
        with self._state:
            for i, key, ttl in reversed(keys):
                if self.cache.get(key, 0.0) > now:
                    read = cum[i]
                    self.cache[key] = now + ttl
                    break
            written_to = read
            for i, key, ttl in keys:
                if cum[i] >= self.min_cache_tokens and cum[i] > read:
                    self.cache[key] = now + ttl
                    written_to = max(written_to, cum[i])
        creation = written_to - read
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
        }

    def _answer(self, body: dict[str, Any]) -> Blocks:
        with self._state:
            entry = self.script.popleft() if self.script else None
        if entry is None:
            return self.responder(body) if self.responder else [text_block("OK")]
        return entry(body) if callable(entry) else entry

    def complete(self, body: dict[str, Any], *, service_tier: str = "standard") -> dict[str, Any]:
        content = self._answer(body)
        usage: dict[str, Any] = self._usage_for(body)
        usage["output_tokens"] = tokens_of(content)
        usage["service_tier"] = service_tier
        stop = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
        msg = {
            "id": f"msg_emu{next(self._ids):08d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        with self._state:
            self.messages.append({"body": body, "usage": usage, "tier": service_tier})
        return msg

    def _messages(self, req: Request) -> Response:
        denied = self._auth(req)
        if denied:
            return denied
        try:
            body = req.json()
        except ValueError:
            return json_response(self._error(400, "body is not JSON"), 400)
        problem = self.validate_params(body)
        if problem:
            return json_response(self._error(400, problem), 400)
        return json_response(self.complete(body), 200, {"request-id": f"req_emu{next(self._ids):06d}"})

    # ------------------------------------------------------------------ batches
    def _batch_json(self, b: Batch) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if b.status == "ended":
            for r in b.results:
                counts[r["result"]["type"]] += 1
        else:
            counts["processing"] = len(b.requests)
        return {
            "id": b.id,
            "type": "message_batch",
            "processing_status": b.status,
            "request_counts": counts,
            "created_at": _iso(b.created_at),
            "expires_at": _iso(b.created_at + timedelta(hours=24)),
            "ended_at": _iso(b.ended_at) if b.ended_at else None,
            "archived_at": None,
            "cancel_initiated_at": _iso(b.cancel_initiated_at) if b.cancel_initiated_at else None,
            "results_url": f"{self.url}/v1/messages/batches/{b.id}/results" if b.status == "ended" else None,
        }

    def _batch_create(self, req: Request) -> Response:
        denied = self._auth(req)
        if denied:
            return denied
        body = req.json()
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return json_response(self._error(400, "requests: Field required"), 400)
        seen: set[str] = set()
        for i, r in enumerate(requests):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not cid:
                return json_response(self._error(400, f"requests.{i}.custom_id: Field required"), 400)
            if cid in seen:
                return json_response(self._error(400, f"requests.{i}.custom_id: duplicate {cid!r}"), 400)
            seen.add(cid)
            problem = self.validate_params(r.get("params"))
            if problem:
                return json_response(self._error(400, f"requests.{i}.params.{problem}"), 400)
        b = Batch(f"msgbatch_emu{next(self._ids):08d}", requests, clock.now())
        with self._state:
            self.batches[b.id] = b
        return json_response(self._batch_json(b))

    def _end(self, b: Batch, canceled: bool = False) -> None:
        results = []
        for r in b.requests:
            cid = r["custom_id"]
            outcome = self.outcomes.pop(cid, None)
            kind = "canceled" if canceled else (outcome["kind"] if outcome else "succeeded")
            if kind == "succeeded":
                result: dict[str, Any] = {
                    "type": "succeeded",
                    "message": self.complete(r["params"], service_tier="batch"),
                }
            elif kind == "errored":
                err = self._error(500, "emulated batch entry error")
                err["error"]["type"] = outcome["error_type"] if outcome else "api_error"
                result = {"type": "errored", "error": err}
            else:
                result = {"type": kind}
            results.append({"custom_id": cid, "result": result})
        b.results = results
        b.status = "ended"
        b.ended_at = clock.now()

    def _find(self, req: Request) -> tuple[Batch | None, Response | None]:
        denied = self._auth(req)
        if denied:
            return None, denied
        b = self.batches.get(req.params["id"])
        if b is None:
            return None, json_response(self._error(404, f"no batch {req.params['id']}"), 404)
        return b, None

    def _batch_get(self, req: Request) -> Response:
        b, err = self._find(req)
        if err or b is None:
            return err or Response(500)
        b.polls += 1
        if b.status == "canceling":
            self._end(b, canceled=True)
        elif b.status == "in_progress" and b.polls >= self.polls_until_ended:
            self._end(b)
        return json_response(self._batch_json(b))

    def _batch_cancel(self, req: Request) -> Response:
        b, err = self._find(req)
        if err or b is None:
            return err or Response(500)
        if b.status == "in_progress":
            b.status = "canceling"
            b.cancel_initiated_at = clock.now()
        return json_response(self._batch_json(b))

    def _batch_results(self, req: Request) -> Response:
        b, err = self._find(req)
        if err or b is None:
            return err or Response(500)
        if b.status != "ended":
            return json_response(self._error(400, "batch has not ended; results are not available"), 400)
        lines = "".join(json.dumps(r) + "\n" for r in b.results)
        return Response(200, lines, {}, "application/binary")

    # ------------------------------------------------------------------ figures
    def totals(self, tier: str | None = None) -> dict[str, int]:
        out = {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        for m in self.messages:
            if tier is None or m["tier"] == tier:
                for k in out:
                    out[k] += int(m["usage"][k])
        return out
