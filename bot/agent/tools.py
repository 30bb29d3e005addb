"""File-editing tools for the experimenter: view a line range, replace a unique string, insert.

The model never emits a whole file. It edits the two training scripts in a scratch
:class:`Workspace` (a folder holding copies of the files at the base commit) through three tools
with exact, documented semantics:

``view_file(path, start_line=1, end_line=-1)``
    The lines ``start_line..end_line`` (1-based, inclusive; ``-1`` = last line), each prefixed by
    its number and a tab. At most :data:`MAX_VIEW_LINES` lines per call.
``replace_in_file(path, old_string, new_string)``
    Replace ``old_string`` by ``new_string``. ``old_string`` must occur **exactly once** (byte for
    byte, whitespace included); zero or several occurrences are errors that say which (with the
    line numbers of every occurrence), and the file is left unchanged.
``insert_in_file(path, line, text)``
    Insert ``text`` after line ``line`` (0 = at the top; the file's line count = at the end). A
    missing final newline in ``text`` is added.

Only the training scripts (:data:`TRAINING_SCRIPTS`) can be read or written: any other path,
``..``, an absolute path or a symlink is refused. Every failure is a :class:`ToolError` whose
message is sent back to the model as an error ``tool_result``, so it can correct itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import ExperimentError

TRAINING_SCRIPTS = ("training/train_gpt.py", "training/train_gpt_mlx.py")
MAX_VIEW_LINES = 400
MAX_FILE_BYTES = 2_000_000  # a training script larger than this is a runaway edit


class ToolError(ExperimentError):
    """A tool call the model made cannot be carried out (bad path, non-unique string, …)."""


@dataclass
class Edit:
    tool: str
    path: str
    summary: str


@dataclass
class Workspace:
    """Scratch copies of the editable files; ``originals`` are their contents at the base commit."""

    root: Path
    originals: dict[str, str]
    allowed: tuple[str, ...] = TRAINING_SCRIPTS
    edits: list[Edit] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path | str, files: Mapping[str, str]) -> Workspace:
        """Write ``files`` (relative path → text) under ``root`` and return the workspace."""
        root = Path(root)
        allowed = tuple(files)
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return cls(root=root, originals=dict(files), allowed=allowed)

    # ------------------------------------------------------------------ paths
    def normalise(self, path: Any) -> str:
        if not isinstance(path, str) or not path.strip():
            raise ToolError(f"path must be one of {', '.join(self.allowed)}")
        raw = path.strip().replace("\\", "/")
        p = PurePosixPath(raw)
        if p.is_absolute() or ".." in p.parts:
            raise ToolError(
                f"path {raw!r} is outside the training scripts; use one of {', '.join(self.allowed)}"
            )
        rel = str(PurePosixPath(*[part for part in p.parts if part != "."])) if p.parts else ""
        if rel not in self.allowed:
            # A bare file name is accepted when it names exactly one allowed script.
            matches = [a for a in self.allowed if PurePosixPath(a).name == rel]
            if len(matches) == 1:
                return matches[0]
            raise ToolError(f"path {raw!r} cannot be edited; only {', '.join(self.allowed)}")
        return rel

    def _file(self, rel: str) -> Path:
        target = self.root / rel
        if target.is_symlink():
            raise ToolError(f"{rel} is a symlink; refused")
        if not target.is_file():
            raise ToolError(f"{rel} does not exist in the workspace")
        return target

    def read(self, path: Any) -> str:
        rel = self.normalise(path)
        return self._file(rel).read_text(encoding="utf-8")

    def _write(self, rel: str, text: str) -> None:
        data = text.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(f"{rel} would grow to {len(data)} bytes (limit {MAX_FILE_BYTES}); edit refused")
        self._file(rel).write_bytes(data)

    # ------------------------------------------------------------------ tools
    def view(self, path: Any, start_line: Any = 1, end_line: Any = -1) -> str:
        rel = self.normalise(path)
        lines = self.read(rel).splitlines()
        n = len(lines)
        start, end = _int(start_line, "start_line"), _int(end_line, "end_line")
        if end == -1:
            end = n
        if start < 1 or start > max(n, 1):
            raise ToolError(f"start_line {start} is outside {rel} (1..{n})")
        if end < start:
            raise ToolError(f"end_line {end} is before start_line {start}")
        end = min(end, n)
        truncated = end - start + 1 > MAX_VIEW_LINES
        if truncated:
            end = start + MAX_VIEW_LINES - 1
        body = "\n".join(f"{i}\t{lines[i - 1]}" for i in range(start, end + 1))
        tail = f"\n[… view limited to {MAX_VIEW_LINES} lines; {n} lines in total]" if truncated else ""
        return f"{rel} lines {start}-{end} of {n}:\n{body}{tail}"

    def replace(self, path: Any, old_string: Any, new_string: Any) -> str:
        rel = self.normalise(path)
        if not isinstance(old_string, str) or old_string == "":
            raise ToolError("old_string must be a non-empty string")
        if not isinstance(new_string, str):
            raise ToolError("new_string must be a string")
        if old_string == new_string:
            raise ToolError("old_string and new_string are identical; nothing to change")
        text = self.read(rel)
        count = text.count(old_string)
        if count == 0:
            hint = ""
            stripped = old_string.strip()
            if stripped and stripped != old_string and text.count(stripped) == 1:
                hint = " (it does occur once without its leading/trailing whitespace)"
            raise ToolError(f"old_string not found in {rel}{hint}; view the file and copy the text exactly")
        if count > 1:
            lines = _occurrence_lines(text, old_string)
            raise ToolError(
                f"old_string occurs {count} times in {rel} (lines {', '.join(map(str, lines))}); "
                "include more surrounding context so it is unique"
            )
        at = text.index(old_string)
        new_text = text[:at] + new_string + text[at + len(old_string) :]
        self._write(rel, new_text)
        line = text.count("\n", 0, at) + 1
        self.edits.append(Edit("replace_in_file", rel, f"line {line}: replaced {len(old_string)} chars"))
        return f"Replaced 1 occurrence in {rel} at line {line}.\n" + _context(new_text, line, new_string)

    def insert(self, path: Any, line: Any, text: Any) -> str:
        rel = self.normalise(path)
        if not isinstance(text, str) or text == "":
            raise ToolError("text must be a non-empty string")
        after = _int(line, "line")
        content = self.read(rel)
        lines = content.splitlines(keepends=True)
        if after < 0 or after > len(lines):
            raise ToolError(f"line {after} is outside {rel} (0..{len(lines)})")
        if lines and after == len(lines) and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if not text.endswith("\n"):
            text += "\n"
        new_text = "".join(lines[:after]) + text + "".join(lines[after:])
        self._write(rel, new_text)
        self.edits.append(Edit("insert_in_file", rel, f"after line {after}: {text.count(chr(10))} line(s)"))
        return f"Inserted {text.count(chr(10))} line(s) after line {after} of {rel}.\n" + _context(
            new_text, after + 1, text
        )

    # ------------------------------------------------------------------ state
    def current(self) -> dict[str, str]:
        return {rel: (self.root / rel).read_text(encoding="utf-8") for rel in self.allowed}

    def changed(self) -> dict[str, str]:
        """Files whose content differs from the base commit (relative path → new text)."""
        return {rel: text for rel, text in self.current().items() if text != self.originals.get(rel)}

    def reset(self) -> None:
        for rel, text in self.originals.items():
            (self.root / rel).write_text(text, encoding="utf-8")
        self.edits.clear()


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ToolError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ToolError(f"{name} must be an integer, got {value!r}")


def _occurrence_lines(text: str, needle: str) -> list[int]:
    out: list[int] = []
    start = 0
    while True:
        at = text.find(needle, start)
        if at < 0:
            return out
        out.append(text.count("\n", 0, at) + 1)
        start = at + 1


def _context(text: str, line: int, inserted: str, pad: int = 2) -> str:
    lines = text.splitlines()
    last = line + max(inserted.count("\n"), 1) - 1
    lo, hi = max(1, line - pad), min(len(lines), last + pad)
    return "\n".join(f"{i}\t{lines[i - 1]}" for i in range(lo, hi + 1))


# --------------------------------------------------------------------------- tool definitions
_PATH = {
    "type": "string",
    "enum": list(TRAINING_SCRIPTS),
    "description": "Which training script.",
}

EDIT_TOOLS: list[dict[str, Any]] = [
    {
        "name": "view_file",
        "description": (
            "Show lines start_line..end_line (1-based, inclusive; end_line -1 = last line) of a "
            f"training script, each prefixed by its number and a tab. At most {MAX_VIEW_LINES} lines."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": _PATH,
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer"},
            },
            "required": ["path"],
        },
    },
    {
        "name": "replace_in_file",
        "description": (
            "Replace old_string by new_string in a training script. old_string must occur exactly "
            "once, byte for byte (whitespace included); include surrounding lines to make it unique. "
            "Do not include the line-number prefixes shown by view_file."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": _PATH,
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
            },
            "required": ["path", "old_string", "new_string"],
        },
    },
    {
        "name": "insert_in_file",
        "description": "Insert text after line `line` of a training script (0 = at the top).",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": _PATH,
                "line": {"type": "integer", "minimum": 0},
                "text": {"type": "string"},
            },
            "required": ["path", "line", "text"],
        },
    },
]

SUBMIT_TOOL: dict[str, Any] = {
    "name": "submit_proposal",
    "description": (
        "Call once the edits are complete (after editing BOTH scripts, unless the change is "
        "MLX-only). The edits are then validated: patch; a static rule (add no import or call of "
        "os/subprocess/socket/urllib/http/importlib/ctypes/shutil, no exec/eval/compile/__import__, "
        "nothing on builtins, no /proc or ~ paths); import; artifact gate; MLX↔PyTorch parity gate; "
        "a short CPU smoke run (the scripts run isolated: no network, no files outside their own "
        "folder). If a check fails you get the error back once."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "item_id": {"type": "string", "description": "Id of the research item (as in program.md)."},
            "title": {"type": "string", "description": "Short experiment title (becomes the PR title)."},
            "category": {
                "type": "string",
                "description": "Technique category, e.g. quantization, optimizer, architecture, attention, "
                "tokenizer, schedule, evaluation, data, systems.",
            },
            "hypothesis": {"type": "string", "description": "What should improve and why."},
            "change": {"type": "string", "description": "What was changed in the scripts and why."},
            "expected_bytes": {"type": "string", "description": "Expected effect on artifact bytes."},
            "expected_step_time": {"type": "string", "description": "Expected effect on step time."},
            "expected_val_bpb": {"type": "string", "description": "Expected effect on val_bpb."},
            "mlx_only": {"type": "boolean", "description": "True only if the change is MLX-only."},
            "mlx_only_reason": {"type": "string", "description": "Why, when mlx_only is true."},
        },
        "required": ["item_id", "title", "category", "hypothesis", "change"],
    },
}

TOOLS: list[dict[str, Any]] = [*EDIT_TOOLS, SUBMIT_TOOL]


def run_tool(ws: Workspace, name: str, args: Mapping[str, Any]) -> tuple[str, bool]:
    """Run one edit tool; returns ``(text for the tool_result, is_error)``."""
    if not isinstance(args, Mapping):
        return "tool input must be a JSON object", True
    try:
        if name == "view_file":
            return ws.view(args.get("path"), args.get("start_line", 1), args.get("end_line", -1)), False
        if name == "replace_in_file":
            return ws.replace(args.get("path"), args.get("old_string"), args.get("new_string")), False
        if name == "insert_in_file":
            return ws.insert(args.get("path"), args.get("line"), args.get("text")), False
    except ToolError as exc:
        return f"error: {exc}", True
    return f"error: unknown tool {name!r}; use one of {', '.join(t['name'] for t in TOOLS)}", True
