"""The static rule on what a candidate adds (issue 13 item 6): a second wall, naming rule and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent.astrule import added_findings, findings
from bot.agent.validate import Validator, check_patch, check_scope, check_static
from bot.config import load_settings
from tests.agent.test_validate import A, B, candidate

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / A).read_text(encoding="utf-8")
MARK = "from __future__ import annotations\n"


def _added(extra: str) -> list[tuple[str, int]]:
    """Rule and line of every finding that ``extra`` (inserted after the __future__ import) adds."""
    assert BASE.count(MARK) == 1
    cand = BASE.replace(MARK, MARK + extra, 1)
    return [(f.rule, f.line) for f in added_findings(BASE, cand, A)]


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ("__import__('os').system('id')\n", "dynamic-code"),
        ("import importlib\nimportlib.import_module('sub' + 'process')\n", "import"),
        ("_e = open('/proc/self/environ').read()\n", "path"),
        ("import subprocess as sp\n", "import"),
        ("from socket import create_connection\n", "import"),
        ("import urllib.request\n", "import"),
        ("from http import client\n", "import"),
        ("import ctypes\n", "import"),
        ("import shutil\n", "import"),
        ("exec('print(1)')\n", "dynamic-code"),
        ("eval('1')\n", "dynamic-code"),
        ("compile('1', 'x', 'eval')\n", "dynamic-code"),
        ("getattr(__builtins__, 'ev' + 'al')('1')\n", "builtins"),
        ("_x = ().__class__.__base__.__subclasses__()\n", "builtins"),
        ("_h = open('~/.ssh/id_rsa')\n", "path"),
        ("import pathlib\n_h = pathlib.Path.home()\n", "path"),
        ("os.system('id')\n", "module-call"),
        ("_env = dict(os.environ)\nos.execv('/bin/sh', ['sh'])\n", "module-call"),
    ],
)
def test_each_rule_names_itself_and_the_line(extra: str, rule: str) -> None:
    got = _added(extra)
    assert got, f"not flagged: {extra!r}"
    first_line = MARK_LINE + 1
    assert rule in {r for r, _ in got}
    assert all(line >= first_line for _, line in got)
    assert any(line == first_line + extra.count("\n") - 1 for _, line in got) or len(got) > 1


MARK_LINE = BASE[: BASE.index(MARK)].count("\n") + 1


@pytest.mark.parametrize(
    "extra",
    [
        "_k = int(os.environ.get('NEW_KNOB', '3'))\n",  # a new knob
        "_p = os.path.join('a', 'b')\n",
        "import math\n_m = math.sqrt(2.0)\n",
        "_c = torch.compile\n",  # an attribute, not the builtin compile()
        "_s = 'no proc here, ~ only inside'\n",
    ],
)
def test_what_training_code_needs_is_not_flagged(extra: str) -> None:
    assert _added(extra) == []


def test_what_the_base_already_has_is_not_new() -> None:
    base_findings = findings(BASE, A)
    assert any(f.rule == "import" and f.code == "import os" for f in base_findings)
    assert added_findings(BASE, BASE, A) == []
    # ... but a second copy of a flagged construct is new
    dup = BASE + "\n__import__('copy')\n"
    assert [f.rule for f in added_findings(BASE, dup, A)] == ["dynamic-code"]


def test_the_static_check_rejects_naming_rule_and_line_and_can_be_switched_off(repo: Path) -> None:
    files = {
        rel: (repo / rel).read_text().replace(MARK, MARK + "__import__('os').system('id')\n", 1)
        for rel in (A, B)
    }
    cand = candidate(repo, files)
    on = load_settings(repo, env={})
    r = Validator(repo, on, checks=[check_scope, check_patch, check_static]).validate(cand)
    assert not r.ok and r.failure is not None and r.failure.name == "static"
    line = files[A][: files[A].index("__import__('os')")].count("\n") + 1
    assert f"rule `dynamic-code` at {A} line {line}: __import__('os') — " in r.message()
    off = load_settings(repo, env={}, overrides={"candidate_ast_rule": "false"})
    r = Validator(repo, off, checks=[check_scope, check_patch, check_static]).validate(cand)
    assert r.ok and "switched off" in r.checks[-1].detail


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ("_b = globals()['__builtins__']\n", "builtins"),
        ("import posix\nposix.system('id')\n", "import"),
        ("import pty\n", "import"),
        ("import runpy\n", "import"),
        ("import sys\n_o = sys.modules['o' + 's']\n", "builtins"),
        ("_e = open('/pr' + 'oc/1/environ').read()\n", "path"),
        ("import pickle\npickle.loads(b'')\n", "import"),
        ("import marshal\n", "import"),
    ],
)
def test_the_obvious_detours_are_named_too(extra: str, rule: str) -> None:
    """The same reach spelled another way: the builtins by name, os's C twin, sys.modules, a
    split /proc string, code from bytes."""
    assert rule in {r for r, _ in _added(extra)}, extra
