"""The default pod can run the training script: image, packages, data, seeds bound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.compute.outcome import hardware_label
from bot.compute.promote import MAX_SEEDS, setup_command
from bot.config import Settings, load_settings
from bot.errors import InputError
from bot.forge.events import MAX_SEEDS as COMMAND_MAX_SEEDS

ROOT = Path(__file__).resolve().parents[2]


def test_default_image_ships_torch_with_enable_gqa() -> None:
    # training/train_gpt.py calls scaled_dot_product_attention(..., enable_gqa=...): torch >= 2.5
    assert "enable_gqa" in (ROOT / "training" / "train_gpt.py").read_text(encoding="utf-8")
    m = re.fullmatch(r"runpod/pytorch:(\d+)\.(\d+)\.\d+-py3\.\d+-cuda[\d.]+-\S+", Settings().pod_image)
    assert m is not None, Settings().pod_image
    assert (int(m.group(1)), int(m.group(2))) >= (2, 5)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'torch = \["torch>=2\.([5-9]|\d\d)', pyproject)


def test_default_setup_installs_the_scripts_imports_then_fetches_enough_data() -> None:
    s = Settings()
    cmd = setup_command(s)
    install, _, fetch = cmd.partition("&&")
    assert "pip install" in install
    for package in ("numpy", "sentencepiece", "zstandard", "huggingface_hub"):
        assert re.search(rf"'{package}>=[\d.]+,<[\d.]+'", install), package  # pinned ranges
    assert "prepare_data.py" in fetch and f"--train-shards {s.pod_train_shards}" in fetch
    assert "{train_shards}" not in cmd
    # the dataset prepare_data.py reads has 25 sp1024 train shards; upstream's baseline used all
    from training.prepare_data import MAX_TRAIN_SHARDS  # type: ignore[import-not-found,unused-ignore]

    assert s.pod_train_shards == MAX_TRAIN_SHARDS


def test_setup_command_substitution_and_bad_shards(tmp_path: Path) -> None:
    s = load_settings(
        tmp_path, env={}, overrides={"pod_train_shards": 3, "pod_setup_command": "x {train_shards}"}
    )
    assert setup_command(s) == "x 3"
    assert setup_command(load_settings(tmp_path, env={}, overrides={"pod_setup_command": "  "})) == ""
    with pytest.raises(InputError, match="pod_train_shards"):
        setup_command(load_settings(tmp_path, env={}, overrides={"pod_train_shards": -1}))


def test_hardware_labels() -> None:
    assert hardware_label("runpod", 8, "NVIDIA H100 80GB HBM3") == "8xH100 80GB HBM3"
    assert hardware_label("local", 2, "NVIDIA H100 80GB HBM3") == "local CPU"


def test_seed_bounds_agree_with_the_promote_command(tmp_path: Path) -> None:
    assert MAX_SEEDS == COMMAND_MAX_SEEDS == 8
    r = CliRunner().invoke(cli, ["--repo", str(tmp_path), "promote", "--pr", "1", "--seeds", "9"])
    assert r.exit_code == 2 and "1<=x<=8" in r.output
