"""Collect what `pgolf inject` puts into program.md: ledger, research state and notes.

Other parts add notes for the RESEARCH section (the exploration frontier, calibration) by
registering a provider in ``NOTE_PROVIDERS``: a dotted path to a function
``(root: Path, settings: Settings, ledger: Ledger) -> str``. A provider whose module does not
exist is skipped; one that raises is reported as a warning and skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from bot import program
from bot.config import Settings
from bot.errors import PgolfError
from bot.ledger import Ledger
from bot.state import ResearchState

NOTE_PROVIDERS: tuple[str, ...] = (
    "bot.grading.frontier:program_note",
    "bot.grading.calibration:program_note",
    "bot.agent.policy:program_note",
)


@dataclass
class InjectInputs:
    sections: dict[str, str]
    sota: float
    warnings: list[str] = field(default_factory=list)


def _notes(root: Path, settings: Settings, ledger: Ledger, warnings: list[str]) -> list[str]:
    notes: list[str] = []
    for spec in NOTE_PROVIDERS:
        modname, func = spec.split(":")
        if (
            importlib.util.find_spec(modname.rsplit(".", 1)[0]) is None
            or importlib.util.find_spec(modname) is None
        ):
            continue
        try:
            fn = getattr(importlib.import_module(modname), func)
            text = fn(root, settings, ledger)
        except (PgolfError, OSError, ValueError) as exc:
            warnings.append(f"{spec}: {exc}")
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
