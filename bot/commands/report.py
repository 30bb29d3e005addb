"""`pgolf report`: the static dashboard and its PNG plots."""

from __future__ import annotations

from pathlib import Path

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app, warn


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("report"),
    show_default=True,
    help="Folder to write the site to (index.html, data.json, plots/*.png); replaced as a whole.",
)
@click.option("--no-png", is_flag=True, help="Skip the matplotlib PNG plots (faster).")
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also append a Markdown summary with the PNG plots to this file (e.g. $GITHUB_STEP_SUMMARY).",
)
@click.option(
    "--base-url",
    default="",
    help="Where the site is published (GitHub Pages URL); the summary links the PNGs there.",
)
@json_option
@pass_app
def report(
    app: AppContext,
    out_dir: Path,
    no_png: bool,
    summary_path: Path | None,
    base_url: str,
    as_json: bool,
) -> None:
    """Build the static dashboard of this research repository.

    The site is self-contained (no server, nothing loaded from the network): open
    OUT/index.html in a browser, or publish the folder to GitHub Pages.
    """
    from bot.report import build_report, summary_markdown

    out = out_dir if out_dir.is_absolute() else Path.cwd() / out_dir
    result = build_report(app.root, app.settings, out, pngs=not no_png)
    if summary_path is not None:
        with summary_path.open("a", encoding="utf-8") as fh:
            fh.write(summary_markdown(result, base_url))
    if as_json:
        emit_json(result.to_dict())
        return
    for w in result.warnings:
        warn(w)
    click.echo(f"Report: {result.index} ({result.rows} experiment row(s), {result.seconds:.2f} s)")
    for name, path in result.pngs.items():
        click.echo(f"  plot {name}: {path}")
    click.echo(f"Open it: python -m webbrowser file://{result.index}")


def register(cli: click.Group) -> None:
    cli.add_command(report)
