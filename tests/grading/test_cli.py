"""`pgolf research grade | calibration | frontier | verify` through the real click CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.state import ResearchState
from tests.emulators.anthropic import AnthropicEmulator
from tests.grading.conftest import add_row
from tests.grading.responders import grading_responder


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--repo", str(root), *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_grade_offline_json_then_text(repo: Path) -> None:
    code, out, _ = _run(repo, "research", "grade", "--offline", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "offline" and data["graded"] == 12 and len(data["grades"]) == 12
    assert sum(data["tiers"].values()) == 12
    code, out, _ = _run(repo, "research", "grade", "--offline")
    assert code == 0 and "Graded 0 item(s)" in out and "12 unchanged and skipped" in out


def test_grade_with_the_api_messages_and_batch(repo: Path, emu: AnthropicEmulator) -> None:
    emu.responder = grading_responder()
    env = {
        "ANTHROPIC_API_KEY": emu.api_key,
        "ANTHROPIC_BASE_URL": emu.url,
        "PGOLF_GRADING_BATCH_POLL_SECONDS": "0",
    }
    code, out, _ = _run(repo, "research", "grade", "--no-batch", "--limit", "5", env=env)
    assert code == 0 and "Graded 5 item(s) (messages, claude-sonnet-4-6)" in out and "Cost $" in out
    code, out, _ = _run(repo, "research", "grade", "--batch", "--json", "--max-usd", "1", env=env)
    data = json.loads(out)
    assert code == 0 and data["mode"] == "batch" and data["graded"] == 7 and data["skipped"] == 5
    assert data["cost"]["max_usd"] == 1.0 and data["cost"]["batch_requests"] == 1


def test_grade_budget_too_small_exits_with_grading_error(repo: Path, emu: AnthropicEmulator) -> None:
    env = {"ANTHROPIC_API_KEY": emu.api_key, "ANTHROPIC_BASE_URL": emu.url}
    code, _, err = _run(repo, "research", "grade", "--no-batch", "--max-usd", "0.00001", env=env)
    assert code == 17 and "too small for even one grading request" in err
    assert ResearchState(repo / "research").graded() == []


def test_negative_budget_is_an_input_error(repo: Path) -> None:
    code, _, err = _run(repo, "research", "grade", "--max-usd", "-1")
    assert code == 2 and "--max-usd" in err


def test_corrupt_state_names_the_file(repo: Path) -> None:
    (repo / "research" / "raw_cache.jsonl").write_text('{"source": "x", "id": "a", "title": "t"}\nnot json\n')
    code, _, err = _run(repo, "research", "grade", "--offline")
    assert code == 9 and "raw_cache.jsonl" in err and "line 2" in err
    assert not (repo / "research" / "graded.jsonl").exists()


def test_frontier_and_calibration_commands(repo: Path) -> None:
    _run(repo, "research", "grade", "--offline")
    add_row(repo, commit="base001", val_bpb=1.30, description="baseline seed=1")
    add_row(repo, commit="aaa1111", val_bpb=1.29, description="int6 QAT [item:arxiv:2501.00000]")
    code, out, _ = _run(repo, "research", "frontier")
    assert code == 0 and "quantization/compression" in out and "Bonus rule" in out
    code, out, _ = _run(repo, "research", "frontier", "--json")
    cats = {c["name"]: c for c in json.loads(out)["categories"]}
    assert cats["quantization"]["tried"] == 1 and cats["quantization"]["improved"] == 1
    code, out, _ = _run(repo, "research", "calibration", "--json")
    data = json.loads(out)
    assert code == 0 and data["outcomes"][0]["item_id"] == "arxiv:2501.00000"
    assert data["outcomes"][0]["delta"] == pytest.approx(-0.01)
    code, out, _ = _run(repo, "research", "calibration")
    assert "1 linked result(s)" in out and "improved" in out


def test_verify_offline_command(repo: Path) -> None:
    _run(repo, "research", "grade", "--offline")
    code, out, _ = _run(
        repo,
        "research",
        "verify",
        "--offline",
        "--json",
        "--top",
        "2",
        env={"PGOLF_ARXIV_ABS_BASE_URL": "http://127.0.0.1:9"},
    )
    data = json.loads(out)
    assert code == 0 and data["mode"] == "offline" and len(data["verified"]) == min(2, data["candidates"])
    assert len(ResearchState(repo / "research").verified()) == len(data["verified"])
