"""How long ``/abort`` takes to get a running pod terminated (the figure test_faults.py's abort
test used to assert; tests keep only a 10x hang ceiling).

Each run: a real promotion in a child process (the same ``promote()`` as ``pgolf promote``)
through the real runpod SDK against the RunPod emulator, the "pod" reached over real SSH on
loopback (a throw-away sshd), training that never ends. Once training has printed its first
step, :func:`bot.compute.orphans.abort` sends the orchestrator SIGTERM; the figure is the time
from that call to the emulator reporting no pod alive.

Target: ≤ 5 s (the median of the runs is compared; the max is reported). One JSON line at the end.
Run: ``.venv/bin/python benchmarks/abort_latency.py`` (``BENCH_RUNS`` runs, default 3).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.compute.orphans import abort  # noqa: E402
from tests.compute.conftest import make_repo, make_settings, provider  # noqa: E402
from tests.compute.test_faults import orchestrator, training_started  # noqa: E402
from tests.emulators.runpod import RunPodEmulator  # noqa: E402
from tests.emulators.sshd import SSHServer, sshd_available  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TARGET_S = 5.0


def one_run(tmp: Path, sshd: SSHServer) -> float:
    emu = RunPodEmulator(ssh_port=sshd.port, authorized_keys=sshd.authorized_keys, boot_delay=0.3).start()
    os.environ["RUNPOD_API_BASE_URL"] = emu.url
    os.environ["RUNPOD_API_KEY"] = emu.add_key()
    try:
        repo = make_repo(tmp / "research")
        s = make_settings(repo, sshd, tmp, pod_train_env=["FAKE_MODE=hang"], max_wallclock_seconds=30)
        proc = orchestrator(repo, s)
        try:
            end = time.monotonic() + 120
            while not training_started(repo):
                if time.monotonic() > end or proc.poll() is not None:
                    raise RuntimeError(f"training did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                time.sleep(0.02)
            t0 = time.monotonic()
            stopper = threading.Thread(target=lambda: abort(repo.root, s, 7, provider(s)))
            stopper.start()
            while emu.alive():
                if time.monotonic() - t0 > 120:
                    raise RuntimeError("the pod was not terminated within 120 s")
                time.sleep(0.02)
            took = time.monotonic() - t0
            stopper.join(60)
            proc.communicate(timeout=60)
            return took
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        emu.stop()


def main() -> int:
    if not sshd_available():
        print(json.dumps({"ok": False, "error": "sshd/rsync not installed"}))
        return 1
    for k, v in {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
                 "GIT_COMMITTER_EMAIL": "b@x"}.items():  # fmt: skip
        os.environ.setdefault(k, v)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pgolf-bench-abort-") as d:
        sshd = SSHServer(Path(d) / "sshd").start()
        try:
            for i in range(RUNS):
                run_dir = Path(d) / f"run{i}"
                run_dir.mkdir()
                times.append(one_run(run_dir, sshd))
                print(f"run {i + 1}: abort → pod terminated in {times[-1]:.2f} s", flush=True)
        finally:
            sshd.stop()
    median = statistics.median(times)
    figures = {
        "abort_to_terminated_s_median": round(median, 3),
        "abort_to_terminated_s_max": round(max(times), 3),
    }
    print(json.dumps({"figures": figures, "targets": {"abort_to_terminated_s_median": TARGET_S},
                      "runs": RUNS, "ok": median <= TARGET_S}))  # fmt: skip
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
