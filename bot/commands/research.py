"""`pgolf research …`: one group; its commands live in the modules that own them.

``bot.commands.research_fetch`` (sources and pipeline) and ``bot.commands.research_grade``
(grading, verification, calibration, frontier) each expose ``register_research(group)``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

PARTS = ("bot.commands.research_fetch", "bot.commands.research_grade")


@click.group("research")
def research_group() -> None:
    """Research: fetch sources, grade, verify, calibrate, explore."""


def register(cli: click.Group) -> None:
    for modname in PARTS:
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register_research(research_group)
    cli.add_command(research_group)
