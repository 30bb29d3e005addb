"""Competitor parsing: every fixture record (submission.json and README.md), the
modded-nanogpt table, the many README score shapes, and the store/leaderboard.

Fixture-driven tests run on the project's own fixtures (``tests/fixtures``) and, marked
``corpus``, on the real upstream corpus (``make test-corpus``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.research import competitors as comp
from bot.state import ResearchState
from tests.fixture_paths import modded_table, record_dirs, record_params, roots

RECORD_PARAMS = record_params()
#: rows of the modded-nanogpt table in each root: ours (13 rows) and the upstream excerpt (47)
MODDED_ROWS = {"own": 13, "corpus": 47}


def _agree(readme_value: float, json_value: float) -> bool:
    """README figures are the JSON's rounded to the README's own precision."""
    decimals = len(repr(readme_value).split(".")[1])
    return abs(readme_value - json_value) <= 0.5 * 10**-decimals + 1e-12


@pytest.mark.parametrize("folder", RECORD_PARAMS)
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


@pytest.mark.parametrize("folder", RECORD_PARAMS)
def test_record_folder_merges_json_first(folder: Path):
    (score,) = comp.parse_path(folder).scores
    data = json.loads((folder / "submission.json").read_text())
    expected = data.get("val_bpb", data.get("mean_bpb"))
    assert score.val_bpb == pytest.approx(expected)
    assert score.author == data.get("author", "")
    assert score.techniques


@pytest.mark.parametrize("root", roots())
def test_submission_field_variants(root: Path):
    multi = json.loads(
        (
            root / "parameter-golf/records/2026-03-31_ParallelResiduals_MiniDepthRecurrence/submission.json"
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


@pytest.mark.parametrize("root", roots())
def test_modded_nanogpt_table(root: Path, request: pytest.FixtureRequest):
    res = comp.parse_path(modded_table(root))
    rows = res.scores
    assert not res.warnings
    assert len(rows) == MODDED_ROWS[request.node.callspec.id]
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


@pytest.mark.parametrize("root", roots())
def test_store_and_leaderboard(tmp_path, root: Path):
    state = ResearchState(tmp_path)
    records = record_dirs(root)
    scores = [s for f in records for s in comp.parse_path(f).scores]
    assert records and comp.save_scores(state, scores) == len(records)
    assert comp.save_scores(state, scores) == 0  # unchanged: nothing appended
    board = comp.leaderboard(state.competitors())
    assert [s.val_bpb for s in board] == sorted(s.val_bpb for s in board)  # type: ignore[type-var]
    assert board[0].val_bpb == pytest.approx(1.06145)
    assert board[-1].name == "Naive Baseline"


@pytest.mark.parametrize("root", roots())
def test_cli_parse_and_list(tmp_path, root: Path, request: pytest.FixtureRequest):
    runner = CliRunner()
    first = record_dirs(root)[0]
    files = [str(first / "README.md"), str(first / "submission.json"), str(modded_table(root))]
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "parse", *files, "--json", "--save"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert len(data) == 2 + MODDED_ROWS[request.node.callspec.id]
    assert data[0]["val_bpb"] == pytest.approx(1.2243657) and data[0]["source_file"] == files[0]
    assert data[2]["record_minutes"] == 45 and data[2]["source_file"] == files[2]
    bad = tmp_path / "junk.md"
    bad.write_text("no scores")
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "parse", str(bad), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == []
    assert "warning:" in res.stderr
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "list", "--json"])
    board = json.loads(res.stdout)
    # parsed by hand (not imported from a checkout): a claim, never an accepted record
    assert board["parameter-golf"] == [] and len(board["parameter-golf claims"]) == 1
    assert board["modded-nanogpt gpt2-small"][0]["record_minutes"] == pytest.approx(2.248)
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "parse", str(tmp_path / "missing.md")])
    assert res.exit_code == 2 and "no such file" in res.stderr


# ----------------------------------------------------------------- README shapes (review round 2)

MORE_README_SHAPES = [
    # titles that state the score number-first
    ("# Record: 1.1712 bpb\n\nInt6 everywhere.", 1.1712),
    ("# 1.1712 BPB: Int6 QAT + BigramHash\n\nText.", 1.1712),
    # a metric/value table, with a pre-quant row that is not the score
    ("| Metric | Value |\n|---|---|\n| Pre-quant val_bpb | 1.1800 |\n| val_bpb | 1.1500 |", 1.15),
    # a bare two-cell table whose header row is the metric itself
    ("| val_bpb | 1.1500 |\n|---|---|\n| val_loss | 1.9400 |", 1.15),
    # ours-vs-baseline table (columns), no Mean row
    ("| Metric | Baseline | Ours |\n|---|---|---|\n| val_bpb | 1.2244 | 1.1500 |", 1.15),
    ("| Metric | Ours | Baseline |\n|---|---|---|\n| val_bpb | 1.1500 | 1.2244 |", 1.15),
    # ours-vs-baseline table (rows), no Mean row
    ("| Run | val_bpb |\n|---|---|\n| Naive baseline | 1.2244 |\n| This submission | 1.1500 |", 1.15),
    ("| Run | val_bpb |\n|---|---|\n| Baseline (PR #70) | 1.2244 |\n| 11L + XSA | 1.1500 |", 1.15),
    # a comparison quoted in the same line, a sentence before the own score
    ("The previous SOTA val_bpb=1.0900. Our val_bpb=1.1000 on 3 seeds.", 1.1),
    ("Compared to the baseline (val_bpb: 1.2244). Final val_bpb: 1.1874", 1.1874),
]


@pytest.mark.parametrize(("text", "value"), MORE_README_SHAPES)
def test_more_readme_score_shapes(text: str, value: float):
    res = comp.parse_text("README.md", "Intro line.\n\n" + text + "\n")
    assert not res.warnings, res.warnings
    (s,) = res.scores
    assert s.val_bpb == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "| Metric | Baseline |\n|---|---|\n| val_bpb | 1.2244 |",
        "| Metric | Previous SOTA | Merged record |\n|---|---|---|\n| val_bpb | 1.0900 | 1.1147 |",
        "| Run | val_bpb |\n|---|---|\n| Baseline | 1.2244 |\n| Previous record | 1.1500 |",
        "# Beats 1.0810 bpb of the merged SOTA (work in progress)",
        "The previous SOTA val_bpb=1.0900, which we have not beaten yet.",
    ],
)
def test_baseline_tables_and_titles_are_never_the_score(text: str):
    res = comp.parse_text("README.md", text + "\n", source_file="r/README.md")
    assert res.scores == [], [s.val_bpb for s in res.scores]
    assert "no val_bpb" in res.warnings[0]


def test_title_shape_keeps_the_title_without_the_score():
    (s,) = comp.parse_text("README.md", "# 1.1712 BPB: Int6 QAT + BigramHash\n\nx\n").scores
    assert s.name == "Int6 QAT + BigramHash" and s.techniques == "Int6 QAT + BigramHash"
    (s,) = comp.parse_text("README.md", "# Record: Int6 QAT — val_bpb 1.1712\n").scores
    assert s.name == "Int6 QAT"


def test_readme_author_pr_and_date():
    text = (
        "# Record: Int6 + Muon (PR #1234)\n\n**Author:** Jane Doe (@janedoe)\n**Date:** 2026-05-01\n\n"
        "**val_bpb: 1.1000** (3-seed mean)\n\nBuilt on PR #999 by @someone-else.\n"
    )
    (s,) = comp.parse_text("README.md", text).scores
    assert (s.author, s.github_id, s.pr, s.date) == ("Jane Doe", "janedoe", 1234, "2026-05-01")
    assert s.name == "Int6 + Muon"
    text = (
        "# Int6 QAT by @bob-smith\n\n- PR: https://github.com/openai/parameter-golf/pull/987\n\n"
        "val_bpb: 1.2000\n"
    )
    (s,) = comp.parse_text("README.md", text).scores
    assert (s.author, s.github_id, s.pr, s.name) == ("bob-smith", "bob-smith", 987, "Int6 QAT")
    text = "| Field | Value |\n|---|---|\n| Author | [Ann](https://github.com/ann-k) |\n| PR | #55 |\n| val_bpb | 1.30 |\n"
    (s,) = comp.parse_text("README.md", text).scores
    assert (s.author, s.github_id, s.pr) == ("Ann", "ann-k", 55)
    # a PR the record builds on or supports is not its own PR number; credits are not authors
    (s,) = comp.parse_text("README.md", "# Record: Support for PR #1851\n\n**val_bpb = 1.06**\n").scores
    assert s.pr is None and s.author == ""


@pytest.mark.parametrize("root", roots())
def test_fixture_technique_summaries_are_not_generic_headings(root: Path):
    by_name = {f.name: comp.parse_path(f / "README.md").scores[0] for f in record_dirs(root)}
    generic = {"summary", "key idea", "results", "overview", "changes"}
    for name, s in by_name.items():
        assert s.techniques, name
        assert s.techniques.split(":")[0].strip().lower() not in generic, (name, s.techniques)
    mixed = by_name["2026-03-19_10L_MixedPrecision"]
    assert mixed.name == "10L Mixed Precision"
    assert "Mixed int8/int6 compression" in mixed.techniques and "Lower learning rates" in mixed.techniques
    assert by_name["2026-03-19_SlidingWindowEval"].techniques == "Sliding Window Evaluation"


# ----------------------------------------------------------------- artifact bytes


def _bytes_agree(readme: comp.CompetitorScore, json_bytes: int) -> bool:
    assert readme.bytes_total is not None
    precision = int(readme.extra.get("bytes_total_precision", 0))
    return abs(readme.bytes_total - json_bytes) <= precision


@pytest.mark.parametrize("folder", RECORD_PARAMS)
def test_readme_only_artifact_bytes_agree_with_submission_json(folder: Path):
    (from_json,) = comp.parse_path(folder / "submission.json").scores
    (from_readme,) = comp.parse_path(folder / "README.md").scores
    assert from_json.bytes_total is not None
    assert from_readme.bytes_total is not None, "every fixture README states its artifact size"
    assert _bytes_agree(from_readme, from_json.bytes_total), (
        from_readme.bytes_total,
        from_json.bytes_total,
        from_readme.extra,
    )


@pytest.mark.parametrize("root", roots())
@pytest.mark.parametrize(
    "name",
    [
        "2026-04-09_A2_Muon097_3Seed",
        "2026-04-22_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT_MLPClip12",
        "2026-04-29_SmearGateBOSFix_3Seed_1.06141",
    ],
)
def test_headline_megabytes_agree_within_their_precision(name: str, root: Path):
    """Only the headline ("~15.99 MB"): 2 decimals of a MB → ± 5,000 bytes. (Other fixtures'
    headlines round the seeds' mean, not the largest artifact, so only exact figures agree.)"""
    folder = root / "parameter-golf/records" / name
    headline = "\n".join((folder / "README.md").read_text().splitlines()[:4])
    (from_readme,) = comp.parse_text("README.md", headline).scores
    (from_json,) = comp.parse_path(folder / "submission.json").scores
    assert from_readme.extra["bytes_total_precision"] == 5000
    assert from_json.bytes_total is not None and _bytes_agree(from_readme, from_json.bytes_total)


@pytest.mark.parametrize(
    ("text", "size", "precision"),
    [
        ("**val_bpb: 1.1100** | **~15.95 MB** | 8xH100", 15_950_000, 5_000),
        ("**val_bpb = 1.1271** | **15.5 MB** artifact", 15_500_000, 50_000),
        ("val_bpb: 1.20\n\nArtifact: 15,928,974 bytes (code: 48,917)", 15_928_974, 0),
        ("val_bpb: 1.20\n\nTotal submission size int8+zlib: `15863489 bytes`", 15_863_489, 0),
        (
            "| Seed | val_bpb | Artifact (bytes) |\n|---|---|---|\n| 1 | 1.11 | 15,900,001 |\n"
            "| 2 | 1.12 | 15,950,002 |\n| **Mean** | **1.115** | 15,925,001 |",
            15_950_002,
            0,
        ),
        (
            "val_bpb: 1.19\n\n| Metric | Naive Baseline | This Submission |\n|---|---|---|\n"
            "| Artifact size | 15,863,489 bytes | 15,874,829 bytes |",
            15_874_829,
            0,
        ),
    ],
)
def test_readme_artifact_size_shapes(text: str, size: int, precision: int):
    (s,) = comp.parse_text("README.md", text + "\n").scores
    assert s.bytes_total == size
    assert s.extra.get("bytes_total_precision", 0) == precision


def test_cap_and_savings_megabytes_are_not_the_artifact():
    text = "**val_bpb: 1.20**\n\nCompresses to 17.6MB, 1.6MB over the 16MB cap; saves ~1.6MB.\n"
    (s,) = comp.parse_text("README.md", text).scores
    assert s.bytes_total is None


@pytest.mark.parametrize("root", roots())
def test_submission_bytes_total_is_the_largest_seed_artifact(root: Path):
    folder = root / "parameter-golf/records"
    caseops = folder / "2026-04-22_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT_MLPClip12"
    (s,) = comp.parse_path(caseops / "submission.json").scores
    assert s.bytes_total == 15_979_182  # artifact_bytes_max; the file's bytes_total is the mean
    assert s.extra["bytes_total_stated"] == 15_975_561
    single = comp.score_from_submission({"val_bpb": 1.2, "bytes_total": 15_000_000})
    assert (
        single is not None and single.bytes_total == 15_000_000 and "bytes_total_stated" not in single.extra
    )
