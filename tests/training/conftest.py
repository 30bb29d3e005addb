"""Fixtures for the training tests: one tiny offline dataset per session, toy env, script paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bot.training.local import TOY_ENV
from bot.training.scripts import MLX_SCRIPT, TORCH_SCRIPT
from bot.training.shards import TinyDataset, make_tiny_dataset

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["MLX_SCRIPT", "ROOT", "TORCH_SCRIPT"]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> TinyDataset:
    """prepare_data.py --from-stdlib (SentencePiece BPE 1024 on stdlib docstrings), built once."""
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"), max_chars=1_000_000)


def toy_env(data: TinyDataset, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PGOLF_", "RANK", "WORLD_SIZE", "LOCAL_"))
    }
    env.update(TOY_ENV)
    env.update(
        {
            "DATA_PATH": str(data.data_path),
            "TOKENIZER_PATH": str(data.tokenizer_path),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def script_module(path: Path) -> object:
    """Import a training script (as the parity gate does) to use its numpy helpers."""
    from bot.training.parity import load_script

    return load_script(path)


PY = sys.executable
