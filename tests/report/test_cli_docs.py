"""docs/cli.md is generated from the CLI's --help and must not drift from it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from bot.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_cli_docs.py"


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    generated = _gen().render()
    assert committed == generated, "docs/cli.md is out of date: run `python scripts/gen_cli_docs.py`"


def test_reference_covers_every_command_with_its_real_help() -> None:
    gen = _gen()
    text = gen.render()
    paths = [p for p, _ in gen.walk(cli, ["pgolf"])]
    assert len(paths) > 5
    for path in paths:
        assert f"## {' '.join(path)}\n" in text
    # the text is what `--help` prints (same width)
    out = CliRunner().invoke(cli, ["report", "--help"], prog_name="pgolf", terminal_width=gen.WIDTH)
    assert out.exit_code == 0
    assert out.output.strip() in text


def test_check_mode_detects_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gen = _gen()
    stale = tmp_path / "cli.md"
    stale.write_text("# old\n")
    assert gen.main(["--check", "--out", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert gen.main(["--out", str(stale)]) == 0
    assert gen.main(["--check", "--out", str(stale)]) == 0


def test_script_runs_standalone() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
