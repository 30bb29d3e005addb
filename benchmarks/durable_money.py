"""Durable money: the dollars left unrecorded when a promote runner is SIGKILLed at each stage,
and the time a reservation commit adds to a promotion.

1. For every stage of a promotion (reservation committed · pod created · shipping · training ·
   terminating · promote returned but the final ledger commit never ran) a real promote
   subprocess is SIGKILLed there; the reaper then ticks from a fresh clone of the default branch
   (a bare git remote in a temporary folder) against the RunPod emulator through the runpod SDK,
   and commits. "Unrecorded" is what RunPod billed for the run's pod minus what the default
   branch's budget.json books for the run (target: 0 at every stage). "Overbooked" is the
   opposite (the worst case, when no pod was ever rented or RunPod forgot it).
2. The reservation commit: ``pgolf ledger commit`` of budget.json (fetch, three-way merge,
   commit, push, with the pull-rebase-retry) to a local bare remote, timed BENCH_COMMITS times,
   once alone and once racing another writer that pushes a row every ~0.5 s (far busier than
   any research repository). It runs before the pod is rented, so it costs no
   pod time; next to it, the $ floor of a 10-minute 8×H100 run at the configured $20/h
   ($3.33) and what the added seconds would cost if they were pod time. A GitHub remote adds
   its network round trips (two fetch/push exchanges, typically well under a second each).

Prints one JSON line at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import budget as budget_mod  # noqa: E402
from bot.compute.durable import make_committer  # noqa: E402
from bot.config import load_settings  # noqa: E402
from tests.compute.conftest import git  # noqa: E402
from tests.compute.killed_runner import STAGES, make_remote, run_stage  # noqa: E402
from tests.emulators.runpod import RunPodEmulator  # noqa: E402
from tests.emulators.sshd import SSHServer, sshd_available  # noqa: E402

COMMITS = int(os.environ.get("BENCH_COMMITS", "8"))
RATE_8GPU = 20.0
FLOOR_10MIN = round(600 / 3600 * RATE_8GPU, 2)


def killed_stages(tmp: Path) -> list[dict[str, object]]:
    server = SSHServer(tmp / "sshd").start()
    emu = RunPodEmulator(ssh_port=server.port, authorized_keys=server.authorized_keys, boot_delay=0.3)
    emu.start()
    os.environ["RUNPOD_API_BASE_URL"] = emu.url
    os.environ["RUNPOD_API_KEY"] = emu.add_key()
    out = []
    try:
        for stage in [*STAGES, None]:
            o = run_stage(stage, emu, server, tmp / f"stage-{stage or 'none'}")
            out.append(
                {
                    "stage": o.stage,
                    "billed_usd": o.billed_usd,
                    "booked_usd": o.booked_usd,
                    "unrecorded_usd": o.unrecorded_usd,
                    "overbooked_usd": o.overbooked_usd,
                    "open_reservations": o.open_reservations,
                    "pods_alive": o.pods_alive,
                }
            )
    finally:
        emu.stop()
        server.stop()
    return out


def commit_times(tmp: Path, race: bool) -> list[float]:
    bare, runner, _ = make_remote(tmp)
    other = tmp / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    s = load_settings(
        runner, env={}, overrides={"ledger_commit_reservations": True, "tier2_min_interval_seconds": 0}
    )
    commit = make_committer(runner, s)
    assert commit is not None
    stop = threading.Event()

    def rival() -> None:  # another workflow appending a row and pushing every ~0.5 s
        i = 0
        while not stop.wait(0.5):
            i += 1
            git(other, "pull", "-q", "--rebase")
            with (other / "results.tsv").open("a") as fh:
                fh.write(f"{i:07d}\tlocal\t1.3\t1\t1\tkeep\tno\t0\trival row {i}\n")
            git(other, "commit", "-q", "-am", f"rival {i}")
            subprocess.run(["git", "-C", str(other), "push", "-q"], capture_output=True)

    t = threading.Thread(target=rival, daemon=True)
    if race:
        t.start()
    times = []
    try:
        for i in range(COMMITS):
            budget_mod.reserve(runner / "budget.json", s, f"bench-{i}", 1.0, pr=1, sha="a" * 40)
            times.append(commit(f"reserve for bench-{i}"))
    finally:
        stop.set()
        if race:
            t.join(30)
    shown = subprocess.run(
        ["git", "-C", str(bare), "show", "main:budget.json"], capture_output=True, text=True
    )
    committed = {r["run_id"] for r in json.loads(shown.stdout)["reservations"]}
    assert committed == {f"bench-{i}" for i in range(COMMITS)}, committed
    return times


def main() -> int:
    if not sshd_available():
        print(json.dumps({"ok": False, "error": "sshd/rsync not installed"}))
        return 1
    env_git = {
        "GIT_AUTHOR_NAME": "b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    os.environ.update(env_git)
    with tempfile.TemporaryDirectory(prefix="pgolf-bench-money-") as d:
        tmp = Path(d)
        t0 = time.monotonic()
        stages = killed_stages(tmp / "kill")
        alone = commit_times(tmp / "alone", race=False)
        raced = commit_times(tmp / "race", race=True)
        wall = time.monotonic() - t0
    unrecorded = max(float(s["unrecorded_usd"]) for s in stages)  # type: ignore[arg-type]
    med, med_race = statistics.median(alone), statistics.median(raced)
    figures = {
        "benchmark": "durable_money",
        "stages": stages,
        "unrecorded_usd_max": unrecorded,
        "unrecorded_target_usd": 0.0,
        "commits_before_the_pod_is_rented": 1,
        "commits_per_promotion": 3,  # reservation, pod id (pod already rented), settlement
        "reservation_commit_s_median": round(med, 3),
        "reservation_commit_s_max": round(max(alone), 3),
        "reservation_commit_s_median_racing_writer": round(med_race, 3),
        "reservation_commit_s_max_racing_writer": round(max(raced), 3),
        "commits_per_series": COMMITS,
        "floor_10min_run_usd": FLOOR_10MIN,
        "pod_cost_if_it_were_pod_time_usd": round(med_race / 3600 * RATE_8GPU, 5),
        "reservation_commit_target_s": 10.0,
        "wall_s": round(wall, 1),
    }
    figures["ok"] = (
        unrecorded == 0
        and all(s["open_reservations"] == 0 and s["pods_alive"] == 0 for s in stages)
        and max(raced) < 10.0
    )
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
