"""A Tier 1 run whose model diverges (the script prints ``val_bpb:nan``) is a crash row with the
reason, not an exception with no row (issue 15 review, b15)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.ledger import Ledger
from bot.training.local import run_local

DIVERGED = """\
import os
v = os.environ.get("B15_BPB", "nan")
print("step:1/1 train_loss:nan train_time:10ms step_avg:10.00ms", flush=True)
print(f"final_int8_zlib_roundtrip_exact val_loss:{v} val_bpb:{v}", flush=True)
"""


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5"])
def test_a_diverged_local_run_is_a_crash_row(tmp_path: Path, value: str) -> None:
    root = tmp_path / "lab"
    (root / "training").mkdir(parents=True)
    (root / "training" / "train_gpt.py").write_text(DIVERGED)
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "diverging change"]):
        subprocess.run(
            ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@x", *cmd], check=True
        )
    data, tok = tmp_path / "data", tmp_path / "tok.model"
    data.mkdir()
    tok.write_text("x")
    s = load_settings(root, env={}, overrides={"local_backend": "torch"})
    out = run_local(root, s, iterations=1, data_path=data, tokenizer_path=tok, extra_env={"B15_BPB": value})
    assert out.decision.outcome == "crash"
    rows = Ledger.load(root / "results.tsv").rows
    assert [(r.status, r.val_bpb) for r in rows] == [("crash", None)]
    assert "val_bpb" in rows[0].description
