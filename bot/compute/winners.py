"""Winners that really won: a Tier 2 result against a Tier 2 baseline of the same configuration.

Every Tier 2 row in results.tsv carries, in its description, the configuration it ran at
(``cfg=t2-…``: GPUs, GPU type, wall-clock cap and extra training environment) and its per-seed
val_bpb (``bpbs=1.20010/1.19900/1.20100``). A **Tier 2 baseline** is such a row whose description
starts with ``baseline`` (``pgolf promote --description baseline --seeds 3`` on the default
branch's head).

:func:`winner_test` compares a PR's latest Tier 2 row with the baseline rows of the same
configuration: at least :data:`MIN_SEEDS` seeds on the PR's side, at least two baseline seeds
(pooled over the baseline rows of that configuration), and a one-sided Welch test of
H0: mean(PR) ≥ mean(baseline) at ``winner_p_value``. The effect is the bpb gap (and in % of the
baseline) — both go into the PR's sticky comment.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bot.compute.significance import welch
from bot.config import Settings
from bot.ledger import Ledger, Row, has_config

MIN_SEEDS = 3
_BPBS = re.compile(r"(?<![\w=-])bpbs=([0-9.]+(?:/[0-9.]+)*)")


def tier2_config(settings: Settings) -> str:
    """The configuration tag of a Tier 2 run: what changes the score besides the code."""
    gpu = re.sub(r"[^a-z0-9]+", "", settings.gpu_type.lower().removeprefix("nvidia "))[:12] or "gpu"
    env = "|".join(sorted(settings.pod_train_env))
    digest = hashlib.sha256(env.encode()).hexdigest()[:6] if env else "plain"
    return f"t2-{settings.gpu_count}x{gpu}-{settings.max_wallclock_seconds}s-{digest}"


def tier2_tags(settings: Settings, bpbs: list[float]) -> str:
    """``cfg=… bpbs=…`` for a Tier 2 row's description."""
    return f"cfg={tier2_config(settings)} bpbs=" + "/".join(f"{b:.5f}" for b in bpbs)


def seed_bpbs(row: Row) -> list[float]:
    # the last tag: pgolf appends its own after any quoted (PR-authored) text
    found = list(_BPBS.finditer(row.description))
    if not found:
        return []
    m = found[-1]
    try:
        return [float(x) for x in m.group(1).split("/") if x]
    except ValueError:
        return []


def _last_config(description: str) -> str | None:
    """A Tier 2 row's ``cfg=`` tag: the last one (pgolf's, appended after the quoted subject)."""
    found = re.findall(r"(?<![\w=-])cfg=([\w.-]+)", description)
    return found[-1] if found else None


def is_tier2_baseline(row: Row) -> bool:
    return row.tier == "runpod" and row.description.strip().lower().startswith("baseline")


@dataclass
class WinnerTest:
    passed: bool
    reason: str
    config: str
    seeds: int = 0
    baseline_seeds: int = 0
    mean_bpb: float | None = None
    baseline_bpb: float | None = None
    effect_bpb: float | None = None  # baseline − PR (positive = better)
    effect_pct: float | None = None
    p_value: float | None = None
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.p_value is None or self.effect_bpb is None:
            return self.reason
        return (
            f"{self.seeds} seeds, mean {self.mean_bpb:.5f} vs Tier 2 baseline {self.baseline_bpb:.5f} "
            f"({self.baseline_seeds} seeds, cfg={self.config}): effect {self.effect_bpb:+.5f} bpb "
            f"({self.effect_pct:+.2f} %), one-sided Welch p = {self.p_value:.3g} (α {self.alpha}). {self.reason}"
        )


def winner_test(ledger: Ledger, head: str, settings: Settings) -> WinnerTest:
    """Is the PR head's latest Tier 2 result significantly better than the Tier 2 baseline?"""
    cfg = tier2_config(settings)
    alpha = settings.winner_p_value

    def same(a: str, b: str) -> bool:
        n = min(len(a), len(b))
        return n >= 7 and a[:n].lower() == b[:n].lower()

    mine = [
        r
        for r in ledger.filter("runpod")
        if same(r.commit, head) and r.status != "crash" and not is_tier2_baseline(r)
    ]
    if not mine:
        return WinnerTest(False, f"no Tier 2 result for the head {head[:10]}", cfg, alpha=alpha)
    latest = mine[-1]
    ran_at = _last_config(latest.description)
    if ran_at != cfg:
        return WinnerTest(
            False,
            f"the head's Tier 2 run is at cfg={ran_at or 'unknown'}, not the "
            f"current configuration cfg={cfg}: promote it again",
            cfg,
            alpha=alpha,
        )
    bpbs = seed_bpbs(latest)
    if len(bpbs) < MIN_SEEDS:
        return WinnerTest(
            False,
            f"{len(bpbs)} seed(s) on Tier 2; a winner needs ≥ {MIN_SEEDS} (`/promote seeds={MIN_SEEDS}`)",
            cfg,
            seeds=len(bpbs),
            alpha=alpha,
        )
    base_rows = [
        r
        for r in ledger.filter("runpod")
        if is_tier2_baseline(r) and r.status != "crash" and has_config(r.description, cfg)
    ]
    base = [b for r in base_rows[-3:] for b in seed_bpbs(r)]
    if len(base) < 2:
        return WinnerTest(
            False,
            f"no Tier 2 baseline at cfg={cfg} ({len(base)} seed(s)): run one on the default branch's head "
            f"(`pgolf promote --description baseline --seeds {MIN_SEEDS}`) before merging winners",
            cfg,
            seeds=len(bpbs),
            baseline_seeds=len(base),
            alpha=alpha,
        )
    mean, bmean = statistics.fmean(bpbs), statistics.fmean(base)
    _, _, p = welch(bpbs, base, 0.0)
    effect = bmean - mean
    passed = p < alpha and effect > 0
    reason = (
        f"significantly better than the Tier 2 baseline (p < {alpha})"
        if passed
        else f"not significantly better than the Tier 2 baseline (needs p < {alpha})"
    )
    return WinnerTest(
        passed,
        reason,
        cfg,
        seeds=len(bpbs),
        baseline_seeds=len(base),
        mean_bpb=mean,
        baseline_bpb=bmean,
        effect_bpb=effect,
        effect_pct=effect / bmean * 100 if bmean else None,
        p_value=p,
        alpha=alpha,
    )
