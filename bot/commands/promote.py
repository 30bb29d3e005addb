"""`pgolf promote`: run an approved commit on rented GPUs (Tier 2); `pgolf promote abort`."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from bot.compute.comment import ForgeReporter
from bot.compute.factory import PROVIDERS, make_provider
from bot.compute.gates import default_parity_gate, operator_approval, waived_parity_gate
from bot.compute.orphans import abort
from bot.compute.outcome import PromoteResult
from bot.compute.promote import MAX_SEEDS, promote
from bot.compute.provider import PodProvider
from bot.compute.tracker import Interrupted
from bot.config import Settings
from bot.context import AppContext, emit_json, pass_app, warn
from bot.errors import TrustError


@click.group("promote", invoke_without_command=True)
@click.option("--pr", type=int, default=None, help="Pull request number.")
@click.option("--sha", default=None, help="The approved head SHA to ship (default: the PR's head).")
@click.option(
    "--seeds",
    type=click.IntRange(1, MAX_SEEDS),
    default=1,
    show_default=True,
    help="Seeds, run in sequence on one pod.",
)
@click.option(
    "--provider",
    "provider_kind",
    type=click.Choice(PROVIDERS),
    default=None,
    help="Pod provider (default: setting pod_provider).",
)
@click.option("--actor", default=None, help="Who asked; must have write permission on the forge.")
@click.option(
    "--skip-parity",
    is_flag=True,
    help="Waive the MLX/PyTorch parity gate (written to the promotion log as a waiver).",
)
@click.option("--no-comment", is_flag=True, help="Do not write the PR's sticky comment.")
@click.option("--description", default="", help="Text for the results.tsv row.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def promote_group(
    ctx: click.Context,
    pr: int | None,
    sha: str | None,
    seeds: int,
    provider_kind: str | None,
    actor: str | None,
    skip_parity: bool,
    no_comment: bool,
    description: str,
    as_json: bool,
) -> None:
    """Promote PR --pr: gates → budget → pod → train → terminate → ledger → comment."""
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.find_object(AppContext)  # type: ignore[assignment]
    if pr is None and sha is None:
        raise click.UsageError("give --pr (and optionally --sha), or --sha for a manual promotion")
    s = app.settings
    forge = None
    if pr is not None and not (no_comment and sha):
        from bot.forge import open_forge
        from bot.forge.base import TRUSTED_PERMISSIONS
        from bot.forge.events import bind_head

        forge = open_forge(s, app.root)
        if actor:
            role = forge.permission(actor)
            if role not in TRUSTED_PERMISSIONS:
                raise TrustError(f"{actor} has {role} permission; write, maintain or admin is required")
        sha = bind_head(forge, pr, sha, s) if sha else forge.get_pr(pr).head_sha
    assert sha is not None
    echo = None if as_json else (lambda m: click.echo(m, err=True))
    provider = make_provider(s, app.root, provider_kind, log=echo)
    reporter = (
        ForgeReporter(forge, pr, approved_by=actor or "")
        if forge is not None and pr is not None and not no_comment
        else None
    )
    try:
        result = _run(app, s, provider, pr, sha, seeds, skip_parity, reporter, description, echo, actor)
    except Interrupted as exc:
        click.echo(f"error: {exc}; the pod was terminated and the cost settled", err=True)
        sys.exit(128 + exc.signum)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.comment)
    if result.status == "crash":
        if not result.terminated:
            warn(f"pod {result.pod_id} was not confirmed terminated; run `pgolf pods reap`")
        sys.exit(1)


def _run(
    app: AppContext,
    s: Settings,
    provider: PodProvider,
    pr: int | None,
    sha: str,
    seeds: int,
    skip_parity: bool,
    reporter: ForgeReporter | None,
    description: str,
    echo: Callable[[str], None] | None,
    actor: str | None = None,
) -> PromoteResult:
    return promote(
        app.root,
        s,
        provider=provider,
        pr=pr,
        sha=sha,
        seeds=seeds,
        trust=operator_approval(sha, actor or ""),
        parity_gate=(
            waived_parity_gate(f"--skip-parity by {actor or 'the local operator'}")
            if skip_parity
            else default_parity_gate(s)
        ),
        reporter=reporter,
        description=description,
        echo=echo,
    )


@promote_group.command("abort")
@click.option("--pr", type=int, required=True)
@click.option("--provider", "provider_kind", type=click.Choice(PROVIDERS), default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def abort_cmd(app: AppContext, pr: int, provider_kind: str | None, as_json: bool) -> None:
    """Terminate PR --pr's pod(s) and settle their cost (the /abort command)."""
    s = app.settings
    done = abort(app.root, s, pr, make_provider(s, app.root, provider_kind))
    if as_json:
        emit_json({"pr": pr, "aborted": done})
    else:
        click.echo(f"aborted {len(done)} run(s) of PR #{pr}" + (": " + ", ".join(done) if done else ""))


def register(cli: click.Group) -> None:
    cli.add_command(promote_group)
