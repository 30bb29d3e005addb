"""RunPod pod lifecycle over the official ``runpod`` SDK.

The SDK reads ``RUNPOD_API_BASE_URL`` (default ``https://api.runpod.io``) on every GraphQL
call, so tests point it at the emulator without touching the SDK. The API key comes from
``RUNPOD_API_KEY`` only; it is given to the SDK, never logged and never sent to a pod.

Pods are created with ``podFindAndDeployOnDemand`` (secure cloud by default, public IP, port
22/tcp, the per-run SSH *public* key in ``PUBLIC_KEY``) and a start command that arms the
in-pod deadline: ``sleep <seconds>; runpodctl remove pod $RUNPOD_POD_ID`` runs in the
background (RunPod injects ``RUNPOD_POD_ID`` and a pod-scoped key for ``runpodctl``; none of
ours), then the image's own entrypoint starts sshd.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

from bot.compute.provider import (
    DEADLINE_ENV,
    RUN_ID_ENV,
    PodInfo,
    PodSpec,
    SSHEndpoint,
    check_safe,
    env_list_to_dict,
)
from bot.config import POD_CLOUD_TYPES
from bot.errors import ConfigError, PodError

API_KEY_ENV = "RUNPOD_API_KEY"
T = TypeVar("T")


def deadline_start_command(spec: PodSpec, now: float | None = None) -> str:
    """The pod's start command: arm the self-removal at the deadline, then boot the image."""
    now = time.time() if now is None else now
    seconds = max(1, math.ceil(spec.deadline - now))
    check_safe(spec.start_command, "pod_start_command")
    if "'" in spec.start_command:
        raise ConfigError("must not contain single quotes", field="pod_start_command")
    watchdog = (
        f"(sleep {seconds}; runpodctl remove pod $RUNPOD_POD_ID || runpodctl stop pod $RUNPOD_POD_ID) "
        "> /tmp/pgolf-deadline.log 2>&1 &"
    )
    return f"bash -c '{watchdog} exec {spec.start_command}'"


def _pod_from(raw: dict[str, Any], user: str) -> PodInfo:
    ssh: SSHEndpoint | None = None
    runtime = raw.get("runtime") or {}
    for port in runtime.get("ports") or []:
        if port.get("privatePort") == 22 and port.get("type") == "tcp" and port.get("isIpPublic"):
            ssh = SSHEndpoint(str(port["ip"]), int(port["publicPort"]), user)
            break
    return PodInfo(
        id=str(raw.get("id")),
        name=str(raw.get("name") or ""),
        status=str(raw.get("desiredStatus") or "UNKNOWN"),
        cost_per_hr=float(raw.get("costPerHr") or 0.0),
        uptime_seconds=float(raw.get("uptimeSeconds") or 0.0),
        ssh=ssh,
        env=env_list_to_dict(raw.get("env")),
        gpu_count=int(raw.get("gpuCount") or 0),
        raw=raw,
    )


class RunPodProvider:
    """The RunPod side of the :class:`~bot.compute.provider.PodProvider` interface."""

    name = "runpod"
    free = False

    def __init__(
        self,
        api_key: str | None = None,
        *,
        ssh_user: str = "root",
        workdir: str = "/workspace",
        ssh_timeout: float = 300.0,
        poll_interval: float = 2.0,
        retries: int = 4,
        retry_wait: float = 1.0,
        log: Callable[[str], None] | None = None,
    ):
        key = api_key or os.environ.get(API_KEY_ENV, "")
        if not key:
            raise ConfigError(f"{API_KEY_ENV} is not set (RunPod needs an API key)", path="env")
        import runpod  # imported lazily: the SDK is slow to import

        runpod.api_key = key
        self._rp = runpod
        self.ssh_user = ssh_user
        self.workdir = workdir
        self.ssh_timeout = ssh_timeout
        self.poll_interval = poll_interval
        self.retries = retries
        self.retry_wait = retry_wait
        self.log = log or (lambda msg: None)

    # ------------------------------------------------------------------ SDK calls
    def _call(self, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Call the SDK; transient failures retried, every failure a PodError naming ``what``."""
        attempts = self.retries if retry else 1
        last = ""
        for i in range(attempts):
            try:
                return fn()
            except self._rp.error.AuthenticationError as exc:
                raise PodError(f"RunPod {what}: authentication failed ({exc}); check {API_KEY_ENV}") from None
            except self._rp.error.QueryError as exc:
                last = str(exc)
                if not _transient(last):
                    raise PodError(f"RunPod {what}: {last}") from None
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                # ValueError covers the SDK's "No GPU found" and non-JSON bodies (HTTP 5xx pages).
                last = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, ValueError) and "No GPU found" in str(exc):
                    raise PodError(f"RunPod {what}: {exc}") from None
            if i + 1 < attempts:
                self.log(f"RunPod {what} failed ({last}); retrying")
                time.sleep(self.retry_wait * (2**i))
        raise PodError(f"RunPod {what} failed after {attempts} attempt(s): {last}")

    def create(self, spec: PodSpec) -> PodInfo:
        env = dict(spec.env)
        env[RUN_ID_ENV] = spec.run_id
        env[DEADLINE_ENV] = str(int(spec.deadline))
        for k, v in env.items():
            check_safe(k, "env")
            check_safe(v, f"env {k}")
        for name, value in (("pod_image", spec.image), ("gpu_type", spec.gpu_type)):
            check_safe(value, name)
        if spec.cloud_type not in POD_CLOUD_TYPES:  # the SDK writes it unquoted (a GraphQL enum)
            raise ConfigError(f"must be one of {', '.join(POD_CLOUD_TYPES)}", field="pod_cloud_type")
        docker_args = deadline_start_command(spec)
        # Not retried: a retry after a lost reply could create a second pod. The caller's
        # state entry (written first) lets the reaper find a pod created anyway.
        raw = self._call(
            "create pod",
            lambda: self._rp.create_pod(
                name=spec.name,
                image_name=spec.image,
                gpu_type_id=spec.gpu_type,
                cloud_type=spec.cloud_type,
                support_public_ip=True,
                start_ssh=True,
                gpu_count=spec.gpu_count,
                volume_in_gb=spec.volume_gb,
                container_disk_in_gb=spec.container_disk_gb,
                docker_args=docker_args,
                ports=spec.ports,
                env=env,
            ),
            retry=False,
        )
        if not isinstance(raw, dict) or not raw.get("id"):
            raise PodError(f"RunPod create pod: unexpected reply {raw!r}")
        pod: PodInfo | None = None
        with contextlib.suppress(PodError):  # the id is what matters: never lose it
            pod = self.get(str(raw["id"]))
        return pod or PodInfo(id=str(raw["id"]), name=spec.name, status="CREATED", env=env)

    def quote(self, spec: PodSpec) -> float | None:
        """The price per hour of ``spec``'s GPUs on its cloud (for the worst-case reservation)."""
        check_safe(spec.gpu_type, "gpu_type")
        gpu = self._call("price GPUs", lambda: self._rp.get_gpu(spec.gpu_type, spec.gpu_count))
        key = "communityPrice" if spec.cloud_type == "COMMUNITY" else "securePrice"
        price = gpu.get(key) if isinstance(gpu, dict) else None
        return float(price) * spec.gpu_count if isinstance(price, (int, float)) else None

    def get(self, pod_id: str) -> PodInfo | None:
        check_safe(pod_id, "pod_id")
        raw = self._call("get pod", lambda: self._rp.get_pod(pod_id))
        return _pod_from(raw, self.ssh_user) if raw else None

    def account(self) -> dict[str, Any]:
        """What RunPod reports for the account: ``clientBalance`` and ``currentSpendPerHr``
        (through the SDK's GraphQL client; the reaper reconciles them with budget.json)."""
        from runpod.api.graphql import run_graphql_query

        raw = self._call(
            "account",
            lambda: run_graphql_query("query myself { myself { clientBalance currentSpendPerHr } }"),
        )
        me = ((raw or {}).get("data") or {}).get("myself") or {}
        return {k: float(v) for k, v in me.items() if isinstance(v, (int, float))}

    def list(self) -> list[PodInfo]:
        raw = self._call("list pods", lambda: self._rp.get_pods())
        return [_pod_from(p, self.ssh_user) for p in raw or []]

    def terminate(self, pod_id: str) -> None:
        """Terminate (retried); success means the API no longer reports the pod alive."""
        check_safe(pod_id, "pod_id")
        last = ""
        for i in range(self.retries):
            try:
                self._call("terminate pod", lambda: self._rp.terminate_pod(pod_id), retry=False)
                pod = self.get(pod_id)
                if pod is None or not pod.alive:
                    return
                last = f"pod still {pod.status}"
            except PodError as exc:
                last = str(exc)
                with contextlib.suppress(PodError):
                    pod = self.get(pod_id)
                    if pod is None or not pod.alive:
                        return
            if i + 1 < self.retries:
                self.log(f"terminate {pod_id} failed ({last}); retrying")
                time.sleep(self.retry_wait * (2**i))
        raise PodError(f"could not terminate pod {pod_id}: {last}")

    def wait_ready(self, pod_id: str, timeout: float) -> PodInfo:
        """Poll until the pod runs and publishes its SSH port; PodError after ``timeout`` s.

        The caller terminates the pod on this error (its ``finally``); this method never
        leaves a pod behind silently because it never creates one.
        """
        end = time.monotonic() + timeout
        status = "unknown"
        while True:
            pod = self.get(pod_id)
            if pod is None:
                raise PodError(f"pod {pod_id} disappeared while booting")
            status = pod.status
            if status in ("TERMINATED", "EXITED"):
                raise PodError(f"pod {pod_id} stopped while booting ({status})")
            if status == "RUNNING" and pod.ssh is not None:
                return pod
            if time.monotonic() >= end:
                raise PodError(
                    f"pod {pod_id} not ready after {timeout:.0f} s (status {status}, "
                    f"ssh port {'published' if pod.ssh else 'not published'})"
                )
            time.sleep(min(self.poll_interval, max(0.05, end - time.monotonic())))

    def executor(self, pod: PodInfo, run_id: str, key_path: Path | None) -> Any:
        from bot.compute.remote import SSHExecutor

        if pod.ssh is None or key_path is None:
            raise PodError(f"pod {pod.id} has no SSH endpoint")
        return SSHExecutor(
            pod.ssh,
            key_path,
            f"{self.workdir.rstrip('/')}/pgolf-{run_id}",
            known_hosts=key_path.parent / "known_hosts",
            log=self.log,
        )


def _transient(message: str) -> bool:
    m = message.lower()
    return any(w in m for w in ("rate limit", "too many", "timeout", "temporar", "internal", "try again"))
