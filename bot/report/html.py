"""The dashboard page: one self-contained HTML file (inline CSS, inline JS, inline JSON data).

Nothing is loaded from anywhere: a Content-Security-Policy meta tag forbids every fetch
(``default-src 'none'``), so a page that tried to reach a CDN would fail visibly in the browser
test. The data is embedded as JSON inside ``<script type="application/json">`` with ``<``, ``>``
and ``&`` escaped, so no ledger description or research title can close the tag; the script
writes untrusted text only through ``textContent``.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _static(name: str) -> str:
    return resources.files("bot.report").joinpath("static", name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render_page(data: dict[str, Any], png_names: list[str]) -> str:
    title = "pgolf dashboard"
    repo = data.get("repo_url") or ""
    repo_html = (
        f' · <a href="{html.escape(repo)}" rel="noopener noreferrer">{html.escape(repo.split("://", 1)[-1])}</a>'
        if repo
        else ""
    )
    pngs = " ".join(f'<a href="plots/{html.escape(n)}.png">{html.escape(n)}.png</a>' for n in png_names)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="generator" content="pgolf report">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
{_static("dashboard.css")}
</style>
</head>
<body>
<header>
<h1>pgolf — Parameter Golf research dashboard</h1>
<div class="sub">Generated {html.escape(str(data.get("generated_at", "")))}{repo_html}.
val_bpb: bits per byte on the FineWeb validation split, lower is better.</div>
</header>
<nav>
<a href="#summary">Summary</a><a href="#experiments">Experiments</a><a href="#progress">val_bpb over time</a>
<a href="#correlation">Tier correlation</a><a href="#budget">Budget</a><a href="#research">Research funnel</a>
<a href="#competitors-sec">Competitors</a><a href="#frontier-sec">Technique frontier</a>
</nav>
<main>
<section id="summary"><h2>Summary</h2><div class="cards" id="summary-cards"></div></section>
<section id="warnings" class="warnings" hidden><h2>Warnings</h2>
<p class="note">Odd input the report read around (the files are left as they are).</p></section>
<section id="experiments"><h2>Experiments</h2>
<div class="controls">
<label>tier <select id="f-tier"><option value="">all</option></select></label>
<label>status <select id="f-status"><option value="">all</option></select></label>
<label>search <input id="f-text" type="search" placeholder="description or commit"></label>
<span class="note" id="exp-count"></span>
</div>
<p class="note">Click a column header to sort (again to reverse). Δ of a local row: percent vs the running
local baseline before it (the promotion gate uses this); Δ of a RunPod row: bpb vs the best RunPod result
before it. Negative is better.</p>
<div class="tablewrap"><table id="exp-table"><thead id="exp-head"></thead><tbody id="exp-body"></tbody></table></div>
</section>
<div class="grid2">
<section id="progress"><h2>val_bpb over time</h2><div id="chart-bpb"></div></section>
<section id="correlation"><h2>Local vs RunPod</h2><p class="note" id="corr-summary"></p><div id="chart-corr"></div></section>
</div>
<section id="budget"><h2>Budget burn-down</h2><p class="note" id="budget-summary"></p><div id="chart-budget"></div></section>
<section id="research"><h2>Research funnel</h2>
<p class="note">Items per source → graded tiers → verified (tier A items checked against their full text).</p>
<div id="chart-funnel"></div></section>
<section id="competitors-sec"><h2>Competitor leaderboard</h2><div id="competitors"></div><div id="speedrun"></div></section>
<section id="frontier-sec"><h2>Technique frontier</h2><div id="frontier"></div></section>
<section id="pngs" class="pngs"><h2>Plots as PNG</h2><p class="note">For PR comments and job summaries:</p>{pngs}</section>
</main>
<footer>pgolf · static report · no data leaves this page</footer>
<script id="pgolf-data" type="application/json">{embed_json(data)}</script>
<script>
{_static("dashboard.js")}
</script>
</body>
</html>
"""
