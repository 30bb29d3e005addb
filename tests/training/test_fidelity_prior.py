"""The tier-fidelity prior: the dashboard shows it until the ledger holds reliable real pairs."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings
from bot.report.collect import collect
from bot.training.fidelity import PRIOR, prior_summary


def test_prior_holds_both_scales_with_intervals() -> None:
    assert set(PRIOR["scales"]) == {"toy", "small"} and PRIOR["changes"] >= 6 and PRIOR["seeds"] >= 2
    for s in PRIOR["scales"].values():
        lo, hi = s["rho_ci95"]
        assert 0.0 <= s["sign_agreement"] <= 1.0 and -1.0 <= lo <= s["spearman_rho"] <= hi <= 1.0
    text = prior_summary()
    assert "CPU toy-scale proxy" in text and "toy: sign agreement" in text and "small:" in text


def test_prior_summary_formats_a_given_prior() -> None:
    fake = {**PRIOR, "scales": {"a": {"sign_agreement": 0.75, "spearman_rho": 0.5, "rho_ci95": [-0.1, 0.9]}}}
    assert "a: sign agreement 75 %, Spearman ρ +0.50 (95 % CI -0.10 … +0.90)" in prior_summary(fake)
    assert prior_summary({**PRIOR, "scales": {}}) == ""


def test_dashboard_correlation_panel_carries_the_prior(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    data = collect(repo, load_settings(repo, env={}))
    assert data.correlation["pairs"] == 0 and data.correlation["prior"] == PRIOR
    assert prior_summary() in data.correlation_summary
