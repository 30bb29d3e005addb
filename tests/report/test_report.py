"""`pgolf report`: the static site on empty, small and 1,000-row ledgers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import budget as budget_mod
from bot.cli import cli
from bot.config import Settings
from bot.errors import ReportError
from bot.ledger import HEADER, Ledger, make_row
from bot.report import build_report, summary_markdown
from bot.report.collect import collect, frontier_section
from bot.report.html import embed_json
from bot.state import GradedItem, ResearchItem, ResearchState, append_jsonl

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_self_contained(html: str) -> None:
    # nothing that a browser would fetch: no external script/style/img/link/iframe sources
    assert not re.search(
        r"<(script|img|iframe|link|source|video|audio)[^>]+(src|href)=\"(?!data:|#)", html, re.I
    )
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html, re.I)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def _data(result_dir: Path) -> dict:
    return json.loads((result_dir / "data.json").read_text())


def test_empty_repo_renders_sensibly(tmp_path: Path, settings: Settings) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    res = build_report(repo, settings, tmp_path / "site")
    html = res.index.read_text()
    _assert_self_contained(html)
    data = _data(res.out_dir)
    assert data["experiments"] == []
    assert data["correlation"]["pairs"] == 0
    assert data["budget"]["available"] and data["budget"]["exists"] is False
    assert data["budget"]["points"] == [
        {"label": "start", "remaining": settings.total_compute_credits, "cost": 0.0, "kind": "start"}
    ]
    assert data["funnel"]["overall"]["items"] == 0
    assert "overall" in data["funnel"]["note"]
    assert set(res.pngs) == {"val_bpb", "tier_correlation", "budget", "funnel"}
    for p in res.pngs.values():
        assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 2000
    # the embedded data is the same as data.json
    embedded = re.search(r'<script id="pgolf-data" type="application/json">(.*?)</script>', html, re.S)
    assert embedded and json.loads(embedded.group(1)) == data
    # nothing was created in the research repository
    assert list(repo.iterdir()) == []


def test_header_only_ledger(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "results.tsv").write_text(HEADER + "\n")
    data = collect(tmp_path, settings).to_dict()
    assert data["experiments"] == [] and data["counts"]["rows"] == 0 and data["warnings"] == []


def _small_repo(root: Path, settings: Settings) -> None:
    rows = [
        make_row(
            commit="b" * 40,
            tier="local",
            val_bpb=2.0,
            artifact_bytes=15_000_000,
            memory_gb=3.0,
            status="keep",
            description="baseline seed=1",
        ),
        make_row(
            commit="b" * 39 + "c",
            tier="local",
            val_bpb=2.02,
            artifact_bytes=15_000_000,
            memory_gb=3.0,
            status="keep",
            description="baseline seed=2",
        ),
        make_row(
            commit="abcdef1234567",
            tier="local",
            val_bpb=1.9,
            artifact_bytes=15_500_000,
            memory_gb=3.0,
            status="keep",
            promoted="yes",
            description="int6 MLP weights",
        ),
        make_row(
            commit="abcdef1234567",
            tier="runpod",
            val_bpb=1.20,
            artifact_bytes=15_400_000,
            memory_gb=70.0,
            status="keep",
            promoted="yes",
            cost_usd=3.5,
            description="int6 MLP weights",
        ),
        make_row(
            commit="1234567abcdef",
            tier="local",
            val_bpb=None,
            artifact_bytes=None,
            memory_gb=None,
            status="crash",
            description="OOM (#17)",
        ),
    ]
    Ledger.append(root / "results.tsv", *rows)
    with (root / "results.tsv").open("a") as fh:
        fh.write("deadbee\tlocal\tn/a\n")  # a short hand-written row: kept, with a warning
    budget_mod.reserve(root / "budget.json", settings, "run-1", 10.0, pr=42, sha="abcdef1234567")
    budget_mod.settle(root / "budget.json", settings, "run-1", seconds=630, pod_id="pod1")


def test_small_ledger_figures(tmp_path: Path, settings: Settings) -> None:
    _small_repo(tmp_path, settings)
    res = build_report(tmp_path, settings, tmp_path / "site")
    data = _data(res.out_dir)
    ex = data["experiments"]
    assert [r["index"] for r in ex] == [1, 2, 3, 4, 5, 6]
    assert ex[0]["baseline"] and ex[0]["delta"] is None
    # Δ of a local row: percent vs the median of the baselines before it (2.0, 2.02 → 2.01)
    assert ex[2]["delta_unit"] == "%"
    assert ex[2]["delta"] == pytest.approx((1.9 - 2.01) / 2.01 * 100)
    # Δ of the first RunPod row: vs the upstream baseline
    assert ex[3]["delta"] == pytest.approx(1.20 - 1.2244) and ex[3]["delta_unit"] == "bpb"
    # PR numbers: from budget.json (by commit prefix) and from the description
    assert ex[2]["pr"] == 42 and ex[3]["pr"] == 42 and ex[4]["pr"] == 17
    assert ex[5]["commit"] == "deadbee" and ex[5]["val_bpb"] is None
    assert any("results.tsv:7" in w for w in data["warnings"])
    assert data["correlation"]["pairs"] == 1 and data["correlation"]["points"][0][1:] == [1.9, 1.2]
    cost = 630 / 3600 * 8 * settings.hourly_rate_usd / 8
    assert data["budget"]["spent"] == pytest.approx(cost)
    assert [p["remaining"] for p in data["budget"]["points"]] == pytest.approx(
        [settings.total_compute_credits, settings.total_compute_credits - cost]
    )
    assert data["best_runpod"]["val_bpb"] == 1.2
    assert data["running_local_baseline"] == pytest.approx(2.01)
    assert data["counts"]["tiers"] == {"local": 5, "runpod": 1}


def test_thousand_rows(big_repo: Path, tmp_path: Path, settings: Settings) -> None:
    res = build_report(big_repo, settings, tmp_path / "site")
    data = _data(res.out_dir)
    assert res.rows == 1000 and len(data["experiments"]) == 1000
    assert data["correlation"]["pairs"] >= 5 and data["correlation"]["reliable"]
    assert data["correlation"]["pearson_r"] > 0.5
    assert len(data["budget"]["runs"]) == len(budget_mod.load(big_repo / "budget.json", settings).runs) > 10
    assert data["funnel"]["per_cycle"] and len(data["funnel"]["cycles"]) == 3
    assert sum(c["items"] for c in data["funnel"]["cycles"]) == data["funnel"]["overall"]["items"] == 60
    assert data["sota_bpb"] == pytest.approx(1.0614)
    _assert_self_contained(res.index.read_text())


def test_untrusted_text_cannot_break_out(tmp_path: Path, settings: Settings) -> None:
    evil = "</script><script>alert(1)</script> & <!-- \u2028"
    Ledger.append(
        tmp_path / "results.tsv",
        make_row(
            commit="abcdef1",
            tier="local",
            val_bpb=1.9,
            artifact_bytes=1,
            memory_gb=1.0,
            status="keep",
            description=evil.replace("\u2028", ""),
        ),
    )
    res = build_report(tmp_path, settings, tmp_path / "site")
    html = res.index.read_text()
    assert "<script>alert(1)" not in html
    assert html.count("</script>") == 2  # the data block and the code block, nothing else
    assert json.loads(embed_json({"d": evil})) == {"d": evil}


def test_replaces_a_previous_report_but_not_other_folders(tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "site"
    build_report(tmp_path, settings, out)
    (out / "stale.txt").write_text("old")
    build_report(tmp_path, settings, out)
    assert not (out / "stale.txt").exists() and (out / "index.html").exists()
    other = tmp_path / "docs"
    other.mkdir()
    (other / "keep.md").write_text("mine")
    with pytest.raises(ReportError, match="not a pgolf report"):
        build_report(tmp_path, settings, other)
    assert (other / "keep.md").read_text() == "mine" and not (other / "index.html").exists()


def test_corrupt_budget_is_a_warning_and_left_alone(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "budget.json").write_text('{"total_credits": 5')
    res = build_report(tmp_path, settings, tmp_path / "site")
    data = _data(res.out_dir)
    assert not data["budget"]["available"]
    assert any("budget.json" in w for w in data["warnings"])
    assert (tmp_path / "budget.json").read_text() == '{"total_credits": 5'


def test_funnel_overall_when_no_cycle(tmp_path: Path, settings: Settings) -> None:
    state = ResearchState(tmp_path / "research")
    append_jsonl(
        state.raw_cache_path,
        [
            ResearchItem(source="arxiv", id="arxiv:1", title="t1"),
            ResearchItem(source="rss", id="rss:2", title="t2"),
        ],
    )
    append_jsonl(state.graded_path, [GradedItem(item_id="arxiv:1", title="t1", tier="A", total=13)])
    f = collect(tmp_path, settings).to_dict()["funnel"]
    assert not f["per_cycle"] and f["cycles"] == [] and "overall" in f["note"]
    assert f["overall"]["per_source"] == {"arxiv": 1, "rss": 1}
    assert f["overall"]["tiers"]["A"] == 1 and f["overall"]["graded"] == 1


def test_frontier_table_and_its_failure(tmp_path: Path, settings: Settings) -> None:
    ledger = Ledger.load(tmp_path / "results.tsv")
    graded = [GradedItem(item_id="a", title="int6 quantization", tier="A", total=13, category="quantization")]
    present = frontier_section(ledger, graded)
    if not present["available"]:
        pytest.fail(f"bot.grading.frontier exists but failed: {present['reason']}")
    assert present["rows"] and {"category", "tried", "selection bonus"} <= set(present["rows"][0])
    # a graded list the frontier cannot read (a bug upstream of it) costs the panel, not the report
    broken = frontier_section(ledger, [*graded, "not a graded item"])  # type: ignore[list-item]
    assert set(broken) == {"available", "reason", "rows", "rules"}
    assert (broken["available"], broken["rows"], broken["rules"]) == (False, [], "")
    assert broken["reason"].startswith("AttributeError")


def test_cli_report_and_summary(tmp_path: Path, settings: Settings) -> None:
    _small_repo(tmp_path, settings)
    summary = tmp_path / "summary.md"
    out = tmp_path / "site"
    r = CliRunner().invoke(
        cli,
        [
            "--repo",
            str(tmp_path),
            "report",
            "--out",
            str(out),
            "--json",
            "--summary",
            str(summary),
            "--base-url",
            "https://me.github.io/golf/",
        ],
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["rows"] == 6 and Path(info["index"]) == out / "index.html"
    md = summary.read_text()
    assert "![" in md and "https://me.github.io/golf/plots/val_bpb.png" in md
    assert "Best RunPod val_bpb: **1.2000**" in md
    # the bad-target error is one line and its exit code
    (tmp_path / "notreport").mkdir()
    (tmp_path / "notreport" / "x").write_text("x")
    r = CliRunner().invoke(cli, ["--repo", str(tmp_path), "report", "--out", str(tmp_path / "notreport")])
    assert r.exit_code == ReportError.exit_code and "not a pgolf report" in r.output


def test_summary_without_base_url(tmp_path: Path, settings: Settings) -> None:
    res = build_report(tmp_path, settings, tmp_path / "site")
    md = summary_markdown(res)
    assert "(plots/budget.png)" in md and "none yet" in md


def test_funnel_per_fetch_cycle_and_snapshot_origins(tmp_path: Path, settings: Settings) -> None:
    state = ResearchState(tmp_path / "research")
    append_jsonl(
        state.raw_cache_path,
        [
            ResearchItem(
                source="snapshot",
                id="a:1",
                title="t",
                fetched_at="2026-04-01T00:00:00Z",
                raw={"origin": "arxiv"},
            ),
            ResearchItem(source="tavily", id="b:2", title="t", fetched_at="2026-04-01T00:00:00Z"),
            ResearchItem(source="rss", id="c:3", title="t", fetched_at="2026-04-01T06:00:00Z"),
        ],
    )
    append_jsonl(state.graded_path, [GradedItem(item_id="c:3", title="t", tier="B", total=9)])
    f = collect(tmp_path, settings).to_dict()["funnel"]
    assert f["per_cycle"] and f["note"] == ""
    assert [c["cycle"] for c in f["cycles"]] == ["2026-04-01T00:00:00Z", "2026-04-01T06:00:00Z"]
    assert f["cycles"][0]["per_source"] == {"snapshot/arxiv": 1, "tavily": 1}
    assert f["cycles"][0]["graded"] == 0 and f["cycles"][1]["tiers"]["B"] == 1


def test_pr_numbers_from_descriptions_reach_every_row_of_the_commit(
    tmp_path: Path, settings: Settings
) -> None:
    Ledger.append(
        tmp_path / "results.tsv",
        make_row(
            commit="1111111aaaa",
            tier="local",
            val_bpb=2.0,
            artifact_bytes=1,
            memory_gb=1.0,
            status="keep",
            description="seed #3 of the sweep",
        ),
        make_row(
            commit="1111111",
            tier="runpod",
            val_bpb=1.2,
            artifact_bytes=1,
            memory_gb=1.0,
            status="keep",
            promoted="yes",
            description="PR #7 1-seed mean",
        ),
        make_row(
            commit="2222222",
            tier="local",
            val_bpb=2.0,
            artifact_bytes=1,
            memory_gb=1.0,
            status="keep",
            description="idea #12",
        ),
    )
    ex = collect(tmp_path, settings).to_dict()["experiments"]
    assert [r["pr"] for r in ex] == [7, 7, None]


def test_pages_and_plot_urls(settings: Settings) -> None:
    from bot.report import default_pages_url, plot_urls

    assert (
        default_pages_url(settings, {"GITHUB_REPOSITORY": "Golfer/my-golf"})
        == "https://golfer.github.io/my-golf"
    )
    assert default_pages_url(settings, {"GITHUB_REPOSITORY": "me/me.github.io"}) == "https://me.github.io"
    assert (
        default_pages_url(settings, {"PGOLF_PAGES_URL": "https://golf.example.org/"})
        == "https://golf.example.org"
    )
    assert default_pages_url(settings, {}) == ""
    urls = plot_urls("https://golfer.github.io/my-golf/")
    assert urls["val_bpb"] == "https://golfer.github.io/my-golf/plots/val_bpb.png" and len(urls) == 4
    assert plot_urls("") == {}
