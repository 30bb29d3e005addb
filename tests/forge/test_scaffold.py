"""`pgolf init` in a real deployment: where requirements-bot.txt installs pgolf from, the
.gitignore a research repository needs, and a clear error for a folder that cannot be written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.errors import InputError
from bot.forge.scaffold import (
    SPEC_PLACEHOLDER_STEP,
    requirements_text,
    resolve_pgolf_spec,
    spec_from_checkout,
)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def fake_pgolf_checkout(tmp_path: Path, remote: str) -> tuple[Path, str]:
    src = tmp_path / "pgolf-src"
    src.mkdir()
    (src / "pyproject.toml").write_text('[project]\nname = "pgolf"\n')
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    git(src, "add", "-A")
    git(src, "commit", "-qm", "pgolf")
    git(src, "remote", "add", "origin", remote)
    return src, git(src, "rev-parse", "HEAD")


def test_init_with_an_explicit_spec(tmp_path: Path) -> None:
    spec = "pgolf @ https://example.com/wheels/pgolf-0.1.0-py3-none-any.whl"
    target = tmp_path / "lab"
    res = CliRunner().invoke(cli, ["init", str(target), "--no-git", "--pgolf-spec", spec, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["pgolf_spec"] == spec
    lines = (target / "requirements-bot.txt").read_text().splitlines()
    assert [ln for ln in lines if not ln.startswith("#")] == [spec]
    assert SPEC_PLACEHOLDER_STEP not in data["steps"]


def test_a_bad_spec_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "lab"
    res = CliRunner().invoke(cli, ["init", str(target), "--pgolf-spec", "pgolf\n--index-url http://evil"])
    assert res.exit_code == InputError.exit_code and "--pgolf-spec" in res.output
    assert not target.exists()


def test_spec_derived_from_a_checkout_with_an_https_remote(tmp_path: Path) -> None:
    src, sha = fake_pgolf_checkout(tmp_path, "https://x-access-token:ghs_secret@github.com/acme/pgolf.git")
    spec, warnings = spec_from_checkout(src)
    assert spec == f"pgolf @ git+https://github.com/acme/pgolf.git@{sha}"
    assert "ghs_secret" not in spec  # a token in the remote URL is never copied
    assert any("no branch of origin contains" in w for w in warnings)  # never pushed
    assert resolve_pgolf_spec(None, source=src) == (spec, warnings)


def test_github_ssh_remote_becomes_https_and_other_remotes_do_not_count(tmp_path: Path) -> None:
    src, sha = fake_pgolf_checkout(tmp_path, "git@github.com:acme/pgolf.git")
    assert spec_from_checkout(src)[0] == f"pgolf @ git+https://github.com/acme/pgolf.git@{sha}"
    git(src, "remote", "set-url", "origin", str(tmp_path / "elsewhere.git"))
    assert spec_from_checkout(src) == (None, [])
    # A folder inside some other repository (e.g. site-packages in a venv) is not a pgolf checkout.
    inner = src / "sub"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("")
    git(src, "remote", "set-url", "origin", "https://github.com/acme/pgolf")
    assert spec_from_checkout(inner) == (None, [])


def test_placeholder_is_commented_and_becomes_a_manual_step(tmp_path: Path) -> None:
    text = requirements_text(None)
    assert all(ln.startswith("#") for ln in text.splitlines())  # pip installs nothing from it
    assert "pgolf @ git+https://github.com/OWNER/pgolf@COMMIT" in text
    res = CliRunner().invoke(cli, ["init", str(tmp_path / "lab"), "--no-git", "--json"])
    data = json.loads(res.output)
    installed = (tmp_path / "lab" / "requirements-bot.txt").read_text()
    if data["pgolf_spec"]:  # running from a pushed checkout (e.g. in CI): the real spec
        assert data["pgolf_spec"] in installed.splitlines()
    else:
        assert data["steps"][0] == SPEC_PLACEHOLDER_STEP and installed == text
    assert "pgolf==" not in installed  # pgolf is not on PyPI


def test_existing_gitignore_gets_the_lines_pgolf_needs(tmp_path: Path) -> None:
    target = tmp_path / "lab"
    target.mkdir()
    (target / ".gitignore").write_text("node_modules/\n*.lock")
    res = CliRunner().invoke(cli, ["init", str(target), "--no-git"])
    assert res.exit_code == 0, res.output
    lines = (target / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", "*.lock"] and lines.count("*.lock") == 1
    assert ".pgolf/" in lines
    # Idempotent: a second init adds nothing.
    before = (target / ".gitignore").read_text()
    CliRunner().invoke(cli, ["init", str(target), "--no-git"])
    assert (target / ".gitignore").read_text() == before


def test_unwritable_target_is_an_input_error_naming_the_path() -> None:
    res = CliRunner().invoke(cli, ["init", "/proc/nope"])
    assert res.exit_code == InputError.exit_code, res.output
    assert "/proc/nope" in res.output and "cannot write" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
