"""The exploration frontier: which technique categories have been tried, and which are neglected.

An *experiment* is one commit of the ledger (its local and RunPod rows together), baseline runs
excluded. Its category is the category of the research item it references (see
:mod:`bot.grading.calibration`), else the taxonomy's reading of its description. It *improved*
when any of its rows is ``keep``, and *failed* when all its rows are ``discard`` or ``crash``.

**Selection bonus** (added to an item's rubric total when choosing what to try next; it never
changes the grade or its tier):

* **+2** for a category with no experiment yet,
* **+1** for a category tried fewer times than the median category (rounded down), or one
  whose experiments all failed fewer than 3 times,
* **0** otherwise,
* **−1** for a category with ≥ 3 experiments and no improvement (a probable dead end).

This pushes the agent out of a local optimum in technique space: a tier-B item in an untried
category can outrank a tier-A item in a category tried ten times.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.grading import taxonomy
from bot.grading.calibration import item_refs
from bot.ledger import Ledger
from bot.state import GradedItem, ResearchState

DEAD_END_TRIES = 3


@dataclass
class CategoryStats:
    name: str
    label: str
    items: int = 0  # graded research items in the category
    tier_a: int = 0
    tried: int = 0
    improved: int = 0
    failed: int = 0
    bonus: int = 0
    commits: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Frontier:
    categories: dict[str, CategoryStats]

    def bonus(self, category: str) -> int:
        c = self.categories.get(category)
        return c.bonus if c else 0

    def under_explored(self) -> list[CategoryStats]:
        return sorted(
            (c for c in self.categories.values() if c.bonus > 0),
            key=lambda c: (-c.bonus, c.tried, taxonomy.NAMES.index(c.name)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"categories": [c.to_dict() for c in self.categories.values()], "rules": RULES}

    def table(self) -> str:
        head = (
            f"{'category':<26} {'items':>5} {'A':>3} {'tried':>5} {'improved':>8} {'failed':>6} {'bonus':>5}"
        )
        lines = [head, "-" * len(head)]
        for c in self.categories.values():
            lines.append(
                f"{c.label:<26} {c.items:>5} {c.tier_a:>3} {c.tried:>5} {c.improved:>8} {c.failed:>6} {c.bonus:>+5d}"
            )
        return "\n".join(lines)


RULES = (
    "+2 untried category; +1 tried less than the median category; "
    f"-1 after {DEAD_END_TRIES}+ experiments with no improvement; 0 otherwise"
)


def compute(ledger: Ledger, graded: Sequence[GradedItem]) -> Frontier:
    cats = {c.name: CategoryStats(c.name, c.label) for c in taxonomy.CATEGORIES}
    item_cat: dict[str, str] = {}
    for g in graded:
        cat = g.category if g.category in cats else taxonomy.classify(f"{g.title} {g.summary}")
        item_cat[g.item_id] = cat
        if g.tier == "ungradable" or cat not in cats:
            continue
        cats[cat].items += 1
        cats[cat].tier_a += int(g.tier == "A")
    experiments: dict[str, list[Any]] = {}
    for r in ledger.rows:
        if r.is_baseline or not r.commit:
            continue
        experiments.setdefault(r.commit[:7].lower(), []).append(r)
    for key, rows in experiments.items():
        cat = ""
        for r in rows:
            for ref in item_refs(r.description):
                if item_cat.get(ref) in cats:
                    cat = item_cat[ref]
                    break
            if cat:
                break
        if not cat:
            cat = taxonomy.classify(" ".join(r.description for r in rows))
        if cat not in cats:
            continue
        c = cats[cat]
        c.tried += 1
        c.commits.append(key)
        if any(r.status == "keep" for r in rows):
            c.improved += 1
        elif all(r.status in ("discard", "crash") for r in rows):
            c.failed += 1
    median = statistics.median([c.tried for c in cats.values()])
    for c in cats.values():
        if c.tried == 0:
            c.bonus = 2
        elif c.tried >= DEAD_END_TRIES and c.improved == 0:
            c.bonus = -1
        elif c.tried < int(median):
            c.bonus = 1
        else:
            c.bonus = 0
    return Frontier(cats)


def selection_score(g: GradedItem, frontier: Frontier) -> float:
    """Rubric total on the 15-point scale plus the frontier bonus (for choosing what to try)."""
    if g.tier == "ungradable" or not g.max_total:
        return float("-inf")
    return g.total * 15 / g.max_total + frontier.bonus(g.category)


def rank(graded: Sequence[GradedItem], frontier: Frontier) -> list[GradedItem]:
    return sorted(
        (g for g in graded if g.tier != "ungradable"),
        key=lambda g: (-selection_score(g, frontier), g.item_id),
    )


def load(root: Path, settings: Settings, ledger: Ledger | None = None) -> Frontier:
    ledger = ledger or Ledger.load(settings.path("results_path", root))
    return compute(ledger, ResearchState(settings.path("state_dir", root)).graded())


def summary_lines(frontier: Frontier) -> list[str]:
    """Lines for the grading prompt: from the ledger only (graded-item counts would change the
    context version on every run and defeat skip-unchanged)."""
    lines = []
    for c in frontier.categories.values():
        state = "untried" if c.tried == 0 else f"tried {c.tried}, improved {c.improved}, failed {c.failed}"
        lines.append(f"{c.label}: {state} (selection bonus {c.bonus:+d})")
    return lines


def program_note(root: Path, settings: Settings, ledger: Ledger) -> str:
    """The "Frontier" note for program.md's RESEARCH section."""
    f = load(root, settings, ledger)
    under = f.under_explored()
    lines = ["**Frontier** (technique categories; under-explored ones earn a selection bonus):"]
    if under:
        names = ", ".join(
            f"{c.label} ({'untried' if c.tried == 0 else f'tried {c.tried}'}, {c.bonus:+d})" for c in under
        )
        lines.append(f"- Under-explored: {names}.")
    dead = [c for c in f.categories.values() if c.bonus < 0]
    if dead:
        lines.append(
            "- Probable dead ends: "
            + ", ".join(f"{c.label} ({c.failed} failed of {c.tried})" for c in dead)
            + "."
        )
    best = [c for c in f.categories.values() if c.improved]
    if best:
        lines.append(
            "- Improvements so far: " + ", ".join(f"{c.label} {c.improved}/{c.tried}" for c in best) + "."
        )
    lines.append(f"- Bonus rule: {RULES}.")
    return "\n".join(lines)
