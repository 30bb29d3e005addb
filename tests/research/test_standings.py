"""The Leaderboard tables, scores with status and provenance, precedence, modded-nanogpt boards.

Fixtures: tests/fixtures/parameter-golf/leaderboard_README.md and
tests/fixtures/modded-nanogpt/two_boards_README.md (invented rows in the upstream layouts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import program
from bot.cli import cli
from bot.grading import prompt
from bot.research import competitors as comp
from bot.state import CompetitorScore, ResearchState
from tests.emulators.github import GitHubEmulator
from tests.research.helpers import cycle, settings_for

FIX = Path(__file__).resolve().parents[1] / "fixtures"
BOARD = FIX / "parameter-golf" / "leaderboard_README.md"
MODDED = FIX / "modded-nanogpt" / "two_boards_README.md"
PG = "openai/parameter-golf"


def test_leaderboard_tables_parse_into_two_boards():
    lb = comp.parse_leaderboard(BOARD.read_text(), source_file="README.md")
    assert lb.rows_present == 9 and len(lb.rows) == 8
    assert len(lb.warnings) == 1 and "Broken Row" in lb.warnings[0] and "README.md:" in lb.warnings[0]
    records = [r for r in lb.rows if r.board == "record"]
    nonrec = [r for r in lb.rows if r.board == "non-record"]
    assert [r.val_bpb for r in records] == [1.0702, 1.075, 1.081, 1.0833, 1.163, 1.2244]
    assert [r.val_bpb for r in nonrec] == [1.124, 1.349]
    assert all(r.status == "record" and r.provenance == "leaderboard" for r in records)
    assert all(r.status == "non-record" for r in nonrec)
    top = records[0]
    assert top.pr == 2101 and top.author == "quill" and top.date == "2026-05-02"
    assert top.extra["tags"] == ["Tilted Embeddings", "Rank-Shared Heads", "Late TTT"]
    assert top.url.endswith("/pull/2101") and top.extra["pr_from"] == "link"
    lanes = records[2]
    assert lanes.extra["record_folder"] == "records/track_10min_16mb/2026-04-20_GatedResidualLanes"
    assert lanes.pr == 198 and lanes.extra["pr_from"] == "summary"
    assert len({r.key for r in lb.rows}) == len(lb.rows)
    # parse_text recognises the Leaderboard README (CLI `competitors parse README.md`)
    assert len(comp.parse_text("README.md", BOARD.read_text()).scores) == 8


def _lb_rows() -> list[CompetitorScore]:
    return comp.parse_leaderboard(BOARD.read_text(), source_file="README.md").rows


def _pr_claim(number: int, bpb: float, state: str, folder: str = "") -> CompetitorScore:
    folder = folder or f"records/track_10min_16mb/2026-05-0{number % 9}_Claim{number}"
    return CompetitorScore(
        source="parameter-golf",
        name=f"claim of PR {number}",
        key=f"parameter-golf:pr#{number}:{folder}",
        val_bpb=bpb,
        pr=number,
        source_file=f"{folder}/submission.json",
        provenance="submission.json",
        status={"open": "claim", "closed": "closed", "merged": "record"}[state],
        extra={"pr_state": state},
    )


def test_closed_unmerged_pr_never_becomes_sota(tmp_path):
    """Reproduces the report: a closed, unmerged PR claiming 0.4012 was #1 of COMPETITORS and of
    the grading prompt, above the real best record."""
    scores = [*_lb_rows(), _pr_claim(2200, 0.4012, "closed"), _pr_claim(2210, 1.0655, "open")]
    state = ResearchState(tmp_path)
    comp.save_scores(state, scores)
    stored = state.competitors()
    assert comp.sota(stored) is not None and comp.sota(stored).val_bpb == 1.0702  # type: ignore[union-attr]
    assert all(s.val_bpb != 0.4012 for s in comp.accepted(stored) + comp.claims(stored))
    assert [c.val_bpb for c in comp.claims(stored)] == [1.0655]
    section = program.render_competitors(stored)
    assert "0.4012" not in section
    first_row = next(line for line in section.splitlines() if line.startswith("| 1 |"))
    assert "1.0702" in first_row
    assert "claim: 1.0655" in section and "Open claims" in section
    assert "Non-record" in section and "1.1240" in section
    rows = prompt.competitor_rows(stored)
    assert rows[0]["val_bpb"] == 1.0702 and all(r["status"] == "record" for r in rows)
    assert {r["val_bpb"] for r in rows}.isdisjoint({0.4012, 1.0655, 1.124, 1.349})


def test_merged_pr_and_leaderboard_are_one_submission_and_precedence_decides():
    folder = "records/track_10min_16mb/2026-03-19_MixedInt6Int8_Sliding"
    sub = CompetitorScore(
        source="parameter-golf",
        name="mixed",
        key=f"parameter-golf:{folder}",
        val_bpb=1.16301431,
        source_file=f"{folder}/submission.json",
        provenance="submission.json",
        status="record",
    )
    readme = CompetitorScore(
        source="parameter-golf",
        name="mixed",
        key=f"parameter-golf:{folder}",
        val_bpb=1.1965,
        source_file=f"{folder}/README.md",
        provenance="README",
        extra={"score_text": "1.1965"},
    )
    merged = comp.merge(sub, readme)
    assert merged.val_bpb == 1.16301431
    assert merged.extra["disagreements"] == [
        "README says 1.1965, submission.json says 1.16301: submission.json wins"
    ]
    scores = [*_lb_rows(), merged]
    (row,) = [s for s in comp.accepted(scores) if s.val_bpb and 1.16 < s.val_bpb < 1.17]
    # the leaderboard decides; submission.json agrees at 4 decimals and adds precision
    assert row.val_bpb == 1.16301431 and row.provenance == "leaderboard"
    assert row.extra["confirmed_by"] == ["submission.json"]
    assert any("README says 1.1965" in d for d in row.extra["disagreements"])
    assert len(row.extra["sources"]) == 2 and row.name == "Mixed Int6/Int8 + Sliding Eval"
    # a submission.json that contradicts the leaderboard loses, visibly
    wrong = CompetitorScore(
        source="parameter-golf",
        name="lanes",
        key="parameter-golf:records/track_10min_16mb/2026-04-20_GatedResidualLanes",
        val_bpb=1.2184,
        source_file="records/track_10min_16mb/2026-04-20_GatedResidualLanes/submission.json",
        status="record",
    )
    (lanes,) = [s for s in comp.accepted([*_lb_rows(), wrong]) if "Lanes" in s.name]
    assert lanes.val_bpb == 1.081
    assert lanes.extra["disagreements"] == [
        "submission.json says 1.2184, leaderboard says 1.081: leaderboard wins"
    ]


def test_a_pr_mentioned_by_two_rows_does_not_merge_them():
    rows = comp.accepted(_lb_rows())
    assert [r.val_bpb for r in rows] == [1.0702, 1.075, 1.081, 1.0833, 1.163, 1.2244]
    # a merged PR of a leaderboard row (by link) joins it; a closed one on the board stays accepted
    linked = _pr_claim(2088, 1.07497, "closed")
    rows = comp.accepted([*_lb_rows(), linked])
    assert len(rows) == 6 and rows[1].val_bpb == 1.07497 and rows[1].status == "record"


def test_refresh_reads_the_leaderboard_through_the_contents_api(tmp_path):
    gh = GitHubEmulator().start()
    try:
        gh.add_repo(PG, files={"README.md": BOARD.read_bytes()})
        gh.add_repo("KellerJordan/modded-nanogpt", files={"README.md": MODDED.read_bytes()})
        env = {"PGOLF_GITHUB_API_URL": gh.url}
        runner = CliRunner()
        res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "refresh", "--json"], env=env)
        assert res.exit_code == 0, res.output
        report = json.loads(res.stdout)
        assert report["leaderboard_rows"] == 8 and report["leaderboard_rows_present"] == 9
        assert report["modded_rows"] == 8
        assert "Broken Row" in res.stderr
        assert any(r.path.endswith(f"/repos/{PG}/contents/README.md") for r in gh.requests)
        board = json.loads(
            runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "list", "--json"], env=env).stdout
        )
        assert board["parameter-golf"][0]["val_bpb"] == 1.0702
        assert board["parameter-golf"][0]["provenance"] == "leaderboard"
        assert [s["val_bpb"] for s in board["parameter-golf non-record"]] == [1.124, 1.349]
        assert len(board["modded-nanogpt gpt2-small"]) == 5 and len(board["modded-nanogpt gpt2-medium"]) == 3
        # a row removed from the Leaderboard stops counting
        text = BOARD.read_text().replace("| Tilted Embeddings", "| Removed: Tilted Embeddings", 1)
        text = "\n".join(ln for ln in text.splitlines() if "Removed:" not in ln) + "\n"
        gh.push(PG, "main", {"README.md": text.encode()})
        res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "refresh", "--json"], env=env)
        assert json.loads(res.stdout)["leaderboard_removed"] == 1
        stored = ResearchState(tmp_path / "research").competitors()
        assert comp.sota(stored).val_bpb == 1.075  # type: ignore[union-attr]
    finally:
        gh.stop()


def test_leaderboard_source_in_the_pipeline(tmp_path):
    gh = GitHubEmulator().start()
    try:
        gh.add_repo(PG, files={"README.md": BOARD.read_bytes()})
        settings = settings_for({"github_leaderboard": gh})
        report = cycle(
            settings, tmp_path, sources=["github_leaderboard"], now=datetime(2026, 6, 1, tzinfo=UTC)
        )
        assert report.errors == {} and len(report.new_items) == 1
        assert report.competitor_scores == 8
        assert report.new_items[0].relevance_kind == "competitor"
        again = cycle(
            settings, tmp_path, sources=["github_leaderboard"], now=datetime(2026, 6, 2, tzinfo=UTC)
        )
        assert again.new_items == [] and again.duplicates == 1 and again.competitor_scores == 0
    finally:
        gh.stop()


def test_modded_nanogpt_tables_are_separate_boards_with_unique_keys():
    rows = comp.parse_path(MODDED).scores
    assert len(rows) == 8 and len({r.key for r in rows}) == 8
    small = [r for r in rows if r.board == "gpt2-small"]
    medium = [r for r in rows if r.board == "gpt2-medium"]
    assert len(small) == 5 and len(medium) == 3
    # both tables start with a 05/28/24 "#1": different keys, different boards
    ones = [r for r in rows if r.extra["record_number"] == 1]
    assert {r.date for r in ones} == {"2024-05-28"} and ones[0].key != ones[1].key
    assert medium[0].record_minutes == 330 and medium[1].record_minutes == 30.0  # "30.0 minutes*"
    assert medium[2].date == "" and medium[2].key.endswith(":#3:-:27.5")
    boards = comp.boards(rows)
    assert list(boards) == ["gpt2-medium", "gpt2-small"]
    assert boards["gpt2-small"][0].record_minutes == 8.1
    lines = comp.trend_lines(rows)
    assert lines[0].startswith("modded-nanogpt gpt2-medium: 330 min") and "27.5 min" in lines[0]
    small_line = lines[1]
    assert small_line.startswith("modded-nanogpt gpt2-small: 40 min (2024-05-28) → 8.1 min (2024-11-02")
    assert "over 4 records" in small_line and "cut 79.8%" in small_line  # re-timing is not a record
    ctx_lines = prompt.context_text(
        prompt.GradingContext(
            best_bpb=None,
            proven=[],
            failed=[],
            competitors=[],
            calibration=[],
            frontier=[],
            artifact_limit=16_000_000,
            wallclock_seconds=600,
            rubric=prompt.make_rubric(False),
            speedrun=lines,
        )
    )
    assert "speedrun trend" in ctx_lines and "gpt2-medium" in ctx_lines


def test_section_shows_each_modded_board():
    rows = comp.parse_path(MODDED).scores
    section = program.render_competitors(rows)
    assert "modded-nanogpt gpt2-small speedrun records" in section
    assert "modded-nanogpt gpt2-medium speedrun records" in section


@pytest.mark.parametrize("state", ["open", "closed"])
def test_pr_body_claim_is_a_claim_with_provenance(tmp_path, state):
    gh = GitHubEmulator().start()
    try:
        gh.add_repo(PG, files={"README.md": b"# challenge\n"})
        gh.add_pr(
            PG,
            title="A bold idea",
            body="We reach **val_bpb: 0.4012** with a trick.",
            files={"notes.md": b"no record folder here\n"},
            state=state,
        )
        settings = settings_for({"github_prs": gh}, watched_repos=[PG])
        cycle(settings, tmp_path, sources=["github_prs"], now=datetime.fromtimestamp(gh.now(), UTC))
        stored = ResearchState(tmp_path).competitors()
        (s,) = stored
        assert s.provenance == "PR body" and s.val_bpb == 0.4012
        assert s.status == ("claim" if state == "open" else "closed")
        assert comp.accepted(stored) == []
        assert [c.val_bpb for c in comp.claims(stored)] == ([0.4012] if state == "open" else [])
    finally:
        gh.stop()


def test_a_stale_readme_loses_to_submission_json_and_the_log_agrees():
    folder = FIX / "parameter-golf" / "records_i14" / "track_10min_16mb" / "2026-05-01_StaleReadme"
    (s,) = comp.parse_path(folder).scores
    assert s.val_bpb == 1.15801234 and s.provenance == "submission.json"
    assert s.extra["figures"] == {"submission.json": 1.15801234, "README": 1.216, "log line": 1.15801234}
    assert s.extra["disagreements"] == [
        "README says 1.216, submission.json says 1.15801: submission.json wins"
    ]
    # the log alone: the last exact final line, provenance "log line"
    from bot.research.competitors.files import score_from_logs

    log = score_from_logs(folder)
    assert log is not None and log.val_bpb == 1.15801234 and log.provenance == "log line"
    assert log.extra["log_metric"] == "final_sliding_window_exact"
    # `competitors import` stores the merged folder as an accepted record
    scores = [comp.mark_merged(x) for x in comp.scan_records(folder.parents[1]).scores]
    assert sorted((x.key.rsplit("_", 1)[-1], x.status, x.board) for x in scores) == [
        ("SlidingBesideStandard", "non-record", "non-record"),
        ("StaleReadme", "record", "record"),
    ]


def _folder_score(name: str, bpb: float, author: str, day: str) -> CompetitorScore:
    folder = f"records/track_10min_16mb/{day}_{name}"
    return CompetitorScore(
        source="parameter-golf",
        name=name,
        key=f"parameter-golf:{folder}",
        val_bpb=bpb,
        author=author,
        github_id=author,
        date=day,
        source_file=f"{folder}/submission.json",
        provenance="submission.json",
        status="record",
    )


def test_a_pr_linked_row_joins_its_merged_folder_by_score_date_and_author():
    mine = _folder_score("WarmRestarts", 1.07497, "marten", "2026-04-27")
    repro = _folder_score("Reproduction", 1.07503, "someone-else", "2026-04-29")
    rows = comp.accepted([*_lb_rows(), mine, repro])
    warm = [r for r in rows if r.pr == 2088]
    assert len(warm) == 1 and warm[0].val_bpb == 1.07497 and warm[0].name == "Warm Restarts + Int5 Tail"
    assert sorted(warm[0].extra["sources"]) == [
        "parameter-golf:leaderboard:pr#2088",
        "parameter-golf:records/track_10min_16mb/2026-04-27_WarmRestarts",
    ]
    # the reproduction folder is merged too: an accepted record of its own, never joined by guess
    assert [r.val_bpb for r in rows if r.name == "Reproduction"] == [1.07503]
    # two candidate folders and no author match: nothing is joined
    a = _folder_score("A", 1.07497, "x", "2026-04-27")
    b = _folder_score("B", 1.07501, "y", "2026-04-28")
    rows = comp.accepted([*_lb_rows(), a, b])
    assert len([r for r in rows if r.val_bpb and 1.0749 < r.val_bpb < 1.0751]) == 3


def test_an_open_pr_editing_a_merged_folder_cannot_rewrite_its_record(tmp_path):
    """Attack: an open PR ("fix typo") rewrites a merged record folder's submission.json to 0.61.
    It groups with the merged folder by folder name; stored first (research fetch runs before
    competitors refresh), it must still not decide the accepted record's figure, nor become SOTA."""
    merged = _folder_score("HonestRun", 1.1100, "honest", "2026-04-10")
    folder = "records/track_10min_16mb/2026-04-10_HonestRun"
    attack = _pr_claim(2300, 0.61, "open", folder=folder)
    for order in ([attack, merged], [merged, attack]):
        state = ResearchState(tmp_path / str(id(order)))
        comp.save_scores(state, order)
        stored = state.competitors()
        best = comp.sota(stored)
        assert best is not None and best.val_bpb == 1.11, [to for to in comp.standings(stored)]
        (row,) = [s for s in comp.standings(stored) if "HonestRun" in s.name or s.pr == 2300]
        assert row.status == "record" and row.provenance == "submission.json"
        # the claim's figure stays visible as a disagreement, never silently dropped
        assert any("0.61" in d for d in row.extra.get("disagreements", [])), row.extra


def test_an_open_pr_on_a_merged_folder_does_not_break_its_join_to_the_leaderboard_row():
    """The Leaderboard row links only its PR; its merged folder names none: they are joined by
    score, date and author. An open PR editing that folder (0.61) must not decide the folder's
    figure for the join (two rows for one submission), nor appear among the records."""
    mine = _folder_score("WarmRestarts", 1.07497, "marten", "2026-04-27")
    attack = _pr_claim(2301, 0.61, "open", folder="records/track_10min_16mb/2026-04-27_WarmRestarts")
    for order in ([mine], [attack, mine], [mine, attack]):
        rows = comp.accepted([*_lb_rows(), *order])
        warm = [r for r in rows if "Warm" in r.name or "WarmRestarts" in str(r.extra.get("sources"))]
        assert len(rows) == 6  # one standing per submission: the joined folder is not listed again
        assert len(warm) == 1 and warm[0].val_bpb == 1.07497, [(r.name, r.val_bpb) for r in warm]
        assert all(r.val_bpb != 0.61 for r in rows)


def test_a_lower_sliding_figure_in_submission_json_is_the_score():
    """A submission.json stating ``val_bpb`` (standard eval) and a lower ``sliding_val_bpb``
    scores the sliding one, as the Leaderboard does; the README headline then agrees."""
    folder = (
        FIX / "parameter-golf" / "records_i14" / "track_non_record_16mb" / "2026-05-02_SlidingBesideStandard"
    )
    (js,) = comp.parse_path(folder / "submission.json").scores
    assert js.val_bpb == 1.1993 and js.extra["score_key"] == "sliding_val_bpb"
    assert js.extra["other_bpb"] == {"sliding_val_bpb": 1.1993, "val_bpb": 1.2207}
    (readme,) = comp.parse_path(folder / "README.md").scores
    assert readme.val_bpb == 1.1993
    (merged,) = comp.parse_path(folder).scores
    assert merged.val_bpb == 1.1993 and "disagreements" not in merged.extra


@pytest.mark.parametrize(
    ("data", "want"),
    [
        # a sliding figure above val_bpb is an earlier stage (val_bpb is after test-time training)
        ({"val_bpb": 1.0828, "sliding_bpb_mean": 1.0849}, 1.0828),
        # pre-quant / delta / std keys that mention sliding are never the score
        ({"val_bpb": 1.2000, "pre_quant_sliding_val_bpb": 1.1500, "sliding_delta_bpb": 0.02}, 1.2),
        ({"val_bpb": 1.2000, "sliding_window_s64_val_bpb": 1.1900}, 1.19),
        # one seed's (or the best seed's) sliding figure is not the submission's score
        ({"val_bpb": 1.1210, "seed3_sliding_bpb": 1.1186, "best_sliding_val_bpb": 1.1186}, 1.121),
        ({"val_bpb": 1.1210, "sliding_bpb_min": 1.1186}, 1.121),
        # a hostile sliding value out of range changes nothing
        ({"val_bpb": 1.2000, "sliding_val_bpb": -3.0}, 1.2),
        ({"val_bpb": 1.2000, "sliding_val_bpb": True}, 1.2),
    ],
)
def test_submission_sliding_figure_rules(data: dict, want: float):
    (s,) = [comp.score_from_submission(data, source_file="records/x/2026-05-02_X/submission.json")]
    assert s is not None and s.val_bpb == pytest.approx(want)
    assert ("score_key" in s.extra) == (want != data["val_bpb"])
