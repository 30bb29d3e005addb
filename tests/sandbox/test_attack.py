"""Tests that attack (issue 13 item 7): a hostile training script through every path that runs
candidate code, with canary secrets in the orchestrator's environment and the AST rule off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.training.shards import make_tiny_dataset
from tests.sandbox.attack import (
    CONTROLS,
    PATHS,
    Listener,
    attack,
    cleanup_markers,
    leaks,
    make_scene,
    outside_changes,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("attack-tiny"), max_chars=300_000).root


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


@pytest.mark.parametrize("path", PATHS)
def test_no_canary_leaks_and_nothing_outside_changes(
    path: str, tmp_path: Path, tiny: Path, listener: Listener
) -> None:
    scene = make_scene(tmp_path / "scene", tiny, listener.port)
    home_before = sorted(p.name for p in scene.home.iterdir())
    hooks_before = sorted(p.name for p in (scene.repo / ".git" / "hooks").iterdir())
    try:
        run = attack(scene, path)
        changed = outside_changes(scene)
    finally:
        cleanup_markers(scene)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.result and "exception" not in run.result, run.result
    found = leaks(scene, run, listener)
    assert found == {}, f"canaries leaked on {path}: {found}"
    assert changed == [], f"{path} changed files outside the sandbox: {changed}"
    assert listener.connections == 0, f"{path}: the hostile script reached 127.0.0.1"
    assert sorted(p.name for p in scene.home.iterdir()) == home_before
    assert sorted(p.name for p in (scene.repo / ".git" / "hooks").iterdir()) == hooks_before
    # the hostile code did run (its report reached the trusted side, empty-handed)
    assert "LOOT:[]" in run.stdout + run.stderr + str(run.result), f"{path}: the attack never ran"
    if path == "experimenter-check":
        # experimenter.yml's check job: every executing check ran the hostile code in the box, the
        # verdict is bound to the bytes, and the raising variant's report came back as data
        every, back = run.result["runs-everything"], run.result["reports-back"]
        assert every["exit"] == 0 and back["exit"] == 0, run.result
        checks = every["verdict"]["checks"]
        assert [(c["name"], c["ok"]) for c in checks] == [("import", True), ("parity", True), ("smoke", True)]
        assert every["verdict"]["sandbox"] and not every["verdict"]["sandbox"].startswith("unisolated")
        bad = back["verdict"]["checks"]
        assert [(c["name"], c["ok"]) for c in bad] == [("import", False)] and "LOOT:[]" in bad[0]["detail"]


@pytest.mark.parametrize("path", CONTROLS)
def test_the_same_attack_without_the_wall_does_leak(
    path: str, tmp_path: Path, tiny: Path, listener: Listener
) -> None:
    """Controls: a plain subprocess with a cleaned environment (the code before bot.sandbox) and
    the sandbox's named best-effort mode both let the script read the orchestrator's secrets, so
    the zero above is the wall's doing, not a dud attack."""
    scene = make_scene(tmp_path / "scene", tiny, listener.port)
    try:
        run = attack(scene, path)
    finally:
        cleanup_markers(scene)
    found = leaks(scene, run, listener)
    assert len(found) == len(scene.canaries), found  # every canary, via the ancestor's environ
    assert listener.connections >= 1
    if "best-effort" in path:
        assert run.result["mode"] == "unisolated: forced by the test"
