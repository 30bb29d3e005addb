"""A real OpenSSH ``sshd`` on 127.0.0.1 — the "pod" that promotion tests reach over SSH.

Everything lives in a temporary folder: a generated ed25519 host key, an ``authorized_keys``
file (the RunPod emulator appends each pod's ``PUBLIC_KEY`` to it, as RunPod images do), the
config and the pid file. Commands run locally as the current user. Needs ``openssh-server``
(``scripts/setup.sh`` installs it); :func:`sshd_available` tells tests when it is missing.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")


def sshd_path() -> str | None:
    for p in SSHD_CANDIDATES:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("sshd")


def sshd_available() -> bool:
    return bool(sshd_path() and shutil.which("ssh") and shutil.which("ssh-keygen") and shutil.which("rsync"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SSHServer:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.user = getpass.getuser()
        self.authorized_keys = self.folder / "authorized_keys"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SSHServer:
        sshd = sshd_path()
        if not sshd:
            raise RuntimeError("sshd not installed (apt-get install openssh-server)")
        host_key = self.folder / "ssh_host_ed25519_key"
        if not host_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        self.authorized_keys.touch()
        os.chmod(self.authorized_keys, 0o600)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        for attempt in range(5):  # a port picked free can be taken by a parallel test worker
            try:
                return self._start_on(sshd, host_key, free_port())
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _start_on(self, sshd: str, host_key: Path, port: int) -> SSHServer:
        self.port = port
        config = self.folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.folder / 'sshd.pid'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "PrintMotd no",
                    "MaxStartups 50:30:100",
                    "LogLevel ERROR",
                ]
            )
            + "\n"
        )
        log = (self.folder / "sshd.log").open("ab")
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.folder / 'sshd.log').read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                time.sleep(0.2)  # whoever answered: ours only if it is still running
                if self.proc.poll() is None:
                    return self
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
