"""promote.yml in five jobs (plan → gate → reserve → paid → settle): what each job's pgolf step
costs, and what the split adds to one promotion.

One promotion runs through the real CLI verbs, each job in its own fresh clone of a bare "origin"
(the PR head fetched as objects), with files between them; GitHub is the emulator (PyGithub),
RunPod the emulator (runpod SDK), the pod a real sshd on loopback, the parity gate the real one on
the real training scripts inside bot.sandbox. Figures:

* seconds per job step (the pgolf command only: Actions adds a runner start and a pip install per
  job — about 20-40 s each on GitHub-hosted runners, not measured here);
* the reservation commit (fetch, merge, commit, push to the bare remote) inside ``reserve``;
* the extra ledger work the split adds: the clone + object fetch each extra job needs here;
* sticky comments on the PR at the end (target 1) and dollars unrecorded (target 0);
* dollars unrecorded when the runner is lost after the reservation commit (no paid job) and when
  the paid job is SIGKILLed mid-training, once the split reaper (reap → book) has ticked past the
  deadline (target 0 each; the first is booked at the worst case: no pod ever existed).

Prints one JSON line at the end.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.compute.provider import pod_name  # noqa: E402
from bot.compute.split import Ticket  # noqa: E402
from tests.compute.split_scene import (  # noqa: E402
    GIT_ENV,
    github,
    kill_paid_mid_training,
    make_scene,
    plan_and_gate,
    reaper_tick,
    reserve,
    settle,
    stickies,
)
from tests.emulators.github import GitHubEmulator  # noqa: E402
from tests.emulators.runpod import RunPodEmulator  # noqa: E402
from tests.emulators.sshd import SSHServer, sshd_available  # noqa: E402
from tests.forge.conftest import make_key  # noqa: E402

FLOOR_10MIN = round(600 / 3600 * 20.0, 2)


def main() -> int:
    if not sshd_available():
        print(json.dumps({"benchmark": "promote_split", "ok": False, "error": "sshd/rsync not installed"}))
        return 1
    os.environ.update(GIT_ENV)
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GH_APP_", "RUNNER_")):
            del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="pgolf-bench-split-") as d:
        tmp = Path(d)
        server = SSHServer(tmp / "sshd").start()
        emu = RunPodEmulator(ssh_port=server.port, authorized_keys=server.authorized_keys, boot_delay=0.3)
        emu.start()
        gh = GitHubEmulator()
        gh.start()
        os.environ["RUNPOD_API_BASE_URL"] = emu.url
        os.environ["RUNPOD_API_KEY"] = emu.add_key()
        key = make_key()
        try:
            scene = make_scene(tmp / "scene", server)
            github(gh, key, scene.sha)
            t = {"start": time.monotonic()}
            t0 = time.monotonic()
            scene.checkout("probe")
            clone_s = time.monotonic() - t0
            plan, verdict = plan_and_gate(scene, gh, key)
            t["gated"] = time.monotonic()
            ticket_path = reserve(scene, gh, key, plan, verdict)
            t["reserved"] = time.monotonic()
            ticket = Ticket.load(ticket_path)
            outcome = ticket_path.parent / "outcome.json"
            res = scene.pgolf(
                scene.checkout("paid"),
                "promote",
                "run",
                "--reservation",
                str(ticket_path),
                "--out",
                str(outcome),
            )
            assert res.exit_code == 0, res.output
            t["paid"] = time.monotonic()
            settled = settle(scene, gh, key, ticket_path, outcome)
            t["settled"] = time.monotonic()
            billed = emu.billed_usd(pod_name(ticket.run_id))
            booked = sum(r.cost_usd for r in scene.budget().runs if r.run_id == ticket.run_id)
            sticky_count = len(stickies(gh))
            kills = {}
            for case in ("lost after reserve", "paid killed mid-training"):
                gh.stop()
                gh = GitHubEmulator()
                gh.start()
                sc = make_scene(tmp / case.replace(" ", "-"), server, pod_train_env="FAKE_STEP_SLEEP=3")
                github(gh, key, sc.sha)
                pl, vd = plan_and_gate(sc, gh, key)
                tp = reserve(sc, gh, key, pl, vd)
                tk = Ticket.load(tp)
                if case == "paid killed mid-training":
                    out = kill_paid_mid_training(sc, tp, tk)
                    assert settle(sc, gh, key, tp, out)["booked"] == "left to the reaper"
                    time.sleep(1.2)
                reaper_tick(sc, server, "tick", now=tk.deadline + 3600)
                b, bk = (
                    emu.billed_usd(pod_name(tk.run_id)),
                    sum(r.cost_usd for r in sc.budget().runs if r.run_id == tk.run_id),
                )
                kills[case] = {
                    "billed_usd": round(b, 6),
                    "booked_usd": round(bk, 6),
                    "unrecorded_usd": round(max(0.0, b - bk), 6),
                    "open_reservations": len(sc.budget().reservations),
                    "pods_alive": len([p for p in emu.alive() if p.name == pod_name(tk.run_id)]),
                }
        finally:
            gh.stop()
            emu.stop()
            server.stop()
    reserve_s = t["reserved"] - t["gated"]
    figures = {
        "benchmark": "promote_split",
        "plan_and_gate_s": round(t["gated"] - t["start"], 2),
        "reserve_s": round(reserve_s, 2),
        "paid_s": round(t["paid"] - t["reserved"], 2),
        "settle_and_ledger_commit_s": round(t["settled"] - t["paid"], 2),
        "job_checkout_s": round(clone_s, 3),
        "extra_jobs_vs_one_job": 4,
        "split_adds_s_here": round(reserve_s + 4 * clone_s, 2),
        "reservation_before_pod": True,
        "booked": settled["booked"],
        "billed_usd": round(billed, 6),
        "booked_usd": round(booked, 6),
        "unrecorded_usd": round(max(0.0, billed - booked), 6),
        "sticky_comments_on_the_pr": sticky_count,
        "killed": kills,
        "floor_10min_run_usd": FLOOR_10MIN,
        "targets": {"unrecorded_usd": 0.0, "sticky_comments_on_the_pr": 1, "reserve_s_max": 10.0},
    }
    figures["ok"] = (
        figures["unrecorded_usd"] == 0
        and all(
            k["unrecorded_usd"] == 0 and k["open_reservations"] == 0 and k["pods_alive"] == 0
            for k in kills.values()
        )
        and sticky_count == 1
        and reserve_s < 10.0
        and settled["booked"] == "outcome"
    )
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
