"""The forge: GitHub (PyGithub, App auth) or a plain local git repository, behind one interface."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bot.config import Settings
from bot.errors import ConfigError
from bot.forge.base import Forge


def open_forge(settings: Settings, root: Path | str, env: Mapping[str, str] | None = None) -> Forge:
    """The forge ``settings.forge`` names; ``auto`` means GitHub inside Actions or with
    credentials and a repository name, else the local forge over ``root``."""
    env = os.environ if env is None else env
    kind = settings.forge
    if kind not in ("auto", "github", "local"):
        raise ConfigError(f"must be auto, github or local, not {kind!r}", field="forge")
    if kind == "auto":
        from bot.forge.github import has_github_credentials

        in_actions = env.get("GITHUB_ACTIONS") == "true"
        named = bool(settings.github_repository or env.get("GITHUB_REPOSITORY"))
        kind = "github" if (in_actions or has_github_credentials(env)) and named else "local"
    if kind == "github":
        from bot.forge.github import GitHubForge

        return GitHubForge.from_env(settings, env)
    from bot.forge.local import LocalForge

    return LocalForge(root, settings.path("local_forge_path", root))
