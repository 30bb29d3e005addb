"""The one way pgolf executes code it did not write: PR and model-written training scripts.

Every execution of a candidate or pull-request script — the experimenter's import, parity and
smoke checks (:mod:`bot.agent.validate`), the promotion parity gate (:mod:`bot.compute.gates`),
Tier 1 local runs and baselines (:mod:`bot.training.local`) — goes through :class:`Sandbox`.

**The wall (Linux, as root or with passwordless ``sudo``).** The child runs

* in new PID, mount, network, IPC and UTS namespaces (``unshare``): its ``/proc`` is a fresh
  procfs that shows only its own processes, so no ancestor's ``/proc/PID/environ`` exists for it;
  its network namespace has only a loopback interface that is down, so neither a listener on the
  host's 127.0.0.1 nor any outside address can be reached;
* in a new root (a read-only tmpfs, then ``chroot``) holding only ``/usr``, ``/etc``, ``/bin``,
  ``/lib*`` and the Python installation (read-only), the declared inputs (read-only, at their own
  paths), ``/sys`` (read-only), a few device nodes (plus the GPU's), a private ``/tmp`` and one
  writable scratch folder. The checkout, its ``.git`` (hooks, and the token ``actions/checkout``
  leaves in ``.git/config``), ``.venv`` writes, ``$HOME`` and every other file of the orchestrator
  are simply absent;
* as a separate uid/gid (``sandbox_uid``, no account needed) with no supplementary groups, no
  capabilities (bounding set emptied), ``no_new_privs``, a parent-death SIGKILL (``setpriv``), a
  cap on its tasks and no core files (``prlimit``);
* with an environment built from nothing: ``PATH``, ``HOME`` (inside the scratch), ``TMPDIR``,
  locale, a few thread/GPU knobs, and the knobs the caller passes; a name that looks like a
  credential (:func:`bot.safeenv.is_secret_name`) is dropped even when a caller passes it.

**Why util-linux** (``unshare``, ``setpriv``, ``mount``) and coreutils (``chroot``, ``env``)
rather than bubblewrap: util-linux is an *Essential* package of Debian and Ubuntu — present on
every GitHub-hosted Ubuntu runner and on this project's machines without an apt step — and is
maintained upstream at kernel.org; each tool is a thin, audited wrapper over one kernel interface
(namespaces, credentials, mounts), so the wall is the kernel's, spelled out in one short script
below. Bubblewrap builds the same kind of root in one call but is an extra package, and on Ubuntu
24.04 its unprivileged mode is restricted by AppArmor; since pgolf runs the wall as root anyway,
bubblewrap's unprivileged design buys nothing here.

**Where the platform cannot** (macOS; Linux without root and without passwordless sudo; a
container that refuses namespaces) the child still gets the clean environment and a private
scratch folder, but the run's :attr:`Sandbox.mode` says ``unisolated: <reason>``, a warning is
logged, and the ``sandbox`` setting decides: ``required`` refuses to run (SandboxError),
``best-effort`` runs and reports the mode, ``auto`` (the default) is ``required`` on Linux and
``best-effort`` elsewhere (the Mac runner's wall is its dedicated user; see docs/security.md).

**Verdicts cross as data.** Whatever the child leaves in its scratch folder is read back by
:meth:`Sandbox.read_bytes` / :meth:`Sandbox.read_json` / :meth:`Sandbox.copy_out`, which refuse
symlinks and non-regular files at every path component and cap sizes; callers then re-validate
the content from scratch (e.g. :func:`bot.training.parity.check_verdict`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.errors import SandboxError
from bot.safeenv import is_secret_name

log = logging.getLogger("pgolf.sandbox")

POLICIES = ("auto", "required", "best-effort")
DEFAULT_UID = 64999  # no account uses it; setpriv needs no passwd entry
VERDICT_NAME = "verdict.json"
NPROC = 4096  # tasks (processes and threads) the sandbox uid may have
OUTPUT_LIMIT = 16 << 20  # bytes of each stream Sandbox.run keeps (head + tail)
# Environment variables passed through from the orchestrator (no credential can hide in these).
PASSTHROUGH = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "HF_HUB_OFFLINE",
)
_SYSTEM_DIRS = ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

# Runs as root inside the new namespaces (PID 1 of the new PID namespace), builds the new root
# and drops to the sandbox uid. Arguments: newroot uid cwd setpriv env chroot prlimit N, then N
# entries (``r PATH`` read-only bind, ``w PATH`` writable bind handed to the uid, ``l PATH
# TARGET`` symlink), "--" and the command. The private loopback is brought up when ``ip`` exists
# (torchrun's rendezvous needs one; it is not the host's). The task limit (per uid) stops a fork
# bomb; no core files.
_SETUP = (
    r"""
set -eu
R="$1"; U="$2"; C="$3"; SETPRIV="$4"; ENVBIN="$5"; CHROOT="$6"; PRLIMIT="$7"; N="$8"; shift 8
bind_ro() {  # $1 host path (file or folder), mounted read-only at the same path in the new root
  if [ -d "$1" ]; then mkdir -p "$R$1"; else mkdir -p "$R$(dirname "$1")"; : > "$R$1"; fi
  mount --bind "$1" "$R$1"
  mount -o remount,bind,ro,nosuid,nodev "$R$1"
}
if command -v ip >/dev/null 2>&1; then ip link set lo up 2>/dev/null || true; fi
mount -t tmpfs -o mode=755,nosuid pgolf-sandbox-root "$R"
for d in SYSTEM_DIRS; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$R/$d"
  elif [ -d "/$d" ]; then bind_ro "/$d"; fi
done
mkdir -p "$R/proc" "$R/tmp" "$R/dev" "$R/sys"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o mode=1777,nosuid,nodev pgolf-sandbox-tmp "$R/tmp"
mount --bind /sys "$R/sys"; mount -o remount,bind,ro,nosuid,nodev,noexec "$R/sys"
mount -t tmpfs -o mode=755,nosuid pgolf-sandbox-dev "$R/dev"
for n in DEVICES /dev/nvidia*; do
  case "$n" in /dev/*) p="$n" ;; *) p="/dev/$n" ;; esac
  [ -e "$p" ] || continue
  if [ -d "$p" ]; then mkdir -p "$R$p"; else : > "$R$p"; fi
  mount --bind "$p" "$R$p"
done
mkdir -p "$R/dev/shm"; mount -t tmpfs -o mode=1777,nosuid,nodev pgolf-sandbox-shm "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
i=0
while [ "$i" -lt "$N" ]; do
  k="$1"; p="$2"; shift 2
  case "$k" in
    r) bind_ro "$p" ;;
    w) chown -R -h "$U:$U" "$p"; mkdir -p "$R$p"; mount --bind "$p" "$R$p"
       mount -o remount,bind,nosuid,nodev "$R$p" ;;
    l) mkdir -p "$R$(dirname "$p")"; [ -e "$R$p" ] || ln -s "$1" "$R$p"; shift ;;
  esac
  i=$((i + 1))
done
[ "$1" = "--" ] && shift
mount -o remount,ro,bind "$R"
exec "$CHROOT" "$R" "$SETPRIV" --reuid="$U" --regid="$U" --clear-groups --inh-caps=-all \
  --bounding-set=-all --no-new-privs --pdeathsig=SIGKILL -- "$PRLIMIT" --nproc=NPROC --core=0 -- \
  "$ENVBIN" -C "$C" -- "$@"
""".replace("SYSTEM_DIRS", " ".join(_SYSTEM_DIRS))
    .replace("DEVICES", " ".join(_DEVICES))
    .replace("NPROC", str(NPROC))
)


@dataclass(frozen=True)
class Capability:
    """What this machine can do: the isolated wall (``prefix`` = ``()`` as root, ``("sudo", "-n")``
    with passwordless sudo) or nothing (``reason`` says why)."""

    isolated: bool
    reason: str = ""
    prefix: tuple[str, ...] = ()
    tools: Mapping[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        if not self.isolated:
            return f"unisolated: {self.reason}"
        return "isolated (sudo)" if self.prefix else "isolated (root)"

    @classmethod
    def unisolated(cls, reason: str) -> Capability:
        return cls(False, reason)


_TOOLS = ("unshare", "setpriv", "prlimit", "mount", "chroot", "env", "chown", "sh")


@lru_cache(maxsize=1)
def probe() -> Capability:
    """Find out (once per process) whether the isolated wall is available here."""
    if not sys.platform.startswith("linux"):
        return Capability.unisolated(f"{sys.platform} has no Linux namespaces")
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    tools = {t: shutil.which(t, path=path) for t in _TOOLS}
    missing = sorted(t for t, p in tools.items() if not p)
    if missing:
        return Capability.unisolated(f"missing tools: {', '.join(missing)} (install util-linux)")
    found = {t: str(p) for t, p in tools.items()}
    prefix: tuple[str, ...] = ()
    if os.geteuid() != 0:
        sudo = shutil.which("sudo", path=path)
        ok = False
        if sudo:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                ok = subprocess.run([sudo, "-n", "true"], capture_output=True, timeout=20).returncode == 0
        if not ok:
            return Capability.unisolated("not root and no passwordless sudo")
        prefix = (str(sudo), "-n")
    try:
        proc = subprocess.run(
            [*prefix, found["unshare"], "--pid", "--net", "--mount", "--ipc", "--uts", "--fork", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Capability.unisolated(f"unshare failed: {exc}")
    if proc.returncode != 0:
        why = " ".join(proc.stderr.split())[:200] or f"exit {proc.returncode}"
        return Capability.unisolated(f"namespaces refused: {why}")
    return Capability(True, "", prefix, found)


def effective_policy(policy: str, platform: str | None = None) -> str:
    """``auto`` → ``required`` on Linux, ``best-effort`` elsewhere; other values as they are."""
    if policy not in POLICIES:
        raise SandboxError(f"must be one of {', '.join(POLICIES)}, not {policy!r}", field="sandbox")
    if policy != "auto":
        return policy
    return "required" if (platform or sys.platform).startswith("linux") else "best-effort"


def box_env(extra: Mapping[str, str] | None, home: Path) -> dict[str, str]:
    """The child's whole environment: a fixed base, a short pass-through list, then ``extra``
    minus any name that looks like a credential."""
    env = {
        # the interpreter's own bin first (torchrun, …): it exists inside the box
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "USER": "pgolf-sandbox",
        "LOGNAME": "pgolf-sandbox",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }
    for name in PASSTHROUGH:
        if name in os.environ:
            env[name] = os.environ[name]
    for name, value in (extra or {}).items():
        if is_secret_name(name) or name.startswith("PGOLF_"):
            log.warning("sandbox: dropped %s from a sandboxed child's environment", name)
            continue
        env[name] = value
    return env


def _python_paths() -> list[Path]:
    """The folders the interpreter needs (its venv and its base installation), resolved."""
    out: list[Path] = []
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        real = Path(p).resolve()
        if not any(real == Path("/", d) or Path("/", d) in real.parents for d in ("usr", "bin", "lib")):
            out.append(real)
    return sorted(set(out))


def _python_links() -> list[tuple[str, str]]:
    """Symlinks that make ``sys.executable`` valid inside the box: a venv reached through a
    symlinked folder (``.venv -> elsewhere``) gets the same link in the new root."""
    links: list[tuple[str, str]] = []
    for p in {sys.prefix, sys.exec_prefix}:
        real = Path(p).resolve()
        if Path(p) != real and Path(p).is_absolute():
            links.append((str(Path(p)), str(real)))
    return sorted(links)


def pgolf_path() -> Path:
    """The folder holding the ``bot`` package (bound read-only when ``with_pgolf``)."""
    return Path(__file__).resolve().parent


@dataclass
class BoxRun:
    """One finished sandboxed command."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    mode: str


class Sandbox:
    """A scratch folder plus the wall; use as a context manager.

    ``inputs`` are host paths made visible read-only (at the same path) inside the box;
    :meth:`add_file` copies a file into a private input folder instead. ``scratch`` is the only
    writable folder (also the default working directory). ``with_pgolf`` makes the ``bot``
    package importable (for pgolf's own harness code that runs next to the candidate)."""

    def __init__(
        self,
        policy: str = "auto",
        *,
        uid: int = DEFAULT_UID,
        inputs: Iterable[Path | str] = (),
        writable: Iterable[Path | str] = (),
        with_pgolf: bool = False,
        capability: Capability | None = None,
        keep: bool = False,
        output_limit: int = OUTPUT_LIMIT,
    ):
        self.output_limit = output_limit
        self.policy = effective_policy(policy)
        self.capability = capability or probe()
        if uid <= 0 or uid == os.getuid():
            raise SandboxError(
                f"must be a uid other than root's and the orchestrator's ({uid})", field="sandbox_uid"
            )
        self.uid = uid
        self.inputs: list[Path] = [Path(p).resolve() for p in inputs]
        # folders the box may write besides its scratch (handed to the sandbox uid for the run
        # and given back afterwards; read what is in them as data, e.g. with read_inside)
        self.writable: list[Path] = [Path(p).resolve() for p in writable]
        self.with_pgolf = with_pgolf
        self.keep = keep
        if not self.capability.isolated:
            if self.policy == "required":
                raise SandboxError(
                    f"untrusted code cannot be isolated here ({self.capability.mode}); it is not run. "
                    'Run as root or with passwordless sudo on Linux, or set sandbox = "best-effort" '
                    "(PGOLF_SANDBOX=best-effort) to run it unisolated",
                    field="sandbox",
                )
            log.warning(
                "sandbox: %s (policy %s): untrusted code runs without the wall", self.mode, self.policy
            )
        self._tmp: Path | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self._reclaimed = True

    # ------------------------------------------------------------------ lifecycle
    @property
    def mode(self) -> str:
        return self.capability.mode

    @property
    def isolated(self) -> bool:
        return self.capability.isolated

    def __enter__(self) -> Sandbox:
        self._tmp = Path(tempfile.mkdtemp(prefix="pgolf-sandbox-")).resolve()
        os.chmod(self._tmp, 0o755)
        for sub in ("scratch", "input", "root"):
            (self._tmp / sub).mkdir()
        (self.scratch / "home").mkdir()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                self._kill(proc)
        self._procs.clear()
        if self._tmp is not None:
            self._reclaim()
            if not self.keep:
                shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    @property
    def root(self) -> Path:
        if self._tmp is None:
            raise SandboxError("the sandbox is not open (use it as a context manager)")
        return self._tmp

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def home(self) -> Path:
        return self.scratch / "home"

    @property
    def python(self) -> str:
        """The interpreter to run in the box (the orchestrator's own: its paths exist there)."""
        return sys.executable

    def add_file(self, src: Path | str | bytes, name: str) -> Path:
        """A private read-only copy of ``src`` (a path or the bytes) inside the box; its path."""
        if "/" in name or name in ("", ".", ".."):
            raise SandboxError(f"not a plain file name: {name!r}")
        dest = self.root / "input" / name
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
        dest.write_bytes(data)
        dest.chmod(0o444)
        return dest

    def bind(self, path: Path | str) -> Path:
        """Make a host file or folder visible read-only at its own path; returns it resolved."""
        p = Path(path).resolve()
        if not p.exists():
            raise SandboxError("input for a sandboxed run does not exist", path=str(p))
        self.inputs.append(p)
        return p

    # ------------------------------------------------------------------ running
    def command(self, argv: Sequence[str], cwd: Path | None = None) -> list[str]:
        """The full host command line for ``argv`` run inside the box."""
        argv = [str(a) for a in argv]
        if not self.isolated:
            return argv
        cap = self.capability
        ro: list[str] = [str(p) for p in _python_paths()]
        if self.with_pgolf:
            ro.append(str(pgolf_path()))
        ro.append(str(self.root / "input"))
        ro += [str(p) for p in self.inputs]
        for p in ro:
            self._check_readable(Path(p))
        ro_set = {Path(p) for p in ro}
        # a read-only path inside another read-only one is already visible (and its mount point could not be
        # created on the read-only parent): e.g. --tokenizer-path inside --data-path
        ro = sorted({str(p) for p in ro_set if not any(q in p.parents for q in ro_set)})
        entries = [("r", p) for p in ro] + [("w", str(p)) for p in {self.scratch, *self.writable}]
        entries.sort(key=lambda e: (e[1].count("/"), e[1]))  # parents before children
        flat = [x for kind, path in entries for x in (kind, path)]
        links = _python_links()
        for link, target in links:
            flat += ["l", link, target]
        tools = cap.tools
        return [
            *cap.prefix,
            tools["unshare"],
            "--pid",
            "--net",
            "--mount",
            "--ipc",
            "--uts",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "--",
            tools["sh"],
            "-c",
            _SETUP,
            "pgolf-sandbox",
            str(self.root / "root"),
            str(self.uid),
            str(cwd or self.scratch),
            tools["setpriv"],
            tools["env"],
            tools["chroot"],
            tools["prlimit"],
            str(len(entries) + len(links)),
            *flat,
            "--",
            *argv,
        ]

    def _check_readable(self, p: Path) -> None:
        """The sandbox uid reads inputs as "other": refuse one it could not read, naming it."""
        try:
            st = p.stat()
        except OSError as exc:
            raise SandboxError(f"input for a sandboxed run cannot be read: {exc}", path=str(p)) from None
        need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else 0)
        if st.st_mode & need != need:
            raise SandboxError(
                "input for a sandboxed run is not readable by other users (the sandbox uid); "
                "chmod o+rX it or place it elsewhere",
                path=str(p),
            )

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = box_env(extra, self.home)
        if self.with_pgolf:
            env["PYTHONPATH"] = str(pgolf_path().parent)
        return env

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        **kw: Any,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` in the box (``env`` holds only the knobs; see :func:`box_env`)."""
        cmd = self.command(argv, cwd)
        full_env = self.env(env)
        prefix = self.capability.prefix
        if self.isolated and prefix:  # sudo resets the environment: hand it over on the command line
            pairs = [f"{k}={v}" for k, v in full_env.items()]
            cmd = [*prefix, self.capability.tools["env"], "-i", *pairs, *cmd[len(prefix) :]]
        kw.setdefault("stdin", subprocess.DEVNULL)
        self._reclaimed = False
        proc = subprocess.Popen(
            cmd,
            env=full_env,
            cwd=str(self.scratch if self.isolated else (cwd or self.scratch)),
            close_fds=True,
            start_new_session=True,
            **kw,
        )
        self._procs.append(proc)
        return proc

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> BoxRun:
        """Run ``argv`` to the end (or ``timeout``), capturing its output as text: at most
        ``output_limit`` bytes of each stream (its head and its tail), so that a box printing
        without end cannot exhaust the orchestrator's memory."""
        start = time.monotonic()
        proc = self.popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        caps = [_Capped(self.output_limit), _Capped(self.output_limit)]
        readers = [
            threading.Thread(target=c.drain, args=(stream,), daemon=True)
            for c, stream in zip(caps, (proc.stdout, proc.stderr), strict=True)
        ]
        for t in readers:
            t.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
            for t in readers:  # a process left holding the pipes counts against the same timeout
                t.join(None if timeout is None else max(0.0, timeout - (time.monotonic() - start)))
            if any(t.is_alive() for t in readers):
                raise subprocess.TimeoutExpired(argv, timeout or 0)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(proc)
            for t in readers:
                t.join(10)
        self._reclaim()
        out, err = (c.text() for c in caps)
        return BoxRun(proc.returncode, out, err, time.monotonic() - start, timed_out, self.mode)

    def kill(self, proc: subprocess.Popen[Any]) -> None:
        """End the box ``proc`` (from :meth:`popen`) runs, whatever the form of the wall: through
        sudo, killing the child kills only sudo (SIGKILL cannot be relayed) and the box runs on."""
        self._kill(proc)

    def _kill(self, proc: subprocess.Popen[Any]) -> None:
        """End the box: killing ``unshare`` kills its PID 1 (parent-death signal), and with it every
        process of the PID namespace. Unisolated: the process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.isolated and self.capability.prefix:
                # sudo stays the parent and cannot relay SIGKILL, and unshare ignores the SIGTERM
                # it relays: SIGKILL sudo's descendants (unshare first) through sudo itself.
                pids = _descendants(proc.pid)
                if pids:
                    with contextlib.suppress(OSError, subprocess.SubprocessError):
                        subprocess.run(
                            [*self.capability.prefix, self.capability.tools["sh"], "-c",
                             'kill -KILL "$@"', "pgolf-sandbox-kill", *map(str, pids)],
                            capture_output=True, timeout=30,
                        )  # fmt: skip
                proc.terminate()
            else:
                os.killpg(proc.pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                proc.kill()
            proc.wait()

    def finished(self) -> None:
        """Call after a :meth:`popen` child ended, before reading what it left behind."""
        self._reclaim()

    def _reclaim(self) -> None:
        """Give the folders the box wrote back to the orchestrator's uid (symlinks not followed):
        the writable folders always, the scratch too when the wall was reached through sudo."""
        if self._reclaimed or self._tmp is None:
            return
        self._reclaimed = True
        if not self.isolated:
            return
        folders = [*self.writable, *([self.scratch] if self.capability.prefix else [])]
        if not folders:
            return
        owner = f"{os.getuid()}:{os.getgid()}"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [
                    *self.capability.prefix,
                    self.capability.tools["chown"],
                    "-R",
                    "-h",
                    owner,
                    *map(str, folders),
                ],
                capture_output=True,
                timeout=300,
            )

    # ------------------------------------------------------------------ reading back (as data)
    def read_bytes(self, rel: str, limit: int = 1 << 20) -> bytes | None:
        """A regular file the child left at ``scratch/rel`` (no symlink anywhere on the way), at
        most ``limit`` bytes; None when absent. SandboxError when it is not a plain file or too big."""
        self._reclaim()
        return read_inside(self.scratch, rel, limit)

    def read_json(self, rel: str = VERDICT_NAME, limit: int = 1 << 20) -> Any:
        data = self.read_bytes(rel, limit)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SandboxError(f"the sandboxed run's {rel} is not JSON: {exc}") from None

    def copy_out(self, patterns: Sequence[str], dest: Path, limit: int = 1 << 31) -> list[Path]:
        """Copy the regular files matching ``patterns`` (relative globs) to ``dest``; symlinks and
        special files are skipped, so nothing the child planted points outside."""
        self._reclaim()
        return copy_regular(self.scratch, patterns, dest, limit)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``), parents before children."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8", errors="replace")
            ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


class _Capped:
    """One output stream kept within ``limit`` bytes: its first quarter and its latest rest."""

    def __init__(self, limit: int):
        self.head_limit = limit // 4
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def drain(self, stream: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := stream.read1(1 << 16):
                room = self.head_limit - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                self.tail += chunk
                if len(self.tail) > self.tail_limit:
                    cut = len(self.tail) - self.tail_limit
                    self.dropped += cut
                    del self.tail[:cut]
        with contextlib.suppress(OSError):
            stream.close()

    def text(self) -> str:
        gap = f"\n[… {self.dropped} bytes left out …]\n".encode() if self.dropped else b""
        text = bytes(self.head + gap + self.tail).decode("utf-8", "replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")  # as text=True pipes read it


def copy_regular(base: Path, patterns: Sequence[str], dest: Path, limit: int = 1 << 31) -> list[Path]:
    """Copy the regular files under ``base`` matching ``patterns`` (relative globs, ``**`` allowed)
    to the same relative paths under ``dest``, through :func:`read_inside` (no symlink followed
    anywhere, sizes capped). What untrusted code left in a folder is taken this way only."""
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for pattern in patterns:
        for p in sorted(base.glob(pattern)):
            if p.is_dir() and not p.is_symlink():
                continue
            rel = p.relative_to(base).as_posix()
            try:
                data = read_inside(base, rel, limit)
            except SandboxError as exc:
                log.warning("sandbox: not copied: %s", exc)
                continue
            if data is None:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            out.append(target)
    return out


def read_inside(base: Path, rel: str, limit: int) -> bytes | None:
    """Read ``base/rel`` refusing a symlink or non-regular file at any component (openat walk)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise SandboxError(f"not a path inside the sandbox: {rel!r}")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(base, flags | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise SandboxError(f"{rel}: not a plain folder ({exc.strerror})") from None
            os.close(fd)
            fd = nxt
        try:
            ffd = os.open(parts[-1], flags | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SandboxError(f"{rel}: is a symlink; refused") from None
            raise SandboxError(f"{rel}: cannot be read ({exc.strerror})") from None
        try:
            st = os.fstat(ffd)
            if not stat.S_ISREG(st.st_mode):
                raise SandboxError(f"{rel}: not a regular file; refused")
            if st.st_size > limit:
                raise SandboxError(f"{rel}: {st.st_size} bytes, over the {limit}-byte limit")
            with os.fdopen(ffd, "rb", closefd=False) as fh:
                data = fh.read(limit + 1)
            if len(data) > limit:
                raise SandboxError(f"{rel}: over the {limit}-byte limit")
            return data
        finally:
            os.close(ffd)
    finally:
        os.close(fd)


def open_sandbox(settings: Any, **kw: Any) -> Sandbox:
    """A :class:`Sandbox` with the ``sandbox`` policy and ``sandbox_uid`` of ``settings``."""
    return Sandbox(
        getattr(settings, "sandbox", "auto"), uid=getattr(settings, "sandbox_uid", DEFAULT_UID), **kw
    )
