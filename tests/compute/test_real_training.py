"""The real thing at toy size: train_gpt.py under torchrun (2 CPU processes) on the "pod"
reached over real SSH, the pod rented through the real runpod SDK from the emulator."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot import budget as budget_mod
from bot.compute.promote import promote
from bot.ledger import Ledger
from tests.compute.conftest import OK, make_repo, make_settings, provider
from tests.emulators.runpod import RunPodEmulator
from tests.emulators.sshd import SSHServer

ROOT = Path(__file__).resolve().parents[2]
TOY = {
    "NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2", "MLP_MULT": "2",
    "TRAIN_SEQ_LEN": "64", "TRAIN_BATCH_TOKENS": "4096", "VAL_BATCH_SIZE": "32768", "ITERATIONS": "6",
    "WARMUP_STEPS": "0", "WARMDOWN_ITERS": "3", "VAL_LOSS_EVERY": "0", "TRAIN_LOG_EVERY": "3",
    "VAL_MAX_TOKENS": "8192",
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    subprocess.run(
        [sys.executable, str(ROOT / "training/prepare_data.py"), "--from-stdlib", "--max-chars", "300000", "--out", str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_toy_train_gpt_under_torchrun_over_ssh(
    tmp_path: Path, emu: RunPodEmulator, sshd: SSHServer, tiny_data: Path
) -> None:
    assert (ROOT / "training/train_gpt.py").is_file(), "training/train_gpt.py is part of the project"
    repo = make_repo(tmp_path / "research", (ROOT / "training/train_gpt.py").read_text())
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = [f"{k}={v}" for k, v in TOY.items()] + [
        f"DATA_PATH={tiny_data}/datasets/fineweb10B_sp1024",
        f"TOKENIZER_PATH={tiny_data}/tokenizers/fineweb_1024_bpe.model",
    ]
    s = make_settings(
        repo, sshd, tmp_path,
        gpu_count=2,
        pod_train_command=f"{torchrun} --standalone --nproc_per_node={{gpus}} {{script}}",
        pod_train_env=env, max_wallclock_seconds=120, pod_eval_slack_seconds=120,
        hourly_rate_usd=5.0,
    )  # fmt: skip
    res = promote(repo.root, s, provider=provider(s), pr=3, sha=repo.sha, seeds=1, **OK)
    assert res.status == "keep", res.error + res.log_tail
    text = Path(res.seeds[0].log).read_text()
    assert "final_int" in text and "_exact val_loss:" in text
    assert 0 < (res.val_bpb or 0) < 20
    assert res.artifact_bytes and res.artifact_bytes < s.artifact_limit_bytes
    # the real run's own log and the compressed artifact came back over rsync
    pod_dir = Path(res.run_dir) / "pod"
    assert list(pod_dir.glob("logs/*.txt")) and list(pod_dir.glob("*.ptz"))
    assert emu.alive() == []
    pod = next(iter(emu.gone.values()))
    assert pod.gpu_count == 2 and pod.cost_per_hr == pytest.approx(2 * 2.99)
    b = budget_mod.load(repo.root / "budget.json", s)
    assert b.reservations == [] and b.runs[0].cost_usd == pytest.approx(
        res.pod_seconds / 3600 * 2 * 2.99, rel=1e-3
    )
    row = Ledger.load(repo.root / "results.tsv").filter("runpod")[0]
    assert row.val_bpb == pytest.approx(res.val_bpb, abs=1e-6) and row.artifact_bytes == res.artifact_bytes
