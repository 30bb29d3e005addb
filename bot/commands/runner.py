"""`pgolf runner`: print the setup of an ephemeral self-hosted Mac runner (see bot/forge/runner.py)."""

from __future__ import annotations

import click

from bot.commands.context import AppContext, pass_app
from bot.forge.runner import GITHUB_SERVER, RUNNER_VERSION, RunnerPlan, setup_script


@click.command("runner")
@click.option("--repo", "repo", default=None, help="OWNER/REPO (default: settings.github_repository).")
@click.option(
    "--user", default="pgolf-runner", show_default=True, help="The dedicated macOS user jobs run as."
)
@click.option(
    "--data-dir", default="/Users/Shared/pgolf-data", show_default=True, help="Read-only data folder."
)
@click.option("--home", default=None, help="The runner user's home (default: /Users/<user>).")
@click.option(
    "--runner-sha256", default="", help="SHA-256 of the actions/runner tarball (from its release page)."
)
@click.option(
    "--runner-version",
    default=RUNNER_VERSION,
    show_default=True,
    help="The actions/runner release to install (GitHub stops sending jobs to deprecated ones).",
)
@click.option(
    "--github-url",
    "server",
    default=GITHUB_SERVER,
    show_default=True,
    help="The GitHub server the runner registers with (GitHub Enterprise Server: https://HOST).",
)
@click.option(
    "--api-url", "api", default="", help="Its REST API (default: api.github.com, or SERVER/api/v3 on GHES)."
)
@click.option(
    "--install-dir",
    default="/usr/local/pgolf-runner",
    show_default=True,
    help="Where the runner template and the supervisor live (root's).",
)
@pass_app
def runner_cmd(
    app: AppContext,
    repo: str | None,
    user: str,
    data_dir: str,
    home: str | None,
    runner_sha256: str,
    runner_version: str,
    server: str,
    api: str,
    install_dir: str,
) -> None:
    """Print the commands that register an EPHEMERAL runner under a dedicated macOS user, one fresh
    work folder per job, with the data folder read-only to it. Nothing is run: read, then run them
    as an admin."""
    target = repo or app.settings.github_repository or ""
    plan = RunnerPlan(
        target,
        user,
        data_dir,
        home or f"/Users/{user}",
        runner_sha256=runner_sha256,
        runner_version=runner_version,
        server=server,
        api=api,
        install_dir=install_dir,
    )
    click.echo(setup_script(plan), nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(runner_cmd)
