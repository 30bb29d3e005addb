"""The research sources are a closed, typed registry: plain imports, no lookup by module name."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.errors import InputError
from bot.research.sources import SOURCE_NAMES, SOURCES, get_source


def test_every_source_is_registered_under_its_own_name() -> None:
    assert tuple(SOURCES) == SOURCE_NAMES and len(SOURCES) == 10
    for name, source in SOURCES.items():
        assert source.name == name and get_source(name) is source
    assert set(Settings().sources) <= set(SOURCES)  # the defaults name only real sources


def test_an_unknown_source_is_an_input_error_naming_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown research source 'bot.cli'; known: arxiv, "):
        get_source("bot.cli")
