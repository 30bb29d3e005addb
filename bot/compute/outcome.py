"""What a promotion produces: per-seed results, the promotion's outcome and its Markdown
summary, and where it is reported (a :class:`Reporter`, e.g. the PR's sticky comment through
:class:`bot.compute.notify.ForgeReporter`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from bot.compute.significance import Significance
from bot.ledger import Ledger


@dataclass
class SeedResult:
    seed: int
    rc: int
    log: str
    val_bpb: float | None = None
    val_loss: float | None = None
    artifact_bytes: int | None = None
    code_bytes: int | None = None
    memory_gb: float | None = None
    stopped_early: bool = False
    error: str = ""
    seconds: float = 0.0


@dataclass
class PromoteResult:
    run_id: str
    pr: int | None
    sha: str
    provider: str
    status: str  # keep | discard | crash
    seeds: list[SeedResult] = field(default_factory=list)
    pod_id: str = ""
    pod_seconds: float = 0.0
    cost_usd: float = 0.0
    val_bpb: float | None = None
    artifact_bytes: int | None = None
    best_before: float | None = None  # our best Tier 2 result before this run (results.tsv)
    sota_bpb: float | None = None  # the challenge SOTA (program.md's SOTA line), else best_before
    significance: Significance | None = None
    error: str = ""
    log_tail: str = ""
    terminated: bool = False
    run_dir: str = ""
    comment: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    hardware: str = ""  # e.g. "8xH100 80GB HBM3" or "local CPU" (see hardware_label)
    reserved_usd: float = 0.0  # what the reservation held back
    overrun: bool = False  # the real cost exceeded the reservation (booked in full)
    budget_warning: str = ""  # e.g. new reservations blocked after an overrun
    run_url: str = ""  # the workflow run (its log and artifacts)
    artifact_url: str = ""  # the uploaded logs + result JSON

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["significance"] = self.significance.to_dict() if self.significance else None
        return d


# ----------------------------------------------------------------------------- helpers


def hardware_label(provider: str, gpu_count: int, gpu_type: str) -> str:
    """What a run trained on, for reports and the submission README."""
    if provider == "local":
        return "local CPU"
    name = gpu_type.removeprefix("NVIDIA ").strip() or "GPU"
    return f"{gpu_count}x{name}"


class Reporter(Protocol):
    """Where progress and the final result go (the PR's sticky comment, or nowhere)."""

    def progress(self, result: PromoteResult, state: str, message: str = "") -> None: ...

    def final(self, result: PromoteResult, ledger: Ledger) -> None: ...


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def one_line(text: str, limit: int = 300) -> str:
    """``text`` folded onto one line (for a results.tsv description), at most ``limit`` chars."""
    t = " | ".join(x.strip() for x in text.splitlines() if x.strip())
    t = t.replace("\t", " ")
    return t[: limit - 1] + "…" if len(t) > limit else t


def render_summary(result: PromoteResult, ledger: Ledger) -> str:
    """The Markdown summary of a promotion: ``pgolf promote``'s output and result.json's
    ``comment`` (no secrets: only figures and the log tail)."""
    where = "RunPod" if result.provider == "runpod" else result.provider
    lines = [f"### Tier 2 ({where}) — `{result.sha[:7]}` · run `{result.run_id}`", ""]
    if result.status == "crash":
        lines += [
            f"**Crashed** on {result.provider}: {result.error or 'unknown error'}",
            "",
            f"Pod {'terminated' if result.terminated else '**NOT confirmed terminated** (the reaper will retry)'}; "
            f"cost ${result.cost_usd:.2f} for {result.pod_seconds:.0f} s.",
        ]
        if result.budget_warning:
            lines += ["", f"**{result.budget_warning}**"]
        if result.log_tail:
            lines += [
                "",
                "<details><summary>log tail</summary>",
                "",
                "```",
                result.log_tail,
                "```",
                "</details>",
            ]
        return "\n".join(lines) + "\n"
    sig = result.significance
    best = result.sota_bpb
    delta = "" if best is None or result.val_bpb is None else f" (Δ vs SOTA {result.val_bpb - best:+.4f})"
    lines += [
        "| metric | value |",
        "|---|---|",
        f"| val_bpb | **{result.val_bpb:.4f}**{delta} |",
        f"| seeds | {len(result.seeds)}"
        + (f" (std {sig.std_bpb:.5f})" if sig and sig.std_bpb is not None else "")
        + " |",
        f"| artifact | {result.artifact_bytes if result.artifact_bytes is not None else 'n/a'} bytes |",
        f"| cost | ${result.cost_usd:.2f} ({result.pod_seconds:.0f} s pod time) |",
        f"| status | {result.status} |",
        "",
    ]
    if result.budget_warning:
        lines += [f"**{result.budget_warning}**", ""]
    if sig is not None:
        lines += [sig.summary(), ""]
    lines.append(ledger.tier_correlation().summary())
    return "\n".join(lines) + "\n"
