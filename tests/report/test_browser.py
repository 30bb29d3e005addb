"""The dashboard in a real headless Chromium, loaded from disk (file://), driven over CDP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.report import build_report
from tests.report.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

CHARTS_JS = """Array.from(document.querySelectorAll('svg.chart[data-chart]')).map(s => {
  const r = s.getBoundingClientRect();
  return {id: s.dataset.chart, empty: s.dataset.empty === 'true', w: r.width, h: r.height,
          marks: s.querySelectorAll('.marks circle, .marks path, .marks rect, .marks line').length,
          text: s.textContent};
})"""
COLUMN_JS = "Array.from(document.querySelectorAll('#exp-body tr')).map(r => r.children[{i}].textContent)"


def _open(browser: Any, site: Path) -> Any:
    page = browser.page()
    page.goto(site.as_uri() + "/index.html")
    page.wait_for("document.body.dataset.ready === 'true'")
    return page


def _num(text: str) -> float:
    return float(text.replace(",", "").replace("$", "").replace("%", "").replace("+", ""))


def test_dashboard_1000_rows(browser: Any, big_repo: Path, tmp_path: Path, settings: Settings) -> None:
    site = build_report(big_repo, settings, tmp_path / "site").out_dir
    page = _open(browser, site)
    assert page.problems() == []
    # the page loaded nothing but itself
    assert {u for u in page.request_urls() if not u.startswith("data:")} == {site.as_uri() + "/index.html"}

    charts = {c["id"]: c for c in page.eval(CHARTS_JS)}
    for cid in ("val_bpb_local", "val_bpb_runpod", "tier_correlation", "budget", "funnel"):
        c = charts[cid]
        assert not c["empty"] and c["w"] > 300 and c["h"] > 100, c
        assert c["marks"] > 5, c
    assert charts["val_bpb_local"]["marks"] > 500  # one dot per local result
    assert "SOTA 1.0614" in charts["val_bpb_runpod"]["text"]
    assert "reserve floor" in charts["budget"]["text"]

    assert page.eval("document.querySelectorAll('#exp-body tr').length") == 1000
    assert page.eval("document.getElementById('exp-count').textContent") == "1000 of 1000 row(s)"

    # sort by val_bpb: a real click on the header, ascending; again, descending
    bpb_col = page.eval(
        "Array.from(document.querySelectorAll('#exp-head th')).findIndex(t => t.dataset.key === 'val_bpb')"
    )
    page.click('#exp-head th[data-key="val_bpb"]')
    values = [v for v in page.eval(COLUMN_JS.replace("{i}", str(bpb_col))) if v != "n/a"]
    nums = [_num(v) for v in values]
    assert len(nums) > 900 and nums == sorted(nums) and nums[0] < nums[-1]
    assert (
        page.eval("document.querySelector('#exp-head th[data-key=val_bpb]').getAttribute('aria-sort')")
        == "ascending"
    )
    page.click('#exp-head th[data-key="val_bpb"]')
    nums_desc = [_num(v) for v in page.eval(COLUMN_JS.replace("{i}", str(bpb_col))) if v != "n/a"]
    assert nums_desc == sorted(nums, reverse=True)

    # sort by commit (text)
    page.click('#exp-head th[data-key="commit"]')
    commits = page.eval(COLUMN_JS.replace("{i}", "1"))
    assert commits == sorted(commits)

    # filter by tier and status through the selects
    page.eval(
        "(() => { const s = document.getElementById('f-tier'); s.value = 'runpod'; s.dispatchEvent(new Event('change')); })()"
    )
    tiers = set(page.eval(COLUMN_JS.replace("{i}", "3")))
    assert tiers == {"runpod"}
    n_runpod = page.eval("document.querySelectorAll('#exp-body tr').length")
    page.eval(
        "(() => { const s = document.getElementById('f-status'); s.value = 'keep'; s.dispatchEvent(new Event('change')); })()"
    )
    assert set(page.eval(COLUMN_JS.replace("{i}", "8"))) == {"keep"}
    assert 0 < page.eval("document.querySelectorAll('#exp-body tr').length") <= n_runpod

    assert page.problems() == []
    shot = page.screenshot(ARTIFACTS / "report-1000-rows.png")
    assert shot.stat().st_size > 50_000


def test_dashboard_empty_ledger(browser: Any, tmp_path: Path, settings: Settings) -> None:
    site = build_report(tmp_path, settings, tmp_path / "site").out_dir
    page = _open(browser, site)
    assert page.problems() == []
    charts = {c["id"]: c for c in page.eval(CHARTS_JS)}
    assert charts["val_bpb_local"]["empty"] and "ledger is empty" in charts["val_bpb_local"]["text"]
    assert charts["tier_correlation"]["empty"]
    # the budget chart is drawn even with no run: the starting credits and the floor
    assert not charts["budget"]["empty"] and "reserve floor" in charts["budget"]["text"]
    assert "No experiments yet" in page.eval("document.getElementById('exp-body').textContent")
    page.click('#exp-head th[data-key="val_bpb"]')  # sorting an empty table is harmless
    assert page.problems() == []
    page.screenshot(ARTIFACTS / "report-empty.png")
