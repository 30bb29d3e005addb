"""Money that survives a dead runner: commit budget.json to the default branch at once.

A promotion reserves its worst case in ``budget.json`` and pushes that file to the default branch
with ``pgolf ledger commit``'s pull-rebase-retry before the pod is rented: promote.yml's reserve
job always does (``pgolf promote reserve``, :mod:`bot.compute.split`); ``pgolf promote`` in one
process does with ``ledger_commit_reservations`` on, and again once the pod id is known. The
scheduled reaper works from a fresh checkout of the default branch, so whatever happens to the
runner afterwards (SIGKILL, a cancelled job, a lost machine), the reservation is there for it to
settle at RunPod's billed time or the worst case.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.config import Settings

Committer = Callable[[str], float]


def make_committer(
    root: Path, settings: Settings, env: Mapping[str, str] | None = None, *, always: bool = False
) -> Committer | None:
    """A function that commits the ledger with a message and returns the seconds it took;
    None when ``ledger_commit_reservations`` is off (a local run: the file is the record) unless
    ``always`` (``pgolf promote reserve``: the split workflow's reservation is always committed)."""
    if not settings.ledger_commit_reservations and not always:
        return None

    def commit(message: str) -> float:
        from bot.forge.ledger_commit import ledger_commit

        t0 = time.monotonic()
        ledger_commit(root, message, settings, env=env)
        return time.monotonic() - t0

    return commit
