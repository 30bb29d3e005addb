"""A pod provider that runs the "pod" on this machine: subprocesses, $0.

Used by the offline demo and by users who own a GPU box. It has the same interface as the
RunPod provider: a pod is a folder ``<pods_dir>/<pod-id>/`` with a ``pod.json`` record, the
run's files under ``work/``, and a detached watchdog process (its "start command") that kills
every process of the pod and marks it terminated when the deadline passes, even if the
orchestrator was killed with SIGKILL. The shipped commit is pull-request code, so every command
runs in :mod:`bot.sandbox` (own uid, no network but a private loopback, the work folder its only
writable folder, an environment built from nothing plus what the caller names), each box in its
own process group recorded in ``pod.json``; logs and artifacts come back as regular files only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.compute.provider import DEADLINE_ENV, RUN_ID_ENV, PodInfo, PodSpec
from bot.compute.remote import stream_to_log
from bot.errors import PodError, RemoteError
from bot.fileio import atomic_write_text, file_lock
from bot.git import run as run_git
from bot.sandbox import DEFAULT_UID, Sandbox, copy_regular


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PodError(f"cannot read local pod record: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise PodError("local pod record is not an object", path=str(path))
    return data


def _update(path: Path, **values: Any) -> dict[str, Any]:
    with file_lock(path):
        data = _read(path)
        for k, v in values.items():
            if k == "add_pgid":
                data["pgids"] = [*data.get("pgids", []), v]
            else:
                data[k] = v
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return data


def _kill_groups(pgids: list[int], grace: float = 3.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for g in pgids:
            try:
                os.killpg(g, sig)
                alive.append(g)
            except (ProcessLookupError, PermissionError):
                pass
        if not alive or sig == signal.SIGKILL:
            return
        end = time.monotonic() + grace
        while time.monotonic() < end:
            still = []
            for g in alive:
                try:
                    os.killpg(g, 0)
                    still.append(g)
                except (ProcessLookupError, PermissionError):
                    pass
            if not still:
                return
            time.sleep(0.05)


def stop_pod(record: Path, status: str = "TERMINATED") -> None:
    """Kill every process group of the pod and mark it; idempotent."""
    data = _read(record)
    _kill_groups([int(g) for g in data.get("pgids", [])])
    _update(record, status=status, terminated=time.time())


class LocalPodProvider:
    name = "local"
    free = True  # $0: the promotion still reserves (free) and settles, never blocks a paid run

    def __init__(
        self,
        pods_dir: Path,
        *,
        log: Callable[[str], None] | None = None,
        sandbox: str = "auto",
        sandbox_uid: int = DEFAULT_UID,
    ):
        self.pods_dir = Path(pods_dir)
        self.log = log or (lambda msg: None)
        self.sandbox = sandbox  # the shipped commit is PR code: its commands run in bot.sandbox
        self.sandbox_uid = sandbox_uid

    def _record(self, pod_id: str) -> Path:
        return self.pods_dir / pod_id / "pod.json"

    def _info(self, data: dict[str, Any]) -> PodInfo:
        end = data.get("terminated") or time.time()
        return PodInfo(
            id=str(data["id"]),
            name=str(data["name"]),
            status=str(data.get("status", "RUNNING")),
            cost_per_hr=0.0,
            uptime_seconds=max(0.0, float(end) - float(data.get("created", end))),
            ssh=None,
            env=dict(data.get("env", {})),
            gpu_count=int(data.get("gpu_count", 0)),
            raw=data,
        )

    def create(self, spec: PodSpec) -> PodInfo:
        pod_id = f"local-{spec.run_id}"
        folder = self.pods_dir / pod_id
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "work").mkdir(parents=True)
        env = {**spec.env, RUN_ID_ENV: spec.run_id, DEADLINE_ENV: str(int(spec.deadline))}
        env.pop("PUBLIC_KEY", None)
        data = {
            "id": pod_id,
            "name": spec.name,
            "status": "RUNNING",
            "created": time.time(),
            "deadline": spec.deadline,
            "gpu_count": spec.gpu_count,
            "env": env,
            "pgids": [],
        }
        record = self._record(pod_id)
        atomic_write_text(record, json.dumps(data, indent=2) + "\n")
        # The pod's "start command": a detached watchdog that enforces the deadline. It is
        # started through a launcher that exits at once, so it is nobody's child here and is
        # reaped by init whenever it dies (no zombie outlives the pod).
        launcher = subprocess.run(
            [sys.executable, "-m", "bot.compute.localpod", "spawn", str(record)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if launcher.returncode != 0 or not launcher.stdout.strip().isdigit():
            stop_pod(record)
            raise PodError(f"local pod watchdog did not start: {launcher.stderr.strip()[-500:]}")
        _update(record, add_pgid=int(launcher.stdout.strip()))
        return self._info(_read(record))

    def wait_ready(self, pod_id: str, timeout: float) -> PodInfo:
        pod = self.get(pod_id)
        if pod is None or not pod.alive:
            raise PodError(f"local pod {pod_id} is not running")
        return pod

    def quote(self, spec: PodSpec) -> float | None:
        """No price: a local pod costs nothing."""
        return None

    def get(self, pod_id: str) -> PodInfo | None:
        record = self._record(pod_id)
        if not record.exists():
            return None
        info = self._info(_read(record))
        return None if info.status == "TERMINATED" else info

    def list(self) -> list[PodInfo]:
        if not self.pods_dir.is_dir():
            return []
        out = []
        for rec in sorted(self.pods_dir.glob("*/pod.json")):
            info = self._info(_read(rec))
            if info.status != "TERMINATED":
                out.append(info)
        return out

    def terminate(self, pod_id: str) -> None:
        record = self._record(pod_id)
        if record.exists():
            stop_pod(record)

    def executor(self, pod: PodInfo, run_id: str, key_path: Path | None) -> LocalExecutor:
        return LocalExecutor(
            self._record(pod.id), log=self.log, sandbox=self.sandbox, sandbox_uid=self.sandbox_uid
        )


class LocalExecutor:
    def __init__(
        self,
        record: Path,
        *,
        log: Callable[[str], None] | None = None,
        sandbox: str = "auto",
        sandbox_uid: int = DEFAULT_UID,
    ):
        self.record = record
        self.log = log or (lambda msg: None)
        self.sandbox = sandbox
        self.sandbox_uid = sandbox_uid
        self._workdir = record.parent / "work"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def workdir(self) -> str:
        return str(self._workdir)

    def wait_ready(self, timeout: float) -> None:
        if _read(self.record).get("status") == "TERMINATED":
            raise RemoteError("local pod was terminated")

    def ship(self, repo: Path, sha: str) -> None:
        if self._workdir.exists():
            shutil.rmtree(self._workdir)
        self._workdir.mkdir(parents=True)
        proc = run_git(repo, "archive", "--format=tar", sha)
        if proc.returncode != 0:
            raise RemoteError(f"git archive {sha} failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            tar.extractall(self._workdir, filter="data")

    def run(self, command: str, env: Mapping[str, str], log_path: Path, timeout: float) -> int:
        """Run ``command`` (the shipped commit's setup or training) in :mod:`bot.sandbox`: the
        pod's work folder is its one writable folder besides the box's scratch, and the files or
        folders named by ``*_PATH``/``*_DIR``/``*_FILE`` variables are visible read-only."""
        if _read(self.record).get("status") == "TERMINATED":
            raise RemoteError("local pod was terminated")
        inputs = [
            Path(v)
            for k, v in env.items()
            if k.endswith(("_PATH", "_DIR", "_FILE")) and v.startswith("/") and v != "/" and Path(v).exists()
        ]
        with Sandbox(self.sandbox, uid=self.sandbox_uid, inputs=inputs, writable=[self._workdir]) as box:
            proc = box.popen(
                ["bash", "-c", command],
                env=dict(env),
                cwd=self._workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            self._procs.append(proc)
            _update(self.record, add_pgid=proc.pid)
            return stream_to_log(proc, log_path, timeout, self.log)

    def fetch(self, dest: Path, globs: list[str]) -> list[Path]:
        """The run's logs and artifacts, as regular files only (the work folder was written by
        the shipped commit's code: a symlink there is not followed)."""
        copied = copy_regular(self._workdir, ["logs/**/*", *globs], dest)
        return sorted({*copied, *(p for p in dest.rglob("*") if p.is_file() and not p.is_symlink())})

    def close(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def watchdog(record: Path) -> None:
    """Sleep until the pod's deadline, then kill it (runs detached)."""
    while True:
        try:
            data = _read(record)
        except PodError:
            return
        if data.get("status") == "TERMINATED":
            return
        left = float(data["deadline"]) - time.time()
        if left <= 0:
            # Kill the others, then mark; this process is in pgids too, so skip our own group.
            me = os.getpgid(0)
            _kill_groups([int(g) for g in data.get("pgids", []) if int(g) != me])
            _update(record, status="TERMINATED", terminated=time.time(), reason="deadline")
            return
        time.sleep(min(left, 1.0))


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess
    if len(sys.argv) == 3 and sys.argv[1] == "watchdog":
        watchdog(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "spawn":
        child = subprocess.Popen(
            [sys.executable, "-m", "bot.compute.localpod", "watchdog", sys.argv[2]],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(child.pid)
