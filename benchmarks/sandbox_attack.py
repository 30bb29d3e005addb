"""Canaries leaked per path: the hostile ``train_gpt.py`` of ``tests/sandbox/attack.py`` through
every path that executes candidate code, with canary secrets (ANTHROPIC_API_KEY, GITHUB_TOKEN,
RUNPOD_API_KEY, GH_APP_PRIVATE_KEY) in the orchestrator's initial environment and the AST rule
switched off, so the sandbox alone is measured.

Per path: the canary values found in its output, its result, any file under its folders or on the
127.0.0.1 listener, and the marker files it managed to create in $HOME, the checkout, .git/hooks
or .venv. Target: 0 and 0 on every path. The two controls (the same attack as a plain subprocess,
and in the sandbox's best-effort unisolated mode) must leak every canary — proof the attack works.
Prints one JSON line at the end.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.training.shards import make_tiny_dataset  # noqa: E402
from tests.sandbox.attack import (  # noqa: E402
    CANARY_NAMES,
    CONTROLS,
    PATHS,
    Listener,
    attack,
    cleanup_markers,
    leaks,
    make_scene,
    outside_changes,
)


def main() -> int:
    leaked: dict[str, int] = {}
    changed: dict[str, int] = {}
    reached: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="pgolf-attack-") as tmp:
        base = Path(tmp)
        tiny = make_tiny_dataset(base / "tiny", max_chars=300_000).root
        for path in (*PATHS, *CONTROLS):
            listener = Listener()
            scene = make_scene(base / path, tiny, listener.port)
            try:
                run = attack(scene, path)
                changed[path] = len(outside_changes(scene))
            finally:
                cleanup_markers(scene)
                listener.close()
            leaked[path] = len(leaks(scene, run, listener))
            reached[path] = listener.connections
    paths_ok = all(leaked[p] == 0 and changed[p] == 0 and reached[p] == 0 for p in PATHS)
    controls_ok = all(leaked[c] == len(CANARY_NAMES) for c in CONTROLS)
    fig = {
        "canaries_leaked": {p: leaked[p] for p in PATHS},
        "outside_changes": {p: changed[p] for p in PATHS},
        "loopback_connections": {p: reached[p] for p in PATHS},
        "controls_canaries_leaked": {c: leaked[c] for c in CONTROLS},
        "canaries": len(CANARY_NAMES),
        "target_leaked": 0,
        "ok": paths_ok and controls_ok,
    }
    print(json.dumps(fig))
    return 0 if fig["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
