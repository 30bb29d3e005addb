"""What every CLI command receives: the research repository root and its frozen settings."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.config import SECTION_OF, SECTIONS, Settings, load_settings
from bot.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    root: Path
    overrides: dict[str, str] = field(default_factory=dict)
    # the settings sections the command reads (``reads_sections``); None: every section
    sections: tuple[str, ...] | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.root, overrides=self.overrides, sections=self.sections)
            for problem in self._settings.unknown_names:  # tolerated by this command: see load_settings
                warn(f"{problem} (this command runs on the defaults)")
        return self._settings

    def path(self, name: str) -> Path:
        return self.settings.path(name, self.root)


pass_app = click.make_pass_decorator(AppContext)


def reads_sections(*sections: str) -> Callable[[F], F]:
    """Declare the only settings sections a command reads (put it above ``@pass_app``).

    A bad setting in another section then does not stop the command: the reaper and the kill
    switch work while, say, a grading setting is wrong (a leaked pod keeps billing). Without this
    a command needs every section valid; with it, reading an undeclared bad section still fails
    (bot.config guards those settings), so no command runs on a silent default."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"no such settings section: {', '.join(sorted(unknown))}")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            app = click.get_current_context().find_object(AppContext)
            if app is not None and app._settings is None:
                app.sections = sections
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# The ``--json`` flag (parameter ``as_json``) of the commands that can print JSON.
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def isatty() -> bool:
    return sys.stdout.isatty()


def refuse_stray_names(app: AppContext, section: str, why: str) -> None:
    """For a command that tolerates stray names (the reaper workflow's) on a path that writes
    the files of ``section``: a stray name meant as one of its settings (``budget_pth``) would
    make the write land in a default file nothing reads, so it is refused."""
    for stray in app.settings.strays:
        if SECTION_OF.get(stray.meant or "") == section:
            raise ConfigError(f"{stray} — {why}", path="settings")
