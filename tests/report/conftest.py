"""Fixtures for the report tests: research repositories of several sizes, a headless browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.report.sample import make_sample_repo

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SETTINGS = Settings(tier2_min_interval_seconds=0)


@pytest.fixture
def settings() -> Settings:
    return SETTINGS


@pytest.fixture(scope="session")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A research repository with a 1,000-row ledger, 60 budget runs and 3 research cycles."""
    return make_sample_repo(tmp_path_factory.mktemp("big"), rows=1000, seed=7, settings=SETTINGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from tests.report.cdp import Browser, chromium_path

    binary = chromium_path()
    if binary is None:
        # a failure under CI=true (tests/strict.py)
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    b = Browser(binary)
    try:
        yield b
    finally:
        b.close()
