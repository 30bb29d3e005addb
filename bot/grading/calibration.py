"""Calibration: do grades predict outcomes? Experiments linked to the items that motivated them.

**The link.** An experiment names the research item it tests with a reference in its ledger
description, PR body or commit message, in either form:

* ``[item:<id>]`` — anywhere in the text (what :func:`item_tag` writes; the ledger description
  written by the bot for an experiment PR carries it), or
* ``Research-Item: <id>`` — a trailer line (what :func:`item_trailer` writes; the experimenter
  puts it in the PR body's Hypothesis section and in the commit message).

Calibration reads the ledger description; :func:`with_item_refs` copies the references of a
PR body or commit message into the description when the bot writes an experiment's ledger row.
The branch name (``exp/<slug>``) is not used: slugs cannot carry ids reliably.
Item ids are the research state ids (``arxiv:2403.01234``, ``github_prs:openai/parameter-golf#12``…);
they may contain ``: / # . _ -`` but no whitespace or ``]``.

**The outcome.** For each linked ledger row that is not a baseline run:

* local rows: Δ = val_bpb − the running local baseline just before the row (median of the last
  ``baseline_window`` baseline rows above it in the file);
* runpod rows: Δ = val_bpb − the best kept RunPod val_bpb before it (the upstream baseline
  1.2244 while there is none).

Negative Δ is an improvement. A row *improved* when it is not a crash and Δ < 0; crashes count as
failures with no Δ. Per rubric dimension and for the total we report the Pearson correlation of
the score with the improvement (−Δ), once ≥ 3 points, per tier; and the hit rate (improved / tried)
by grade tier, overall and per category. :func:`summary_lines` condenses it into the lines fed to
the grading prompt ("tier A items on quantization improved 3 of 4 times …").
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.grading import taxonomy
from bot.ledger import Ledger, pearson
from bot.program import BASELINE_BPB
from bot.state import GradedItem, ResearchState

_ID = r"[^\s\]\[]+"
TAG_RE = re.compile(rf"\[item:({_ID})\]")
TRAILER_RE = re.compile(rf"^\s*Research-Item:\s*({_ID})\s*$", re.M | re.I)
MIN_POINTS = 3


def item_tag(item_id: str) -> str:
    """The reference to put in a ledger description or PR title: ``[item:<id>]``."""
    _check_id(item_id)
    return f"[item:{item_id}]"


def item_trailer(item_id: str) -> str:
    """The trailer line for a PR body or commit message: ``Research-Item: <id>``."""
    _check_id(item_id)
    return f"Research-Item: {item_id}"


def _check_id(item_id: str) -> None:
    if not item_id or not re.fullmatch(_ID, item_id):
        raise ValueError(f"{item_id!r} cannot be used as an item reference (whitespace or brackets)")


def defuse_refs(text: str) -> str:
    """``text`` (written by a model, a web page, a PR author) with no item reference left in it:
    ``[item:<id>]`` becomes ``[item: <id>]`` and a ``Research-Item: <id>`` line is quoted (``>``),
    so that only the reference the bot adds itself is read (:func:`item_refs`). A reader sees
    the same words."""
    text = TAG_RE.sub(lambda m: f"[item: {m.group(1)}]", text)
    return TRAILER_RE.sub(lambda m: "> " + m.group(0).lstrip(), text)


def item_refs(text: str) -> list[str]:
    """Every item id referenced in ``text`` (tags and trailers), first occurrence order."""
    found: list[str] = []
    for m in [*TAG_RE.finditer(text), *TRAILER_RE.finditer(text)]:
        if m.group(1) not in found:
            found.append(m.group(1))
    return found


def with_item_refs(description: str, *sources: str) -> str:
    """``description`` with an ``[item:<id>]`` tag for every item referenced in ``sources``
    (a PR body, a commit message) that it does not already carry — what the bot calls when it
    writes a ledger row for an experiment PR, so calibration can link the result to its grade."""
    have = set(item_refs(description))
    tags = [item_tag(i) for src in sources for i in item_refs(src) if i not in have]
    tags = list(dict.fromkeys(tags))
    return " ".join([description.strip(), *tags]).strip()


@dataclass
class Outcome:
    item_id: str
    commit: str
    tier: str  # ledger tier: local | runpod
    status: str
    val_bpb: float | None
    delta: float | None  # vs reference; negative = better
    improved: bool
    grade_tier: str
    category: str
    scores: dict[str, int]
    total: int
    max_total: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Calibration:
    outcomes: list[Outcome] = field(default_factory=list)
    unlinked: int = 0  # experiment rows with no item reference
    unknown_items: list[str] = field(default_factory=list)  # referenced but never graded
    correlations: dict[str, dict[str, float | None]] = field(default_factory=dict)  # tier → dim → r
    hit_rates: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=dict
    )  # tier → grade tier → counts
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)  # "A/quantization" → counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcomes": [o.to_dict() for o in self.outcomes],
            "unlinked": self.unlinked,
            "unknown_items": self.unknown_items,
            "correlations": self.correlations,
            "hit_rates": self.hit_rates,
            "by_category": self.by_category,
            "summary": summary_lines(self),
        }


def _deltas(ledger: Ledger, window: int) -> dict[int, float | None]:
    """Δ for every row index, against what was known before it."""
    out: dict[int, float | None] = {}
    baselines: list[float] = []
    best_runpod: float | None = None
    for i, r in enumerate(ledger.rows):
        if r.is_baseline:
            if r.val_bpb is not None and r.status != "crash":
                baselines.append(r.val_bpb)
            out[i] = None
            continue
        if r.val_bpb is None or r.status == "crash":
            out[i] = None
        elif r.tier == "local":
            ref = statistics.median(baselines[-window:]) if baselines else None
            out[i] = None if ref is None else r.val_bpb - ref
        elif r.tier == "runpod":
            ref = best_runpod if best_runpod is not None else BASELINE_BPB
            out[i] = r.val_bpb - ref
        else:
            out[i] = None
        if r.tier == "runpod" and r.status == "keep" and r.val_bpb is not None:
            best_runpod = r.val_bpb if best_runpod is None else min(best_runpod, r.val_bpb)
    return out


def compute(ledger: Ledger, graded: Sequence[GradedItem], *, window: int = 5) -> Calibration:
    grades = {g.item_id: g for g in graded}
    cal = Calibration()
    deltas = _deltas(ledger, window)
    for i, r in enumerate(ledger.rows):
        if r.is_baseline:
            continue
        refs = item_refs(r.description)
        if not refs:
            cal.unlinked += 1
            continue
        for ref in refs:
            g = grades.get(ref)
            if g is None or g.tier == "ungradable":
                if ref not in cal.unknown_items:
                    cal.unknown_items.append(ref)
                continue
            d = deltas.get(i)
            cal.outcomes.append(
                Outcome(
                    item_id=ref,
                    commit=r.commit,
                    tier=r.tier,
                    status=r.status,
                    val_bpb=r.val_bpb,
                    delta=d,
                    improved=r.status != "crash" and d is not None and d < 0,
                    grade_tier=g.tier,
                    category=g.category or taxonomy.classify(g.title + " " + g.summary),
                    scores=dict(g.scores),
                    total=g.total,
                    max_total=g.max_total,
                )
            )
    for ledger_tier in ("local", "runpod"):
        pts = [o for o in cal.outcomes if o.tier == ledger_tier and o.delta is not None]
        dims = sorted({d for o in pts for d in o.scores})
        corr: dict[str, float | None] = {}
        for dim in [*dims, "total"]:
            xs = [float(o.total if dim == "total" else o.scores.get(dim, 0)) for o in pts]
            ys = [-(o.delta or 0.0) for o in pts]
            corr[dim] = pearson(xs, ys, MIN_POINTS)
        cal.correlations[ledger_tier] = corr
        rates: dict[str, dict[str, int]] = {}
        for o in cal.outcomes:
            if o.tier != ledger_tier:
                continue
            c = rates.setdefault(o.grade_tier, {"tried": 0, "improved": 0})
            c["tried"] += 1
            c["improved"] += int(o.improved)
        cal.hit_rates[ledger_tier] = dict(sorted(rates.items()))
    cats: dict[str, dict[str, int]] = defaultdict(lambda: {"tried": 0, "improved": 0})
    for o in _per_experiment(cal.outcomes):
        key = f"{o.grade_tier}/{o.category}"
        cats[key]["tried"] += 1
        cats[key]["improved"] += int(o.improved)
    cal.by_category = dict(sorted(cats.items()))
    return cal


def _per_experiment(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """One outcome per (item, commit): the RunPod one when there is one, else the local one."""
    best: dict[tuple[str, str], Outcome] = {}
    for o in outcomes:
        key = (o.item_id, o.commit[:7].lower())
        if key not in best or (o.tier == "runpod" and best[key].tier != "runpod"):
            best[key] = o
    return list(best.values())


def summary_lines(cal: Calibration, limit: int = 8) -> list[str]:
    """Short lines for the grading prompt and program.md."""
    if not cal.outcomes:
        return ["No experiment is linked to a graded item yet; grades are uncalibrated."]
    lines: list[str] = []
    for key, c in sorted(cal.by_category.items(), key=lambda kv: (-kv[1]["tried"], kv[0]))[:limit]:
        tier, cat = key.split("/", 1)
        lines.append(
            f"tier {tier} items on {taxonomy.label(cat)} improved {c['improved']} of {c['tried']} time(s)"
        )
    for ledger_tier in ("local", "runpod"):
        rates = cal.hit_rates.get(ledger_tier, {})
        if rates:
            parts = [f"{t} {c['improved']}/{c['tried']}" for t, c in rates.items()]
            lines.append(f"hit rate by tier ({ledger_tier}): " + ", ".join(parts))
        corr = cal.correlations.get(ledger_tier, {})
        known = {d: r for d, r in corr.items() if r is not None}
        if known:
            parts = [f"{d} {r:+.2f}" for d, r in known.items()]
            lines.append(f"score↔improvement correlation ({ledger_tier}): " + ", ".join(parts))
            weak = [d for d, r in known.items() if d != "total" and r <= 0]
            if weak:
                lines.append(
                    f"dimension(s) not predicting {ledger_tier} outcomes so far: {', '.join(weak)} — weigh them less"
                )
    return lines


def load(root: Path, settings: Settings, ledger: Ledger | None = None) -> Calibration:
    ledger = ledger or Ledger.load(settings.path("results_path", root))
    state = ResearchState(settings.path("state_dir", root))
    return compute(ledger, state.graded(), window=settings.baseline_window)


def program_note(root: Path, settings: Settings, ledger: Ledger) -> str:
    """The "Calibration" note for program.md's RESEARCH section."""
    cal = load(root, settings, ledger)
    if not cal.outcomes:
        return ""
    return "**Calibration** (grades vs outcomes):\n" + "\n".join(f"- {line}" for line in summary_lines(cal))
