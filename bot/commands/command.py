"""`pgolf command …`: slash commands and labels from GitHub events.

``parse`` shows what the bot understood from an event payload, with no network: the command, its
arguments, the PR, the actor, the head SHA and the offline pre-filter's verdict. ``run`` acts on
it: the full trust check (collaborator permission), then the command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app
from bot.errors import InputError
from bot.forge import open_forge, sticky
from bot.forge.dispatch import local_result_from_json, report_local_result, run_event
from bot.forge.events import COMMANDS, load_event, prefilter

EVENT_OPTION = click.option(
    "--event",
    "event_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Event payload (default: $GITHUB_EVENT_PATH).",
)
NAME_OPTION = click.option(
    "--event-name", default=None, help="Event name (default: $GITHUB_EVENT_NAME or inferred)."
)


def _event_path(path: Path | None) -> Path:
    if path is not None:
        return path
    env = os.environ.get("GITHUB_EVENT_PATH")
    if not env:
        raise click.UsageError(
            "--event FILE is required outside GitHub Actions ($GITHUB_EVENT_PATH is not set)"
        )
    return Path(env)


@click.group("command")
def command_group() -> None:
    """Slash commands (/promote, /retrain, /status, /budget, /abort, /help) and the promote label."""


@command_group.command("parse")
@EVENT_OPTION
@NAME_OPTION
@json_option
@pass_app
def parse_cmd(app: AppContext, event_path: Path | None, event_name: str | None, as_json: bool) -> None:
    """Print what the bot understood from an event, without acting and without network."""
    s = app.settings
    ev = load_event(_event_path(event_path), event_name, s)
    d = prefilter(ev, s)
    data = {
        "event": ev.name,
        "action": ev.action,
        "command": ev.command.name if ev.command else None,
        "args": dict(ev.command.args) if ev.command else {},
        "pr": ev.pr,
        "actor": ev.actor,
        "head_sha": ev.head_sha,
        "prefilter": "pass" if d.allowed else "reject",
        "reason": d.reason,
    }
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key + ':':<11} {value if value not in (None, {}) else '-'}")


@command_group.command("run")
@EVENT_OPTION
@NAME_OPTION
@click.option("--only", multiple=True, type=click.Choice(COMMANDS), help="Handle only these commands.")
@click.option(
    "--skip", multiple=True, type=click.Choice(COMMANDS), help="Leave these commands to another workflow."
)
@json_option
@pass_app
def run_cmd(
    app: AppContext,
    event_path: Path | None,
    event_name: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check trust and act on the event's command (refusals are explained, exit 0)."""
    s = app.settings
    ev = load_event(_event_path(event_path), event_name, s)
    name = ev.command.name if ev.command else None
    if (only and name not in only) or (skip and name in skip):
        msg = f"skipped: {'/' + name if name else 'no command'} is handled by another workflow"
        if as_json:
            emit_json({"event": ev.name, "command": name, "pr": ev.pr, "skipped": True, "reason": msg})
        else:
            click.echo(msg)
        return
    forge = open_forge(s, app.root)
    from bot.compute.orphans import abort_for_event  # lazily: they pull in the RunPod SDK
    from bot.compute.promote import promote_for_event

    outcome = run_event(
        ev,
        forge,
        s,
        app.root,
        promote_hook=promote_for_event,
        abort_hook=abort_for_event,
        run_url=_run_url(),
    )
    verdict = "done" if outcome.allowed else "refused"
    summary = (
        f"### pgolf command: {outcome.command or '(none)'} on #{outcome.pr or '-'}\n\n"
        f"- actor: `{sticky.neutralize(outcome.actor)}`\n- {verdict}: {sticky.neutralize(outcome.reason)}\n"
        + "".join(f"- {sticky.neutralize(a)}\n" for a in outcome.actions)
    )
    sticky.write_step_summary(summary)
    if as_json:
        emit_json(outcome.to_dict())
        return
    click.echo(f"{verdict}: {outcome.reason}")
    for action in outcome.actions:
        click.echo(f"  - {action}")


@command_group.command("local-result")
@click.option("--pr", type=int, required=True, help="Pull request number.")
@click.option("--sha", required=True, help="The head SHA that was trained.")
@click.option(
    "--result",
    "result_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="`pgolf train local --json` output (missing or empty = the run crashed).",
)
@click.option("--log-url", default="", help="Link to the run log (default: this workflow run).")
@json_option
@pass_app
def local_result_cmd(
    app: AppContext, pr: int, sha: str, result_path: Path, log_url: str, as_json: bool
) -> None:
    """Publish a local-tier result: sticky comment, commit status, promote-candidate label."""
    s = app.settings
    data = None
    try:
        text = result_path.read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else None
    except FileNotFoundError:
        data = None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON result: {exc}", path=str(result_path)) from None
    result = local_result_from_json(data, sha, s)
    if not result.log_url:
        result.log_url = log_url or _run_url()
    forge = open_forge(s, app.root)
    done = report_local_result(forge, s, pr, result)
    sticky.write_step_summary(f"### pgolf local result for #{pr}\n\n" + sticky.render_local(result))
    if as_json:
        emit_json(
            {"pr": pr, "sha": sha, "decision": result.decision, "val_bpb": result.val_bpb, "actions": done}
        )
        return
    click.echo(f"#{pr} {sha[:12]}: {result.decision}")
    for action in done:
        click.echo(f"  - {action}")


@command_group.command("local-report")
@click.option("--run-id", type=int, required=True, help="The experiment workflow run (workflow_run.id).")
@json_option
@pass_app
def local_report_cmd(app: AppContext, run_id: int, as_json: bool) -> None:
    """Trusted half of the local tier: validate run RUN_ID's result artifact from scratch, then post
    the sticky comment, status and label and append exactly one row to results.tsv.

    Run it from a checkout of the default branch (experiment-report.yml); commit with
    `pgolf ledger commit --only results.tsv`."""
    from bot.forge.local_report import report_run

    s = app.settings
    forge = open_forge(s, app.root)
    env = os.environ
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    repo = env.get("GITHUB_REPOSITORY", "")
    log_url = f"{server}/{repo}/actions/runs/{run_id}" if repo else ""
    out = report_run(forge, s, app.root, run_id, log_url=log_url)
    sticky.write_step_summary(
        f"### pgolf local report for run {run_id}\n\n- {sticky.neutralize(out.reason)}\n"
        + "".join(f"- problem: {sticky.neutralize(p)}\n" for p in out.problems)
    )
    if as_json:
        emit_json(out.to_dict())
        return
    where = f"#{out.pr} {out.sha[:12]}" if out.pr else f"run {run_id}"
    click.echo(f"{where}: {'recorded' if out.recorded else 'not recorded'}: {out.reason}")
    for p in out.problems:
        click.echo(f"  ! {p}")
    for action in out.actions:
        click.echo(f"  - {action}")


@command_group.command("baseline-report")
@click.option("--run-id", type=int, required=True, help="The baseline workflow run (github.run_id).")
@click.option("--default-branch", required=True, help="The repository's default branch.")
@json_option
@pass_app
def baseline_report_cmd(app: AppContext, run_id: int, default_branch: str, as_json: bool) -> None:
    """Trusted half of the baseline: validate run RUN_ID's baseline artifact from scratch and append
    one row per seed to results.tsv (commit with `pgolf ledger commit --only results.tsv`)."""
    from bot.forge.local_report import report_baseline

    s = app.settings
    out = report_baseline(open_forge(s, app.root), s, app.root, run_id, default_branch)
    if as_json:
        emit_json(out.to_dict())
    else:
        click.echo(f"run {run_id}: {'recorded' if out.recorded else 'not recorded'}: {out.reason}")
        for p in out.problems:
            click.echo(f"  ! {p}")
    if not out.recorded and "already" not in out.reason:
        raise InputError(out.reason, field="--run-id")


def _run_url() -> str:
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return ""


def register(cli: click.Group) -> None:
    cli.add_command(command_group)
