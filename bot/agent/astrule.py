"""A static rule on what a candidate *adds* to the training scripts (a second wall only).

The sandbox (:mod:`bot.sandbox`) is what keeps a hostile script from the orchestrator's secrets;
this rule only makes the obvious attempts fail early, with a message the model can act on. It is
applied by the experimenter's ``static`` check (:func:`bot.agent.validate.check_static`) and can
be switched off with the ``candidate_ast_rule`` setting (the attack tests do, so that they
measure the sandbox alone).

What is refused, when it is new relative to the base commit (a construct already in the base
script, the same source text as many times, is not new):

``import``
    importing ``os``, ``subprocess``, ``socket``, ``urllib``, ``http``, ``importlib``, ``ctypes``,
    ``shutil`` or ``builtins`` (``import x``, ``import x.y``, ``from x import y``);
``module-call``
    calling anything reached through one of those modules (``os.system(...)``,
    ``subprocess.run(...)``), except the few read-only helpers training scripts use for their
    knobs and paths (:data:`ALLOWED_CALLS`);
``dynamic-code``
    calling ``__import__``, ``exec``, ``eval`` or ``compile`` (``torch.compile`` is an attribute
    and stays allowed);
``builtins``
    ``getattr``/``vars`` on builtins, any use of ``__builtins__`` (also as a string, as in
    ``globals()['__builtins__']``), ``sys.modules``, and the escape hatches
    ``__import__``/``__globals__``/``__subclasses__``/``__loader__`` as attributes;
``path``
    a string naming ``/proc`` or starting with ``~`` (also when spelled as a sum of literals,
    ``'/pr' + 'oc'``), or ``Path.home()``/``expanduser``.
"""

from __future__ import annotations

import ast
import contextlib
from collections import Counter
from dataclasses import dataclass

BANNED_MODULES = frozenset(
    {
        "os",
        "subprocess",
        "socket",
        "urllib",
        "http",
        "importlib",
        "ctypes",
        "shutil",
        "builtins",
        # the same reach by another name: os's C twin, a shell, code run from bytes
        "posix",
        "nt",
        "pty",
        "runpy",
        "pickle",
        "marshal",
    }
)
DYNAMIC_CALLS = frozenset({"__import__", "exec", "eval", "compile"})
ESCAPE_ATTRS = frozenset({"__import__", "__builtins__", "__globals__", "__subclasses__", "__loader__"})
ALLOWED_CALLS = frozenset(
    {
        "os.environ.get",
        "os.getenv",
        "os.path.join",
        "os.path.abspath",
        "os.path.exists",
        "os.path.isfile",
        "os.path.isdir",
        "os.path.basename",
        "os.path.dirname",
        "os.path.getsize",
        "os.makedirs",
        "os.cpu_count",
    }
)
HOME_CALLS = frozenset({"home", "expanduser"})


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int
    code: str
    why: str

    def __str__(self) -> str:
        return f"rule `{self.rule}` at {self.path} line {self.line}: {self.code} — {self.why}"


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _literal(node: ast.AST) -> str | None:
    """The string a literal (or a ``+`` of literals, not inside a larger one) spells; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _snippet(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 120 else text[:119] + "…"


def findings(source: str, path: str = "<candidate>") -> list[Finding]:
    """Every construct of ``source`` the rule names (not yet compared with a base)."""
    tree = ast.parse(source, filename=path)
    aliases: dict[str, str] = {}  # local name → banned module it is bound to
    out: list[Finding] = []

    def add(rule: str, node: ast.AST, why: str) -> None:
        out.append(Finding(rule, path, getattr(node, "lineno", 0), _snippet(node), why))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                if top in BANNED_MODULES:
                    aliases[a.asname or top] = top
                    add("import", node, f"imports {a.name}, which a training script must not add")
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if node.level == 0 and top in BANNED_MODULES:
                for a in node.names:
                    aliases[a.asname or a.name] = top
                add("import", node, f"imports from {node.module}, which a training script must not add")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_CALLS:
                add("dynamic-code", node, f"{node.func.id}() runs code built at run time")
            elif isinstance(node.func, ast.Name) and node.func.id in ("getattr", "vars", "setattr"):
                first = node.args[0] if node.args else None
                if first is not None and _dotted(first) in ("__builtins__", "builtins"):
                    add("builtins", node, f"{node.func.id}() on builtins reaches __import__/exec")
            elif name:
                root = name.split(".")[0]
                if root in aliases and name not in ALLOWED_CALLS:
                    add("module-call", node, f"calls {name} (module {aliases[root]})")
                elif isinstance(node.func, ast.Attribute) and node.func.attr in HOME_CALLS:
                    add("path", node, f"{node.func.attr}() reaches the home folder")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            add("builtins", node, "uses __builtins__")
        elif isinstance(node, ast.Attribute) and node.attr in ESCAPE_ATTRS:
            add("builtins", node, f"uses the attribute {node.attr}")
        elif isinstance(node, ast.Attribute) and _dotted(node) == "sys.modules":
            add("builtins", node, "uses sys.modules (every imported module, os included)")
        elif (text := _literal(node)) is not None:
            if text == "__builtins__":
                add("builtins", node, "names __builtins__")
            elif "/proc" in text:
                add("path", node, "names /proc (other processes' memory and environment)")
            elif text.startswith("~"):
                add("path", node, "names a path in a home folder")
    out.sort(key=lambda f: (f.line, f.rule, f.code))
    return out


def added_findings(base: str | None, candidate: str, path: str = "<candidate>") -> list[Finding]:
    """The findings of ``candidate`` that ``base`` does not already have (same rule and source
    text, counted). A base that does not parse counts as empty."""
    seen: Counter[tuple[str, str]] = Counter()
    if base:
        with contextlib.suppress(SyntaxError):
            seen.update((f.rule, f.code) for f in findings(base, path))
    new: list[Finding] = []
    for f in findings(candidate, path):
        key = (f.rule, f.code)
        if seen[key] > 0:
            seen[key] -= 1
            continue
        new.append(f)
    return new
