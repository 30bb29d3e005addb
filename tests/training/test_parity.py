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
    assert bad.exit_code == 13  # ParityError: the gate's refusal, as in a promotion
    out = json.loads(bad.output)
    assert out["ok"] is False and out["first_diverging_layer"] == "blocks.0"
    text = runner.invoke(
        cli, ["train", "parity", "--torch", str(tmp_path / "train_gpt.py"), "--mlx", str(mlx)]
    )
    assert text.exit_code == 13 and "first diverging layer blocks.0" in text.output
    assert "error:" not in text.output  # a gate's answer, not a malfunction


# --- the pair must be a PyTorch script and its MLX twin (issue 3 review: gate bypasses) ---


@pytest.mark.parametrize(
    ("script", "marker"),
    [
        (MLX_SCRIPT, "# === shared with train_gpt_mlx.py: begin"),
        (TORCH_SCRIPT, "# === shared with train_gpt_mlx.py: end ==="),
    ],
)
def test_missing_shared_marker_fails(tmp_path: Path, script: Path, marker: str) -> None:
    # deleting one marker line used to switch the shared-section check off silently
    text = script.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines(keepends=True) if ln.startswith(marker))
    edited = _copy(tmp_path, script, line, "")
    pair = (edited, MLX_SCRIPT) if script == TORCH_SCRIPT else (TORCH_SCRIPT, edited)
    r = run_parity(*pair)
    assert not r.ok and r.first_diverging_layer == "shared section"
    assert str(edited) in r.message and "markers" in r.message


def test_emptied_shared_section_fails(tmp_path: Path) -> None:
    # markers kept but moved together: the (now empty) sections would compare equal
    t_text, m_text = TORCH_SCRIPT.read_text(encoding="utf-8"), MLX_SCRIPT.read_text(encoding="utf-8")
    end = "# === shared with train_gpt_mlx.py: end ===\n"
    t_out, m_out = tmp_path / "train_gpt.py", tmp_path / "train_gpt_mlx.py"
    for src, dst in ((t_text, t_out), (m_text, m_out)):
        begin = next(ln for ln in src.splitlines(keepends=True) if ln.startswith("# === shared with"))
        dst.write_text(src.replace(begin, "", 1).replace(end, begin + end, 1), encoding="utf-8")
    r = run_parity(t_out, m_out)
    assert not r.ok and r.first_diverging_layer == "shared section"
    assert "does not define Hyperparameters" in r.message


def test_same_script_twice_fails(tmp_path: Path) -> None:
    r = run_parity(TORCH_SCRIPT, TORCH_SCRIPT)
    assert not r.ok and r.first_diverging_layer == "scripts" and "same script" in r.message
    twin = tmp_path / "train_gpt_mlx.py"  # identical bytes under the MLX name
    shutil.copy(TORCH_SCRIPT, twin)
    r = run_parity(TORCH_SCRIPT, twin)
    assert not r.ok and r.first_diverging_layer == "scripts"
    res = CliRunner().invoke(
        cli, ["--repo", str(ROOT), "train", "parity", "--mlx", "training/train_gpt.py", "--json"]
    )
    assert res.exit_code == 13, res.output
    assert json.loads(res.output)["ok"] is False


def test_wrong_framework_fails(tmp_path: Path) -> None:
    # the torch script (one comment changed, so not byte-identical) passed as the MLX twin
    fake_mlx = _copy(tmp_path, TORCH_SCRIPT, "Knobs (environment;", "Knobs (env;")
    r = run_parity(TORCH_SCRIPT, fake_mlx)
    assert not r.ok and r.first_diverging_layer == "framework"
    assert "mlx script but does not import mlx" in r.message
    # the MLX script passed as the torch one
    (tmp_path / "m").mkdir()
    other_mlx = _copy(tmp_path / "m", MLX_SCRIPT, "import uuid\n", "import uuid  # copy\n")
    r = run_parity(MLX_SCRIPT, other_mlx)
    assert not r.ok and r.first_diverging_layer == "framework"
    assert "torch script but does not import torch" in r.message
