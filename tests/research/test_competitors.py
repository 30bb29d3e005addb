"""Competitor parsing: every fixture record (submission.json and README.md), the
modded-nanogpt table, the many README score shapes, and the store/leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.research import competitors as comp
from bot.state import ResearchState

FIXTURES = Path("/work/shared/fixtures")
if not FIXTURES.exists():  # a CI checkout keeps them beside the project
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
RECORDS = sorted((FIXTURES / "parameter-golf" / "records").iterdir()) if FIXTURES.exists() else []
MODDED = FIXTURES / "modded-nanogpt" / "README_record_history_excerpt.md"

pytestmark = pytest.mark.skipif(not RECORDS, reason="fixtures not found")


def _agree(readme_value: float, json_value: float) -> bool:
    """README figures are the JSON's rounded to the README's own precision."""
    decimals = len(repr(readme_value).split(".")[1])
    return abs(readme_value - json_value) <= 0.5 * 10**-decimals + 1e-12


@pytest.mark.parametrize("folder", RECORDS, ids=[p.name for p in RECORDS])
def test_every_record_readme_agrees_with_submission_json(folder: Path):
    (from_json,) = comp.parse_path(folder / "submission.json").scores
    (from_readme,) = comp.parse_path(folder / "README.md").scores
    assert from_json.val_bpb is not None and from_readme.val_bpb is not None
    assert _agree(from_readme.val_bpb, from_json.val_bpb), (
        from_readme.val_bpb,
        from_json.val_bpb,
        from_readme.extra,
    )
    if from_readme.seeds is not None and from_json.seeds is not None:
        assert from_readme.seeds == from_json.seeds
    if from_readme.std is not None and from_json.std is not None:
        assert _agree(from_readme.std, from_json.std)
    if from_readme.bytes_total is not None and from_json.bytes_total is not None:
        assert from_readme.bytes_total == from_json.bytes_total
    if from_readme.val_loss is not None and from_json.val_loss is not None:
        assert _agree(from_readme.val_loss, from_json.val_loss)
    assert from_json.key == from_readme.key == f"parameter-golf:records/{folder.name}"
    assert from_json.date.startswith(folder.name[:4])
    assert from_json.track == "record"


@pytest.mark.parametrize("folder", RECORDS, ids=[p.name for p in RECORDS])
def test_record_folder_merges_json_first(folder: Path):
    (score,) = comp.parse_path(folder).scores
    data = json.loads((folder / "submission.json").read_text())
    expected = data.get("val_bpb", data.get("mean_bpb"))
    assert score.val_bpb == pytest.approx(expected)
    assert score.author == data.get("author", "")
    assert score.techniques


def test_submission_field_variants():
    multi = json.loads(
        (
            FIXTURES
            / "parameter-golf/records/2026-03-31_ParallelResiduals_MiniDepthRecurrence/submission.json"
        ).read_text()
    )
    s = comp.score_from_submission(
        multi, source_file="x/records/track_10min_16mb/2026-03-31_X/submission.json"
    )
    assert s is not None
    assert s.seeds == 3 and s.std == pytest.approx(0.00167769) and s.bytes_code == 93853
    assert s.extra["upstream_track"] == "10min_16mb"
    # val_bpb missing: mean_bpb, then per-seed mean
    s2 = comp.score_from_submission({"mean_bpb": "1.0798", "seeds": 3})
    assert s2 is not None and s2.val_bpb == pytest.approx(1.0798) and s2.seeds == 3
    s3 = comp.score_from_submission({"seed_results": {"1": {"val_bpb": 1.10}, "2": {"val_bpb": 1.12}}})
    assert s3 is not None and s3.val_bpb == pytest.approx(1.11) and s3.seeds == 2 and s3.std is not None
    assert comp.score_from_submission({"name": "no score"}) is None
    odd = comp.score_from_submission({"val_bpb": 1.3, "track": "track_non_record_16mb"})
    assert odd is not None and odd.track == "non-record"


README_SHAPES = [
    ("**val_bpb: 1.1063** (3-seed mean, std 0.0017)", 1.1063),
    ("**val bpb = 1.08563**", 1.08563),
    ("**val\\_bpb**: 1.2001", 1.2001),
    ("# Record: Foo — val_bpb 1.07983 (3-seed mean)", 1.07983),
    ("## Record: Bar (val_bpb: 1.1271)", 1.1271),
    ("- Exact printed metric: `final_int8_zlib_roundtrip_exact val_bpb:1.22436570`", 1.2243657),
    ("Mean val_bpb: **1.1280**.", 1.128),
    ("mean val_bpb = 1.3001", 1.3001),
    (
        "| Seed | Pre-TTT bpb | **Post-TTT bpb** |\n|---|---|---|\n| 1 | 1.1217 | **1.1192** |\n"
        "| **Mean** | **1.1218** | **1.1194 (std 0.0006)** |",
        1.1194,
    ),
]


@pytest.mark.parametrize(("text", "value"), README_SHAPES)
def test_readme_score_shapes(text: str, value: float):
    (s,) = comp.parse_text("README.md", "Intro line.\n\n" + text + "\n").scores
    assert s.val_bpb == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "Our baseline val_bpb: 1.2244 was beaten.",
        "Comparison baseline [PR #1179]: val_bpb: 1.1105",
        "Beats PR #1493 (val_bpb 1.0810) — work in progress, no score yet.",
        "- Pre-quant eval at stop: `val_loss:2.0606`, `val_bpb:1.2172`",
        "Current merged SOTA val_bpb = 1.1147",
    ],
)
def test_baseline_and_comparison_numbers_are_never_the_score(text: str):
    res = comp.parse_text("README.md", text + "\n", source_file="r/README.md")
    assert res.scores == []
    assert res.warnings and "no val_bpb" in res.warnings[0]


def test_readme_prefers_own_score_over_quoted_ones():
    text = (
        "# Record: Thing\n\n**val_bpb: 1.1063** (3-seed mean)\n\n"
        "Comparison baseline PR #1179: **1.11053346 BPB**.\nThis run's exact 3-seed mean: **1.10625353 BPB**.\n"
    )
    (s,) = comp.parse_text("README.md", text).scores
    assert s.val_bpb == pytest.approx(1.10625353)
    assert s.seeds == 3 and s.name == "Thing"


def test_modded_nanogpt_table():
    res = comp.parse_path(MODDED)
    rows = res.scores
    assert not res.warnings
    assert len(rows) == 47
    first = rows[0]
    assert first.record_minutes == 45 and first.date == "2024-05-28" and first.name == "llm.c baseline"
    assert first.github_id == "karpathy" and first.url == "https://github.com/karpathy/llm.c/discussions/481"
    r27 = next(r for r in rows if r.extra["record_number"] == 27)
    assert r27.pr == 109 and r27.url.endswith("/pull/109") and r27.record_minutes == pytest.approx(2.817)
    retimed = [r for r in rows if r.track == "re-timing"]
    assert len(retimed) == 2 and all(r.extra["record_number"] == 21 for r in retimed)
    assert len({r.key for r in rows}) == len(rows)
    assert comp.leaderboard(rows, comp.MNG)[0].record_minutes == pytest.approx(2.248)
    assert all(r.date[:2] == "20" for r in rows)


def test_modded_nanogpt_units_and_leading_pipes():
    text = (
        "| # | Record time | Description | Date | Log | Contributors |\n| - | - | - | - | - | - |\n"
        "| 1 | 1.5 hours | [First](https://x.example/1) | 01/02/24 | none | @alice |\n"
        "2 | 90 seconds | Second | 12/31/25 | [PR](https://github.com/o/r/pull/7) | @bob, @carol\n"
    )
    rows = comp.parse_text("README.md", text).scores
    assert [r.record_minutes for r in rows] == [90.0, 1.5]
    assert rows[1].pr == 7 and rows[1].extra["contributors"] == ["bob", "carol"]
    assert rows[0].date == "2024-01-02" and rows[1].date == "2025-12-31"


def test_unparseable_files_warn_not_crash(tmp_path):
    bad = tmp_path / "submission.json"
    bad.write_text('{"val_bpb": 1.2,')
    res = comp.parse_path(bad)
    assert res.scores == [] and "not JSON" in res.warnings[0] and str(bad) in res.warnings[0]
    arr = tmp_path / "a" / "submission.json"
    arr.parent.mkdir()
    arr.write_text("[1, 2]")
    res = comp.parse_path(arr)
    assert res.scores == [] and "JSON object" in res.warnings[0]
    empty = tmp_path / "README.md"
    empty.write_text("Nothing here.")
    assert comp.parse_path(empty).scores == []


def test_store_and_leaderboard(tmp_path):
    state = ResearchState(tmp_path)
    scores = [s for f in RECORDS for s in comp.parse_path(f).scores]
    assert comp.save_scores(state, scores) == len(RECORDS)
    assert comp.save_scores(state, scores) == 0  # unchanged: nothing appended
    board = comp.leaderboard(state.competitors())
    assert [s.val_bpb for s in board] == sorted(s.val_bpb for s in board)  # type: ignore[type-var]
    assert board[0].val_bpb == pytest.approx(1.06145)
    assert board[-1].name == "Naive Baseline"


def test_cli_parse_and_list(tmp_path):
    runner = CliRunner()
    files = [str(RECORDS[0] / "README.md"), str(RECORDS[0] / "submission.json"), str(MODDED)]
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "parse", *files, "--json", "--save"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert len(data) == 2 + 47
    assert data[0]["val_bpb"] == pytest.approx(1.2243657) and data[0]["source_file"] == files[0]
    assert data[2]["record_minutes"] == 45 and data[2]["source_file"] == files[2]
    bad = tmp_path / "junk.md"
    bad.write_text("no scores")
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "parse", str(bad), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == []
    assert "warning:" in res.stderr
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "list", "--json"])
    board = json.loads(res.stdout)
    assert len(board["parameter-golf"]) == 1 and board["modded-nanogpt"][0][
        "record_minutes"
    ] == pytest.approx(2.248)
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "parse", str(tmp_path / "missing.md")])
    assert res.exit_code == 2 and "no such file" in res.stderr
