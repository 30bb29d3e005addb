"""The offline grader: deterministic, rubric-shaped scores from the item text alone.

Used when no ``ANTHROPIC_API_KEY`` is set, when ``--offline`` is given, or when the API is
unavailable. Same input → same grade (no clock, no randomness). Its grades carry
``grader="offline"`` so program.md labels them. Scoring, per dimension (then clamped to range):

* **bpb_impact** (0–3): 1 for a known technique name or a taxonomy match, +1 for evidence cues
  (perplexity, bits per byte, loss, "outperforms", a percentage), +1 for small-model / short-run
  cues ("small", "speedrun", "nanogpt", "parameter golf"); 0 when the text matches no category.
* **size_compatibility** (0–3): 2, +1 for byte-saving cues (quantization, compression, fewer
  parameters, weight sharing), −1/−2 for growth cues (billions of parameters, "larger model",
  extra memory/parameters).
* **time_compatibility** (0–2): 1, +1 for speed cues (faster, speedup, fewer steps, throughput),
  −1 for cost cues (days, GPU-hours, trillion tokens, longer training).
* **implementability** (0–4): 2, +1 when code is available, +1 for simplicity cues (simple,
  drop-in, a few lines, hyperparameter), −1 for custom kernels/hardware, −2 for new
  dependencies or a different data set.
* **novelty** (0–3): 2; 0 when it matches a proven technique or a failed experiment (shared
  significant words or known technique names); +1 when its category has no experiment yet.
* **competitor_validated** (0–2, only with competitor data): 2 when a top-3 competitor's
  techniques share a known technique name or two significant words with the item, 1 for any
  other competitor, else 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot.grading import taxonomy
from bot.grading.frontier import Frontier
from bot.grading.prompt import GradingContext, graded_item
from bot.state import GradedItem, ResearchItem

GRADER = "offline"

EVIDENCE = (
    r"perplexity",
    r"bits? per byte|\bbpb\b",
    r"\bloss\b",
    r"outperform|improv|better than",
    r"\d+(\.\d+)?\s?%",
)
SMALL_SCALE = (
    r"\bsmall\b|tiny|compact",
    r"speedrun|nanogpt|modded",
    r"parameter golf|16 ?mb",
    r"\b\d{2,3}m\b parameters|\b\d{2,3}m-param",
)
SIZE_GOOD = (
    r"quantiz",
    r"compress",
    r"fewer parameters|parameter[- ]efficien",
    r"weight sharing|tied|tying",
    r"low[- ]bit|\bint[2-8]\b",
)
SIZE_BAD = (
    r"\b\d+(\.\d+)?\s?b\b(?! ?per)|billion[- ]param",
    r"larger model|scal(e|ing) up",
    r"additional parameters|more parameters|extra memory",
)
TIME_GOOD = (
    r"faster|speed ?up|speedup",
    r"fewer steps|sample[- ]efficien|converge[sd]? faster",
    r"throughput|wall[- ]?clock",
)
TIME_BAD = (
    r"\bdays\b|gpu[- ]hours|weeks of",
    r"trillions? (of )?tokens|\d+t tokens",
    r"longer training|train(ing)? longer|extra compute",
)
CODE = (r"github\.com|code (is )?available|open[- ]source|we release",)
SIMPLE = (r"\bsimple\b|drop[- ]in|few lines|one line|hyperparameter|plug[- ]and[- ]play",)
HARD = (r"custom (cuda )?kernel|cuda kernel|\bhardware\b|\basic\b|\bfpga\b",)
DEPENDENCY = (
    r"requires? (the )?\w+ (library|package)|new dependenc|proprietary|different data ?set|additional data",
)

STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "into",
        "over",
        "under",
        "than",
        "then",
        "they",
        "their",
        "them",
        "using",
        "used",
        "use",
        "via",
        "language",
        "model",
        "models",
        "training",
        "train",
        "trained",
        "learning",
        "network",
        "networks",
        "neural",
        "large",
        "small",
        "paper",
        "method",
        "approach",
        "results",
        "based",
        "show",
        "shows",
        "novel",
        "new",
        "towards",
        "toward",
        "efficient",
    ]
)


def _hits(text: str, patterns: Iterable[str]) -> list[str]:
    return [p for p in patterns if re.search(p, text)]


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9²-]{3,}", text.lower()) if w not in STOP}


def known_names(text: str) -> set[str]:
    t = text.lower()
    return {n for c in taxonomy.CATEGORIES for n in c.known_techniques if n in t}


def _similar(a: str, b: str) -> bool:
    return bool(known_names(a) & known_names(b)) or len(words(a) & words(b)) >= 2


def grade_item(
    item: ResearchItem,
    ctx: GradingContext,
    frontier: Frontier,
    *,
    context_version: str,
    graded_at: str,
) -> GradedItem:
    text = f"{item.title}\n{item.summary}".lower()
    category = taxonomy.classify(text)
    cues: list[str] = []

    impact = 0
    if category != taxonomy.OTHER:
        impact = 1
        if _hits(text, EVIDENCE):
            impact += 1
            cues.append("reports evidence")
        if _hits(text, SMALL_SCALE):
            impact += 1
            cues.append("small-scale/speedrun setting")
    size = 2 + (1 if _hits(text, SIZE_GOOD) else 0) - len(_hits(text, SIZE_BAD))
    if _hits(text, SIZE_GOOD):
        cues.append("saves bytes")
    if _hits(text, SIZE_BAD):
        cues.append("grows the model")
    time_ = 1 + (1 if _hits(text, TIME_GOOD) else 0) - (1 if _hits(text, TIME_BAD) else 0)
    if _hits(text, TIME_BAD):
        cues.append("costly to train")
    impl = 2 + (1 if _hits(text, CODE) else 0) + (1 if _hits(text, SIMPLE) else 0)
    impl -= 1 if _hits(text, HARD) else 0
    impl -= 2 if _hits(text, DEPENDENCY) else 0
    if _hits(text, HARD) or _hits(text, DEPENDENCY):
        cues.append("hard to implement in train_gpt.py")

    novelty = 2
    proven = [t for t in ctx.proven if _similar(text, t)]
    failed = [f for f in ctx.failed if _similar(text, str(f["description"]))]
    if proven:
        novelty = 0
        cues.append(f"already proven: {proven[0][:60]}")
    elif failed:
        novelty = 0
        cues.append(f"re-attempt of failed {failed[0]['commit']}")
    elif frontier.categories.get(category) is not None and frontier.categories[category].tried == 0:
        novelty = 3
        cues.append(f"untried category {taxonomy.label(category)}")

    maxima = ctx.rubric.maxima
    scores = {
        "bpb_impact": impact,
        "size_compatibility": size,
        "time_compatibility": time_,
        "implementability": impl,
        "novelty": novelty,
    }
    if ctx.rubric.has_competitors:
        comp = 0
        for rank, c in enumerate(ctx.competitors):
            if c["techniques"] and _similar(text, str(c["techniques"])):
                comp = max(comp, 2 if rank < 3 else 1)
        scores["competitor_validated"] = comp
        if comp:
            cues.append("used by a competitor record")
    scores = {k: max(0, min(maxima[k], v)) for k, v in scores.items()}
    rationale = (
        f"Offline grade ({taxonomy.label(category)}): "
        + ("; ".join(cues) if cues else "no strong cues")
        + "."
    )
    return graded_item(
        item,
        scores,
        ctx.rubric,
        grader=GRADER,
        rationale=rationale,
        category=category,
        context_version=context_version,
        graded_at=graded_at,
    )


def grade_all(
    items: Sequence[ResearchItem],
    ctx: GradingContext,
    frontier: Frontier,
    *,
    context_version: str,
    graded_at: str,
) -> list[GradedItem]:
    return [grade_item(i, ctx, frontier, context_version=context_version, graded_at=graded_at) for i in items]


def describe() -> dict[str, Any]:
    return {"grader": GRADER, "deterministic": True}
