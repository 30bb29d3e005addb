"""Multi-seed significance: is a result record-grade under the challenge's bar?

The bar: a new record must beat the current best by at least 0.005 nats (validation loss per
token) at p < 0.01. With the new run's per-seed losses ``a`` (n ≥ 2) and the current best
either as per-seed losses ``b`` (m ≥ 2; a Welch two-sample test) or as a single number (a
one-sample test), we test H0: mean(b) − mean(a) ≤ δ against H1: > δ with

    t = (mean(b) − mean(a) − δ) / sqrt(s_a²/n + s_b²/m),  one-sided p = P(T_ν ≥ t)

and ν from Welch–Satterthwaite. The ledger stores bits per byte; a bpb gap converts to nats
with the run's own ratio val_loss / val_bpb (= ln 2 · bytes per token). The Student-t CDF is
computed here from the regularized incomplete beta function (no scipy).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.errors import InputError


# ----------------------------------------------------------------------------- special functions
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must be within [0, 1]")
    if x in (0.0, 1.0):
        return x
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` (> 0, may be fractional) degrees of freedom."""
    if df <= 0 or math.isnan(df):
        raise ValueError("df must be positive")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2.0, 0.5, x)  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def t_sf(t: float, df: float) -> float:
    """P(T ≥ t) — the one-sided p-value of statistic ``t``."""
    return t_cdf(-t, df)


# ----------------------------------------------------------------------------- the test
@dataclass
class Significance:
    seeds: int
    mean_bpb: float
    std_bpb: float | None
    mean_loss: float | None
    std_loss: float | None
    best_bpb: float | None
    best_loss: float | None
    improvement_bpb: float | None  # best − mean (positive = better)
    improvement_nats: float | None
    t_stat: float | None
    df: float | None
    p_value: float | None
    record_grade: bool
    verdict: str
    min_improvement_nats: float = 0.005
    alpha: float = 0.01

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.seeds} seed(s): mean val_bpb {self.mean_bpb:.5f}"]
        if self.std_bpb is not None:
            parts.append(f"std {self.std_bpb:.5f}")
        if self.improvement_nats is not None:
            parts.append(f"Δ vs best {self.improvement_nats:+.5f} nats")
        if self.p_value is not None:
            parts.append(
                f"p = {self.p_value:.4g} (one-sided Welch, H0: Δ ≤ {self.min_improvement_nats} nats)"
            )
        return "; ".join(parts) + f". {self.verdict}"


def _check(values: Sequence[float], name: str) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{v!r} is not a finite number", field=name)
        out.append(float(v))
    return out


def welch(a: Sequence[float], b: Sequence[float] | float, delta: float) -> tuple[float, float, float]:
    """One-sided Welch test of mean(b) − mean(a) > delta; returns (t, df, p).

    ``b`` may be a single number (a fixed reference: a one-sample t-test with n − 1 df).
    """
    xs = _check(a, "a")
    n = len(xs)
    if n < 2:
        raise InputError("need at least 2 samples", field="a")
    ma, va = statistics.fmean(xs), statistics.variance(xs)
    if isinstance(b, (int, float)):
        mb, se2, df = float(b), va / n, float(n - 1)
    else:
        ys = _check(b, "b")
        m = len(ys)
        if m < 2:
            raise InputError("need at least 2 samples", field="b")
        mb, vb = statistics.fmean(ys), statistics.variance(ys)
        se2 = va / n + vb / m
        den = (va / n) ** 2 / (n - 1) + (vb / m) ** 2 / (m - 1)
        df = se2**2 / den if den > 0 else float(n + m - 2)
    diff = mb - ma - delta
    if se2 == 0:
        t = math.inf if diff > 0 else -math.inf if diff < 0 else 0.0
        p = 0.0 if diff > 0 else 1.0 if diff < 0 else 0.5
        return t, df, p
    t = diff / math.sqrt(se2)
    return t, df, t_sf(t, df)


def assess(
    bpbs: Sequence[float],
    losses: Sequence[float] | None,
    best_bpb: float | None,
    *,
    best_losses: Sequence[float] | None = None,
    min_improvement_nats: float = 0.005,
    alpha: float = 0.01,
) -> Significance:
    """Mean, std and the record test for one promotion's seeds against the current best."""
    b = _check(bpbs, "val_bpb")
    if not b:
        raise InputError("no seed results", field="val_bpb")
    ls = _check(losses, "val_loss") if losses else []
    if ls and len(ls) != len(b):
        raise InputError("one val_loss per seed is needed", field="val_loss")
    n = len(b)
    mean_bpb = statistics.fmean(b)
    std_bpb = statistics.stdev(b) if n >= 2 else None
    mean_loss = statistics.fmean(ls) if ls else None
    std_loss = statistics.stdev(ls) if len(ls) >= 2 else None
    ratio = statistics.fmean(x / y for x, y in zip(ls, b, strict=True)) if ls else None

    best_loss: float | None = None
    if best_losses:
        best_loss = statistics.fmean(_check(best_losses, "best_losses"))
    elif best_bpb is not None and ratio is not None:
        best_loss = best_bpb * ratio
    imp_bpb = None if best_bpb is None else best_bpb - mean_bpb
    imp_nats = None if best_loss is None or mean_loss is None else best_loss - mean_loss

    def make(t: float | None, df: float | None, p: float | None, grade: bool, verdict: str) -> Significance:
        return Significance(
            seeds=n, mean_bpb=mean_bpb, std_bpb=std_bpb, mean_loss=mean_loss, std_loss=std_loss,
            best_bpb=best_bpb, best_loss=best_loss, improvement_bpb=imp_bpb, improvement_nats=imp_nats,
            t_stat=t, df=df, p_value=p, record_grade=grade, verdict=verdict,
            min_improvement_nats=min_improvement_nats, alpha=alpha,
        )  # fmt: skip

    if best_loss is None and best_bpb is None:
        return make(None, None, None, False, "No current best to compare against.")
    if not ls:
        return make(None, None, None, False, "No val_loss per seed: cannot test in nats.")
    if n < 2:
        return make(
            None,
            None,
            None,
            False,
            "Not record-grade: one seed gives no variance; run --seeds 3 for a record claim.",
        )
    ref: Sequence[float] | float = (
        list(best_losses) if best_losses and len(best_losses) >= 2 else float(best_loss or 0.0)
    )
    t, df, p = welch(ls, ref, min_improvement_nats)
    grade = p < alpha and imp_nats is not None and imp_nats >= min_improvement_nats
    verdict = (
        f"Record-grade: ≥ {min_improvement_nats} nats better at p = {p:.3g} < {alpha}."
        if grade
        else f"Not record-grade: needs ≥ {min_improvement_nats} nats better at p < {alpha} (p = {p:.3g})."
    )
    return make(t, df, p, grade, verdict)
