"""Student-t CDF (own implementation) against closed forms and table values; the record test."""

from __future__ import annotations

import math

import pytest

from bot.compute.significance import assess, betainc, t_cdf, t_sf, welch
from bot.errors import InputError


@pytest.mark.parametrize("t", [-7.5, -2.0, -0.3, 0.0, 0.4, 1.0, 3.3, 40.0])
def test_t_cdf_matches_closed_forms(t: float) -> None:
    cauchy = 0.5 + math.atan(t) / math.pi  # df = 1
    df2 = 0.5 + t / (2 * math.sqrt(2 + t * t))  # df = 2
    x = t / math.sqrt(3)
    df3 = 0.5 + (x / (1 + x * x) + math.atan(x)) / math.pi  # df = 3
    assert t_cdf(t, 1) == pytest.approx(cauchy, abs=1e-12)
    assert t_cdf(t, 2) == pytest.approx(df2, abs=1e-12)
    assert t_cdf(t, 3) == pytest.approx(df3, abs=1e-12)


@pytest.mark.parametrize(
    ("df", "q975", "q99"),
    [(1, 12.706204736, 31.820515954), (2, 4.302652730, 6.964556734), (4, 2.776445105, 3.746947388),
     (10, 2.228138852, 2.763769458), (30, 2.042272456, 2.457261542)],
)  # fmt: skip
def test_t_cdf_table_quantiles(df: int, q975: float, q99: float) -> None:
    assert t_cdf(q975, df) == pytest.approx(0.975, abs=1e-9)
    assert t_cdf(q99, df) == pytest.approx(0.99, abs=1e-9)
    assert t_sf(q99, df) == pytest.approx(0.01, abs=1e-9)


def test_t_cdf_large_df_approaches_normal_and_fractional_df() -> None:
    assert t_cdf(1.959963985, 1e7) == pytest.approx(0.975, abs=1e-6)
    lo, hi = t_cdf(2.0, 3), t_cdf(2.0, 4)
    assert lo < t_cdf(2.0, 3.5) < hi  # monotone in df between integers


def test_betainc_known_values() -> None:
    assert betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)  # Σ_{j=2..4} C(4,j) x^j (1−x)^(4−j)
    assert betainc(1, 1, 0.37) == pytest.approx(0.37, abs=1e-14)
    assert betainc(0.5, 0.5, 0.5) == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError):
        betainc(0, 1, 0.5)


def test_welch_against_hand_computation() -> None:
    a, b = [1.0, 1.1, 0.9], [2.0, 2.1, 1.9]
    t, df, p = welch(a, b, 0.5)
    assert t == pytest.approx(0.5 / math.sqrt(0.01 / 3 * 2))  # equal variances 0.01
    assert df == pytest.approx(4.0)
    assert p == pytest.approx(t_sf(t, 4.0))
    with pytest.raises(InputError):
        welch([1.0], b, 0.0)


def test_record_grade_three_seeds_clearly_better() -> None:
    # ratio val_loss/val_bpb ≈ 1.693 (sp1024); best 1.2244 bpb ≈ 2.0727 nats
    bpbs = [1.2100, 1.2102, 1.2098]
    losses = [b * 1.6929 for b in bpbs]
    sig = assess(bpbs, losses, 1.2244)
    assert sig.record_grade and sig.p_value is not None and sig.p_value < 0.01
    assert sig.improvement_nats == pytest.approx((1.2244 - 1.21) * 1.6929, rel=1e-6)
    assert "Record-grade" in sig.verdict


def test_not_record_grade_when_gain_below_bar_or_noisy() -> None:
    bpbs = [1.2230, 1.2232, 1.2228]  # ≈ 0.0024 nats better: under the 0.005 bar
    sig = assess(bpbs, [b * 1.6929 for b in bpbs], 1.2244)
    assert not sig.record_grade and sig.p_value is not None and sig.p_value > 0.5
    noisy = [1.19, 1.23, 1.21]
    sig2 = assess(noisy, [b * 1.6929 for b in noisy], 1.2244)
    assert not sig2.record_grade and sig2.p_value is not None and 0.01 < sig2.p_value < 0.5


def test_one_seed_and_missing_best() -> None:
    one = assess([1.20], [2.03], 1.2244)
    assert not one.record_grade and one.p_value is None and "one seed" in one.verdict
    nobest = assess([1.20, 1.21], [2.03, 2.05], None)
    assert not nobest.record_grade and nobest.std_bpb == pytest.approx(0.0070710678)
    with pytest.raises(InputError):
        assess([1.2, float("nan")], None, 1.2)


def test_welch_two_sample_best() -> None:
    sig = assess([1.200, 1.201, 1.199], [2.0300, 2.0317, 2.0283], None, best_losses=[2.0727, 2.0740, 2.0714])
    assert sig.df is not None and 3.5 < sig.df <= 4.0 and sig.record_grade
