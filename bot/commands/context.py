"""What every CLI command receives: the research repository root and its frozen settings."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from bot.config import Settings, load_settings


@dataclass
class AppContext:
    root: Path
    overrides: dict[str, str] = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.root, overrides=self.overrides)
        return self._settings

    def path(self, name: str) -> Path:
        return self.settings.path(name, self.root)


pass_app = click.make_pass_decorator(AppContext)

# The ``--json`` flag (parameter ``as_json``) of the commands that can print JSON.
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def isatty() -> bool:
    return sys.stdout.isatty()
