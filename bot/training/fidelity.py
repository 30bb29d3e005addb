"""The measured prior for the tier correlation, until real Tier 1 / Tier 2 pairs exist.

:data:`PRIOR` holds the figures ``benchmarks/tier_fidelity.py`` printed when it was last run here
(8 changes with full-scale effects on record upstream, two local CPU scales, 2 seeds each): per
scale the sign agreement between local and recorded Δval_bpb and Spearman's ρ with a bootstrap
95 % interval. It is a CPU toy-scale proxy on a tiny local dataset (Python docstrings, not
FineWeb). The dashboard's tier-correlation panel shows it (:func:`prior_summary`) while the ledger
has fewer than 5 real pairs. Re-run the benchmark and update these numbers when the scripts change.
"""

from __future__ import annotations

from typing import Any

PRIOR: dict[str, Any] = {
    "source": "benchmarks/tier_fidelity.py",
    "label": "CPU toy-scale proxy on a tiny local dataset (stdlib docstrings), not FineWeb",
    "changes": 8,
    "seeds": 2,
    "iterations": 80,
    "wall_s": 863.7,
    "scales": {
        "toy": {
            "sign_agreement": 0.75,
            "spearman_rho": 0.762,
            "rho_ci95": [0.167, 1.0],
            "model": "2x64, seq 32, 2048 tokens/step",
            "baseline_seed_std": 0.00025,
        },
        "small": {
            "sign_agreement": 0.125,
            "spearman_rho": -0.452,
            "rho_ci95": [-0.881, 0.476],
            "model": "3x128, seq 64, 4096 tokens/step",
            "baseline_seed_std": 0.00037,
        },
    },
}


def prior_summary(prior: dict[str, Any] | None = None) -> str:
    """One sentence for the dashboard: the prior's sign agreement and ρ per scale."""
    p = PRIOR if prior is None else prior
    parts = []
    for name, s in p.get("scales", {}).items():
        lo, hi = s["rho_ci95"]
        parts.append(
            f"{name}: sign agreement {100 * s['sign_agreement']:.0f} %, Spearman ρ {s['spearman_rho']:+.2f} "
            f"(95 % CI {lo:+.2f} … {hi:+.2f})"
        )
    if not parts:
        return ""
    return (
        f"Prior until real pairs exist ({p['source']}: {p['changes']} upstream-recorded changes, "
        f"{p['seeds']} seeds; {p['label']}): " + "; ".join(parts) + "."
    )
