from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.training.local import commit_description, config_key, decide, subject_line, training_env
from bot.training.logparse import TrainResult


def res(bpb: float) -> TrainResult:
    return TrainResult(val_bpb=bpb, val_loss=None, tag="int6_zstd_roundtrip")


def test_qualifies_needs_gate_and_noise() -> None:
    d = decide(res(1.90), baseline=2.0, noise=0.005, script_shrank=False, gate_pct=3.0)
    assert d.outcome == "qualifies" and d.status == "keep" and d.improvement_pct == pytest.approx(5.0)
    # 3 % better but the measured noise is bigger than the improvement
    assert decide(res(1.93), 2.0, 0.04, False, 3.0).outcome == "discard"
    # noise never measured: cannot qualify
    d = decide(res(1.80), 2.0, None, False, 3.0)
    assert d.outcome == "discard" and "not measured" in d.reason


def test_keep_simplification_within_noise() -> None:
    d = decide(res(2.004), 2.0, 0.003, script_shrank=True, gate_pct=3.0)
    assert d.outcome == "keep" and d.status == "keep"
    assert decide(res(2.004), 2.0, 0.003, script_shrank=False, gate_pct=3.0).outcome == "discard"
    # worse beyond noise: discard even if shorter
    d = decide(res(2.02), 2.0, 0.003, script_shrank=True, gate_pct=3.0)
    assert d.outcome == "discard" and "worse" in d.reason


def test_discard_small_gain_and_no_baseline() -> None:
    assert decide(res(1.99), 2.0, 0.001, False, 3.0).outcome == "discard"
    d = decide(res(1.0), None, None, False, 3.0)
    assert d.outcome == "discard" and "baseline" in d.reason


def test_crash() -> None:
    d = decide(None, 2.0, 0.01, True, 3.0)
    assert d.outcome == "crash" and d.status == "crash"


def test_no_baseline_for_this_config_names_it() -> None:
    d = decide(res(1.0), None, None, False, 3.0, config="torch-20it-0a1b2c3d")
    assert d.outcome == "discard" and d.status == "discard"
    assert d.reason == (
        "no baseline for cfg=torch-20it-0a1b2c3d; run `pgolf train baseline` with the same settings"
    )


def test_config_key_separates_configurations(tmp_path: Path) -> None:
    settings = Settings(local_env=["NUM_LAYERS=2", "MODEL_DIM=64"])

    def key(backend: str = "torch", it: int = 20, seed: int | None = 1, **kw: object) -> str:
        s = dataclasses.replace(settings, **kw) if kw else settings  # type: ignore[arg-type]
        env = training_env(tmp_path, s, iterations=it, seed=seed, run_id="r")
        return config_key(backend, env, s)

    base = key()
    assert re.fullmatch(r"torch-20it-[0-9a-f]{8}", base)
    assert key(seed=2) == key(seed=None) == base  # seeds of one baseline share the key
    assert key("mlx").startswith("mlx-20it-") and key(it=500).startswith("torch-500it-")
    assert key(it=500) != base
    others = {
        key(local_train_batch_tokens=32768),
        key(local_val_max_tokens=4096),
        key(local_env=["NUM_LAYERS=3", "MODEL_DIM=64"]),
        key(data_dir=str(tmp_path / "other")),
    }
    assert base not in others and len(others) == 4
    env = training_env(tmp_path, settings, iterations=20, seed=1, run_id="r", extra={"MLP_MULT": "3"})
    assert config_key("torch", env, settings, {"MLP_MULT": "3"}) != base  # --env knobs count


def test_subject_line_and_commit_description_outside_git(tmp_path: Path) -> None:
    long = "exp: " + "wider mlp " * 20
    s = subject_line(f"\n{long}\n\nbody\n\nResearch-Item: x:1\n")
    assert len(s) == 80 and s.startswith("exp: wider mlp") and s.endswith("…")
    assert subject_line("") == ""
    # no repository: the text unchanged, no tag invented
    assert commit_description(tmp_path, "PR #3") == "PR #3"


def test_config_key_follows_the_data_not_its_folder(tmp_path: Path) -> None:
    def dataset(root: Path, val: bytes) -> Path:
        d = root / "datasets" / "fineweb10B_sp1024"
        d.mkdir(parents=True)
        (d / "fineweb_train_000000.bin").write_bytes(b"t" * 64)
        (d / "fineweb_val_000000.bin").write_bytes(val)
        (root / "tokenizers").mkdir()
        (root / "tokenizers" / "fineweb_1024_bpe.model").write_bytes(b"tok")
        return root

    def key(data_dir: Path) -> str:
        s = Settings(data_dir=str(data_dir))
        return config_key("torch", training_env(tmp_path, s, iterations=5, seed=1, run_id="r"), s)

    a, b = dataset(tmp_path / "a", b"v" * 32), dataset(tmp_path / "b", b"v" * 32)
    assert key(a) == key(b)  # the same dataset in another checkout
    assert key(dataset(tmp_path / "c", b"v" * 48)) != key(a)  # another validation split
    (b / "tokenizers" / "fineweb_1024_bpe.model").write_bytes(b"other tokenizer")
    assert key(b) != key(a)
