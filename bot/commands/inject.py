"""`pgolf inject`: rewrite program.md's marked sections from the ledger and research state."""

from __future__ import annotations

import difflib

import click

from bot import program
from bot import program_changes as pc
from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn
from bot.program_inputs import gather_inputs


@click.command("inject")
@click.option("--dry-run", is_flag=True, help="Show the diff; write nothing.")
@json_option
@pass_app
def inject_cmd(app: AppContext, dry_run: bool, as_json: bool) -> None:
    """Rewrite RESEARCH, EXPERIMENTS, COMPETITORS, VERIFIED and the SOTA line of program.md."""
    inputs = gather_inputs(app.root, app.settings)
    for w in inputs.warnings:
        warn(w)
    path = app.path("program_path")
    before = program.read_program(path) if path.is_file() else ""
    result = program.inject(path, inputs.sections, inputs.sota, dry_run=dry_run)
    if as_json:
        after = (
            program.replace_sections(before, inputs.sections, inputs.sota, str(path))
            if result.changed
            else before
        )
        report = pc.compare(before, after).to_dict()
        report.update({"path": str(result.path), "sota": result.sota, "dry_run": dry_run})
        emit_json(report)
        return
    if dry_run and result.changed:
        after = program.replace_sections(before, inputs.sections, inputs.sota, str(path))
        click.echo(
            "".join(
                difflib.unified_diff(before.splitlines(True), after.splitlines(True), str(path), str(path))
            )
        )
    click.echo(
        f"{path}: {'updated' if result.changed and not dry_run else 'would change' if result.changed else 'unchanged'}"
    )


def register(cli: click.Group) -> None:
    cli.add_command(inject_cmd)
