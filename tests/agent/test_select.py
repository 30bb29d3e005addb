"""Item selection: the highest graded untried item, weighed by the exploration frontier."""

from __future__ import annotations

import pytest

from bot.agent.proposer import frontier_scorer, ledger_item_refs, select_item
from bot.errors import ExperimentError, InputError
from bot.ledger import Ledger, make_row
from tests.agent.conftest import graded

ITEMS = [
    graded("arxiv:1", "Cooldown schedules", 12, "schedule"),
    graded("arxiv:2", "Tokenizer vocabulary tricks", 10, "tokenizer"),
    graded("arxiv:3", "Ungradable thing", 0, "", tier="ungradable"),
]


def ledger_with(*rows: tuple[str, str, str]) -> Ledger:
    out = [
        make_row(
            commit=c, tier="local", val_bpb=3.8, artifact_bytes=1, memory_gb=1.0, status=st, description=d
        )
        for c, st, d in rows
    ]
    return Ledger("results.tsv", out, [], True)


def test_highest_graded_untried_item_wins_without_frontier_pressure() -> None:
    pick = select_item(ITEMS, set())
    assert pick.item.item_id == "arxiv:1" and "A 12/15" in pick.reason
    assert select_item(ITEMS, {"arxiv:1"}).item.item_id == "arxiv:2"
    with pytest.raises(ExperimentError, match="no untried graded research item"):
        select_item(ITEMS, {"arxiv:1", "arxiv:2"})


def test_the_frontier_pushes_out_of_a_dead_end() -> None:
    # three failed schedule experiments: schedule is a probable dead end (−1), tokenizer untried (+2)
    led = ledger_with(
        ("aaaaaaa", "discard", "longer warmdown [item:arxiv:1]"),
        ("bbbbbbb", "discard", "warmdown schedule again"),
        ("ccccccc", "crash", "cosine decay schedule"),
    )
    score = frontier_scorer(led, ITEMS)
    pick = select_item(ITEMS, set(), score=score)
    assert pick.item.item_id == "arxiv:2" and pick.bonus == 2 and "frontier bonus +2" in pick.reason
    assert ledger_item_refs(led, [g.item_id for g in ITEMS]) == {"arxiv:1"}


def test_from_item_picks_any_item_or_names_the_bad_id() -> None:
    assert select_item(ITEMS, {"arxiv:1"}, from_item="arxiv:1").item.item_id == "arxiv:1"
    with pytest.raises(InputError, match="--from-item.*nope"):
        select_item(ITEMS, set(), from_item="nope")


def test_unusable_settings_are_config_errors(tmp_path: object) -> None:
    # validated in config.py only (no second check in the proposer), at load time
    from pathlib import Path

    from bot.config import load_settings
    from bot.errors import ConfigError

    for key, value in (
        ("EXPERIMENTER_SMOKE_ITERATIONS", "0"),
        ("EXPERIMENTER_MAX_TURNS", "0"),
        ("AUTO_PROMOTE_MAX_PER_DAY", "-1"),
    ):
        with pytest.raises(ConfigError, match=key.lower()):
            load_settings(Path(str(tmp_path)), env={f"PGOLF_{key}": value})
