"""Bot overhead per promotion, excluding pod boot and training.

Runs real promotions through the real runpod SDK against the RunPod emulator (pods boot at
once) with the "pod" reached over real SSH on loopback (a throw-away sshd), and a training
command that returns immediately with a valid log. From each promotion's timings:

* start → training command: from ``promote()`` being called (gates, reservation, pod create,
  SSH probe, ``git archive`` shipping) to the training command starting, minus the pod's
  boot wait (``create`` → ``pod_ready``), which the provider, not the bot, decides;
* training end → pod terminated and ledger written: from the last seed's command returning
  (rsync back, terminate with confirmation, settle, results.tsv) to the ledger row written.

Targets: ≤ 5 s each (the median of the runs is compared; the max is reported).
Prints one JSON line at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.compute.gates import operator_approval, waived_parity_gate  # noqa: E402
from bot.compute.promote import promote  # noqa: E402
from bot.compute.runpod import RunPodProvider  # noqa: E402
from bot.config import load_settings  # noqa: E402
from tests.emulators.runpod import RunPodEmulator  # noqa: E402
from tests.emulators.sshd import SSHServer, sshd_available  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# The stand-in script has no MLX twin: the benchmark waives parity explicitly (promote() has no
# permissive default).
OK = {
    "trust": operator_approval("", "benchmark"),
    "parity_gate": waived_parity_gate("benchmark stand-in script"),
}
TARGET_S = 5.0
TRAIN = (
    'print("final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570")\n'
    'print("Total submission size int8+zlib: 15863489 bytes")\n'
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> int:
    if not sshd_available():
        print(json.dumps({"ok": False, "error": "sshd/rsync not installed"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="pgolf-bench-") as d:
        tmp = Path(d)
        repo = tmp / "repo"
        (repo / "training").mkdir(parents=True)
        (repo / "training/train_gpt.py").write_text(TRAIN)
        (repo / ".gitignore").write_text(".pgolf/\n")
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@x",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@x",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("GIT_")})
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "bench")
        sha = git(repo, "rev-parse", "HEAD")
        sshd = SSHServer(tmp / "sshd").start()
        emu = RunPodEmulator(ssh_port=sshd.port, authorized_keys=sshd.authorized_keys).start()
        os.environ["RUNPOD_API_BASE_URL"] = emu.url
        os.environ["RUNPOD_API_KEY"] = emu.add_key()
        settings = load_settings(repo, env={}, overrides={
            "pod_workdir": str(tmp / "podfs"), "pod_ssh_user": sshd.user, "tier2_min_interval_seconds": 0,
            "pod_train_command": f"{sys.executable} {{script}}", "total_compute_credits": 10_000,
        })  # fmt: skip
        provider = RunPodProvider(ssh_user=sshd.user, workdir=settings.pod_workdir, poll_interval=0.05)
        to_train: list[float] = []
        to_done: list[float] = []
        try:
            for _ in range(RUNS):
                res = promote(repo, settings, provider=provider, pr=1, sha=sha, **OK)
                if res.status == "crash":
                    raise SystemExit(f"promotion crashed: {res.error}")
                t = res.timings
                boot = t["pod_ready"] - t["create"]
                to_train.append(t["train_start"] - boot)
                to_done.append(t["ledger"] - t["train_done"])
            leaked = len(emu.alive())
        finally:
            emu.stop()
            sshd.stop()
    fig = {
        "runs": RUNS,
        "start_to_training_s_median": round(statistics.median(to_train), 3),
        "start_to_training_s_max": round(max(to_train), 3),
        "training_end_to_terminated_and_ledger_s_median": round(statistics.median(to_done), 3),
        "training_end_to_terminated_and_ledger_s_max": round(max(to_done), 3),
        "target_s": TARGET_S,
        "pods_left_running": leaked,
    }
    fig["ok"] = (
        fig["start_to_training_s_median"] <= TARGET_S
        and fig["training_end_to_terminated_and_ledger_s_median"] <= TARGET_S
        and leaked == 0
    )
    print(json.dumps(fig))
    return 0 if fig["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
