"""`pgolf demo` end to end: the whole loop offline, through the real code paths."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot import budget as budget_mod
from bot.config import load_settings
from bot.demo import MARKER, prepare_workdir, render_pyproject, run_demo, summary_lines
from bot.errors import InputError
from bot.ledger import Ledger


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    lines: list[str] = []
    work = tmp_path / "demo"
    result = run_demo(work, echo=lines.append)
    assert [s.key for s in result.steps] == [
        "init", "data", "research", "grade", "inject", "baseline", "experiment", "tier1", "promote", "report",
    ]  # fmt: skip
    problems = {s.key: f"{s.status}: {s.detail}" for s in result.steps if s.status != "ok"}
    assert problems == {}, "\n".join(lines)
    assert result.ok and "[10/10]" in "\n".join(lines)

    settings = load_settings(work, env={})
    # research → grading → program.md
    state = work / "research"
    assert (state / "raw_cache.jsonl").stat().st_size > 0 and (state / "graded.jsonl").stat().st_size > 0
    program = (work / "program.md").read_text()
    assert "Nothing graded yet." not in program
    # the ledger: 2 baseline rows, the PR's local row, its RunPod row; the local row marked promoted
    led = Ledger.load(work / "results.tsv")
    assert len(led.baseline_rows()) == 2
    forge = json.loads((work / ".pgolf" / "forge.json").read_text())
    pr = forge["prs"]["1"] if "1" in forge["prs"] else next(iter(forge["prs"].values()))
    head = subprocess.run(
        ["git", "-C", str(work), "rev-parse", pr.get("head_ref") or pr["head"]],
        capture_output=True,
        text=True,
    ).stdout.strip()
    rows = [r for r in led.rows if head.startswith(r.commit)]
    assert {r.tier for r in rows} == {"local", "runpod"}, led.rows
    assert all(r.promoted == "yes" for r in rows)
    runpod = next(r for r in rows if r.tier == "runpod")
    assert runpod.status in ("keep", "discard") and runpod.val_bpb is not None and runpod.cost_usd == 0.0
    # the experiment is a real change to the training scripts, on its own branch
    diff = subprocess.run(
        ["git", "-C", str(work), "diff", "--name-only", "main~0", head, "--", "training"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert "training/train_gpt.py" in diff
    # no pod left running
    pods = list((work / ".pgolf").rglob("pod.json"))
    assert pods and all(json.loads(p.read_text())["status"] == "TERMINATED" for p in pods)
    # the dashboard shows it all
    data = json.loads((work / "report" / "data.json").read_text())
    assert len(data["experiments"]) == len(led.rows) and data["correlation"]["pairs"] == 1
    assert data["funnel"]["per_cycle"] and data["funnel"]["overall"]["items"] > 0
    summary = "\n".join(summary_lines(result))
    assert "Open the dashboard: python -m webbrowser file://" in summary and str(work) in summary
    # the repository is clean: every output is committed or ignored
    status = subprocess.run(["git", "-C", str(work), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout.strip() == ""
    # the budget: reserved and settled at $0 (the local pod), nothing left open
    b = budget_mod.load(work / "budget.json", settings)
    assert b.reservations == [] and b.spent == 0.0
    assert len(b.runs) == 1, (
        "issue 9: the demo's promotion must reserve and settle the budget even on the local pod "
        "provider ($0 run record); bot.compute.promote skips the budget when provider.name == 'local'"
    )
    assert b.runs[0].cost_usd == 0.0 and b.runs[0].sha.startswith(head[:7])
    assert len(data["budget"]["runs"]) == 1


def test_workdir_of_an_earlier_demo_is_replaced_and_its_data_reused(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    (work / "data" / "tokenizers").mkdir(parents=True)
    (work / "data" / "tokenizers" / "fineweb_1024_bpe.model").write_bytes(b"tok")
    (work / "results.tsv").write_text("old")
    (work / MARKER).write_text("")
    note = prepare_workdir(work)
    assert "earlier demo" in note and "reused" in note
    assert sorted(p.name for p in work.iterdir()) == ["data"]
    assert (work / "data" / "tokenizers" / "fineweb_1024_bpe.model").read_bytes() == b"tok"


def test_a_folder_that_is_not_a_demo_is_never_touched(tmp_path: Path) -> None:
    work = tmp_path / "mine"
    work.mkdir()
    (work / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="not a pgolf demo"):
        prepare_workdir(work)
    assert (work / "thesis.tex").read_text() == "precious"
    assert prepare_workdir(tmp_path / "new") == "" and (tmp_path / "new").is_dir()


def test_demo_settings_are_valid_pgolf_settings(tmp_path: Path) -> None:
    from bot.demo import demo_settings_table

    (tmp_path / "pyproject.toml").write_text(
        render_pyproject(demo_settings_table(tmp_path, "/opt/py 3/python"))
    )
    s = load_settings(tmp_path, env={})
    assert s.sources == ["snapshot"] and s.forge == "local" and s.pod_provider == "local"
    assert s.pod_train_command == "'/opt/py 3/python' {script}"
    assert any(e.startswith("DATA_PATH=") and e.endswith("fineweb10B_sp1024") for e in s.pod_train_env)


def test_cli_refuses_a_foreign_workdir_with_a_clear_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli

    (tmp_path / "notes.txt").write_text("mine")
    r = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path)])
    assert r.exit_code == InputError.exit_code
    assert "not a pgolf demo" in r.output and str(tmp_path) in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
