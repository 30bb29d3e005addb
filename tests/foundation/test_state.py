from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import StateError
from bot.state import GradedItem, ResearchItem, ResearchState, append_jsonl, read_jsonl


def test_roundtrip_keeps_unknown_fields(tmp_path: Path) -> None:
    p = tmp_path / "raw_cache.jsonl"
    p.write_text(
        '{"source": "arxiv", "id": "arxiv:1", "title": "T", "relevance": 1, "future_field": [1, 2]}\n'
    )
    items = read_jsonl(p, ResearchItem)
    assert items[0].relevance == 1.0 and items[0].extra == {"future_field": [1, 2]}
    append_jsonl(p, [ResearchItem(source="rss", id="rss:2", title="U")])
    again = read_jsonl(p, ResearchItem)
    assert [i.id for i in again] == ["arxiv:1", "rss:2"]
    assert '"future_field": [1, 2]' in p.read_text()


@pytest.mark.parametrize(
    "line,needle",
    [
        ("{not json", "line 1: not JSON"),
        ('{"source": "a", "id": 5, "title": "t"}', "field 'id'"),
        ('{"source": "a", "title": "t"}', "field 'id'"),
        ('["a"]', "JSON object"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, needle: str) -> None:
    p = tmp_path / "raw_cache.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(StateError, match=needle) as info:
        read_jsonl(p, ResearchItem)
    assert str(p) in str(info.value)


def test_latest_grade_wins(tmp_path: Path) -> None:
    st = ResearchState(tmp_path)
    append_jsonl(
        st.graded_path,
        [GradedItem(item_id="a", title="A", total=5), GradedItem(item_id="b", title="B", total=9)],
    )
    append_jsonl(st.graded_path, [GradedItem(item_id="a", title="A", total=11)])
    got = {g.item_id: g.total for g in st.graded()}
    assert got == {"a": 11, "b": 9}
