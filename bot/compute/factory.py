"""Build the configured pod provider (``pod_provider`` setting or ``--provider``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.compute.provider import PodProvider
from bot.config import Settings
from bot.errors import ConfigError

PROVIDERS = ("runpod", "local")


def make_provider(
    settings: Settings,
    root: Path,
    kind: str | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> PodProvider:
    kind = kind or settings.pod_provider
    if kind == "runpod":
        from bot.compute.runpod import RunPodProvider

        return RunPodProvider(
            ssh_user=settings.pod_ssh_user,
            workdir=settings.pod_workdir,
            ssh_timeout=settings.pod_ssh_timeout_seconds,
            log=log,
        )
    if kind == "local":
        from bot.compute.localpod import LocalPodProvider

        return LocalPodProvider(
            settings.path("runs_dir", root).parent / "localpods",
            log=log,
            sandbox=settings.sandbox,
            sandbox_uid=settings.sandbox_uid,
        )
    raise ConfigError(f"must be one of {', '.join(PROVIDERS)}, not {kind!r}", field="pod_provider")
