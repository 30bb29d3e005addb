"""The reaper across two zones: what RunPod said, as data.

reaper.yml's ``reap`` job holds only the RunPod key (``contents: read``): it runs the real
:func:`bot.compute.reaper.reap` on its checkout of the default branch through a
:class:`RecordingProvider` — pods past their deadline are really terminated there — and writes
every answer RunPod gave (list, get, terminate, account) to an observations file. Its ledger
changes are thrown away with the runner.

The ``book`` job holds only the App key: it runs the same :func:`~bot.compute.reaper.reap`, at the
observation's time, through a :class:`ReplayProvider` that answers from that file — so it takes the
same decisions and books the same costs — then commits the ledger and posts the alerts. It cannot
terminate anything: a terminate the reap job did not do is an error. A dead ``book`` job leaves the
reservations open on the default branch; the next tick observes the pods again (now gone, with
their billed uptime) and books them once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.compute.provider import Executor, PodInfo, PodProvider, PodSpec, SSHEndpoint
from bot.errors import InputError, PgolfError, PodError
from bot.fileio import atomic_write_text

SCHEMA = "pgolf-reaper-observations/1"
MAX_BYTES = 2_000_000
# A book job replays only fresh observations: a re-run of an old tick's book job (after a later
# tick has settled the same pods) would book them again. reaper.yml's ledger concurrency group
# already runs ticks one after another; this covers "Re-run failed jobs" on an old run.
MAX_AGE_SECONDS = 600.0


def _pod_dict(p: PodInfo | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "id": p.id,
        "name": p.name,
        "status": p.status,
        "cost_per_hr": p.cost_per_hr,
        "uptime_seconds": p.uptime_seconds,
        "env": dict(p.env),
        "gpu_count": p.gpu_count,
        "ssh": [p.ssh.host, p.ssh.port, p.ssh.user] if p.ssh else None,
    }


def _pod_from(d: Any, where: str) -> PodInfo | None:
    if d is None:
        return None
    try:
        ssh = d.get("ssh")
        env = d.get("env") or {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise TypeError("env")
        return PodInfo(
            id=str(d["id"]),
            name=str(d["name"]),
            status=str(d["status"]),
            cost_per_hr=float(d["cost_per_hr"]),
            uptime_seconds=float(d["uptime_seconds"]),
            env=env,
            gpu_count=int(d["gpu_count"]),
            ssh=SSHEndpoint(str(ssh[0]), int(ssh[1]), str(ssh[2])) if ssh else None,
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InputError(f"a pod entry is malformed ({exc})", path=where) from None


class RecordingProvider:
    """Wraps the real provider; remembers each answer and when it was given (monotonic)."""

    def __init__(self, inner: PodProvider):
        self.inner = inner
        self.name = inner.name
        self.free = inner.free
        self.listed: list[dict[str, Any]] | None = None
        self.gets: dict[str, dict[str, Any]] = {}
        self.terminated: dict[str, dict[str, Any]] = {}
        self.account_info: dict[str, Any] | None = None
        self._t: dict[str, float] = {}

    def list(self) -> list[PodInfo]:
        pods = self.inner.list()
        self.listed = [_pod_dict(p) or {} for p in pods]
        now = time.monotonic()
        for p in pods:
            self._t.setdefault(p.id, now)
        return pods

    def get(self, pod_id: str) -> PodInfo | None:
        pod = self.inner.get(pod_id)
        self.gets[pod_id] = {"pod": _pod_dict(pod)}
        self._t[pod_id] = time.monotonic()
        return pod

    def terminate(self, pod_id: str) -> None:
        try:
            self.inner.terminate(pod_id)
        except PgolfError as exc:
            self.terminated[pod_id] = {"ok": False, "error": str(exc)[:500]}
            raise
        seen = self._t.get(pod_id)
        # seconds the pod billed between the answer the reaper used and the end of this call
        self.terminated[pod_id] = {"ok": True, "after": round(time.monotonic() - seen, 3) if seen else 0.0}

    def account(self) -> dict[str, Any]:
        fn = getattr(self.inner, "account", None)
        info = fn() if callable(fn) else {}
        self.account_info = info if isinstance(info, dict) else {}
        return self.account_info

    # never used by the reaper; present for the PodProvider protocol
    def quote(self, spec: PodSpec) -> float | None:
        return self.inner.quote(spec)

    def create(self, spec: PodSpec) -> PodInfo:
        raise PodError("the reaper never creates pods")

    def wait_ready(self, pod_id: str, timeout: float) -> PodInfo:
        raise PodError("the reaper never waits for pods")

    def executor(self, pod: PodInfo, run_id: str, key_path: Path | None) -> Executor:
        raise PodError("the reaper never runs commands on pods")

    def observations(self, now: float) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "provider": self.name,
            "now": now,
            "observed_at": time.time(),  # wall clock (``now`` may be a chosen decision time)
            "listed": self.listed if self.listed is not None else [],
            "gets": self.gets,
            "terminated": self.terminated,
            "account": self.account_info,
        }


def write_observations(path: Path | str, data: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class ReplayProvider:
    """Answers the reaper from an observations file (see the module docstring)."""

    def __init__(self, data: dict[str, Any], where: str = "observations"):
        self.where = where
        self.name = str(data["provider"])
        self.free = self.name == "local"  # as the provider that observed (LocalPodProvider.free)
        self.now = float(data["now"])
        terminated = data.get("terminated") or {}
        self.terminated: dict[str, dict[str, Any]] = terminated
        self._listed = [self._billed(p) for p in (_pod_from(d, where) for d in data.get("listed") or []) if p]
        self._gets: dict[str, PodInfo | None] = {}
        for pod_id, entry in (data.get("gets") or {}).items():
            if not isinstance(entry, dict):
                raise InputError(f"gets[{pod_id!r}] is not an object", path=where)
            pod = _pod_from(entry.get("pod"), where)
            self._gets[str(pod_id)] = self._billed(pod) if pod is not None else None
        acc = data.get("account")
        self._account = acc if isinstance(acc, dict) else {}

    def _billed(self, pod: PodInfo) -> PodInfo:
        """A pod the reap job terminated billed until that call returned: its uptime includes it."""
        t = self.terminated.get(pod.id)
        if isinstance(t, dict) and t.get("ok") and pod.uptime_seconds > 0:
            pod.uptime_seconds += float(t.get("after") or 0.0)
        return pod

    @classmethod
    def load(cls, path: Path | str, *, max_age: float = MAX_AGE_SECONDS) -> ReplayProvider:
        """The observations in ``path``; InputError when unreadable, malformed or older than
        ``max_age`` seconds (stale: the next tick observes again)."""
        path = Path(path)
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise InputError(f"cannot read the observations: {exc.strerror or exc}", path=str(path)) from None
        if len(raw) > MAX_BYTES:
            raise InputError(f"the observations are over {MAX_BYTES} bytes", path=str(path))
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"the observations are not JSON: {exc}", path=str(path)) from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise InputError(f"not a {SCHEMA} file", path=str(path))
        if data.get("provider") not in ("runpod", "local") or not isinstance(data.get("now"), (int, float)):
            raise InputError("provider/now are missing or malformed", path=str(path))
        if not isinstance(data.get("terminated", {}), dict) or not isinstance(data.get("gets", {}), dict):
            raise InputError("gets/terminated are malformed", path=str(path))
        seen = data.get("observed_at")
        if isinstance(seen, bool) or not isinstance(seen, (int, float)):
            raise InputError("observed_at is missing", path=str(path))
        age = time.time() - float(seen)
        if age > max_age:
            raise InputError(
                f"the observations are {age:.0f} s old (over {max_age:.0f} s): stale, not booked; the next "
                "reaper tick observes RunPod again",
                path=str(path),
            )
        return cls(data, str(path))

    def list(self) -> list[PodInfo]:
        return list(self._listed)

    def get(self, pod_id: str) -> PodInfo | None:
        if pod_id not in self._gets:
            raise PodError(f"pod {pod_id} was not observed by the reap job (the next tick will)")
        return self._gets[pod_id]

    def quote(self, spec: PodSpec) -> float | None:
        """No price: the reaper books what the observations say, never a quote."""
        return None

    def terminate(self, pod_id: str) -> None:
        t = self.terminated.get(pod_id)
        if not isinstance(t, dict) or not t.get("ok"):
            why = t.get("error") if isinstance(t, dict) else "it did not try"
            raise PodError(f"the reap job did not terminate pod {pod_id} ({why}); this job cannot")

    def account(self) -> dict[str, Any]:
        return self._account

    def create(self, spec: PodSpec) -> PodInfo:
        raise PodError("replayed observations cannot create pods")

    def wait_ready(self, pod_id: str, timeout: float) -> PodInfo:
        raise PodError("replayed observations cannot wait for pods")

    def executor(self, pod: PodInfo, run_id: str, key_path: Path | None) -> Executor:
        raise PodError("replayed observations cannot run commands")
