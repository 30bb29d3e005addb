"""Real tiny training runs on the CPU: both scripts, the twin trajectory, torchrun/gloo."""

from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.training.logparse import TrainResult, parse_log
from bot.training.shards import TinyDataset, read_shard

from .conftest import MLX_SCRIPT, TORCH_SCRIPT, script_module, toy_env


def _run(
    script: Path, env: dict[str, str], cwd: Path, launcher: list[str] | None = None
) -> tuple[str, TrainResult]:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*(launcher or [sys.executable]), str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout, parse_log(proc.stdout)


def unigram_bpb(data: TinyDataset) -> float:
    """Bits per byte of the best unigram model (train frequencies) on the same val tokens."""
    mod = script_module(TORCH_SCRIPT)
    train = np.concatenate([read_shard(p) for p in sorted(data.data_path.glob("fineweb_train_*.bin"))])
    val = mod.load_val_tokens(str(data.data_path / "fineweb_val_*.bin"), 64, 8192)  # type: ignore[attr-defined]
    p = np.bincount(train, minlength=1024) + 1.0
    p /= p.sum()
    nll = float(-np.log(p[val[1:]]).mean())
    luts = mod.byte_luts(str(data.tokenizer_path), 1024)  # type: ignore[attr-defined]
    return nll / math.log(2) * (val.size - 1) / mod.count_bytes(val[:-1], val[1:], luts)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def torch_run(
    tiny_data: TinyDataset, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, TrainResult]:
    cwd = tmp_path_factory.mktemp("torch_run")
    out, res = _run(TORCH_SCRIPT, toy_env(tiny_data, RUN_ID="toy"), cwd)
    return cwd, out, res


@pytest.mark.slow
def test_torch_tiny_run_learns_and_exports(
    tiny_data: TinyDataset, torch_run: tuple[Path, str, TrainResult]
) -> None:
    cwd, _out, res = torch_run
    assert res.val_bpb < unigram_bpb(tiny_data) < res.steps[0].train_loss / math.log(2) * 10  # type: ignore[operator]
    assert res.tag == "int8_zlib_roundtrip" and res.codec == "int8+zlib"  # upstream's exporter is the default
    assert res.last_step == 20 and res.total_steps == 20
    # the roundtrip re-eval is close to the pre-export eval
    assert res.pre_quant_val_bpb is not None and abs(res.val_bpb - res.pre_quant_val_bpb) < 0.02
    # size lines are true: code size is the script's bytes, total = artifact + code
    assert res.code_bytes == TORCH_SCRIPT.stat().st_size
    assert res.artifact_bytes == (cwd / "final_model.int8.ptz").stat().st_size + res.code_bytes
    # the log file holds the same lines as stdout, after upstream's header: the source, versions, nvidia-smi
    log = (cwd / "logs" / "toy.txt").read_text()
    assert parse_log(log).val_bpb == res.val_bpb and "final_int8_zlib_roundtrip_exact" in log
    source = TORCH_SCRIPT.read_text(encoding="utf-8")
    assert log.startswith(source) and "Running Python " in log and "Running PyTorch " in log
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert f"code_sha256:{digest}" in _out and source not in _out
    with np.load(cwd / "final_model.npz") as z:
        assert "blocks.1.mlp.fc.weight" in z.files and z["tok_emb.weight"].shape == (1024, 64)


@pytest.mark.slow
def test_mlx_twin_follows_the_same_trajectory(
    tiny_data: TinyDataset, torch_run: tuple[Path, str, TrainResult], tmp_path: Path
) -> None:
    """Same knobs → same init bits, same data order, same optimizer maths: same val_bpb."""
    pytest.importorskip("mlx.core")
    _, _, t_res = torch_run
    _out, m_res = _run(MLX_SCRIPT, toy_env(tiny_data, RUN_ID="toy"), tmp_path)
    assert m_res.val_bpb < unigram_bpb(tiny_data)
    assert abs(m_res.val_bpb - t_res.val_bpb) < 5e-3, (m_res.val_bpb, t_res.val_bpb)
    assert m_res.steps[0].train_loss == pytest.approx(t_res.steps[0].train_loss, abs=1e-3)
    assert m_res.tag == t_res.tag and m_res.codec == t_res.codec
    assert m_res.code_bytes == MLX_SCRIPT.stat().st_size
    assert (tmp_path / "logs" / "toy.txt").is_file() and (tmp_path / "final_model.int8.ptz").is_file()


@pytest.mark.slow
def test_torchrun_two_gloo_processes_match_one(tiny_data: TinyDataset, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    env = toy_env(
        tiny_data,
        ITERATIONS="4",
        TRAIN_LOG_EVERY="1",
        EXPORTER="int8_zlib",
        RUN_ID="ddp",
        OMP_NUM_THREADS="1",
    )
    env.pop("GRAD_ACCUM_STEPS")  # upstream rule: 8 // WORLD_SIZE, so the global batch is the same
    _, one = _run(TORCH_SCRIPT, env, tmp_path / "one")
    out, two = _run(TORCH_SCRIPT, env, tmp_path / "two", [*launcher, "--standalone", "--nproc_per_node=2"])
    assert "world_size:2 grad_accum_steps:4" in out
    assert one.tag == two.tag == "int8_zlib_roundtrip"
    for a, b in zip(one.train_points, two.train_points, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, abs=2e-4)
    assert two.val_bpb == pytest.approx(one.val_bpb, abs=2e-4)


@pytest.mark.slow
def test_wallclock_cap_stops_early(tiny_data: TinyDataset, tmp_path: Path) -> None:
    env = toy_env(
        tiny_data, ITERATIONS="100000", MAX_WALLCLOCK_SECONDS="0.3", EXPORTER="int8_zlib", RUN_ID="cap"
    )
    out, res = _run(TORCH_SCRIPT, env, tmp_path)
    assert res.stopped_early and "stopping_early: wallclock_cap" in out
    assert res.last_step is not None and res.last_step < 100000 and res.total_steps == 100000
    assert res.tag == "int8_zlib_roundtrip" and res.codec == "int8+zlib"
    assert (tmp_path / "final_model.int8.ptz").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("script", [TORCH_SCRIPT, MLX_SCRIPT], ids=["torch", "mlx"])
def test_periodic_validation_then_training(tiny_data: TinyDataset, tmp_path: Path, script: Path) -> None:
    """Validation at step 0 (upstream torch's VAL_LOSS_EVERY default) must not break the steps after it."""
    out, res = _run(script, toy_env(tiny_data, ITERATIONS="3", VAL_LOSS_EVERY="2", RUN_ID="val"), tmp_path)
    assert "step:0/3 val_loss:" in out and "step:2/3 val_loss:" in out and res.last_step == 3


@pytest.mark.slow
def test_mlx_microbatch_chunks_and_logit_chunks_do_not_change_the_result(
    tiny_data: TinyDataset, tmp_path: Path
) -> None:
    """MLX_MAX_MICROBATCH_TOKENS / LOGIT_CHUNK_TOKENS only change peak memory, not the maths."""
    pytest.importorskip("mlx.core")
    base = {"ITERATIONS": "3", "TRAIN_LOG_EVERY": "1", "RUN_ID": "mb"}
    out_a, a = _run(MLX_SCRIPT, toy_env(tiny_data, **base), tmp_path / "whole")
    split = {**base, "MLX_MAX_MICROBATCH_TOKENS": "128", "LOGIT_CHUNK_TOKENS": "100", "MLX_EAGER_EVAL": "1"}
    out_b, b = _run(MLX_SCRIPT, toy_env(tiny_data, **split), tmp_path / "split")
    assert "mlx_max_microbatch_tokens:128" in out_b and "logit_chunk_tokens:100" in out_b
    for p, q in zip(a.train_points, b.train_points, strict=True):
        assert p.train_loss == pytest.approx(q.train_loss, abs=2e-4)
    assert b.val_bpb == pytest.approx(a.val_bpb, abs=2e-4)
    assert "peak memory allocated:" in out_a  # logged on every device, read into the ledger's memory_gb
