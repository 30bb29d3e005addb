"""A small evaluator of GitHub Actions expressions, for job-level ``if:`` conditions in tests.

Supports what our workflows use (docs: "Evaluate expressions in workflows and actions"): literals
('string', numbers, true/false/null), context paths with ``.name`` and ``.*`` object filters,
``==`` / ``!=`` (loosely typed, strings compared case-insensitively), ``!``, ``&&`` / ``||``
(returning an operand, as GitHub does), parentheses, and the functions ``contains``,
``startsWith``, ``endsWith``, ``format`` and ``fromJSON``.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!(),.\[\]*])|(?P<name>[A-Za-z_][\w-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"cannot read {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _truthy(v: Any) -> bool:
    return v not in (None, False, 0, "") and not (isinstance(v, float) and v != v)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


class _Parser:
    def __init__(self, text: str, ctx: dict[str, Any]):
        self.t = _tokens(text)
        self.i = 0
        self.ctx = ctx

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ValueError(f"expected {value!r}, got {tok}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        v = self.or_()
        if self.peek() is not None:
            raise ValueError(f"trailing {self.peek()}")
        return v

    def or_(self) -> Any:
        v = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            rhs = self.and_()
            v = v if _truthy(v) else rhs
        return v

    def and_(self) -> Any:
        v = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            rhs = self.cmp()
            v = rhs if _truthy(v) else v
        return v

    def cmp(self) -> Any:
        v = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            rhs = self.unary()
            v = _eq(v, rhs) if op == "==" else not _eq(v, rhs)
        return v

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, val = self.take()
        if kind == "str":
            return val[1:-1].replace("''", "'")
        if kind == "num":
            return float(val)
        if (kind, val) == ("op", "("):
            v = self.or_()
            self.take(")")
            return v
        if kind != "name":
            raise ValueError(f"unexpected {val!r}")
        if val in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[val]
        if self.peek() == ("op", "("):
            self.take("(")
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self.call(val, args)
        return self.path(self.ctx.get(val))

    def path(self, cur: Any) -> Any:
        while self.peek() == ("op", "."):
            self.take()
            _kind, name = self.take()
            if name == "*":
                cur = list(cur.values()) if isinstance(cur, dict) else list(cur or [])
                continue
            if isinstance(cur, list):
                cur = [x.get(name) if isinstance(x, dict) else None for x in cur]
            else:
                cur = cur.get(name) if isinstance(cur, dict) else None
        return cur

    @staticmethod
    def call(name: str, args: list[Any]) -> Any:
        low = name.lower()
        if low == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(_eq(x, needle) for x in hay)
            return str(needle).lower() in str(hay or "").lower()
        if low == "startswith":
            return str(args[0] or "").lower().startswith(str(args[1]).lower())
        if low == "endswith":
            return str(args[0] or "").lower().endswith(str(args[1]).lower())
        if low == "format":
            return re.sub(r"\{(\d+)\}", lambda m: str(args[1 + int(m.group(1))]), str(args[0]))
        if low == "fromjson":
            return json.loads(args[0])
        raise ValueError(f"unknown function {name}")


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """The value of ``expression`` (an ``if:`` string, with or without ``${{ }}``) in ``context``."""
    return _Parser(expression, context).parse()


def job_runs(condition: str | None, context: dict[str, Any]) -> bool:
    """Whether a job with this ``if:`` starts (a missing condition means success())."""
    return True if condition is None else _truthy(evaluate(condition, context))
