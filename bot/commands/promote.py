"""`pgolf promote`: run an approved commit on rented GPUs (Tier 2); `pgolf promote abort`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.commands.context import AppContext, emit_json, pass_app, warn
from bot.compute.factory import PROVIDERS, make_provider
from bot.compute.gates import operator_approval
from bot.compute.notify import ForgeReporter
from bot.compute.orphans import abort
from bot.compute.outcome import PromoteResult
from bot.compute.promote import MAX_SEEDS, build_promotion
from bot.compute.tracker import Interrupted
from bot.errors import InputError, PgolfError, TrustError


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
        from bot.forge.events import SHA_RE, SHA_RULE, bind_head

        if sha is not None:
            sha = sha.strip()
            if not SHA_RE.fullmatch(sha.lower()):
                # a typo, not a moved head: bind_head would remove the PR's promote label and say so
                raise InputError(f"with --pr, --sha must be {SHA_RULE}, not {sha[:60]!r}", field="sha")
        forge = open_forge(s, app.root)
        if actor:
            role = forge.permission(actor)
            if role not in TRUSTED_PERMISSIONS:
                raise TrustError(f"{actor} has {role} permission; write, maintain or admin is required")
        sha = bind_head(forge, pr, sha, s) if sha else forge.get_pr(pr).head_sha
    assert sha is not None
    echo = None if as_json else (lambda m: click.echo(m, err=True))
    setup = build_promotion(
        s,
        app.root,
        trust=operator_approval(sha, actor or ""),
        forge=None if no_comment else forge,
        pr=pr,
        provider_kind=provider_kind,
        parity_waiver=f"--skip-parity by {actor or 'the local operator'}" if skip_parity else "",
        echo=echo,
    )
    try:
        result = setup.run(app.root, s, pr=pr, sha=sha, seeds=seeds, description=description, echo=echo)
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


# --------------------------------------------------------------------------- the split workflow
# promote.yml runs these five in separate jobs (docs/security.md): plan (App key) → gate (nothing
# held; PR code only inside the sandbox) → reserve (App key) → run (RunPod key only) → settle (App
# key). Each reads and writes JSON files; every file is validated again where it is read.
_FILE = click.Path(dir_okay=False, path_type=Path)
F = TypeVar("F", bound=Callable[..., Any])


def _declared_sha256(kind: str) -> Callable[[F], F]:
    """``--<kind>-sha256``: the digest the writing job declared in its outputs (no other job can
    set one), so a file another job planted under the same artifact name is refused."""
    return click.option(
        f"--{kind}-sha256",
        f"{kind}_sha256",
        default=None,
        help=f"The {kind} file's SHA-256 as its job declared it (job outputs): another file is refused.",
    )


@promote_group.command("plan")
@click.option(
    "--event", "event_path", type=_FILE, default=None, help="Event payload (default: $GITHUB_EVENT_PATH)."
)
@click.option("--event-name", default=None, help="Event name (default: $GITHUB_EVENT_NAME or inferred).")
@click.option("--out", "out_path", type=_FILE, required=True, help="Where to write the plan JSON.")
@pass_app
def plan_cmd(app: AppContext, event_path: Path | None, event_name: str | None, out_path: Path) -> None:
    """Trusted: THE trust check on a /promote comment, label or dispatch; write the approved plan
    (PR, full SHA, seeds). A refusal or a bare /promote is answered on the PR and writes no plan."""
    from bot.commands.command import _event_path, _run_url
    from bot.compute.split import plan_event, write_json
    from bot.forge import open_forge, sticky
    from bot.forge.events import load_event

    s = app.settings
    ev = load_event(_event_path(event_path), event_name, s)
    if ev.command is None or ev.command.name != "promote":
        click.echo("no promotion in this event: no plan")
        return
    outcome, plan = plan_event(ev, open_forge(s, app.root), s, app.root, run_url=_run_url())
    sticky.write_step_summary(
        f"### pgolf promote plan for #{outcome.pr or '-'}\n\n- {sticky.neutralize(outcome.reason)}\n"
    )
    if plan is None:
        click.echo(f"no plan: {outcome.reason}")
        return
    write_json(out_path, "plan", plan.to_dict())
    click.echo(f"plan: PR #{plan.pr} at {plan.sha} with {len(plan.seeds)} seed(s), approved by {plan.actor}")


@promote_group.command("gate")
@click.option("--plan", "plan_path", type=_FILE, required=True)
@click.option("--out", "out_path", type=_FILE, required=True, help="Where to write the verdict JSON.")
@pass_app
def gate_cmd(app: AppContext, plan_path: Path, out_path: Path) -> None:
    """Untrusted zone (a job that holds nothing): the parity gate on the plan's commit inside the
    sandbox; writes the verdict for the reserve job, which re-validates it."""
    from bot.compute.split import Plan, run_gate, write_json

    plan = Plan.load(plan_path)
    verdict = run_gate(app.root, app.settings, plan)
    write_json(out_path, "verdict", verdict)
    parity = verdict.get("parity", {})
    click.echo(
        f"verdict for {plan.sha[:12]}: "
        + ("error: " + str(parity["error"]) if "error" in parity else f"ok={parity.get('ok')}")
    )


@promote_group.command("reserve")
@click.option("--plan", "plan_path", type=_FILE, required=True)
@click.option("--verdict", "verdict_path", type=_FILE, required=True)
@_declared_sha256("plan")
@click.option("--out", "out_path", type=_FILE, required=True, help="Where to write the reservation JSON.")
@click.option(
    "--commit/--no-commit",
    default=True,
    show_default=True,
    help="Commit the reservation to the default branch before anything is rented.",
)
@pass_app
def reserve_cmd(
    app: AppContext,
    plan_path: Path,
    verdict_path: Path,
    plan_sha256: str | None,
    out_path: Path,
    commit: bool,
) -> None:
    """Trusted: re-validate the gate's verdict from scratch, run the artifact gate, reserve the worst
    case and commit it to the default branch; write the reservation for the paid job."""
    from bot.compute.durable import make_committer
    from bot.compute.split import Plan, reserve_plan, write_json

    s = app.settings
    plan = Plan.load(plan_path, plan_sha256)
    committer = make_committer(app.root, s, always=True) if commit else None
    try:
        ticket = reserve_plan(
            app.root, s, plan, verdict_path, commit=committer, log=lambda m: click.echo(m, err=True),
            attempt=_run_attempt(),
        )  # fmt: skip
    except PgolfError as exc:  # the maintainer hears why on the PR: nothing was reserved
        _tell(app, plan.pr, plan.sha, plan.actor, "failed", f"refused before anything was reserved: {exc}")
        raise
    write_json(out_path, "reservation", ticket.to_dict())
    click.echo(f"reserved ${ticket.max_usd:.2f} for {ticket.run_id}")
    _tell(app, plan.pr, plan.sha, plan.actor, "running",
          f"parity gate passed; ${ticket.max_usd:.2f} reserved and committed for `{ticket.run_id}`; renting the pod")  # fmt: skip


@promote_group.command("release")
@click.option("--reservation", "ticket_path", type=_FILE, required=True)
@pass_app
def release_cmd(app: AppContext, ticket_path: Path) -> None:
    """Trusted, the reserve job's failure step: release the reservation this job committed and
    commit that. Only there is it safe — a failed reserve job means no paid job ever rents on it."""
    from bot.compute.durable import make_committer
    from bot.compute.split import Ticket, release_ticket

    ticket = Ticket.load(ticket_path)
    committer = make_committer(app.root, app.settings, always=True)
    msg = release_ticket(app.root, app.settings, ticket, commit=committer)
    click.echo(msg)
    _tell(app, ticket.pr, ticket.sha, ticket.actor, "failed", msg)


def _run_attempt() -> int:
    """GITHUB_RUN_ATTEMPT (0 outside Actions): binds the reservation to its own paid job."""
    raw = os.environ.get("GITHUB_RUN_ATTEMPT", "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > 10**6:
        raise InputError(
            f"GITHUB_RUN_ATTEMPT is {raw[:20]!r}, not a small integer", field="GITHUB_RUN_ATTEMPT"
        )
    return int(raw)


def _tell(app: AppContext, pr: int, sha: str, actor: str, state: str, message: str) -> None:
    """The promotion section of the PR's sticky comment (best effort: the job's outcome stands)."""
    from bot.forge import open_forge

    try:
        reporter = ForgeReporter(open_forge(app.settings, app.root), pr, approved_by=actor)
        reporter.progress(PromoteResult("-", pr, sha, app.settings.pod_provider, "crash"), state, message)
    except PgolfError as exc:
        warn(f"the promotion's state was not posted on #{pr}: {exc}")


@promote_group.command("run")
@click.option("--reservation", "ticket_path", type=_FILE, required=True)
@_declared_sha256("reservation")
@click.option("--out", "out_path", type=_FILE, required=True, help="Where to write the pod outcome JSON.")
@click.option("--provider", "provider_kind", type=click.Choice(PROVIDERS), default=None)
@pass_app
def run_cmd(
    app: AppContext,
    ticket_path: Path,
    reservation_sha256: str | None,
    out_path: Path,
    provider_kind: str | None,
) -> None:
    """Paid zone (the RunPod key only): rent, ship the reserved SHA, train, terminate; write the
    pod outcome for the settle job. Writes no ledger file."""
    from bot.compute.split import Ticket, run_paid, write_json

    s = app.settings
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    ticket = Ticket.load(ticket_path, reservation_sha256)
    outcome: dict[str, object] = {}
    try:
        outcome = run_paid(app.root, s, ticket, make_provider(s, app.root, provider_kind, log=echo), log=echo,
                           attempt=_run_attempt())  # fmt: skip
    finally:
        if outcome:
            write_json(out_path, "outcome", outcome)
    click.echo(f"{ticket.run_id}: pod {outcome.get('pod_id') or '-'}, {outcome.get('pod_seconds')} s"
               + (f", error: {outcome['error']}" if outcome.get("error") else ""))  # fmt: skip
    if outcome.get("interrupted"):
        sys.exit(130)


@promote_group.command("settle")
@click.option("--reservation", "ticket_path", type=_FILE, required=True)
@_declared_sha256("reservation")
@click.option(
    "--outcome",
    "outcome_path",
    type=_FILE,
    default=None,
    help="The paid job's outcome (missing: the reservation is left to the reaper).",
)
@click.option(
    "--paid-result",
    default="",
    help="The paid job's result (needs.paid.result): 'skipped' with no outcome releases the reservation.",
)
@click.option(
    "--rent-step",
    default="",
    help="The outcome of the paid job's rent step (needs.paid.outputs.rent_step): 'skipped' (an "
    "earlier step failed, `promote run` never ran) with no outcome releases the reservation.",
)
@click.option(
    "--outcome-sha256",
    default=None,
    help="The outcome's SHA-256 as the paid job declared it (needs.paid.outputs): an outcome file "
    "with another digest is not the paid job's and is ignored; '' (none declared) ignores any.",
)
@click.option("--no-comment", is_flag=True, help="Do not write the PR's sticky comment.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def settle_cmd(
    app: AppContext,
    ticket_path: Path,
    reservation_sha256: str | None,
    outcome_path: Path | None,
    paid_result: str,
    rent_step: str,
    outcome_sha256: str | None,
    no_comment: bool,
    as_json: bool,
) -> None:
    """Trusted: validate the paid job's outcome against the committed reservation, settle the
    cost, write the results.tsv row and the sticky comment (then `pgolf ledger commit`)."""
    from bot.compute.split import Ticket, settle_ticket

    s = app.settings
    ticket = Ticket.load(ticket_path, reservation_sha256)
    reporter = None
    if not no_comment:
        from bot.forge import open_forge

        reporter = ForgeReporter(open_forge(s, app.root), ticket.pr, approved_by=ticket.actor)
    out = settle_ticket(
        app.root,
        s,
        ticket,
        outcome_path,
        reporter=reporter,
        log=lambda m: click.echo(m, err=True),
        # the paid job was skipped (the kill switch), or it stopped before `promote run`
        paid_skipped=paid_result == "skipped" or rent_step == "skipped",
        outcome_sha256=outcome_sha256,
        attempt=_run_attempt(),
    )
    if as_json:
        emit_json(out.to_dict())
    else:
        click.echo(f"{out.run_id}: {out.booked}" + (f" ${out.cost_usd:.2f}" if out.cost_usd else ""))
        for p in out.problems:
            click.echo(f"  ! {p}")


def register(cli: click.Group) -> None:
    cli.add_command(promote_group)
