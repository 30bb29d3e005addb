"""program.md's inputs: what `pgolf inject` puts into it from the ledger, the research state and
the notes of the parts that read them.

Each note provider is a function ``(root, settings, ledger) -> str`` for the RESEARCH section
(the exploration frontier, grade calibration, the experimenter's policy); one that raises is
reported as a warning and skipped, so one bad state file never blocks the rest of program.md.
It sits on the workflow floor because the experimenter's policy (bot.agent) is one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot import program
from bot.agent import policy
from bot.config import Settings
from bot.errors import PgolfError
from bot.grading import calibration, frontier
from bot.ledger import Ledger
from bot.state import ResearchState

NoteProvider = Callable[[Path, Settings, Ledger], str]
NOTE_PROVIDERS: tuple[NoteProvider, ...] = (
    frontier.program_note,
    calibration.program_note,
    policy.program_note,
)


@dataclass
class InjectInputs:
    sections: dict[str, str]
    sota: float
    warnings: list[str] = field(default_factory=list)


def _notes(root: Path, settings: Settings, ledger: Ledger, warnings: list[str]) -> list[str]:
    notes: list[str] = []
    for fn in NOTE_PROVIDERS:
        try:
            text = fn(root, settings, ledger)
        except (PgolfError, OSError, ValueError) as exc:
            warnings.append(f"{fn.__module__}.{fn.__name__}: {exc}")
            continue
        if text:
            notes.append(str(text))
    return notes


def gather_inputs(root: Path, settings: Settings) -> InjectInputs:
    ledger = Ledger.load(settings.path("results_path", root))
    state = ResearchState(settings.path("state_dir", root))
    warnings = list(ledger.warnings)
    sections = program.build_sections(
        ledger,
        state.graded(),
        state.verified(),
        state.competitors(),
        max_items=settings.program_max_items,
        max_chars=settings.program_max_chars,
        history_rows=settings.history_rows,
        verified_rows=settings.verified_rows,
        baseline_window=settings.baseline_window,
        research_notes=_notes(root, settings, ledger, warnings),
    )
    best = ledger.current_best_bpb()
    sota = best if best is not None else program.BASELINE_BPB
    return InjectInputs(sections, sota, warnings)
