"""Project-wide pytest setup: isolate every test from the user's environment and network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest

from bot import clock
from tests.fixture_paths import CORPUS_ENV, corpus_root
from tests.frozen import FROZEN_NOW

pytest_plugins = ["tests.strict"]  # no skips under CI; loopback only

SECRET_VARS = (
    "ANTHROPIC_API_KEY",
    "TAVILY_API_KEY",
    "RUNPOD_API_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "SEMANTIC_SCHOLAR_API_KEY",
    "PGOLF_APP_PRIVATE_KEY",
    "HF_TOKEN",
)


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No PGOLF_* settings, no real secrets, no proxies, git identity set, HF offline."""
    for name in list(os.environ):
        if name.startswith("PGOLF_") or name in SECRET_VARS or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "pgolf-test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@pgolf.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "pgolf-test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@pgolf.invalid")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield


@pytest.fixture(autouse=True)
def frozen_now(_isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """Pin pgolf's clock to ``FROZEN_NOW`` in this process and in every subprocess."""
    monkeypatch.setenv(clock.ENV_VAR, clock.stamp(FROZEN_NOW))
    with clock.pinned(FROZEN_NOW) as at:
        yield at


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``corpus`` test fails loudly when the upstream corpus is absent (never a skip)."""
    if item.get_closest_marker("corpus") is not None and not corpus_root().is_dir():
        pytest.fail(
            f"the upstream fixture corpus is not at {corpus_root()}: set {CORPUS_ENV} to its folder",
            pytrace=False,
        )


def _xdist_group(item: pytest.Item) -> str | None:
    """Tests that share an expensive session/module fixture run on one worker (built once)."""
    path = item.nodeid.split("::", 1)[0]
    fixtures = set(getattr(item, "fixturenames", ()))
    if path.startswith("tests/training/"):
        return "training"  # tiny_data (SentencePiece) and torch_run (a real toy training run)
    if path.startswith("tests/agent/") and "tiny_data" in fixtures:
        return "agent-tiny-data"
    if "browser" in fixtures or "big_repo" in fixtures:
        return "report-browser"  # one headless chromium and a 1,000-row repository
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``): group tests that share an expensive fixture, and start
    the slow ones first, so that the longest test is not the last one to begin."""
    for item in items:
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda it: it.get_closest_marker("slow") is None)  # stable: same order on every worker
