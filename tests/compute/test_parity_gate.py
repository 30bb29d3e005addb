"""The promotion parity gate runs the PR's scripts in a subprocess without credentials."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.compute.gates import default_parity_gate
from bot.config import load_settings
from bot.errors import ParityError

ROOT = Path(__file__).resolve().parents[2]
TORCH = ROOT / "training" / "train_gpt.py"
MLX = ROOT / "training" / "train_gpt_mlx.py"
SECRETS = ("GH_APP_PRIVATE_KEY", "RUNPOD_API_KEY", "GITHUB_TOKEN")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _repo(tmp: Path, torch_src: str, mlx_src: str) -> tuple[Path, str]:
    repo = tmp / "research"
    (repo / "training").mkdir(parents=True)
    (repo / "training" / "train_gpt.py").write_text(torch_src, encoding="utf-8")
    (repo / "training" / "train_gpt_mlx.py").write_text(mlx_src, encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "exp")
    return repo, _git(repo, "rev-parse", "HEAD")


def _probe() -> str:
    """Module-level code appended to a script: fails the import if it sees any variable of the
    orchestrator (a credential, or the harmless PARITY_CANARY: the box's environment is built
    from nothing), or can read an ancestor's environment."""
    names = ("PARITY_CANARY", *SECRETS)
    return (
        "\nimport os as _o\n"
        f"_seen = [k for k in {names!r} if k in _o.environ]\n"
        "for _pid in _o.listdir('/proc'):\n"
        "    if _pid.isdigit():\n"
        "        try:\n"
        "            _env = open(f'/proc/{_pid}/environ', 'rb').read()\n"
        "        except OSError:\n"
        "            continue\n"
        f"        _seen += [k for k in {names!r} if k.encode() in _env]\n"
        "if _seen:\n"
        "    raise SystemExit('LEAKED ' + ' '.join(_seen))\n"
    )


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, f"secret-{name.lower()}")
    monkeypatch.setenv("PARITY_CANARY", "visible")


@pytest.mark.usefixtures("secrets_set")
def test_gate_passes_in_the_sandbox_and_the_scripts_see_nothing_of_ours(tmp_path: Path) -> None:
    repo, sha = _repo(tmp_path, TORCH.read_text(encoding="utf-8") + _probe(), MLX.read_text(encoding="utf-8"))
    note = default_parity_gate(load_settings(repo, env={}))(repo, sha)  # passes: no exception
    assert "parity gate: passed" in note
    assert "sandbox: isolated" in note


@pytest.mark.usefixtures("secrets_set")
def test_a_leak_would_fail_the_gate(tmp_path: Path) -> None:
    """The probe is live: a script that finds a variable it must not see fails to load."""
    repo, sha = _repo(
        tmp_path,
        TORCH.read_text(encoding="utf-8")
        + "\nimport os as _o\n_o.environ['PARITY_CANARY'] = 'x'\n"
        + _probe(),
        MLX.read_text(encoding="utf-8"),
    )
    with pytest.raises(ParityError, match="LEAKED PARITY_CANARY"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)


@pytest.mark.usefixtures("secrets_set")
def test_gate_refuses_a_divergence_naming_the_first_layer(tmp_path: Path) -> None:
    mlx = MLX.read_text(encoding="utf-8")
    old = "mx.square(mx.maximum(self.fc(x), 0))"
    assert mlx.count(old) == 1
    repo, sha = _repo(
        tmp_path,
        TORCH.read_text(encoding="utf-8"),
        mlx.replace(old, "mx.maximum(self.fc(x), 0)") + _probe(),
    )
    with pytest.raises(ParityError, match="first diverging layer blocks.0"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)


def test_a_script_that_cannot_load_is_a_parity_error(tmp_path: Path) -> None:
    repo, sha = _repo(tmp_path, TORCH.read_text(encoding="utf-8"), "def broken(:\n")
    with pytest.raises(ParityError, match="could not compare"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)


@pytest.mark.parametrize("missing", ["train_gpt.py", "train_gpt_mlx.py"])
def test_a_script_missing_at_the_commit_is_a_refusal_naming_it(tmp_path: Path, missing: str) -> None:
    """Fails closed (issue 12): the gate used to pass when either script was absent."""
    repo, _ = _repo(tmp_path, TORCH.read_text(encoding="utf-8"), MLX.read_text(encoding="utf-8"))
    _git(repo, "rm", "-q", f"training/{missing}")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "rm")
    sha = _git(repo, "rev-parse", "HEAD")
    with pytest.raises(ParityError, match=rf"refused {sha[:12]}: training/{missing} does not exist"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)


def test_a_forged_verdict_is_re_validated() -> None:
    """The verdict crosses the wall as data: ``ok`` is recomputed from the numbers."""
    from bot.training.parity import LOGIT_TOL, check_verdict

    forged = {"ok": True, "max_abs_logit_diff": 10 * LOGIT_TOL, "abs_loss_diff": 0.0, "layers": []}
    assert check_verdict(forged)["ok"] is False
    hidden = {
        "ok": True,
        "max_abs_logit_diff": 0.0,
        "abs_loss_diff": 0.0,
        "layers": [{"name": "blocks.1", "max_abs_diff": 1.0, "tolerance": 1e-4}],
    }
    out = check_verdict(hidden)
    assert out["ok"] is False and out["first_diverging_layer"] == "blocks.1"
    for bad in (
        [],
        {"ok": "yes"},
        {"ok": True, "max_abs_logit_diff": float("nan")},
        {"ok": True, "layers": [1]},
    ):
        with pytest.raises(ParityError, match="parity verdict"):
            check_verdict(bad)
    assert check_verdict({"error": "a\nb"}) == {"error": "a b"}


def test_a_verdict_number_no_float_holds_is_a_parity_error() -> None:
    """A forged verdict.json with an int past float range: a named ParityError, not a crash."""
    from bot.training.parity import check_verdict

    forged = {"ok": True, "max_abs_logit_diff": 10**400, "abs_loss_diff": 0.0, "layers": []}
    with pytest.raises(ParityError, match="max_abs_logit_diff"):
        check_verdict(forged)
