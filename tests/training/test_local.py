"""Tier 1 end to end: baseline rows, a gated local run and a crash, in a temp git repo."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.ledger import Ledger
from bot.state import GradedItem, to_line
from bot.training.local import TOY_ENV, decide
from bot.training.shards import TinyDataset

from .conftest import MLX_SCRIPT, TORCH_SCRIPT

TOY = [
    f"{k}={v}"
    for k, v in {**TOY_ENV, "VAL_MAX_TOKENS": "2048", "VAL_BATCH_SIZE": "2048"}.items()
    if k != "ITERATIONS"
]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "research"
    (root / "training").mkdir(parents=True)
    shutil.copy(TORCH_SCRIPT, root / "training" / "train_gpt.py")
    shutil.copy(MLX_SCRIPT, root / "training" / "train_gpt_mlx.py")
    (root / "pyproject.toml").write_text(
        "[tool.pgolf]\nlocal_backend = 'torch'\nlocal_env = " + json.dumps(TOY) + "\n", encoding="utf-8"
    )
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "baseline")
    return root


def _invoke(repo: Path, data: TinyDataset, *args: str) -> tuple[int, str]:
    paths = ["--data-path", str(data.data_path), "--tokenizer-path", str(data.tokenizer_path)]
    res = CliRunner().invoke(cli, ["--repo", str(repo), "train", *args, *paths])
    return res.exit_code, res.output


@pytest.mark.slow
def test_baseline_then_local_run_then_crash(repo: Path, tiny_data: TinyDataset) -> None:
    code, out = _invoke(repo, tiny_data, "baseline", "--seeds", "2", "--iterations", "3", "--json")
    assert code == 0, out
    base = json.loads(out)
    led = Ledger.load(repo / "results.tsv")
    assert [r.description.split(" (")[0] for r in led.rows] == ["baseline seed=1337", "baseline seed=1338"]
    assert all(r.is_baseline and r.status == "keep" and r.val_bpb for r in led.rows)
    assert base["baseline"] == pytest.approx(led.running_local_baseline())
    assert base["noise_floor"] == pytest.approx(led.noise_floor()) and base["noise_floor"] > 0
    cfg = base["runs"][0]["config"]
    assert re.fullmatch(r"torch-3it-[0-9a-f]{8}", cfg) and {r["config"] for r in base["runs"]} == {cfg}
    assert all(f"cfg={cfg}" in r.description for r in led.rows)
    # a baseline row of another configuration (MLX, 500 it) must not be compared with
    (repo / "results.tsv").write_text(
        (repo / "results.tsv").read_text()
        + "0000000\tlocal\t0.500000\tn/a\tn/a\tkeep\tno\t0.00\tbaseline seed=1 (mlx, 500 it, cfg=mlx-500it-0a1b2c3d)\n",
        encoding="utf-8",
    )

    # an experiment commit: the script got shorter (a comment removed) → keep within noise, or better
    script = repo / "training" / "train_gpt.py"
    script.write_text(script.read_text().replace("Knobs (environment;", "Knobs (env;"), encoding="utf-8")
    _git(repo, "checkout", "-q", "-b", "exp/shorter")
    _git(repo, "commit", "-qam", "exp: shorter int6 export comment", "-m", "Research-Item: arxiv:1234.5678")
    code, out = _invoke(repo, tiny_data, "local", "--iterations", "3", "--seed", "1337", "--json")
    assert code == 0, out
    run = json.loads(out)
    assert run["script_shrank"] is True and run["backend"] == "torch"
    assert run["config"] == cfg and run["baseline"] == pytest.approx(base["baseline"])  # not the 0.5 row
    assert run["noise_floor"] == pytest.approx(base["noise_floor"])
    assert run["artifact"]["artifact_bytes"] == run["row"]["artifact_bytes"] > script.stat().st_size
    row = Ledger.load(repo / "results.tsv").rows[-1]
    assert row.commit == _git(repo, "rev-parse", "--short", "HEAD") and row.tier == "local"
    from bot.training.logparse import TrainResult

    expected = decide(
        TrainResult(val_bpb=run["val_bpb"], val_loss=None, tag="x"),
        base["baseline"],
        base["noise_floor"],
        True,
        3.0,
    )
    assert run["outcome"] == expected.outcome and row.status == expected.status
    # the row names its configuration, the commit subject and the research item (calibration link)
    assert f"cfg={cfg}" in row.description and " — exp: shorter int6 export comment" in row.description
    assert row.description.endswith("[item:arxiv:1234.5678]")
    state = repo / "research"
    state.mkdir()
    (state / "graded.jsonl").write_text(
        to_line(
            GradedItem(
                item_id="arxiv:1234.5678",
                title="Shorter export",
                scores={"bpb_impact": 2, "implementability": 4},
                total=6,
                tier="C",
                category="quantization",
                content_hash="h",
            )
        )
        + "\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(cli, ["--repo", str(repo), "research", "calibration", "--json"])
    assert res.exit_code == 0, res.output
    cal = json.loads(res.output)
    linked = [o for o in cal["outcomes"] if o["item_id"] == "arxiv:1234.5678"]
    assert [(o["commit"], o["tier"]) for o in linked] == [(row.commit, "local")]
    assert Path(run["log"]).is_file() and "final_int8_zlib_roundtrip_exact" in Path(run["log"]).read_text()

    # a crash keeps the log tail in the row and exits 1
    script.write_text(
        script.read_text().replace(
            "    def train_step(loader, scale, momentum):\n",
            "    def train_step(loader, scale, momentum):\n        raise RuntimeError('injected failure in train_step')\n",
        ),
        encoding="utf-8",
    )
    code, out = _invoke(repo, tiny_data, "local", "--iterations", "3")
    assert code == 1 and "decision: crash" in out and "injected failure" in out
    crash = Ledger.load(repo / "results.tsv").rows[-1]
    assert (
        crash.status == "crash"
        and crash.val_bpb is None
        and "injected failure in train_step" in crash.description
    )
    assert f"cfg={cfg}" in crash.description and "[item:arxiv:1234.5678]" in crash.description
    assert len(Ledger.load(repo / "results.tsv").rows) == 5


def test_missing_data_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["--repo", str(repo), "train", "local", "--data-path", str(tmp_path / "nope")]
    )
    assert res.exit_code == 2 and "nope" in res.output and "prepare_data" in res.output
    assert not (repo / "results.tsv").exists()
