"""The grading prompt, rebuilt every cycle from the ledger and the research state.

Layout of a grading request (the order Anthropic's prompt cache reads: tools → system → messages):

1. the ``record_grades`` tool (its JSON schema is the rubric);
2. the system prompt — ONLY our static instructions, the rubric and the untrusted-data rule
   (:func:`instructions`, :data:`bot.grading.untrusted.NOTE`);
3. user block 1 — the dynamic context (:func:`context_text`): current best RunPod val_bpb,
   proven techniques, the last 10 failed experiments ("penalize re-attempts"), competitor scores
   with technique and Δ from baseline, calibration notes and the frontier. It holds text from the
   ledger and the web, so it is a declared-untrusted block (:mod:`bot.grading.untrusted`), never
   system text. It carries the ``cache_control`` breakpoint, so 1–3 are one cached prefix shared
   by every request of a run;
4. user block 2 — the items to grade (:func:`items_message`), also an untrusted block.

The **context version** is a hash of the model, the rubric, 2 and 3: an item whose content hash
and context version are both unchanged is not re-graded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.grading import calibration, frontier, taxonomy, untrusted
from bot.grading.rubric import Rubric, make_rubric
from bot.ledger import Ledger
from bot.program import BASELINE_BPB, one_line
from bot.state import CompetitorScore, GradedItem, ResearchItem, ResearchState

TOOL_NAME = "record_grades"
FAILED_SHOWN = 10
COMPETITORS_SHOWN = 12
SUMMARY_CHARS = 1500


@dataclass
class GradingContext:
    best_bpb: float | None
    proven: list[str]
    failed: list[dict[str, Any]]
    competitors: list[dict[str, Any]]
    calibration: list[str]
    frontier: list[str]
    artifact_limit: int
    wallclock_seconds: int
    rubric: Rubric
    warnings: list[str] = field(default_factory=list)
    speedrun: list[str] = field(default_factory=list)  # modded-nanogpt record-time trend, per board

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_bpb": self.best_bpb,
            "proven": self.proven,
            "failed": self.failed,
            "competitors": self.competitors,
            "calibration": self.calibration,
            "frontier": self.frontier,
            "speedrun": self.speedrun,
            "rubric": self.rubric.to_dict(),
        }


def competitor_rows(
    scores: Sequence[CompetitorScore], limit: int = COMPETITORS_SHOWN
) -> list[dict[str, Any]]:
    """Accepted records only, best first (closed PRs and open claims never rank here)."""
    from bot.research.competitors import accepted, flat_text

    # names, summaries and authors are the competitors' own words: one plain line each here,
    # and the whole context goes to the model inside a declared-untrusted block (build_prompt)
    rows = accepted(scores)
    return [
        {
            "name": flat_text(s.name, 200),
            "val_bpb": s.val_bpb,
            "delta": round((s.val_bpb or 0.0) - BASELINE_BPB, 4),
            "techniques": flat_text(s.techniques, 240) if s.techniques else "",
            "author": flat_text(s.author, 100),
            "date": flat_text(s.date[:10], 10),
            "status": s.status,
            "provenance": s.provenance,
        }
        for s in rows[:limit]
    ]


def build_context(
    ledger: Ledger,
    graded: Sequence[GradedItem],
    competitors: Sequence[CompetitorScore],
    settings: Settings,
) -> GradingContext:
    failed = [
        {
            "commit": r.commit[:10],
            "tier": r.tier,
            "val_bpb": r.val_bpb,
            "status": r.status,
            "description": one_line(r.description, 200),
        }
        for r in ledger.failed_experiments(FAILED_SHOWN)
    ]
    comps = competitor_rows(competitors)
    cal = calibration.compute(ledger, graded, window=settings.baseline_window)
    fr = frontier.compute(ledger, graded)
    return GradingContext(
        best_bpb=ledger.current_best_bpb(),
        proven=ledger.proven_techniques(),
        failed=failed,
        competitors=comps,
        calibration=calibration.summary_lines(cal),
        frontier=frontier.summary_lines(fr),
        artifact_limit=settings.artifact_limit_bytes,
        wallclock_seconds=settings.max_wallclock_seconds,
        rubric=make_rubric(bool(comps)),
        warnings=list(ledger.warnings),
        speedrun=_speedrun(competitors),
    )


def _speedrun(competitors: Sequence[CompetitorScore]) -> list[str]:
    from bot.research.competitors import trend_lines

    return trend_lines(competitors)


def load_context(root: Path, settings: Settings) -> GradingContext:
    ledger = Ledger.load(settings.path("results_path", root))
    state = ResearchState(settings.path("state_dir", root))
    return build_context(ledger, state.graded(), state.competitors(), settings)


# ----------------------------------------------------------------------------------- text
DIM_GUIDE = {
    "bpb_impact": (
        "expected val_bpb gain on a 16 MB, 10-minute model if it works: 0 none/unclear, 1 small "
        "(< 0.005 bpb), 2 clear (0.005–0.02), 3 large (> 0.02) with evidence at small scale"
    ),
    "size_compatibility": (
        "fit with the 16,000,000-byte artifact (code + compressed weights): 0 needs more "
        "parameters or bytes than fit, 1 costs a lot of headroom, 2 neutral, 3 saves bytes "
        "(better compression or quantization, fewer parameters for equal quality)"
    ),
    "time_compatibility": (
        "fit with 10 minutes of training on 8×H100: 0 needs longer training or heavy extra "
        "compute, 1 neutral or a small slowdown, 2 speeds training up or is free"
    ),
    "implementability": (
        "effort and risk to implement in the single-file train_gpt.py with PyTorch only: 0 needs "
        "new dependencies, custom hardware or a different data set; 1 weeks; 2 days; 3 hours; "
        "4 a few lines or a hyperparameter"
    ),
    "novelty": (
        "new relative to what we have: 0 already proven (in our baseline or a kept result) or a "
        "re-attempt of a failed experiment; 1 a minor variant; 2 not tried by us; 3 not tried by "
        "us or by any competitor listed"
    ),
    "competitor_validated": (
        "evidence from competitor records: 0 no competitor uses it, 1 used by a competitor "
        "record, 2 part of a top-3 record"
    ),
}


def instructions(rubric: Rubric) -> str:
    """The static part: the challenge, the rubric, the answer format (same every cycle)."""
    lines = [
        "You grade research items (papers, pull requests, news, code) for a team competing in "
        "OpenAI's Parameter Golf challenge.",
        "",
        "The challenge: train the language model with the lowest val_bpb (bits per byte) on the "
        "FineWeb validation split, such that the bytes of train_gpt.py plus its compressed weights "
        "fit in 16,000,000 bytes, and training takes at most 10 minutes on 8×H100 SXM GPUs. "
        "Evaluation must also be fast. Only PyTorch and the standard library are available in the "
        "training script; the tokenizer, data shards and evaluation procedure are fixed by the "
        "challenge except where an entry changes its own tokenizer and proves byte accounting.",
        "",
        "An item that needs new dependencies, breaks the 16 MB artifact or needs more than "
        "10 minutes of training scores zero on the dimension it breaks, however good it is. A "
        "technique we have already proven, or one of our failed experiments retried without a "
        "clear new twist, must score low on novelty. Use the calibration notes to correct your "
        "bias: weigh dimensions that have not predicted outcomes less.",
        "",
        f"Rubric ({rubric.thresholds_text()}). Score each dimension with an integer:",
    ]
    for name, top in rubric.dims:
        lines.append(f"- {name} (0–{top}): {DIM_GUIDE[name]}")
    cats = ", ".join(f"{c.name} ({c.label})" for c in taxonomy.CATEGORIES)
    lines += [
        "",
        f"Also give each item its technique category, one of: {cats}, or other.",
        "",
        f"Answer only by calling the {TOOL_NAME} tool once, with exactly one entry per item id you "
        "were given, in any order. Each entry: item_id (copied exactly), every rubric dimension as "
        "an integer within its range, category, and a rationale of at most 40 words naming the "
        "specific change to train_gpt.py and the main risk. Do not compute totals or tiers; we do. "
        "If an item is irrelevant to training small language models, give it zeros with a "
        "one-line rationale.",
        "",
        "Worked anchors: 'int6 quantization-aware training with zstd export' → size 3, time 1, "
        "implementability 3. 'A 7B-parameter mixture of experts trained for 3 days' → size 0, "
        "time 0. 'A new learning-rate warmdown shape for short runs' → time 2, implementability 4. "
        "'A new CUDA kernel library for attention' → implementability 0 (new dependency).",
    ]
    return "\n".join(lines)


def context_text(ctx: GradingContext) -> str:
    """The dynamic part, rebuilt from the ledger and research state every cycle."""
    out: list[str] = ["# Grading context (this cycle)", ""]
    best = f"{ctx.best_bpb:.4f}" if ctx.best_bpb is not None else "none yet"
    out.append(
        f"Current best RunPod val_bpb: {best} (upstream naive baseline {BASELINE_BPB:.4f}; lower is better)."
    )
    out.append(
        f"Limits: artifact {ctx.artifact_limit:,} bytes; training {ctx.wallclock_seconds} s on 8×H100."
    )
    out += ["", "## Proven techniques (already in our model: novelty 0)"]
    out += [f"- {one_line(t, 200)}" for t in ctx.proven] or ["- none"]
    out += ["", "## Failed experiments — penalize re-attempts (most recent first)"]
    if ctx.failed:
        for f in ctx.failed:
            bpb = f"{f['val_bpb']:.4f}" if f["val_bpb"] is not None else "n/a"
            out.append(f"- [{f['tier']}, {f['status']}, val_bpb {bpb}] {f['description']} ({f['commit']})")
    else:
        out.append("- none")
    out += ["", "## Competitor records (accepted records only, best first; Δ from the 1.2244 baseline)"]
    if ctx.competitors:
        for c in ctx.competitors:
            tech = f" — techniques: {c['techniques']}" if c["techniques"] else ""
            out.append(f"- {c['val_bpb']:.4f} (Δ {c['delta']:+.4f}) {one_line(c['name'], 100)}{tech}")
    else:
        out.append("- none known (competitor_validated is not scored)")
    if ctx.speedrun:
        out += ["", "## modded-nanogpt speedrun trend (record time, lower is better)"]
        out += [f"- {one_line(line, 400)}" for line in ctx.speedrun]
    out += ["", "## Calibration (how past grades fared)"]
    out += [f"- {line}" for line in ctx.calibration] or ["- no data"]
    out += ["", "## Frontier (technique categories)"]
    out += [f"- {line}" for line in ctx.frontier]
    return "\n".join(out)


def tool_schema(rubric: Rubric) -> dict[str, Any]:
    props: dict[str, Any] = {"item_id": {"type": "string"}}
    for name, top in rubric.dims:
        props[name] = {"type": "integer", "minimum": 0, "maximum": top, "description": DIM_GUIDE[name]}
    props["category"] = {"type": "string", "enum": [*taxonomy.NAMES, taxonomy.OTHER]}
    props["rationale"] = {"type": "string", "maxLength": 400}
    return {
        "name": TOOL_NAME,
        "description": "Record one grade per research item.",
        "input_schema": {
            "type": "object",
            "properties": {
                "grades": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": props,
                        "required": ["item_id", *rubric.names, "category", "rationale"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["grades"],
        },
    }


def item_payload(item: ResearchItem) -> dict[str, Any]:
    summary = " ".join(item.summary.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1] + "…"
    return {
        "id": item.id,
        "title": " ".join(item.title.split()),
        "source": item.source,
        "url": item.url,
        "published": item.published[:10],
        "summary": summary,
    }


def items_message(items: Sequence[ResearchItem], note: str = "") -> str:
    # "<" escaped inside the JSON strings: no item text can form a tag.
    body = "\n".join(json.dumps(item_payload(i), ensure_ascii=False).replace("<", "\\u003c") for i in items)
    head = f"Grade these {len(items)} item(s). One JSON object per line:\n" + untrusted.block(
        "research-items", f"<items>\n{body}\n</items>"
    )
    return head + (f"\n\n{note}" if note else "")


def content_hash(item: ResearchItem) -> str:
    """What the grade depends on in the item itself."""
    data = json.dumps(item_payload(item), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


def graded_item(
    item: ResearchItem,
    scores: dict[str, int],
    rubric: Rubric,
    *,
    grader: str,
    rationale: str,
    category: str,
    context_version: str,
    graded_at: str,
) -> GradedItem:
    """The grade of ``item``: its total and tier follow from ``scores`` under ``rubric``."""
    total = sum(scores.values())
    return GradedItem(
        item_id=item.id,
        title=item.title,
        url=item.url,
        source=item.source,
        scores=scores,
        total=total,
        max_total=rubric.max_total,
        tier=rubric.tier(total),
        grader=grader,
        rationale=rationale,
        category=category,
        content_hash=content_hash(item),
        context_version=context_version,
        graded_at=graded_at,
        summary=item.summary[:500],
    )


@dataclass
class Prompt:
    """The cached prefix of every grading request of one cycle."""

    rubric: Rubric
    system: list[dict[str, Any]]
    tool: dict[str, Any]
    version: str
    context: GradingContext
    context_block: dict[str, Any] = field(default_factory=dict)  # user block 1 (untrusted data)

    def params(
        self,
        model: str,
        max_tokens: int,
        items: Sequence[ResearchItem],
        *,
        cache: bool = True,
        note: str = "",
    ) -> dict[str, Any]:
        system = [dict(b) for b in self.system]
        ctx = dict(self.context_block)
        if cache:
            ctx["cache_control"] = {"type": "ephemeral"}
        content = [ctx, {"type": "text", "text": items_message(items, note)}]
        return {
            "model": model,
            "max_tokens": max_tokens,
            "system": system,
            "tools": [self.tool],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
            "messages": [{"role": "user", "content": content}],
        }


def build_prompt(ctx: GradingContext, model: str) -> Prompt:
    rubric = ctx.rubric
    static = instructions(rubric)
    dynamic = context_text(ctx)
    tool = tool_schema(rubric)
    digest = hashlib.sha256()
    for part in (model, json.dumps(tool, sort_keys=True), static, dynamic):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    system = [{"type": "text", "text": static + "\n\n" + untrusted.NOTE}]
    block = untrusted.text_block("grading-context", dynamic)
    return Prompt(rubric, system, tool, digest.hexdigest()[:16], ctx, block)
