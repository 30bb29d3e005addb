from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from bot import program
from bot.cli import cli
from bot.errors import GateFailed
from bot.ledger import Ledger


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "program.md").write_text(program.template())
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "train_gpt.py").write_text("print('train')\n")
    return tmp_path


def run(repo: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--repo", str(repo), *args], env=env, catch_exceptions=False)


def append_kept(repo: Path, commit: str, tier: str, val_bpb: str, *extra: str) -> Result:
    """`pgolf results append` of a kept row."""
    args = ["--commit", commit, "--tier", tier, "--val-bpb", val_bpb, "--status", "keep", *extra]
    return run(repo, "results", "append", *args)


def test_results_append_show_best(repo: Path) -> None:
    r = append_kept(repo, "abc1234", "runpod", "1.21", "--cost-usd", "3.3", "--description", "first")
    assert r.exit_code == 0, r.output
    r = append_kept(repo, "abc1234", "local", "1.9")
    assert r.exit_code == 0
    r = run(repo, "results", "show", "--tier", "runpod", "--json")
    rows = json.loads(r.output)["rows"]
    assert [x["commit"] for x in rows] == ["abc1234"] and rows[0]["cost_usd"] == 3.3
    r = run(repo, "results", "best", "--json")
    assert json.loads(r.output)["best_bpb"] == 1.21
    r = run(repo, "results", "correlation", "--json")
    assert json.loads(r.output)["pairs"] == 1


@pytest.mark.parametrize(
    "args,field",
    [
        (["--val-bpb", "abc"], "val_bpb"),
        (["--val-bpb", "1.2", "--cost-usd", "-1"], "cost_usd"),
        (["--val-bpb", "1.2", "--artifact-bytes", "1.5"], "artifact_bytes"),
        (["--val-bpb", "1.2", "--description", "a\tb"], "description"),
    ],
)
def test_results_append_refuses_bad_values(repo: Path, args: list[str], field: str) -> None:
    r = run(repo, "results", "append", "--commit", "abc1234", "--tier", "local", "--status", "keep", *args)
    assert r.exit_code == 2
    assert f"field '{field}'" in r.output
    assert not (repo / "results.tsv").exists()


def test_budget_commands(repo: Path) -> None:
    r = run(repo, "budget", "status", "--json")
    data = json.loads(r.output)
    assert data["total_credits"] == 500 and data["exists"] is False and data["can_submit"]
    assert run(repo, "budget", "check").exit_code == 0
    r = run(repo, "budget", "reserve", "--run-id", "r1", "--usd", "10")
    assert r.exit_code == 0 and (repo / "budget.json").exists()
    r = run(repo, "budget", "check")
    assert r.exit_code == 1 and "Rate limited" in r.output
    r = run(repo, "budget", "reserve", "--run-id", "r2", "--usd", "10")
    assert r.exit_code == 6 and "Rate limited" in r.output
    r = run(repo, "budget", "settle", "--run-id", "r1", "--seconds", "1800")
    assert r.exit_code == 0 and "$10.00" in r.output
    r = run(repo, "-c", "tier2_min_interval_seconds=0", "budget", "reserve", "--run-id", "r3", "--usd", "5")
    assert r.exit_code == 0
    assert run(repo, "budget", "release", "--run-id", "r3").exit_code == 0
    assert json.loads(run(repo, "budget", "status", "--json").output)["spent"] == 10.0


def test_corrupt_budget_exit_code_and_message(repo: Path) -> None:
    (repo / "budget.json").write_text('{"total_credits": 500,')
    r = run(repo, "budget", "status")
    assert r.exit_code == 5
    assert "budget.json" in r.output and "not valid JSON" in r.output
    assert (repo / "budget.json").read_text() == '{"total_credits": 500,'


def test_artifact_measure(repo: Path, tmp_path: Path) -> None:
    w = tmp_path / "w.npz"
    w.write_bytes(b"\x01" * 5000)
    r = run(repo, "artifact", "measure", str(w))
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert any(line.startswith("artifact_bytes: ") for line in lines)
    assert "status: OK" in lines and any("zstd-19" in line for line in lines)
    r = run(repo, "-c", "artifact_limit_bytes=10", "artifact", "measure", str(w), "--json")
    assert r.exit_code == 1 and json.loads(r.output)["status"] == "OVER LIMIT"
    r = run(repo, "artifact", "measure", "--script", str(repo / "missing.py"))
    assert r.exit_code == 2 and "training script not found" in r.output
    r = run(repo, "artifact", "measure", str(tmp_path / "nope.pt"))
    assert r.exit_code == 2 and "nope.pt" in r.output


def test_inject_command(repo: Path) -> None:
    Ledger.append(repo / "results.tsv")
    append_kept(repo, "abc1234", "runpod", "1.15", "--description", "best run")
    r = run(repo, "inject")
    assert r.exit_code == 0 and "updated" in r.output
    text = (repo / "program.md").read_text()
    assert "**SOTA: 1.1500 bpb." in text and "best run" in text
    assert "unchanged" in run(repo, "inject").output
    (repo / "program.md").write_text(text.replace("<!-- VERIFIED_END -->", ""))
    r = run(repo, "inject")
    assert r.exit_code == 8 and "VERIFIED_END" in r.output


def test_config_errors_are_one_line(repo: Path) -> None:
    r = run(repo, "-c", "bogus=1", "config", "show")
    assert r.exit_code == 3 and "unknown setting 'bogus'" in r.output
    r = run(repo, "config", "show", env={"PGOLF_HOURLY_RATE_USD": "cheap"})
    assert r.exit_code == 3 and "PGOLF_HOURLY_RATE_USD" in r.output


def test_python_dash_m_and_no_traceback(repo: Path) -> None:
    (repo / "budget.json").write_text("[]")
    p = subprocess.run(
        [sys.executable, "-m", "bot", "--repo", str(repo), "budget", "status"], capture_output=True, text=True
    )
    assert p.returncode == 5
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("error: ")


def test_unwritable_output_path_is_one_line_not_a_traceback(repo: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "bot", "--repo", str(repo), "report", "--out", "/proc/pgolf-nope", "--no-png"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.startswith("error: /proc/")


def test_missing_repo_folder_is_refused_and_nothing_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    r = CliRunner().invoke(
        cli,
        [
            "--repo",
            str(missing),
            "results",
            "append",
            "--commit",
            "abc1234",
            "--tier",
            "local",
            "--val-bpb",
            "1.2",
            "--status",
            "keep",
        ],
    )
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not missing.exists()


def test_inject_on_non_utf8_program_is_an_error(repo: Path) -> None:
    (repo / "program.md").write_bytes(program.template().encode() + b"\xff\xfe broken")
    before = (repo / "program.md").read_bytes()
    r = run(repo, "inject")
    assert r.exit_code == 8 and "not UTF-8" in r.output
    assert (repo / "program.md").read_bytes() == before


def test_research_state_folder_that_is_a_file(repo: Path) -> None:
    (repo / "research").write_text("oops")
    r = run(repo, "inject")
    assert r.exit_code == 9 and "is a file" in r.output


def test_every_command_module_registers_its_noun() -> None:
    # `pgolf X` imports bot.commands.X only when X is called, by a plain import in bot.cli (so
    # mypy follows every command); each name must register the command X, none is optional
    from bot.cli import COMMAND_NAMES, register_command

    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == list(COMMAND_NAMES)
    for name in COMMAND_NAMES:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None and cmd.name == name, name
    assert cli.get_command(ctx, "nope") is None and not register_command("nope", click.Group())
    # no string names the modules: each is imported by its own statement
    source = (Path(__file__).resolve().parents[2] / "bot" / "cli.py").read_text(encoding="utf-8")
    assert "importlib" not in source
    for name in COMMAND_NAMES:
        assert f"from bot.commands import {name}\n" in source, name


def test_budget_status_imports_no_other_command_and_no_sdk(tmp_path: Path) -> None:
    """Every workflow step starts with a pgolf call: the lazy loading keeps it light."""
    code = (
        "import sys\n"
        "from bot.cli import cli\n"
        f"cli(['--repo', {str(tmp_path)!r}, 'budget', 'status', '--json'], standalone_mode=False)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('bot.') or '.' not in m)))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(p.stdout.split())
    assert "bot.commands.budget" in loaded
    assert {m for m in loaded if m.startswith("bot.commands.")} == {
        "bot.commands.budget",
        "bot.commands.context",
    }
    heavy = {"torch", "numpy", "anthropic", "github", "runpod", "matplotlib", "httpx", "mlx", "paramiko"}
    assert loaded & heavy == set()


def test_a_gate_that_says_no_exits_1_without_an_error_line(repo: Path) -> None:
    # every gate says no the same way (GateFailed → exit 1): the check's own report, no "error:"
    (repo / "training" / "train_gpt.py").write_text("x = 1\n" * 50)
    over = run(repo, "-c", "artifact_limit_bytes=10", "artifact", "measure", "--json")
    assert over.exit_code == GateFailed.exit_code == 1, over.output
    assert json.loads(over.output)["status"] == "OVER LIMIT" and "error:" not in over.output
    fits = run(repo, "artifact", "measure", "--json")
    assert fits.exit_code == 0 and json.loads(fits.output)["status"] == "OK"
    assert run(repo, "pause", "--check").exit_code == 0
    assert run(repo, "pause", "--reason", "maintenance").exit_code == 0
    paused = run(repo, "pause", "--check")
    assert paused.exit_code == 1 and "paused: " in paused.output and "error:" not in paused.output


def test_config_show_prints_by_section_and_json_stays_flat(repo: Path) -> None:
    from bot.config import SECTIONS

    r = run(repo, "-c", "gpu_count=4", "config", "show")
    assert r.exit_code == 0, r.output
    headers = [line[1:-1] for line in r.output.splitlines() if line.startswith("[")]
    assert headers == list(SECTIONS)
    pod = r.output.split("[pod]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "gpu_count = 4" in pod and "grader_model" not in r.output.split("[grading]")[0]
    grading = r.output.split("[grading]\n", 1)[1].split("\n\n", 1)[0]
    assert grading.startswith("grader_model = ")
    r = run(repo, "-c", "gpu_count=4", "config", "show", "--json")
    data = json.loads(r.output)
    assert data["gpu_count"] == 4 and not any(isinstance(v, dict) for v in data.values())  # flat
    assert set(data) == {k for keys in SECTIONS.values() for k in keys}
