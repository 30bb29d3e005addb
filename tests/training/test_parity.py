from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import ParityError
from bot.training.parity import LOGIT_TOL, LOSS_TOL, run_parity

from .conftest import MLX_SCRIPT, ROOT, TORCH_SCRIPT


def _copy(tmp: Path, script: Path, old: str, new: str) -> Path:
    text = script.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"edit target not unique in {script.name}: {old!r}"
    out = tmp / script.name
    out.write_text(text.replace(old, new), encoding="utf-8")
    return out


def test_pass_on_the_real_scripts() -> None:
    r = run_parity(TORCH_SCRIPT, MLX_SCRIPT)
    assert r.ok, r.message
    assert r.max_abs_logit_diff is not None and r.max_abs_logit_diff <= LOGIT_TOL
    assert r.abs_loss_diff is not None and r.abs_loss_diff <= LOSS_TOL
    assert [d.name for d in r.layers] == [
        "embed",
        "blocks.0",
        "blocks.1",
        "blocks.2",
        "blocks.3",
        "logits",
        "loss",
    ]
    assert r.first_diverging_layer is None


def test_pass_untied_odd_depth_mha() -> None:
    r = run_parity(
        TORCH_SCRIPT, MLX_SCRIPT, env={"TIE_EMBEDDINGS": "0", "NUM_LAYERS": "3", "NUM_KV_HEADS": "4"}
    )
    assert r.ok, r.message
    assert [d.name for d in r.layers][:4] == ["embed", "blocks.0", "blocks.1", "blocks.2"]


def test_one_sided_change_in_mlx_is_caught_at_its_layer(tmp_path: Path) -> None:
    # relu^2 -> relu in the MLX MLP only: the first block's output diverges
    mlx = _copy(tmp_path, MLX_SCRIPT, "mx.square(mx.maximum(self.fc(x), 0))", "mx.maximum(self.fc(x), 0)")
    r = run_parity(TORCH_SCRIPT, mlx)
    assert not r.ok and r.first_diverging_layer == "blocks.0"
    assert r.max_abs_logit_diff is not None and r.max_abs_logit_diff > LOGIT_TOL
    assert "blocks.0" in r.message


def test_one_sided_change_in_torch_is_caught_at_its_layer(tmp_path: Path) -> None:
    # drop the decoder skip connections in the PyTorch script only: first decoder block diverges
    torch_copy = _copy(
        tmp_path,
        TORCH_SCRIPT,
        "x = x + self.skip_weights[i - self.n_enc].to(x.dtype) * skips.pop()",
        "skips.pop()",
    )
    r = run_parity(torch_copy, MLX_SCRIPT)
    assert not r.ok and r.first_diverging_layer == "blocks.2"


def test_softcap_change_diverges_only_at_logits(tmp_path: Path) -> None:
    torch_copy = _copy(
        tmp_path, TORCH_SCRIPT, 'g("LOGIT_SOFTCAP", 30.0, float)', 'g("LOGIT_SOFTCAP", 20.0, float)'
    )
    r = run_parity(torch_copy, MLX_SCRIPT)
    assert not r.ok and r.first_diverging_layer == "logits"


def test_layout_change_names_the_tensor(tmp_path: Path) -> None:
    mlx = _copy(
        tmp_path,
        MLX_SCRIPT,
        "self.q_gain = mx.zeros((self.h,))",
        "self.q_gain = mx.zeros((self.h,))\n        self.k_gain = mx.zeros((self.h,))",
    )
    # an MLX-only parameter that the shared layout does not know is refused by build_model
    with pytest.raises(ParityError, match="k_gain"):
        run_parity(TORCH_SCRIPT, mlx)
    torch_copy = _copy(
        tmp_path,
        TORCH_SCRIPT,
        '(p + "attn_scale", (D,), "ones"),',
        '(p + "attn_scale", (D,), "ones"), (p + "extra", (D,), "ones"),',
    )
    r = run_parity(torch_copy, MLX_SCRIPT)
    assert (
        not r.ok
        and r.first_diverging_layer == "blocks.0.extra"
        and "missing from the MLX script" in r.message
    )


def test_shared_section_drift_fails(tmp_path: Path) -> None:
    mlx = _copy(tmp_path, MLX_SCRIPT, '"int6_zstd": (6, 8,', '"int6_zstd": (5, 8,')
    r = run_parity(TORCH_SCRIPT, mlx)
    assert not r.ok and r.first_diverging_layer == "shared section"


def test_broken_script_is_a_parity_error(tmp_path: Path) -> None:
    bad = tmp_path / "train_gpt_mlx.py"
    bad.write_text("def broken(:\n", encoding="utf-8")
    with pytest.raises(ParityError, match="fails to load"):
        run_parity(TORCH_SCRIPT, bad)


def test_cli_json_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["--repo", str(ROOT), "train", "parity", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert (
        data["ok"] is True and data["max_abs_logit_diff"] <= LOGIT_TOL and data["abs_loss_diff"] <= LOSS_TOL
    )
    mlx = _copy(tmp_path, MLX_SCRIPT, "mx.square(mx.maximum(self.fc(x), 0))", "mx.maximum(self.fc(x), 0)")
    shutil.copy(TORCH_SCRIPT, tmp_path / "train_gpt.py")
    bad = runner.invoke(
        cli, ["train", "parity", "--torch", str(tmp_path / "train_gpt.py"), "--mlx", str(mlx), "--json"]
    )
    assert bad.exit_code == 1
    out = json.loads(bad.output)
    assert out["ok"] is False and out["first_diverging_layer"] == "blocks.0"
    text = runner.invoke(
        cli, ["train", "parity", "--torch", str(tmp_path / "train_gpt.py"), "--mlx", str(mlx)]
    )
    assert text.exit_code == 1 and "first diverging layer blocks.0" in text.output
