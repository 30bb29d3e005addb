"""program_changes: program.md diffs in review terms (items, tiers, SOTA, competitors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import program
from bot import program_changes as pc
from bot.ledger import Ledger, make_row
from bot.state import CompetitorScore, GradedItem, VerifiedBrief


def _graded(i: int, tier: str, total: int, title: str = "") -> GradedItem:
    return GradedItem(
        item_id=f"arxiv:{i}",
        title=title or f"Paper {i}",
        url=f"https://arxiv.org/abs/{i}",
        total=total,
        tier=tier,
        rationale=f"why {i}",
    )


def _render(
    tmp_path: Path,
    graded: list[GradedItem],
    sota: float,
    competitors: list[CompetitorScore] = (),  # type: ignore[assignment]
    verified: list[VerifiedBrief] = (),  # type: ignore[assignment]
    rows: int = 0,
) -> str:
    led = Ledger(
        tmp_path / "r.tsv",
        [
            make_row(
                commit=f"abc{i:04d}",
                tier="local",
                val_bpb=1.3 - i / 100,
                artifact_bytes=1,
                memory_gb=1.0,
                status="keep",
                description=f"exp {i}",
            )
            for i in range(rows)
        ],
        [],
        True,
    )
    sections = program.build_sections(led, graded, list(verified), list(competitors))
    return program.replace_sections(program.template(), sections, sota)


def test_added_removed_sota_and_subject(tmp_path: Path) -> None:
    before = _render(tmp_path, [_graded(1, "A", 13), _graded(2, "B", 8)], 1.0634)
    after = _render(
        tmp_path,
        [_graded(1, "A", 13), _graded(3, "A", 12), _graded(4, "A", 11), _graded(5, "B", 9)],
        1.0611,
    )
    ch = pc.compare(before, after)
    assert ch.changed
    r = ch.section("RESEARCH")
    assert sorted(i.key for i in r.added) == ["arxiv:3", "arxiv:4", "arxiv:5"]
    assert [i.key for i in r.removed] == ["arxiv:2"]
    added = {i.key: i for i in r.added}
    assert added["arxiv:3"].tier == "A" and added["arxiv:3"].score == "12/15"
    assert added["arxiv:3"].url == "https://arxiv.org/abs/3"
    assert (ch.sota_before, ch.sota_after) == (1.0634, 1.0611)
    assert pc.subject(ch) == "research: +3 (A 2, B 1), \u22121; SOTA 1.0634 \u2192 1.0611"
    d = ch.to_dict()
    assert d["changed"] is True
    assert [i["key"] for i in d["removed"]["RESEARCH"]] == ["arxiv:2"]
    assert d["sota_before"] == 1.0634 and d["sota_after"] == 1.0611
    body = pc.body(ch)
    assert "https://arxiv.org/abs/3" in body and "Paper 2" in body


def test_regrade_is_a_change_not_an_add(tmp_path: Path) -> None:
    before = _render(tmp_path, [_graded(1, "B", 8)], 1.2244)
    after = _render(tmp_path, [_graded(1, "A", 12)], 1.2244)
    ch = pc.compare(before, after)
    r = ch.section("RESEARCH")
    assert not r.added and not r.removed
    assert [(a.tier, b.tier) for a, b in r.changed] == [("B", "A")]
    assert pc.subject(ch) == "research: 1 regraded"


def test_identical_texts_mean_no_change(tmp_path: Path) -> None:
    text = _render(tmp_path, [_graded(1, "A", 13)], 1.1)
    ch = pc.compare(text, text, state={"graded.jsonl": 4})
    assert not ch.changed and not ch.sota_changed
    assert pc.subject(ch) == "research: program.md unchanged (state graded +4)"
    assert "program.md is unchanged" in pc.body(ch)


def test_competitor_rows_added_and_changed(tmp_path: Path) -> None:
    c1 = CompetitorScore(
        "parameter-golf", "Muon run", val_bpb=1.10, author="ann", pr=12, date="2026-03-01", status="record"
    )
    c2 = CompetitorScore(
        "parameter-golf", "Int6 QAT", val_bpb=1.07, author="bob", pr=15, date="2026-03-02", status="record"
    )
    c1b = CompetitorScore(
        "parameter-golf", "Muon run", val_bpb=1.09, author="ann", pr=12, date="2026-03-03", status="record"
    )
    before = _render(tmp_path, [], 1.2, competitors=[c1])
    after = _render(tmp_path, [], 1.2, competitors=[c1b, c2])
    ch = pc.compare(before, after)
    c = ch.section("COMPETITORS")
    assert [i.title for i in c.added] == ["Int6 QAT"]
    assert [(dict(a.extra)["val_bpb"], dict(b.extra)["val_bpb"]) for a, b in c.changed] == [
        ("1.1000", "1.0900")
    ]
    assert "competitors +1 ~1" in pc.subject(ch)
    d = ch.to_dict()
    assert d["competitors_added"][0]["author"] == "bob"


def test_verified_and_ledger_rows(tmp_path: Path) -> None:
    v = VerifiedBrief(
        item_id="arxiv:9",
        title="Brief nine",
        url="https://x.example/9",
        brief="do it",
        score_before=10,
        score_after=13,
    )
    before = _render(tmp_path, [], 1.2, rows=1)
    after = _render(tmp_path, [], 1.2, verified=[v], rows=2)
    ch = pc.compare(before, after)
    assert [i.key for i in ch.section("VERIFIED").added] == ["arxiv:9"]
    assert len(ch.section("EXPERIMENTS").added) == 1
    assert pc.subject(ch) == "research: verified +1; ledger +1"


def test_prose_edits_are_reported_separately(tmp_path: Path) -> None:
    text = _render(tmp_path, [_graded(1, "A", 13)], 1.1)
    edited = text.replace("## The loop", "## The loop (edited by a maintainer)")
    ch = pc.compare(text, edited)
    assert ch.prose_changed and ch.changed
    assert not any(ch.sections.values())
    assert pc.subject(ch) == "research: text edited"


@pytest.mark.parametrize("n", [1, 9, 40, 400, 4000])
def test_subject_never_exceeds_72_characters(tmp_path: Path, n: int) -> None:
    long_title = "A very long paper title " * 20
    before = _render(tmp_path, [_graded(10_000 + i, "C", 3, long_title) for i in range(n)], 1.2244)
    graded = [_graded(i, "ABC"[i % 3], 14 - i % 3 * 4, long_title) for i in range(n)]
    comps = [
        CompetitorScore("parameter-golf", f"run {i}", val_bpb=1.1 + i / 1000, author="x", pr=i)
        for i in range(min(n, 15))
    ]
    after = _render(tmp_path, graded, 1.0611, competitors=comps, rows=min(n, 8))
    ch = pc.compare(before, after, state={"raw_cache.jsonl": n * 100, "graded.jsonl": n})
    s = pc.subject(ch)
    assert len(s) <= 72, s
    assert "\n" not in s
    assert s.startswith("research: +")
    if n > 9:  # the program.md caps research at 12 items
        assert len(ch.section("RESEARCH").added) == 12
    summary = pc.summary_markdown(ch)
    assert summary.count("\n| added | RESEARCH |") == len(ch.section("RESEARCH").added)


def test_subject_fits_with_every_kind_of_change() -> None:
    ch = pc.ProgramChanges(
        sections={
            "RESEARCH": pc.SectionChange(
                added=[pc.Item("RESEARCH", str(i), "t", "ABC"[i % 3], "1/15") for i in range(123456)],
                removed=[pc.Item("RESEARCH", f"r{i}", "t") for i in range(99999)],
                changed=[(pc.Item("RESEARCH", "x", "t", value="a"), pc.Item("RESEARCH", "x", "t", value="b"))]
                * 7,
            ),
            "VERIFIED": pc.SectionChange(added=[pc.Item("VERIFIED", "v", "t")] * 3),
            "COMPETITORS": pc.SectionChange(added=[pc.Item("COMPETITORS", "c", "t")] * 12),
            "EXPERIMENTS": pc.SectionChange(added=[pc.Item("EXPERIMENTS", "e", "t")] * 5),
        },
        sota_before=1.0634,
        sota_after=1.0611,
        text_changed=True,
        prose_changed=True,
    )
    s = pc.subject(ch)
    assert len(s) <= 72
    assert s.startswith("research: +123456 (A 41152, B 41152, C 41152), \u221299999")
    assert s.endswith(" …")  # parts that did not fit are marked, not silently dropped


def test_summary_table_and_state_changes(tmp_path: Path) -> None:
    before = _render(tmp_path, [_graded(1, "A", 13)], 1.0634)
    after = _render(tmp_path, [_graded(2, "A", 13, "Pipes | in title")], 1.0611)
    state = pc.state_changes(
        {"research/graded.jsonl": b'{"a":1}\n', "research/raw_cache.jsonl": None},
        {"research/graded.jsonl": b'{"a":1}\n{"b":2}\n', "research/raw_cache.jsonl": b"x\ny\nz\n"},
    )
    assert state == {"graded.jsonl": 1, "raw_cache.jsonl": 3}
    ch = pc.compare(before, after, state=state)
    md = pc.summary_markdown(ch, pr_url="https://github.com/o/r/pull/7")
    assert "| change | section | item | tier | score / value | link |" in md
    assert "| added | RESEARCH | Pipes \\| in title | A | 13/15 | [link](https://arxiv.org/abs/2) |" in md
    assert "| changed | SOTA | SOTA line |  | 1.0634 \u2192 1.0611 |  |" in md
    assert "state graded +1, raw +3" in md
    assert "https://github.com/o/r/pull/7" in md


def test_broken_or_missing_files_parse_without_crashing() -> None:
    ch = pc.compare(None, program.template())
    assert ch.changed and ch.sota_before is None and ch.sota_after == 1.2244
    broken = program.template().replace(program.marker("RESEARCH", end=True), "")
    p = pc.parse(broken)
    assert not p.well_formed and p.items["RESEARCH"] == {}


def test_summary_table_link_cannot_break_the_table_or_the_link(tmp_path: Path) -> None:
    """A web page's URL is hostile: a pipe would split the table row, a parenthesis would end the
    Markdown link early and let the rest of the URL render as text or an image."""
    before = _render(tmp_path, [_graded(1, "A", 13)], 1.0634)
    evil = GradedItem(
        item_id="arxiv:66",
        title="Evil",
        url="https://evil.example/a|b)![x](https://t.example/p.png",
        total=13,
        tier="A",
    )
    md = pc.summary_markdown(pc.compare(before, _render(tmp_path, [evil], 1.0634)))
    (row,) = [ln for ln in md.splitlines() if ln.startswith("| added |")]
    assert row.replace("\\|", "").count("|") == 7  # six cells, whatever the URL holds
    (target,) = [part.split(")", 1)[0] for part in row.split("[link](")[1:]]
    assert target == "https://evil.example/a%7Cb%29%21%5Bx%5D%28https://t.example/p.png"


@pytest.mark.parametrize("title", ["**bold** idea", "a ** b", "ends with a star*", "plain"])
def test_a_title_with_bold_markers_is_read_whole(tmp_path: Path, title: str) -> None:
    after = _render(tmp_path, [_graded(7, "A", 13, title)], 1.0634)
    ch = pc.compare(_render(tmp_path, [], 1.0634), after)
    (added,) = ch.section("RESEARCH").added
    assert added.title == title and added.key == "arxiv:7"


def test_broken_markers_are_reported_not_read_as_removed_items(tmp_path: Path) -> None:
    """A hand edit that breaks a section's markers leaves that section unreadable: the report says
    so (pgolf inject will refuse the file) instead of listing every item in it as removed."""
    before = _render(tmp_path, [_graded(1, "A", 13), _graded(2, "B", 8)], 1.0634)
    start = program.marker("RESEARCH")
    after = before.replace(start, start + "\n" + start, 1)  # a duplicated marker
    ch = pc.compare(before, after)
    assert ch.section("RESEARCH").removed == []
    assert ch.broken == ["RESEARCH"] and ch.to_dict()["broken_sections"] == ["RESEARCH"]
    assert pc.subject(ch).startswith("research: program.md markers broken (RESEARCH)")
    assert "RESEARCH" in pc.body(ch) and "markers" in pc.summary_markdown(ch)
    # fixing them again reads as a fix, not as items added
    back = pc.compare(after, before)
    assert back.section("RESEARCH").added == [] and back.broken == []


def test_a_missing_program_md_is_named_not_called_a_text_edit(tmp_path: Path) -> None:
    text = _render(tmp_path, [_graded(1, "A", 13)], 1.0634)
    gone = pc.compare(text, None)
    assert pc.subject(gone).startswith("research: program.md deleted")
    assert "text edited" not in pc.subject(gone)
    new = pc.compare(None, text)
    assert pc.subject(new).startswith("research: program.md created")


def test_summary_table_mentions_and_references_nobody(tmp_path: Path) -> None:
    """The table goes into the research PR's body, where GitHub turns `@user` into a notification
    and `owner/repo#5` into a cross-reference on someone else's issue, at every update: a web
    title must not make the bot ping people or spam other repositories."""
    import re

    title = "Ping @octocat and @org/team about other/repo#5, GH-7 and #1"
    before = _render(tmp_path, [_graded(1, "A", 13)], 1.0634)
    md = pc.summary_markdown(pc.compare(before, _render(tmp_path, [_graded(9, "A", 13, title)], 1.0634)))
    (row,) = [ln for ln in md.splitlines() if ln.startswith("| added |")]
    assert "Ping" in row and "octocat" in row
    assert not re.search(r"@[A-Za-z0-9]", row) and not re.search(r"#\d", row) and "GH-7" not in row


def test_control_and_bidi_characters_never_reach_the_report(tmp_path: Path) -> None:
    """`pgolf program diff` prints to a terminal and the body goes to `git log`: a web title with
    terminal escapes (erase the line above, conceal) or a bidi override could hide or disguise an
    item from the maintainer reading it."""
    title = "Fine paper\x1b[1A\x1b[2K\x1b[8m hidden \u202egnp.live\u202c\x07"
    before = _render(tmp_path, [_graded(1, "A", 13)], 1.0634)
    ch = pc.compare(before, _render(tmp_path, [_graded(1, "A", 13), _graded(8, "A", 12, title)], 1.0634))
    (added,) = ch.section("RESEARCH").added
    assert added.title.startswith("Fine paper") and "hidden" in added.title
    for text in (pc.message(ch), pc.summary_markdown(ch), added.title):
        assert not any(c in text for c in "\x1b\x07\u202e\u202c")
