"""The promotion parity gate runs the PR's scripts in a subprocess without credentials."""

from __future__ import annotations

import json
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


def _probe(out: Path) -> str:
    """Module-level code appended to a script: records what the import saw."""
    names = ("PARITY_CANARY", *SECRETS)
    return (
        "\nimport json as _j, os as _o\n"
        f"_o.makedirs({str(out.parent)!r}, exist_ok=True)\n"
        f"open({str(out)!r}, 'w').write(_j.dumps({{k: _o.environ.get(k) for k in {names!r}}}))\n"
    )


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, f"secret-{name.lower()}")
    monkeypatch.setenv("PARITY_CANARY", "visible")


@pytest.mark.usefixtures("secrets_set")
def test_gate_passes_and_the_scripts_never_see_a_credential(tmp_path: Path) -> None:
    seen = tmp_path / "probe" / "env.json"
    repo, sha = _repo(
        tmp_path, TORCH.read_text(encoding="utf-8") + _probe(seen), MLX.read_text(encoding="utf-8")
    )
    settings = load_settings(repo, env={})
    default_parity_gate(settings)(repo, sha)  # passes: no exception
    env = json.loads(seen.read_text())
    assert env["PARITY_CANARY"] == "visible"  # the probe did run at import, in the child
    assert {k: env[k] for k in SECRETS} == dict.fromkeys(SECRETS)


@pytest.mark.usefixtures("secrets_set")
def test_gate_refuses_a_divergence_naming_the_first_layer(tmp_path: Path) -> None:
    seen = tmp_path / "probe" / "env.json"
    mlx = MLX.read_text(encoding="utf-8")
    old = "mx.square(mx.maximum(self.fc(x), 0))"
    assert mlx.count(old) == 1
    repo, sha = _repo(
        tmp_path,
        TORCH.read_text(encoding="utf-8"),
        mlx.replace(old, "mx.maximum(self.fc(x), 0)") + _probe(seen),
    )
    with pytest.raises(ParityError, match="first diverging layer blocks.0"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)
    assert json.loads(seen.read_text())["GH_APP_PRIVATE_KEY"] is None


def test_a_script_that_cannot_load_is_a_parity_error(tmp_path: Path) -> None:
    repo, sha = _repo(tmp_path, TORCH.read_text(encoding="utf-8"), "def broken(:\n")
    with pytest.raises(ParityError, match="could not compare"):
        default_parity_gate(load_settings(repo, env={}))(repo, sha)
