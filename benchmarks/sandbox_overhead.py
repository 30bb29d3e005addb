"""The time the sandbox (bot.sandbox) adds to one run of candidate code.

Each case is run ``BENCH_RUNS`` times as a plain subprocess (what the code did before: a cleaned
environment, a scratch folder) and behind the wall (new namespaces, a fresh read-only root,
another uid, no network); the figure is the difference of the medians:

* ``startup``: ``python -c pass`` — the fixed cost of building the box (mounts, chroot, setpriv);
* ``torch_import``: ``python -c "import torch"`` — what the import/parity checks pay.

Target: ≤ 0.5 s added per run (a Tier 1 run takes minutes; a validation a few seconds).
Prints one JSON line at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.safeenv import clean_env  # noqa: E402
from bot.sandbox import Sandbox, probe  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
TARGET_S = 0.5
CASES = {"startup": "pass", "torch_import": "import torch"}


def _plain(code: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", code], cwd=tmp, env=clean_env(), check=True, capture_output=True
        )
        return time.monotonic() - t


def _boxed(code: str) -> float:
    t = time.monotonic()
    with Sandbox("required") as box:
        run = box.run([sys.executable, "-c", code], timeout=300)
    if run.returncode != 0:
        raise SystemExit(f"sandboxed run failed: {run.stderr[-500:]}")
    return time.monotonic() - t


def main() -> int:
    cap = probe()
    if not cap.isolated:
        print(json.dumps({"mode": cap.mode, "ok": False, "error": "the wall is not available here"}))
        return 1
    fig: dict[str, object] = {"mode": cap.mode, "runs": RUNS}
    ok = True
    for name, code in CASES.items():
        _plain(code), _boxed(code)  # warm the page cache
        pairs = [(_plain(code), _boxed(code)) for _ in range(RUNS)]  # interleaved: load drifts
        plain = statistics.median(p for p, _ in pairs)
        boxed = statistics.median(b for _, b in pairs)
        added = boxed - plain
        fig[f"{name}_plain_s"] = round(plain, 3)
        fig[f"{name}_sandboxed_s"] = round(boxed, 3)
        fig[f"{name}_added_s"] = round(added, 3)
        ok = ok and added <= TARGET_S
    fig["target_added_s"] = TARGET_S
    fig["ok"] = ok
    print(json.dumps(fig))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
