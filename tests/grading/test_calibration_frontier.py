"""Calibration (grades vs outcomes) and the exploration frontier on a constructed ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.grading import calibration, frontier
from bot.ledger import Ledger
from bot.program import template
from bot.program_inputs import gather_inputs
from bot.state import GradedItem, append_jsonl
from tests.grading.conftest import add_row, settings_for


def _g(item_id: str, tier: str, total: int, category: str, scores: dict[str, int]) -> GradedItem:
    return GradedItem(
        item_id=item_id,
        title=item_id,
        scores=scores,
        total=total,
        tier=tier,
        category=category,
        content_hash="h",
    )


def _scores(bpb: int, size: int, time: int, impl: int, nov: int) -> dict[str, int]:
    return {
        "bpb_impact": bpb,
        "size_compatibility": size,
        "time_compatibility": time,
        "implementability": impl,
        "novelty": nov,
    }


@pytest.fixture
def lab(repo: Path) -> Path:
    append_jsonl(
        repo / "research" / "graded.jsonl",
        [
            _g("arxiv:q1", "A", 13, "quantization", _scores(3, 3, 2, 3, 2)),
            _g("arxiv:q2", "A", 11, "quantization", _scores(2, 3, 1, 3, 2)),
            _g("arxiv:o1", "B", 8, "optimizer", _scores(1, 2, 1, 2, 2)),
            _g("arxiv:s1", "C", 5, "schedule", _scores(0, 2, 1, 1, 1)),
        ],
    )
    add_row(repo, commit="base001", val_bpb=1.3000, description="baseline seed=1")
    add_row(repo, commit="base002", val_bpb=1.3020, description="baseline seed=2")
    add_row(repo, commit="base003", val_bpb=1.3010, description="baseline seed=3")
    # q1: better locally and on RunPod.
    add_row(
        repo, commit="aaa1111", val_bpb=1.2900, description=f"int6 QAT {calibration.item_tag('arxiv:q1')}"
    )
    add_row(
        repo,
        commit="aaa1111",
        tier="runpod",
        val_bpb=1.2100,
        description=f"int6 QAT {calibration.item_tag('arxiv:q1')}",
    )
    # q2: better locally, worse on RunPod than the new best.
    add_row(repo, commit="bbb2222", val_bpb=1.2950, description="int4 export [item:arxiv:q2]")
    add_row(
        repo,
        commit="bbb2222",
        tier="runpod",
        val_bpb=1.2150,
        status="discard",
        description="int4 export [item:arxiv:q2]",
    )
    # o1: worse locally.
    add_row(
        repo,
        commit="ccc3333",
        val_bpb=1.3200,
        status="discard",
        description="Muon momentum 0.99 [item:arxiv:o1]",
    )
    # s1: crashed.
    add_row(repo, commit="ddd4444", val_bpb=None, status="crash", description="warmdown 80% [item:arxiv:s1]")
    # Unlinked experiment (classified by its description: attention).
    add_row(repo, commit="eee5555", val_bpb=1.3100, status="discard", description="sliding window attention")
    add_row(
        repo, commit="eee6666", val_bpb=1.3150, status="discard", description="rotary attention base 50000"
    )
    add_row(
        repo, commit="eee7777", val_bpb=1.3300, status="crash", description="GQA with 2 KV heads attention"
    )
    return repo


def test_reference_forms_round_trip() -> None:
    body = f"## Hypothesis\nfrom the grade\n\n{calibration.item_trailer('github_prs:openai/parameter-golf#12')}\n"
    assert calibration.item_refs(body) == ["github_prs:openai/parameter-golf#12"]
    desc = f"int6 QAT {calibration.item_tag('arxiv:2403.01234')} and {calibration.item_tag('rss:abc')}"
    assert calibration.item_refs(desc) == ["arxiv:2403.01234", "rss:abc"]
    assert calibration.item_refs("no reference here") == []
    with pytest.raises(ValueError):
        calibration.item_tag("has space")
    # What the bot writes into the ledger description from a PR body.
    assert (
        calibration.with_item_refs("int6 QAT", body) == "int6 QAT [item:github_prs:openai/parameter-golf#12]"
    )
    assert (
        calibration.with_item_refs("x [item:a]", "Research-Item: a\nResearch-Item: b")
        == "x [item:a] [item:b]"
    )


def test_outcomes_and_deltas(lab: Path) -> None:
    cal = calibration.load(lab, settings_for(lab))
    by = {(o.item_id, o.tier): o for o in cal.outcomes}
    assert by[("arxiv:q1", "local")].delta == pytest.approx(1.2900 - 1.3010)  # median baseline
    assert by[("arxiv:q1", "runpod")].delta == pytest.approx(1.2100 - 1.2244)  # vs upstream baseline
    assert by[("arxiv:q2", "runpod")].delta == pytest.approx(1.2150 - 1.2100)  # vs best kept before it
    assert not by[("arxiv:q2", "runpod")].improved and by[("arxiv:q2", "local")].improved
    assert by[("arxiv:s1", "local")].delta is None and not by[("arxiv:s1", "local")].improved
    assert cal.unlinked == 3


def test_hit_rates_correlation_and_summary(lab: Path) -> None:
    cal = calibration.load(lab, settings_for(lab))
    assert cal.hit_rates["local"] == {
        "A": {"tried": 2, "improved": 2},
        "B": {"tried": 1, "improved": 0},
        "C": {"tried": 1, "improved": 0},
    }
    assert cal.hit_rates["runpod"] == {"A": {"tried": 2, "improved": 1}}
    r = cal.correlations["local"]["total"]
    assert r is not None and r > 0.5  # higher totals went with bigger local gains
    assert cal.correlations["runpod"]["total"] is None  # fewer than 3 points
    lines = calibration.summary_lines(cal)
    assert "tier A items on quantization/compression improved 1 of 2 time(s)" in lines
    assert "tier B items on optimizer improved 0 of 1 time(s)" in lines
    assert any(line.startswith("hit rate by tier (local): A 2/2, B 0/1, C 0/1") for line in lines)
    note = calibration.program_note(lab, settings_for(lab), Ledger.load(lab / "results.tsv"))
    assert note.startswith("**Calibration**") and "quantization/compression improved 1 of 2" in note


def test_unknown_reference_is_reported(lab: Path) -> None:
    add_row(lab, commit="fff8888", val_bpb=1.3, status="discard", description="x [item:arxiv:nope]")
    assert calibration.load(lab, settings_for(lab)).unknown_items == ["arxiv:nope"]


def test_frontier_counts_and_bonus(lab: Path) -> None:
    fr = frontier.load(lab, settings_for(lab))
    c = fr.categories
    assert (c["quantization"].tried, c["quantization"].improved, c["quantization"].failed) == (2, 2, 0)
    assert (c["optimizer"].tried, c["optimizer"].failed) == (1, 1)
    assert (c["schedule"].tried, c["schedule"].failed) == (1, 1)
    assert (c["attention"].tried, c["attention"].improved, c["attention"].failed) == (3, 0, 3)
    assert c["quantization"].items == 2 and c["quantization"].tier_a == 2
    assert c["tokenizer"].tried == 0 and c["tokenizer"].bonus == 2
    assert c["attention"].bonus == -1  # 3 tries, no improvement: probable dead end
    assert c["quantization"].bonus == 0
    assert [x.name for x in fr.under_explored()][:3] == ["architecture", "tokenizer", "evaluation"]
    table = fr.table()
    assert "quantization/compression" in table and "+2" in table
    # Selection: an untried-category B outranks a heavily tried A of equal points.
    a = GradedItem(item_id="a", title="a", total=10, tier="A", category="attention")
    b = GradedItem(item_id="b", title="b", total=9, tier="B", category="tokenizer")
    assert [g.item_id for g in frontier.rank([a, b], fr)] == ["b", "a"]


def test_notes_reach_program_md_through_inject(lab: Path) -> None:
    (lab / "program.md").write_text(template())
    inputs = gather_inputs(lab, settings_for(lab))
    research = inputs.sections["RESEARCH"]
    assert "**Frontier**" in research and "Probable dead ends: attention (3 failed of 3)" in research
    assert "**Calibration**" in research
