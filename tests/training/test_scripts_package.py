"""The training scripts are package data of ``bot``: one source (training/), found through
bot.training.scripts by pgolf init, the demo and the tests, and carried by a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bot.config import Settings
from bot.forge.scaffold import scaffold
from bot.training import scripts

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("train_gpt.py", "train_gpt_mlx.py", "prepare_data.py")


def test_the_package_data_is_the_repository_training_folder() -> None:
    # in a checkout the package data is training/ itself (a link), so there is nothing to keep equal
    assert scripts.SCRIPTS_DIR.resolve() == (ROOT / "training").resolve()
    assert [p.name for p in scripts.SCRIPT_FILES] == list(NAMES)
    for p in scripts.SCRIPT_FILES:
        assert p.read_bytes() == (ROOT / "training" / p.name).read_bytes()


def test_pgolf_init_copies_the_shipped_scripts(tmp_path: Path) -> None:
    out = scaffold(tmp_path, Settings())
    for p in scripts.SCRIPT_FILES:
        assert (tmp_path / "training" / p.name).read_bytes() == p.read_bytes()
        assert f"training/{p.name}" in out.created
    assert not [w for w in out.warnings if "training" in w]


def test_a_built_wheel_carries_the_scripts_as_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "training", src / "training")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "bot", src / "bot", symlinks=True, ignore=skip)
    assert (src / "bot" / "training-scripts").is_symlink()  # the copy keeps the link, as git does
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    proc = subprocess.run(
        [*pip, "--quiet", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("pgolf-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for name in NAMES:
            info = zf.getinfo(f"bot/training-scripts/{name}")
            assert info.external_attr >> 28 != 0o12  # a regular file, not a link
            assert zf.read(info) == (ROOT / "training" / name).read_bytes()
        assert "bot/training/scripts.py" in zf.namelist()
