"""Everything the dashboard shows, gathered into one JSON-ready :class:`ReportData`.

Sources, all read-only:

- ``results.tsv`` (:class:`bot.ledger.Ledger`): the experiments table, val_bpb over time, the
  tier correlation (:meth:`Ledger.tier_correlation`), the running local baseline;
- ``budget.json`` (:mod:`bot.budget`): the burn-down (one point per run record), reserve floor,
  open reservations; PR numbers of promoted commits;
- the research state (:class:`bot.state.ResearchState`): the funnel (items per source → graded
  tiers → verified) and the competitor leaderboard;
- ``program.md``'s SOTA line, when no competitor score is known;
- the technique frontier (:mod:`bot.grading.frontier`, imported lazily: optional).

A missing file is an empty section, never an error; a corrupt budget or state file is reported
as a warning on the page (the dashboard must still render at 2 am), never silently ignored.
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot import clock
from bot.config import Settings
from bot.errors import GitError, PgolfError
from bot.git import git
from bot.grading import frontier
from bot.ledger import Ledger, Row
from bot.program import BASELINE_BPB, SOTA_RE
from bot.state import TIERS as GRADE_TIERS
from bot.state import CompetitorScore, GradedItem, ResearchItem, ResearchState, VerifiedBrief
from bot.training.fidelity import PRIOR as FIDELITY_PRIOR
from bot.training.fidelity import prior_summary

# "PR #12", "PR 12", "(#12)" (a squash-merge title) or ".../pull/12" in a ledger description
PR_RE = re.compile(r"\bPR\s*#?(\d{1,7})\b|\(#(\d{1,7})\)|/pull/(\d{1,7})\b", re.I)
CYCLE_KEYS = ("cycle", "cycle_id", "research_cycle", "run_id")


@dataclass
class ReportData:
    generated_at: str
    repo_url: str  # https://github.com/owner/name, or "" when unknown
    baseline_bpb: float
    sota_bpb: float | None
    sota_source: str
    running_local_baseline: float | None
    noise_floor: float | None
    gate_pct: float
    best_runpod: dict[str, Any] | None
    best_local: dict[str, Any] | None
    experiments: list[dict[str, Any]]
    correlation: dict[str, Any]
    correlation_summary: str
    budget: dict[str, Any]
    funnel: dict[str, Any]
    research_commits: list[dict[str, Any]]
    research_review: dict[str, Any]
    competitors: list[dict[str, Any]]
    speedrun: list[dict[str, Any]]
    frontier: dict[str, Any]
    counts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- helpers
def repo_url(settings: Settings, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    repo = settings.github_repository or env.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo or ""):
        return ""
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not server.startswith("https://"):
        server = "https://github.com"
    return f"{server}/{repo}"


def _prefix_match(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    if not a or not b:
        return False
    k = min(len(a), len(b))
    return k >= 7 and a[:k] == b[:k]


def _pr_for(row: Row, pr_by_sha: dict[str, int]) -> int | None:
    for sha, pr in pr_by_sha.items():
        if _prefix_match(row.commit, sha):
            return pr
    m = PR_RE.search(row.description)
    if m is None:
        return None
    return int(next(g for g in m.groups() if g is not None))


def _local_reference(history: list[float], window: int) -> float | None:
    recent = history[-window:]
    return statistics.median(recent) if recent else None


def experiments_table(ledger: Ledger, window: int, pr_by_sha: dict[str, int]) -> list[dict[str, Any]]:
    """One dict per ledger row (file order) with the Δ the dashboard shows.

    Δ of a local row: percent vs the running local baseline *as it stood before the row*
    (median of the ``window`` preceding baseline rows) — the number the gate compares.
    Δ of a RunPod row: bpb vs the best kept RunPod result before it (the upstream baseline
    1.2244 when there is none) — negative means a new best.
    """
    out: list[dict[str, Any]] = []
    # a PR named by one row of a commit (e.g. the RunPod row) names it for its other rows too
    pr_by_commit: dict[str, int] = {}
    for r in ledger.rows:
        found = _pr_for(r, pr_by_sha)
        if found is not None and len(r.commit) >= 7:
            pr_by_commit.setdefault(r.commit[:7].lower(), found)
    baseline_hist: list[float] = []
    best_runpod: float | None = None
    for i, r in enumerate(ledger.rows):
        delta: float | None = None
        delta_unit = ""
        if r.val_bpb is not None and r.status != "crash":
            if r.tier == "local" and not r.is_baseline:
                ref = _local_reference(baseline_hist, window)
                if ref:
                    delta, delta_unit = (r.val_bpb - ref) / ref * 100.0, "%"
            elif r.tier == "runpod":
                ref = best_runpod if best_runpod is not None else BASELINE_BPB
                delta, delta_unit = r.val_bpb - ref, "bpb"
        d = r.to_dict()
        d.update(
            {
                "index": i + 1,
                "baseline": r.is_baseline,
                "delta": delta,
                "delta_unit": delta_unit,
                "pr": _pr_for(r, pr_by_sha) or pr_by_commit.get(r.commit[:7].lower()),
            }
        )
        out.append(d)
        if r.is_baseline and r.val_bpb is not None and r.status != "crash":
            baseline_hist.append(r.val_bpb)
        if r.tier == "runpod" and r.status == "keep" and r.val_bpb is not None:
            best_runpod = r.val_bpb if best_runpod is None else min(best_runpod, r.val_bpb)
    return out


def budget_section(
    path: Path, settings: Settings, warnings: list[str]
) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        b = budget_mod.load(path, settings)
    except PgolfError as exc:
        warnings.append(f"budget not shown: {exc}")
        return {"available": False, "error": str(exc), "runs": [], "points": []}, {}
    remaining = b.total_credits
    points: list[dict[str, Any]] = [{"label": "start", "remaining": remaining, "cost": 0.0, "kind": "start"}]
    pr_by_sha: dict[str, int] = {}
    runs: list[dict[str, Any]] = []
    for i, r in enumerate(b.runs, 1):
        remaining -= r.cost_usd
        rd = asdict(r)
        rd["index"] = i
        rd["remaining_after"] = remaining
        runs.append(rd)
        points.append(
            {
                "label": r.end or r.start or f"run {i}",
                "remaining": remaining,
                "cost": r.cost_usd,
                "kind": r.kind,
                "run_id": r.run_id,
                "pr": r.pr,
                "sha": r.sha,
            }
        )
        if r.pr is not None and r.sha:
            pr_by_sha[r.sha] = r.pr
    for res in b.reservations:
        if res.pr is not None and res.sha:
            pr_by_sha.setdefault(res.sha, res.pr)
    data = {
        "available": True,
        "exists": b.exists,
        "total_credits": b.total_credits,
        "reserve_floor": b.reserve_floor,
        "spent": b.spent,
        "remaining": b.remaining,
        "reserved": b.reserved,
        "free_above_floor": b.available,
        "reservations": [asdict(r) for r in b.reservations],
        "runs": runs,
        "points": points,
        "hourly_rate_usd": settings.hourly_rate_usd,
        "gpu_count": settings.gpu_count,
    }
    return data, pr_by_sha


def _cycle_of(item: ResearchItem) -> str | None:
    for key in CYCLE_KEYS:
        v = item.extra.get(key)
        if v not in (None, ""):
            return str(v)
    return item.fetched_at or None


def _source_of(item: ResearchItem) -> str:
    origin = item.raw.get("origin") if isinstance(item.raw, dict) else None
    if item.source == "snapshot" and isinstance(origin, str) and origin:
        return f"snapshot/{origin}"
    return item.source or "unknown"


def funnel_section(
    raw: list[ResearchItem], graded: list[GradedItem], verified: list[VerifiedBrief]
) -> dict[str, Any]:
    """Items per source → graded tiers → verified; per research cycle when the state has one.

    A cycle is one ``pgolf research fetch`` run: the pipeline stamps every item it stores in a
    run with the same ``fetched_at`` time; an explicit ``cycle``/``cycle_id``/``research_cycle``/
    ``run_id`` field (kept in ``extra``) takes precedence. When no item carries either, the
    funnel is overall and says so. Items fetched through the bundled snapshot are counted under
    ``snapshot/<original source>``.
    """
    cycle_of_item: dict[str, str] = {}
    for it in raw:
        c = _cycle_of(it)
        if c is not None:
            cycle_of_item[it.id] = c

    def one(
        items: list[ResearchItem], grades: list[GradedItem], briefs: list[VerifiedBrief]
    ) -> dict[str, Any]:
        per_source = Counter(_source_of(it) for it in items)
        tiers = Counter(g.tier for g in grades)
        return {
            "items": len(items),
            "per_source": dict(sorted(per_source.items(), key=lambda kv: (-kv[1], kv[0]))),
            "graded": len(grades),
            "tiers": {t: tiers.get(t, 0) for t in GRADE_TIERS},
            "verified": len(briefs),
        }

    overall = one(raw, graded, verified)
    cycles: list[dict[str, Any]] = []
    if cycle_of_item:
        groups: OrderedDict[str, list[ResearchItem]] = OrderedDict()
        for it in raw:
            groups.setdefault(cycle_of_item.get(it.id, "(no cycle)"), []).append(it)
        for name, items in groups.items():
            ids = {it.id for it in items}
            cyc = one(
                items,
                [g for g in graded if g.item_id in ids],
                [v for v in verified if v.item_id in ids],
            )
            cyc["cycle"] = name
            cycles.append(cyc)
    top = sorted(
        (g for g in graded if g.tier in ("A", "B")),
        key=lambda g: (-(g.total / g.max_total if g.max_total else 0.0), g.item_id),
    )[:15]
    return {
        "overall": overall,
        "cycles": cycles,
        "per_cycle": bool(cycles),
        "note": ""
        if cycles
        else "The research state records no cycle (no item has a fetch time or cycle id), so the funnel is shown overall.",
        "top_graded": [
            {
                "item_id": g.item_id,
                "title": g.title,
                "url": g.url,
                "tier": g.tier,
                "total": g.total,
                "max_total": g.max_total,
                "category": g.category,
                "grader": g.grader,
            }
            for g in top
        ],
        "verified_items": [{"item_id": v.item_id, "title": v.title, "url": v.url} for v in verified[:15]],
    }


MERGE_PR_RE = re.compile(r"\(#(\d{1,7})\)\s*$")


def research_history(root: Path, url: str, limit: int = 400) -> list[dict[str, Any]]:
    """The research commits of ``root``'s history, newest first: each with its subject, the
    summary lines of its body, the research cycle(s) and review PR named by its trailers
    (:mod:`bot.program_changes`), and links to the commit and PR when the repository URL is known.
    Research-PR merges (``research: … (#N)``) count too. [] when ``root`` is not a git repository."""
    from bot.program_changes import TRAILER_CYCLE, TRAILER_PR

    try:
        top = git(root, "rev-parse", "--show-toplevel", timeout=30).strip()
        if Path(top).resolve() != Path(root).resolve():
            return []  # not a repository of its own (a folder inside another one is not its history)
        log = git(root, "log", f"-n{limit}", "--format=%H%x1f%cI%x1f%B%x1e", "HEAD", timeout=30)
    except GitError:
        return []
    out: list[dict[str, Any]] = []
    for record in log.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) != 3:
            continue
        sha, date, message = parts
        lines = message.strip().splitlines()
        if not lines:
            continue
        subject = lines[0].replace(" [skip ci]", "")
        cycles = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(TRAILER_CYCLE + ":")]
        prs = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(TRAILER_PR + ":")]
        merged = MERGE_PR_RE.search(subject) if subject.startswith("research:") else None
        if not (cycles or prs or merged or subject.startswith("research:")):
            continue
        pr_text = prs[0] if prs else merged.group(1) if merged else ""
        pr = int(pr_text) if pr_text.isdigit() else None
        summary = [
            ln
            for ln in lines[1:]
            if ln.strip()
            and ln.strip() != "[skip ci]"
            and not ln.startswith((TRAILER_CYCLE + ":", TRAILER_PR + ":"))
        ]
        out.append(
            {
                "sha": sha,
                "date": date,
                "subject": subject,
                "summary": summary[:40],
                "cycles": cycles,
                "pr": pr,
                "merge": merged is not None,
                "url": f"{url}/commit/{sha}" if url else "",
                "pr_url": f"{url}/pull/{pr}" if url and pr is not None else "",
            }
        )
    return out


def link_cycles(funnel: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """Attach to each funnel cycle the research commit that recorded it (and its PR)."""
    by_cycle: dict[str, dict[str, Any]] = {}
    for c in reversed(history):  # oldest first: the first commit of a cycle is the one that recorded it
        for cyc in c["cycles"]:
            by_cycle.setdefault(cyc, c)
    keys = ("sha", "subject", "summary", "url", "pr", "pr_url", "date")
    for cyc in funnel.get("cycles", []):
        found = by_cycle.get(str(cyc.get("cycle")))
        cyc["commit"] = {k: found[k] for k in keys} if found else None


def competitors_section(scores: list[CompetitorScore]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    def row(s: CompetitorScore) -> dict[str, Any]:
        d = asdict(s)
        d.pop("extra", None)
        return d

    from bot.research.competitors import accepted, boards

    pg = accepted(scores)  # accepted records only: the SOTA below is the first of them
    mn = [s for rows in boards(scores).values() for s in rows]
    return [row(s) for s in pg], [row(s) for s in mn]


def frontier_section(ledger: Ledger, graded: list[GradedItem]) -> dict[str, Any]:
    """The technique frontier table from :mod:`bot.grading.frontier`.

    The frontier is one panel of the report: when it fails, the section says "not available" and
    why, instead of failing the whole report.
    """
    try:
        cats = frontier.compute(ledger, graded).to_dict()
        rules = str(cats.get("rules", ""))
        rows = [
            {
                "category": c.get("label") or c.get("name"),
                "graded items": c.get("items", 0),
                "tier A": c.get("tier_a", 0),
                "tried": c.get("tried", 0),
                "improved": c.get("improved", 0),
                "failed": c.get("failed", 0),
                "selection bonus": c.get("bonus", 0),
            }
            for c in cats.get("categories", [])
        ]
    except Exception as exc:  # an optional section must never take the dashboard down
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}", "rows": [], "rules": ""}
    rows.sort(key=lambda r: (-int(r["selection bonus"]), -int(r["tier A"]), str(r["category"])))
    return {"available": True, "reason": "", "rows": rows, "rules": rules}


def sota_from_program(path: Path) -> float | None:
    if not path.is_file():
        return None
    try:
        m = SOTA_RE.search(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    if not m:
        return None
    try:
        return float(m.group("sota"))
    except ValueError:
        return None


# --------------------------------------------------------------------------- entry point
def collect(root: Path | str, settings: Settings, *, now: datetime | None = None) -> ReportData:
    """Read the research repository at ``root`` and gather everything the report shows."""
    root = Path(root)
    warnings: list[str] = []
    ledger = Ledger.load(settings.path("results_path", root))
    warnings.extend(ledger.warnings[:50])
    if len(ledger.warnings) > 50:
        warnings.append(f"… and {len(ledger.warnings) - 50} more ledger warning(s)")
    budget, pr_by_sha = budget_section(settings.path("budget_path", root), settings, warnings)

    state = ResearchState(settings.path("state_dir", root))
    raw: list[ResearchItem] = []
    graded: list[GradedItem] = []
    verified: list[VerifiedBrief] = []
    scores: list[CompetitorScore] = []
    for label, loader in (
        ("raw cache", state.raw_items),
        ("graded items", state.graded),
        ("verified briefs", state.verified),
        ("competitors", state.competitors),
    ):
        try:
            records: list[Any] = loader()
        except PgolfError as exc:
            warnings.append(f"{label} not shown: {exc}")
            records = []
        if label == "raw cache":
            raw = records
        elif label == "graded items":
            graded = records
        elif label == "verified briefs":
            verified = records
        else:
            scores = records

    window = settings.baseline_window
    experiments = experiments_table(ledger, window, pr_by_sha)
    corr = ledger.tier_correlation()
    competitors, speedrun = competitors_section(scores)
    if competitors:
        sota: float | None = competitors[0]["val_bpb"]
        sota_source = f"competitor leaderboard ({competitors[0]['name']})"
    else:
        sota = sota_from_program(settings.path("program_path", root))
        sota_source = "program.md" if sota is not None else ""
    url = repo_url(settings)
    funnel = funnel_section(raw, graded, verified)
    history = research_history(root, url)
    link_cycles(funnel, history)
    from bot.program_git import read_review_state

    review = read_review_state(root, settings)
    if review and isinstance(review.get("pr"), int) and url:
        review["pr_url"] = f"{url}/pull/{review['pr']}"
    best_rp = ledger.best_row("runpod")
    best_lo = ledger.best_row("local")
    tiers = Counter(r.tier for r in ledger.rows)
    statuses = Counter(r.status for r in ledger.rows)
    return ReportData(
        generated_at=clock.stamp(now),
        repo_url=url,
        baseline_bpb=BASELINE_BPB,
        sota_bpb=sota,
        sota_source=sota_source,
        running_local_baseline=ledger.running_local_baseline(window),
        noise_floor=ledger.noise_floor(window),
        gate_pct=settings.local_gate_pct,
        best_runpod=best_rp.to_dict() if best_rp else None,
        best_local=best_lo.to_dict() if best_lo else None,
        experiments=experiments,
        correlation={**corr.to_dict(), "prior": FIDELITY_PRIOR},
        correlation_summary=corr.summary() + ("" if corr.reliable else f" {prior_summary()}".rstrip()),
        budget=budget,
        funnel=funnel,
        research_commits=history[:30],
        research_review=review,
        competitors=competitors,
        speedrun=speedrun,
        frontier=frontier_section(ledger, graded),
        counts={
            "rows": len(ledger.rows),
            "tiers": dict(tiers),
            "statuses": dict(statuses),
            "promoted": sum(1 for r in ledger.rows if r.promoted == "yes"),
        },
        warnings=warnings,
    )
