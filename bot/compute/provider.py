"""The pod-provider interface shared by RunPod and the local provider.

A provider creates a pod from a :class:`PodSpec`, waits until it is reachable, and can get,
list and terminate pods. Every pod is named ``pgolf-<run-id>`` and carries a deadline (a Unix
time): the pod's own start command removes it when the deadline passes, so it dies even if
every other safeguard fails. :meth:`PodProvider.executor` returns the object that runs
commands on the pod (SSH for RunPod, subprocess for the local provider).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.errors import InputError

POD_PREFIX = "pgolf-"
RUN_ID_ENV = "PARAMGOLF_RUN_ID"
DEADLINE_ENV = "PARAMGOLF_DEADLINE"
_RUN_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
# Characters the runpod SDK would put unescaped inside a GraphQL string literal.
_UNSAFE = re.compile(r'["\\\n\r]')


def pod_name(run_id: str) -> str:
    check_run_id(run_id)
    return POD_PREFIX + run_id


def check_run_id(run_id: str) -> str:
    if not _RUN_ID_RE.fullmatch(run_id):
        raise InputError(f"{run_id!r} is not a valid run id (a-z, 0-9, . _ -; ≤ 63 chars)", field="run_id")
    return run_id


def check_safe(value: str, name: str) -> str:
    """Refuse values that would break (or inject into) the GraphQL document the SDK builds."""
    if _UNSAFE.search(value):
        raise InputError("must not contain double quotes, backslashes or newlines", field=name)
    return value


@dataclass(frozen=True)
class SSHEndpoint:
    host: str
    port: int
    user: str = "root"


@dataclass
class PodSpec:
    run_id: str
    gpu_count: int
    gpu_type: str
    image: str
    cloud_type: str
    deadline: float  # Unix time after which the pod removes itself
    env: dict[str, str] = field(default_factory=dict)
    ports: str = "22/tcp"
    volume_gb: int = 0
    container_disk_gb: int = 50
    start_command: str = "/start.sh"

    @property
    def name(self) -> str:
        return pod_name(self.run_id)


@dataclass
class PodInfo:
    id: str
    name: str
    status: str  # RUNNING | EXITED | TERMINATED | CREATED …
    cost_per_hr: float = 0.0
    uptime_seconds: float = 0.0
    ssh: SSHEndpoint | None = None
    env: dict[str, str] = field(default_factory=dict)
    gpu_count: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return self.env.get(RUN_ID_ENV) or (
            self.name[len(POD_PREFIX) :] if self.name.startswith(POD_PREFIX) else ""
        )

    @property
    def deadline(self) -> float | None:
        text = self.env.get(DEADLINE_ENV)
        try:
            return float(text) if text else None
        except ValueError:
            return None

    @property
    def is_pgolf(self) -> bool:
        return self.name.startswith(POD_PREFIX)

    @property
    def alive(self) -> bool:
        return self.status not in ("TERMINATED", "EXITED")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("raw", None)
        d["run_id"] = self.run_id
        d["deadline"] = self.deadline
        return d


def env_list_to_dict(env: Any) -> dict[str, str]:
    """RunPod returns env as ``["K=V", …]`` (or ``[{key, value}]``); tolerate both."""
    out: dict[str, str] = {}
    if isinstance(env, Mapping):
        return {str(k): str(v) for k, v in env.items()}
    for item in env or []:
        if isinstance(item, str) and "=" in item:
            k, v = item.split("=", 1)
            out[k] = v
        elif isinstance(item, Mapping) and "key" in item:
            out[str(item["key"])] = str(item.get("value", ""))
    return out


class Executor(Protocol):
    """Runs the promotion's steps on a pod."""

    def wait_ready(self, timeout: float) -> None: ...

    def ship(self, repo: Path, sha: str) -> None: ...

    def run(
        self,
        command: str,
        env: Mapping[str, str],
        log_path: Path,
        timeout: float,
    ) -> int: ...

    def fetch(self, dest: Path, globs: list[str]) -> list[Path]: ...

    def close(self) -> None: ...

    @property
    def workdir(self) -> str: ...


class PodProvider(Protocol):
    name: str
    # True where a pod costs nothing (the local provider): no SSH key, a free reservation that
    # never blocks a paid run
    free: bool

    def quote(self, spec: PodSpec) -> float | None:
        """The price per hour of ``spec``'s GPUs (None: no quote; the settings' rate holds)."""
        ...

    def create(self, spec: PodSpec) -> PodInfo: ...

    def wait_ready(self, pod_id: str, timeout: float) -> PodInfo: ...

    def get(self, pod_id: str) -> PodInfo | None: ...

    def list(self) -> list[PodInfo]: ...

    def terminate(self, pod_id: str) -> None: ...

    def executor(self, pod: PodInfo, run_id: str, key_path: Path | None) -> Executor: ...
