"""`pgolf research …`: one group; its commands live in the modules that own them.

``bot.commands.research_fetch`` (sources and pipeline) and ``bot.commands.research_grade``
(grading, verification, calibration, frontier) each expose ``register_research(group)``.
"""

from __future__ import annotations

import click

from bot.commands import research_fetch, research_grade


@click.group("research")
def research_group() -> None:
    """Research: fetch sources, grade, verify, calibrate, explore."""


def register(cli: click.Group) -> None:
    research_fetch.register_research(research_group)
    research_grade.register_research(research_group)
    cli.add_command(research_group)
