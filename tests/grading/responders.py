"""Scripted "model" behaviour for the Anthropic emulator: answers grading requests.

:func:`grading_responder` reads the items of a grading request (the JSON lines between
``<items>`` and ``</items>``) and the rubric from the ``record_grades`` tool schema, and answers
with one in-range grade per item, derived from a hash of the item id (deterministic). Item ids
listed in ``bad`` get an out-of-range ``novelty`` instead, as long as their counter allows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from tests.emulators.anthropic import text_block, tool_block

ITEMS_RE = re.compile(r"<items>\n(.*?)\n</items>", re.S)


def request_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    content = body["messages"][-1]["content"]
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    m = ITEMS_RE.search(text)
    return [json.loads(line) for line in m.group(1).splitlines()] if m else []


def rubric_of(body: dict[str, Any]) -> dict[str, int]:
    tool = next(t for t in body["tools"] if t["name"] == "record_grades")
    props = tool["input_schema"]["properties"]["grades"]["items"]["properties"]
    return {k: v["maximum"] for k, v in props.items() if v.get("type") == "integer"}


def grade_for(item_id: str, rubric: dict[str, int]) -> dict[str, Any]:
    h = hashlib.sha256(item_id.encode()).digest()
    out: dict[str, Any] = {"item_id": item_id}
    for n, (dim, top) in enumerate(rubric.items()):
        out[dim] = h[n] % (top + 1)
    out["category"] = "quantization"
    out["rationale"] = "Replace int8 export with int6 QAT; saves bytes, risk of quality loss at low bits."
    return out


def grading_responder(bad: dict[str, int] | None = None) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    bad = dict(bad or {})

    def respond(body: dict[str, Any]) -> list[dict[str, Any]]:
        items = request_items(body)
        if not items:
            return [text_block("I have nothing to grade.")]
        rubric = rubric_of(body)
        grades = []
        for item in items:
            g = grade_for(item["id"], rubric)
            if bad.get(item["id"], 0) > 0:
                bad[item["id"]] -= 1
                g["novelty"] = 9
            grades.append(g)
        return [tool_block("record_grades", {"grades": grades})]

    return respond
