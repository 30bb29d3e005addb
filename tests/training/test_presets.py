"""Presets and time budgets: the sizing maths, and a real `--preset smoke --minutes N` run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import InputError, TrainingError
from bot.ledger import Ledger
from bot.training.presets import (
    GRID,
    PRESETS,
    Probe,
    get_preset,
    parse_probe,
    preset_env,
    round_iterations,
    size_run,
)
from bot.training.shards import TinyDataset

from .conftest import MLX_SCRIPT, TORCH_SCRIPT


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (0.5, 0),
        (1, 1),
        (7, 6),
        (11, 10),
        (13, 12),
        (149, 125),
        (151, 150),
        (999, 800),
        (1000, 1000),
        (2600, 2500),
    ],
)
def test_round_iterations_is_the_grid_floor(n: float, want: int) -> None:
    assert round_iterations(n) == want


def test_round_iterations_never_exceeds_and_loses_at_most_a_quarter() -> None:
    grid = {int(g * 10**k) for g in GRID for k in range(6)}
    for n in range(4, 5000, 7):
        r = round_iterations(n)
        assert r <= n and r >= 0.75 * n and r in grid, n


def test_size_run_fits_the_budget_and_explains_a_refusal() -> None:
    probe = Probe(steps=4, wall_s=6.0, step_ms=100.0, eval_ms=500.0, val_tokens=16384)
    # overhead = 6 - 0.4 - 1.0 = 4.6 s; eval of 131072 tokens = 4 s each
    s = size_run(120.0, probe, val_tokens=131072, spent_s=7.0)
    assert s.iterations == round_iterations((120.0 - 7.0 - 4.6 - 8.0) / 0.1) == 1000
    assert s.predicted_s <= 120.0 and s.eval_s == pytest.approx(4.0) and s.overhead_s == pytest.approx(4.6)
    with pytest.raises(TrainingError, match="cannot fit 20 steps"):
        size_run(15.0, probe, val_tokens=131072, min_iterations=20, spent_s=7.0)
    with pytest.raises(InputError):
        size_run(0.0, probe, val_tokens=1)


def test_parse_probe_reads_steady_step_time_and_eval_time() -> None:
    log = "\n".join(
        [
            "step:1/4 train_loss:6.9 train_time:900ms step_avg:900.00ms",
            "step:2/4 train_loss:6.5 train_time:1000ms step_avg:500.00ms",
            "step:3/4 train_loss:6.1 train_time:1100ms step_avg:366.67ms",
            "step:4/4 train_loss:5.9 train_time:1200ms step_avg:300.00ms",
            "step:4/4 val_loss:5.9 val_bpb:3.1 train_time:1200ms step_avg:300.00ms",
            "final_int8_zlib_roundtrip val_loss:5.9 val_bpb:3.2 eval_time:250ms",
            "final_int8_zlib_roundtrip_exact val_loss:5.90000000 val_bpb:3.20000000",
        ]
    )
    p = parse_probe(log, 5.0, 8192)
    assert p.step_ms == pytest.approx(100.0) and p.eval_ms == 250.0 and p.steps == 4


def test_presets_are_distinct_and_warmdown_scales() -> None:
    assert {"smoke", "mac-8gb", "mac-32gb", "full", "ci-linux"} <= set(PRESETS)
    assert PRESETS["ci-linux"].proxy and not PRESETS["mac-32gb"].proxy
    assert preset_env(get_preset("smoke"), 200)["WARMDOWN_ITERS"] == "50"
    assert "WARMDOWN_ITERS" not in preset_env(get_preset("full"), 20000)
    with pytest.raises(InputError, match="unknown preset"):
        get_preset("huge")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.slow
def test_smoke_preset_with_a_time_budget_records_its_config(tmp_path: Path, tiny_data: TinyDataset) -> None:
    root = tmp_path / "research"
    (root / "training").mkdir(parents=True)
    shutil.copy(TORCH_SCRIPT, root / "training" / "train_gpt.py")
    shutil.copy(MLX_SCRIPT, root / "training" / "train_gpt_mlx.py")
    (root / "pyproject.toml").write_text("[tool.pgolf]\nlocal_backend = 'torch'\n", encoding="utf-8")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "baseline")
    paths = ["--data-path", str(tiny_data.data_path), "--tokenizer-path", str(tiny_data.tokenizer_path)]
    res = CliRunner().invoke(
        cli,
        ["--repo", str(root), "train", "local", "--preset", "smoke", "--minutes", "1.5", "--json", *paths],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{") :])
    plan = out["plan_detail"]
    its = plan["iterations"]
    assert its == round_iterations(its) and its >= PRESETS["smoke"].min_iterations
    assert plan["sizing"]["predicted_s"] <= 90.0 and plan["probe"]["steps"] == 4
    assert out["val_bpb"] is not None and out["plan"] == "preset=smoke budget=1.5min"
    row = Ledger.load(root / "results.tsv").rows[-1]
    assert row.tier == "local" and row.val_bpb == pytest.approx(out["val_bpb"])
    assert f"preset=smoke budget=1.5min cfg={out['config']}" in row.description
    assert out["config"].startswith(f"torch-{its}it-")
    lines = (root / "results.tsv").read_text().splitlines()
    assert all(len(line.split("\t")) == 9 for line in lines)  # the ledger keeps its nine columns


def test_github_runner_preset_is_labelled_a_weaker_proxy() -> None:
    from bot.forge.sticky import LocalResult, render_local

    text = render_local(LocalResult("abc123def4567", 3.1, proxy=PRESETS["ci-linux"].proxy))
    assert "weaker proxy" in text
    assert "weaker proxy" not in render_local(LocalResult("abc123def4567", 3.1))


def test_linux_runner_workflow_is_the_opt_in_proxy() -> None:
    """PGOLF_TIER1_RUNNER=github-linux moves the local tier from the Mac to a GitHub-hosted runner at ci-linux."""
    import yaml

    root = Path(__file__).resolve().parents[2] / "bot" / "templates" / "workflows"
    (mac,) = yaml.safe_load((root / "experiment.yml").read_text())["jobs"].values()
    (lin,) = yaml.safe_load((root / "experiment-linux.yml").read_text())["jobs"].values()
    assert "vars.PGOLF_TIER1_RUNNER != 'github-linux'" in mac["if"]
    assert "vars.PGOLF_TIER1_RUNNER == 'github-linux'" in lin["if"] and lin["runs-on"] == "ubuntu-latest"
    assert lin["env"]["PGOLF_LOCAL_PRESET"] == "ci-linux" and PRESETS["ci-linux"].proxy
    assert any("pgolf train local --json" in (s.get("run") or "") for s in lin["steps"])


def test_auto_preset_follows_the_measured_speed_and_memory() -> None:
    from bot.training.presets import choose_preset, step_flops

    smoke = PRESETS["smoke"]
    assert step_flops(smoke.env) < step_flops(PRESETS["ci-linux"].env) < step_flops(PRESETS["mac-8gb"].env)
    assert step_flops(PRESETS["mac-8gb"].env) < step_flops(PRESETS["mac-32gb"].env)
    slow = Probe(steps=4, wall_s=10.0, step_ms=600.0, eval_ms=500.0, val_tokens=16384)  # a loaded CPU
    assert choose_preset(120.0, slow, smoke).name == "smoke"
    fast = Probe(steps=4, wall_s=2.0, step_ms=0.5, eval_ms=50.0, val_tokens=16384)  # a fast accelerator
    assert choose_preset(3600.0, fast, smoke).name == "mac-32gb"
    assert choose_preset(3600.0, fast, smoke, memory_gb=8.0).name == "mac-8gb"
    middle = Probe(steps=4, wall_s=2.0, step_ms=5.0, eval_ms=50.0, val_tokens=16384)
    assert choose_preset(600.0, middle, smoke).name == "ci-linux"


def test_auto_preset_needs_a_budget(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.training.presets import plan_run

    with pytest.raises(InputError, match="needs --minutes"):
        plan_run(tmp_path, load_settings(tmp_path, env={}), "auto", None)


def test_config_knows_every_preset_name() -> None:
    """config validates `local_preset` without importing the training package (house floors)."""
    from bot.config import LOCAL_PRESET_NAMES
    from bot.training.presets import PRESETS

    assert tuple(PRESETS) == LOCAL_PRESET_NAMES
