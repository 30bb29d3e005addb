"""Active pods: tracked in memory and in a state file, terminated on exit and on signals.

The state file (``.pgolf/pods.json`` by default) lists every pod this repository's
orchestrators have asked for and not yet seen terminated::

    {"version": 1, "pods": [{"run_id", "name", "provider", "pod_id", "deadline", "created",
                              "pr", "sha", "owner_pid", "owner_start", "host", "status"}]}

An entry is written *before* the pod is created (``status: creating``), so a crash between
the API call and the bookkeeping still leaves a trace the reaper can match by name. The
reaper terminates pods past their deadline, pods unknown to this file, and pods whose owner
process on this host is gone (an orchestrator killed with SIGKILL).

:class:`PodGuard` is the in-process half: while a promotion runs it holds the pod in memory,
terminates it from ``atexit`` and from SIGTERM/SIGINT handlers (then lets the exception
unwind so the caller's ``finally`` settles the budget), and restores the previous handlers.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bot.errors import StateError
from bot.fileio import atomic_write_text, file_lock

VERSION = 1


def process_start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (guards against pid reuse); '' when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime) — after the parenthesised command name, which may contain spaces.
    rest = stat.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else ""


def owner_alive(pid: int, start: str, host: str) -> bool | None:
    """True/False for an owner on this host; None when it ran elsewhere (cannot tell)."""
    if host != socket.gethostname() or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not start or process_start_time(pid) == start


@dataclass
class PodRecord:
    run_id: str
    name: str
    provider: str
    deadline: float
    created: float
    pod_id: str = ""
    pr: int | None = None
    sha: str = ""
    owner_pid: int = 0
    owner_start: str = ""
    host: str = ""
    status: str = "creating"  # creating | active | terminating

    def owner_alive(self) -> bool | None:
        return owner_alive(self.owner_pid, self.owner_start, self.host)


class PodState:
    """The state file; every mutation is locked, re-read and written atomically."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def load(self) -> list[PodRecord]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"cannot read pod state: {exc}", path=str(self.path)) from None
        if not isinstance(data, dict) or not isinstance(data.get("pods"), list):
            raise StateError("expected an object with a 'pods' list", path=str(self.path))
        out: list[PodRecord] = []
        for i, p in enumerate(data["pods"]):
            try:
                out.append(PodRecord(**p))
            except TypeError as exc:
                raise StateError(f"bad entry: {exc}", path=str(self.path), field=f"pods[{i}]") from None
        return out

    def _save(self, pods: list[PodRecord]) -> None:
        data = {"version": VERSION, "pods": [asdict(p) for p in pods]}
        atomic_write_text(self.path, json.dumps(data, indent=2) + "\n")

    def update(self, fn: Callable[[list[PodRecord]], list[PodRecord]]) -> list[PodRecord]:
        with file_lock(self.path):
            pods = fn(self.load())
            self._save(pods)
        return pods

    def add(self, rec: PodRecord) -> None:
        self.update(lambda pods: [p for p in pods if p.run_id != rec.run_id] + [rec])

    def set(self, run_id: str, **values: Any) -> None:
        def fn(pods: list[PodRecord]) -> list[PodRecord]:
            for p in pods:
                if p.run_id == run_id:
                    for k, v in values.items():
                        setattr(p, k, v)
            return pods

        self.update(fn)

    def remove(self, run_id: str) -> None:
        self.update(lambda pods: [p for p in pods if p.run_id != run_id])

    def find(self, run_id: str) -> PodRecord | None:
        return next((p for p in self.load() if p.run_id == run_id), None)


def new_record(
    run_id: str, name: str, provider: str, deadline: float, *, pr: int | None = None, sha: str = ""
) -> PodRecord:
    pid = os.getpid()
    return PodRecord(
        run_id=run_id,
        name=name,
        provider=provider,
        deadline=deadline,
        created=time.time(),
        pr=pr,
        sha=sha,
        owner_pid=pid,
        owner_start=process_start_time(pid),
        host=socket.gethostname(),
    )


class Interrupted(BaseException):
    """Raised in the main thread by the SIGTERM/SIGINT handler after the pods are terminated."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by signal {signal.Signals(signum).name}")
        self.signum = signum


# ----------------------------------------------------------------------------- in-process guard
_ACTIVE: dict[str, tuple[Callable[[], None], str]] = {}  # run_id → (terminate fn, pod id)
_LOCK = threading.Lock()
_ATEXIT_INSTALLED = False


def _terminate_all(reason: str) -> list[str]:
    with _LOCK:
        items = list(_ACTIVE.items())
    done: list[str] = []
    for run_id, (fn, _pod_id) in items:
        try:
            fn()
            done.append(run_id)
            with _LOCK:
                _ACTIVE.pop(run_id, None)
        except Exception:  # best effort: the deadline and the reaper are the backstops
            pass
    return done


class PodGuard:
    """Hold a pod for the duration of a ``with`` block; terminate it on exit paths.

    ``terminate`` must be idempotent. The block's own ``finally`` is the main path; atexit
    and the signal handlers cover an interpreter that is shutting down or being stopped.
    """

    def __init__(self, run_id: str, terminate: Callable[[], None]):
        self.run_id = run_id
        self.terminate = terminate
        self.pod_id = ""
        self._old: dict[int, Any] = {}

    def set_pod(self, pod_id: str) -> None:
        self.pod_id = pod_id
        with _LOCK:
            _ACTIVE[self.run_id] = (self.terminate, pod_id)

    def release(self) -> None:
        with _LOCK:
            _ACTIVE.pop(self.run_id, None)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        _terminate_all(f"signal {signum}")
        raise Interrupted(signum)

    def __enter__(self) -> PodGuard:
        global _ATEXIT_INSTALLED
        if not _ATEXIT_INSTALLED:
            atexit.register(_terminate_all, "atexit")
            _ATEXIT_INSTALLED = True
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        for sig, old in self._old.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, old)
