"""The house has floors: a module may import its own room or a lower floor, never a higher one.

Floors (docs/design.md draws them):

0 ground      errors, clock, fileio, git — no pgolf imports but each other
1 core        the contracts: config, ledger, budget, artifact, state, … (one file each)
2 services    research, grading, training, forge, report, and program.md built from them
3 workflows   compute, agent, demo: the loop, built from services
4 entry       commands, cli: click, argument parsing, exit codes

A new top-level module or package must be given a floor here, so that the map stays complete.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bot

PACKAGE = Path(bot.__file__).resolve().parent

FLOORS: dict[int, set[str]] = {
    0: {"errors", "clock", "fileio", "git"},
    1: {
        "config",
        "ledger",
        "budget",
        "artifact",
        "state",
        "safeenv",
        "sandbox",
        "llm",
        "alerts",
        "pause",
    },
    # program.md is written from research (competitor standings) and the ledger
    2: {
        "research",
        "grading",
        "training",
        "forge",
        "report",
        "program",
        "program_changes",
        "program_git",
    },
    # program_inputs gathers program.md's notes, one of them from the experimenter (bot.agent)
    3: {"compute", "agent", "demo", "research_review", "program_inputs"},
    4: {"commands", "cli", "__main__"},
}
FLOOR_OF = {room: floor for floor, rooms in FLOORS.items() for room in rooms}
# Rooms that moved, left behind as a re-export for files another change owns this round: the
# files still importing the old name (must really still do so, so that this shrinks to nothing).


def _room(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_rooms(path: Path) -> set[tuple[str, int]]:
    """(room, line) for every `bot.<room>` this file imports, lazily or not."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "bot":
                names = [f"bot.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "bot" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_room_has_a_floor() -> None:
    rooms = {_room(p) for p in _modules()}
    missing = sorted(rooms - FLOOR_OF.keys())
    assert not missing, f"give these modules a floor in {__file__}: {missing}"


def test_no_module_imports_a_higher_floor() -> None:
    violations = []
    for path in _modules():
        room = _room(path)
        for target, line in _imported_rooms(path):
            if target == room or target not in FLOOR_OF:
                continue
            if FLOOR_OF[target] > FLOOR_OF.get(room, 99):
                rel = path.relative_to(PACKAGE.parent)
                violations.append(
                    f"{rel}:{line} ({room}, floor {FLOOR_OF[room]}) imports bot.{target} (floor {FLOOR_OF[target]})"
                )
    assert not violations, "\n".join(violations)


def test_rooms_of_one_floor_import_each_other_one_way_only() -> None:
    edges: set[tuple[str, str]] = set()
    for path in _modules():
        room = _room(path)
        for target, _ in _imported_rooms(path):
            if target != room and FLOOR_OF.get(target) == FLOOR_OF.get(room):
                edges.add((room, target))
    cycles = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)
    assert not cycles, f"rooms that import each other: {cycles}"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # the rule must be able to fail: a core module importing the CLI is reported with its line
    sample = tmp_path / "ledger.py"
    sample.write_text("import os\n\n\ndef f():\n    from bot.commands import results\n", encoding="utf-8")
    assert ("commands", 5) in _imported_rooms(sample)
    assert FLOOR_OF["commands"] > FLOOR_OF["ledger"]
