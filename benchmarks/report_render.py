"""Benchmark: `pgolf report` render time on a 1,000-row ledger (target ≤ 5 s).

Builds a synthetic research repository (1,000 ledger rows, budget runs, research state, competitors)
with pgolf's own writers, then times ``build_report`` end to end: reading every file, the data,
the HTML page and the four matplotlib PNGs. Best of ``--repeat`` runs (this machine is shared).
When Chromium is installed it also opens the page headless from disk and reports the time the
page's script takes to draw the table and every chart (same target). Ends with one JSON line: the
figures, their targets and "ok".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.config import Settings
from bot.report import build_report
from bot.report.sample import make_sample_repo

TARGET_SECONDS = 5.0


def _browser_render_ms(index: Path) -> float | None:
    """Milliseconds the dashboard's script needs in headless Chromium (None without Chromium)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.report.cdp import Browser, chromium_path

    binary = chromium_path()
    if binary is None:
        print("chromium not found: browser render time not measured", file=sys.stderr)
        return None
    browser = Browser(binary)
    try:
        page = browser.page()
        page.goto(index.as_uri())
        page.wait_for("document.body.dataset.ready === 'true'")
        return float(page.eval("Number(document.body.dataset.renderMs)"))
    finally:
        browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    settings = Settings(tier2_min_interval_seconds=0)
    with tempfile.TemporaryDirectory(prefix="pgolf-bench-report-") as tmp:
        root = make_sample_repo(Path(tmp) / "repo", rows=args.rows, settings=settings)
        times: list[float] = []
        no_png: list[float] = []
        for i in range(args.repeat):
            t = time.perf_counter()
            res = build_report(root, settings, Path(tmp) / "site")
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            build_report(root, settings, Path(tmp) / "site-nopng", pngs=False)
            no_png.append(time.perf_counter() - t)
            print(f"run {i + 1}: {times[-1]:.2f} s with PNGs, {no_png[-1]:.2f} s without", file=sys.stderr)
        size = res.index.stat().st_size
        browser_ms = _browser_render_ms(res.index)
    best = min(times)
    out = {
        "benchmark": "report_render",
        "rows": args.rows,
        "render_seconds_best": round(best, 3),
        "render_seconds_median": round(statistics.median(times), 3),
        "render_seconds_without_png_best": round(min(no_png), 3),
        "index_html_bytes": size,
        "browser_render_seconds": None if browser_ms is None else round(browser_ms / 1000, 3),
        "target_render_seconds": TARGET_SECONDS,
        "ok": best <= TARGET_SECONDS and (browser_ms is None or browser_ms / 1000 <= TARGET_SECONDS),
    }
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
