"""PNG renderings of the key plots (matplotlib, Agg backend), for PR comments and job summaries.

Figures are drawn through matplotlib's object API on an Agg canvas, never through pyplot: no
global backend is switched and no figure outlives its function, whatever else runs in-process.

The files have stable names (:data:`RENDERERS`) under ``<out>/plots/`` so that a sticky PR comment
or a job summary can link ``<pages url>/plots/val_bpb.png`` and always show the latest.
Every plot renders something readable for an empty ledger ("no data yet"), never an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

LOCAL_COLOR = "#2b6cb0"
RUNPOD_COLOR = "#c05621"


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _best_so_far(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    best: float | None = None
    for x, y in points:
        best = y if best is None else min(best, y)
        out.append((x, best))
    return out


def plot_val_bpb(fig: Figure, data: dict[str, Any]) -> None:
    """Two panels sharing the x axis: Tier 1 (local) and Tier 2 (RunPod); their scales differ."""
    rows = [r for r in data["experiments"] if r["val_bpb"] is not None and r["status"] != "crash"]
    n = len(data["experiments"])
    if not rows:
        ax = fig.add_subplot(111)
        _empty(ax, "No val_bpb results yet")
        ax.set_title("val_bpb over time")
        return
    base = data.get("running_local_baseline")
    gate = base * (1 - data["gate_pct"] / 100) if base is not None else None
    panels = (
        (
            "local",
            "Tier 1 (local)",
            LOCAL_COLOR,
            (
                (base, "#555", "--", "running local baseline"),
                (gate, "#2f855a", ":", f"gate −{data['gate_pct']:g} %"),
            ),
        ),
        (
            "runpod",
            "Tier 2 (RunPod)",
            RUNPOD_COLOR,
            (
                (data["baseline_bpb"], "#555", "--", "upstream baseline"),
                (data.get("sota_bpb"), "#2f855a", ":", "SOTA"),
            ),
        ),
    )
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (tier, title, color, lines) in zip(axes, panels, strict=True):
        pts = [(r["index"], r["val_bpb"], r["status"]) for r in rows if r["tier"] == tier]
        ax.set_title(f"val_bpb over time — {title}", fontsize=9)
        ax.grid(alpha=0.25)
        if not pts:
            ax.text(
                0.5,
                0.5,
                f"No {tier} results yet",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="#666",
            )
            continue
        ax.scatter(
            [p[0] for p in pts],
            [p[1] for p in pts],
            s=10,
            color=color,
            alpha=[0.8 if p[2] == "keep" else 0.3 for p in pts],
            label=tier,
        )
        best = _best_so_far([(p[0], p[1]) for p in pts if p[2] == "keep"])
        if best:
            xs = [p[0] for p in best] + [n]
            ax.step(
                xs,
                [p[1] for p in best] + [best[-1][1]],
                where="post",
                color=color,
                lw=1.6,
                label="best so far",
            )
        for value, lc, ls, label in lines:
            if value is not None:
                ax.axhline(value, color=lc, ls=ls, lw=1, label=f"{label} {value:.4f}")
        ax.set_ylabel("val_bpb", fontsize=8)
        ax.legend(fontsize=6, loc="best")
    axes[-1].set_xlabel("experiment # (ledger order)")


def plot_correlation(fig: Figure, data: dict[str, Any]) -> None:
    ax = fig.add_subplot(111)
    corr = data["correlation"]
    pts = corr["points"]
    ax.set_title("Local vs RunPod val_bpb")
    if not pts:
        prior = corr.get("prior", {}).get("scales", {})
        lines = [
            f"{k}: sign {100 * s['sign_agreement']:.0f} %, ρ {s['spearman_rho']:+.2f}"
            for k, s in prior.items()
        ]
        more = ("\nprior (tier_fidelity, CPU toy scale): " + "; ".join(lines)) if lines else ""
        _empty(ax, "No commit has both a local and a RunPod result yet" + more)
        return
    xs = [p[1] for p in pts]
    ys = [p[2] for p in pts]
    ax.scatter(xs, ys, color=RUNPOD_COLOR, s=24, zorder=3)
    if corr["slope"] is not None and corr["intercept"] is not None:
        lo, hi = min(xs), max(xs)
        pad = (hi - lo) * 0.05 or 0.01
        fx = [lo - pad, hi + pad]
        ax.plot(
            fx,
            [corr["slope"] * x + corr["intercept"] for x in fx],
            color="#333",
            lw=1.2,
            label=f"fit: runpod ≈ {corr['slope']:.3f}·local {corr['intercept']:+.4f}",
        )
    r = corr["pearson_r"]
    txt = f"{corr['pairs']} pair(s)" + (f", Pearson r = {r:.3f}" if r is not None else "")
    txt += "" if corr["reliable"] else " (not yet reliable)"
    ax.text(0.02, 0.97, txt, transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel("local val_bpb (Tier 1)")
    ax.set_ylabel("RunPod val_bpb (Tier 2)")
    ax.grid(alpha=0.25)
    if corr["slope"] is not None:
        ax.legend(fontsize=7, loc="lower right")


def plot_budget(fig: Figure, data: dict[str, Any]) -> None:
    ax = fig.add_subplot(111)
    b = data["budget"]
    ax.set_title("Budget burn-down")
    if not b.get("available"):
        _empty(ax, "budget.json could not be read")
        return
    pts = b["points"]
    xs = list(range(len(pts)))
    ax.plot(xs, [p["remaining"] for p in pts], marker="o", ms=3, color="#2b6cb0", label="remaining $")
    ax.axhline(
        b["reserve_floor"], color="#c53030", ls="--", lw=1, label=f"reserve floor ${b['reserve_floor']:.2f}"
    )
    if len(pts) > 1:
        ax2 = ax.twinx()
        ax2.bar(
            xs[1:], [p["cost"] for p in pts[1:]], color="#dd6b20", alpha=0.45, width=0.6, label="run cost $"
        )
        ax2.set_ylabel("run cost ($)")
        ax2.set_ylim(bottom=0)
    else:
        ax.text(0.5, 0.5, "No RunPod runs yet", ha="center", transform=ax.transAxes, color="#666")
    ax.set_ylim(bottom=0, top=max(b["total_credits"], 1.0) * 1.05)
    ax.set_xlabel("run # (budget.json order)")
    ax.set_ylabel("remaining credits ($)")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=7, loc="lower left")


def plot_funnel(fig: Figure, data: dict[str, Any]) -> None:
    ax = fig.add_subplot(111)
    f = data["funnel"]["overall"]
    ax.set_title("Research funnel (all cycles)")
    if not f["items"] and not f["graded"]:
        _empty(ax, "No research items yet")
        return
    labels = ["items", "graded", "tier A", "tier B", "tier C", "verified"]
    values = [f["items"], f["graded"], f["tiers"]["A"], f["tiers"]["B"], f["tiers"]["C"], f["verified"]]
    ax.barh(labels[::-1], values[::-1], color="#4a5568")
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_xlabel("count")


RENDERERS = {
    "val_bpb": plot_val_bpb,
    "tier_correlation": plot_correlation,
    "budget": plot_budget,
    "funnel": plot_funnel,
}


def render_pngs(data: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write every plot as ``out_dir/<name>.png``; returns name → path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, fn in RENDERERS.items():
        fig = Figure(figsize=(7.5, 5.6 if name == "val_bpb" else 4.2), dpi=100)
        FigureCanvasAgg(fig)
        fn(fig, data)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        tmp = path.with_suffix(".png.tmp")
        fig.savefig(tmp, format="png")
        tmp.replace(path)
        written[name] = path
    return written
