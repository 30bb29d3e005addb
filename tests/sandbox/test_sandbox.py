"""bot.sandbox: the wall itself, its named degraded mode, the policy, and reading results back."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError, SandboxError
from bot.sandbox import Capability, Sandbox, box_env, effective_policy, probe, read_inside

ROOT = Path(__file__).resolve().parents[2]


def test_the_wall_is_available_here_so_tests_run_it_required() -> None:
    """This project's CI and test machines run as root on Linux: the policy is ``required`` and
    the wall is up (a machine without it fails here instead of silently testing less)."""
    assert effective_policy(load_settings(ROOT, env={}).sandbox) == "required"
    assert probe().isolated, probe().mode


def test_policy_values() -> None:
    assert effective_policy("auto", "linux") == "required"
    assert effective_policy("auto", "darwin") == "best-effort"
    assert effective_policy("best-effort", "linux") == "best-effort"
    with pytest.raises(SandboxError, match="must be one of"):
        effective_policy("off")
    with pytest.raises(ConfigError, match="sandbox"):
        load_settings(ROOT, env={"PGOLF_SANDBOX": "off"})
    with pytest.raises(ConfigError, match="sandbox_uid"):
        load_settings(ROOT, env={"PGOLF_SANDBOX_UID": "0"})


def test_required_refuses_where_the_wall_is_impossible() -> None:
    cap = Capability.unisolated("darwin has no Linux namespaces")
    with pytest.raises(
        SandboxError, match=r"cannot be isolated here \(unisolated: darwin has no Linux namespaces\)"
    ):
        Sandbox("required", capability=cap)


def test_best_effort_runs_with_a_named_mode_and_a_clean_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "canary-runpod")
    monkeypatch.setenv("HARMLESS_HOST_VAR", "host")
    cap = Capability.unisolated("not root and no passwordless sudo")
    with (
        caplog.at_level(logging.WARNING, logger="pgolf.sandbox"),
        Sandbox("best-effort", capability=cap) as box,
    ):
        run = box.run(
            [sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
            env={"KNOB": "1", "MY_TOKEN": "canary-token"},
            timeout=60,
        )
    assert run.mode == box.mode == "unisolated: not root and no passwordless sudo"
    assert "unisolated: not root and no passwordless sudo" in caplog.text
    env = json.loads(run.stdout)
    assert env["KNOB"] == "1"
    assert not {"RUNPOD_API_KEY", "MY_TOKEN", "HARMLESS_HOST_VAR"} & set(env)


def test_box_env_is_built_from_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOME_HOST_VAR", "x")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = box_env({"ITERATIONS": "5", "GH_APP_PRIVATE_KEY": "k", "PGOLF_SANDBOX": "best-effort"}, tmp_path)
    assert env["ITERATIONS"] == "5" and env["OMP_NUM_THREADS"] == "3" and env["HOME"] == str(tmp_path)
    assert not {"SOME_HOST_VAR", "GH_APP_PRIVATE_KEY", "PGOLF_SANDBOX"} & set(env)


PROBE = r"""
import json, os, socket, sys
import resource
out = {"uid": os.getuid(), "nproc": resource.getrlimit(resource.RLIMIT_NPROC), "root": sorted(os.listdir("/")), "pids": sorted(p for p in os.listdir("/proc") if p.isdigit())}
out["sees"] = {p: os.path.exists(p) for p in sys.argv[1:4]}
out["home"] = sorted(os.listdir(sys.argv[2])) if os.path.isdir(sys.argv[2]) else []
for name, path in (("usr", "/usr/pgolf-x"), ("input", sys.argv[4] + "/x"), ("tmp", "/tmp/pgolf-box-tmp"), ("scratch", "x")):
    try:
        open(path, "w").write("x")
        out[name] = "written"
    except OSError as exc:
        out[name] = exc.strerror
for key, addr in (("net", ("127.0.0.1", int(sys.argv[5]))), ("outside", ("192.0.2.1", 9))):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(addr)
        out[key] = "connected"
    except OSError as exc:
        out[key] = exc.strerror
print(json.dumps(out))
"""


def test_the_box_sees_only_what_it_is_given(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "shard.bin").write_bytes(b"\0" * 16)
    data.chmod(0o755)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with Sandbox("required") as box:
            box.bind(data)
            argv = [str(ROOT / ".git"), os.environ["HOME"], str(tmp_path / "elsewhere"), str(data), str(port)]
            (tmp_path / "elsewhere").mkdir()
            run = box.run([sys.executable, "-c", PROBE, *argv], timeout=120)
            assert run.returncode == 0, run.stderr
            out = json.loads(run.stdout)
            assert box.read_bytes("x") == b"x"  # the scratch folder is the one writable place
        listener.settimeout(0.1)
        accepted = []
        with contextlib.suppress(OSError):
            accepted.append(listener.accept())
    finally:
        listener.close()
    assert out["uid"] == 64999
    assert out["nproc"] == [4096, 4096]  # a fork bomb stops there
    assert out["pids"] == ["1"]  # its own PID namespace: no ancestor to read
    assert out["sees"][argv[0]] is False and out["sees"][argv[2]] is False  # checkout's .git, a host folder
    # of the orchestrator's HOME, at most the path to the bound Python installation is there
    home = Path(argv[1]).resolve()
    allowed = {p.relative_to(home).parts[0] for p in map(Path, _bound_python()) if home in p.parents}
    assert set(out["home"]) <= allowed, out["home"]
    assert out["usr"] == "Read-only file system" and out["input"] == "Read-only file system"
    assert out["tmp"] == "written" and not Path("/tmp/pgolf-box-tmp").exists()  # a private /tmp
    assert out["scratch"] == "written"
    # 127.0.0.1 in the box is the box's own loopback: the host's listener is not there
    assert out["net"] == "Connection refused" and accepted == []
    assert out["outside"] == "Network is unreachable"


def _bound_python() -> list[str]:
    from bot.sandbox import _python_paths

    return [str(p) for p in _python_paths()]


def _procs_with(token: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
    return found


def test_a_timeout_kills_every_process_of_the_box() -> None:
    token = "987.6543"
    code = f"import subprocess, time; subprocess.Popen(['sleep', '{token}']); time.sleep(1000)"
    with Sandbox("required") as box:
        run = box.run([sys.executable, "-c", code], timeout=3)
    assert run.timed_out
    deadline = time.monotonic() + 10
    while _procs_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _procs_with(token) == []


def test_an_input_other_users_cannot_read_is_refused_naming_it(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    with Sandbox("required") as box:
        box.bind(private)
        with pytest.raises(SandboxError, match=f"{private}: input for a sandboxed run is not readable"):
            box.run([sys.executable, "-c", "pass"], timeout=60)


def test_reading_back_refuses_symlinks_special_files_and_size(tmp_path: Path) -> None:
    base = tmp_path / "scratch"
    (base / "logs").mkdir(parents=True)
    (base / "ok.json").write_text('{"a": 1}')
    (base / "big.bin").write_bytes(b"x" * 100)
    secret = tmp_path / "secret.txt"
    secret.write_text("canary")
    (base / "link.json").symlink_to(secret)
    (base / "dirlink").symlink_to(tmp_path)
    os.mkfifo(base / "fifo")
    assert read_inside(base, "ok.json", 1000) == b'{"a": 1}'
    assert read_inside(base, "absent.json", 1000) is None
    with pytest.raises(SandboxError, match="symlink"):
        read_inside(base, "link.json", 1000)
    with pytest.raises(SandboxError, match="not a plain folder"):
        read_inside(base, "dirlink/secret.txt", 1000)
    with pytest.raises(SandboxError, match="not a regular file"):
        read_inside(base, "fifo", 1000)
    with pytest.raises(SandboxError, match="over the 10-byte limit"):
        read_inside(base, "big.bin", 10)
    with pytest.raises(SandboxError, match="not a path inside"):
        read_inside(base, "../secret.txt", 1000)


def test_copy_out_takes_regular_files_only(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("canary-copy-out")
    secret.chmod(0o644)
    code = (
        "import os; os.makedirs('logs'); open('final_model.int8.ptz','wb').write(b'w');"
        f"os.symlink({str(secret)!r}, 'final_model.link.ptz'); os.symlink('/etc/passwd', 'logs/x.txt')"
    )
    dest = tmp_path / "run"
    with Sandbox("required") as box:
        run = box.run([sys.executable, "-c", code], timeout=60)
        assert run.returncode == 0, run.stderr
        copied = box.copy_out(["final_model.*", "logs/*.txt"], dest)
    assert [p.name for p in copied] == ["final_model.int8.ptz"]
    assert sorted(p.name for p in dest.rglob("*")) == ["final_model.int8.ptz"]


def test_the_sudo_form_passes_only_the_box_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On GitHub-hosted runners pgolf is not root and reaches the wall through passwordless sudo,
    which resets the environment: the box's environment travels on ``env -i``'s command line and
    the scratch folder is given back afterwards. A stand-in for ``sudo -n`` that resets the
    environment the same way exercises that form here (we are root already)."""
    shim = tmp_path / "sudo"
    shim.write_text(
        '#!/bin/sh\n[ "$1" = -n ] && shift\nexec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"\n'
    )
    shim.chmod(0o755)
    monkeypatch.setenv("GITHUB_TOKEN", "canary-sudo")
    cap = Capability(True, "", (str(shim), "-n"), probe().tools)
    code = "import os, json; open('out.json', 'w').write(json.dumps(dict(os.environ))); print(os.getuid())"
    with Sandbox("required", capability=cap) as box:
        run = box.run([sys.executable, "-c", code], env={"KNOB": "7", "RUNPOD_API_KEY": "canary"}, timeout=60)
        assert run.returncode == 0, run.stderr
        env = json.loads(box.read_bytes("out.json") or b"{}")
        owner = (box.scratch / "out.json").stat().st_uid
    assert run.mode == "isolated (sudo)" and run.stdout.strip() == "64999"
    assert env["KNOB"] == "7" and not {"GITHUB_TOKEN", "RUNPOD_API_KEY"} & set(env)
    assert owner == os.getuid()  # given back before reading


def test_a_flood_of_output_is_capped_in_the_orchestrator() -> None:
    """A box that prints without end cannot make the orchestrator hold it all: each stream keeps
    its head and its tail (where the final metrics are) and says how much was left out."""
    flood = (
        "import sys\n"
        "sys.stdout.write('FIRST\\n')\n"
        "for _ in range(48):\n"
        "    sys.stdout.write('x' * (1 << 20))\n"
        "    sys.stderr.write('y' * (1 << 20))\n"
        "sys.stdout.write('\\nLAST\\n')\n"
    )
    with Sandbox("required", output_limit=4 << 20) as box:
        run = box.run([box.python, "-c", flood], timeout=120)
    assert run.returncode == 0 and not run.timed_out, run.stderr[-500:]
    for text in (run.stdout, run.stderr):
        assert len(text) <= (4 << 20) + 200, len(text)
        assert "bytes left out" in text
    assert run.stdout.startswith("FIRST\n") and run.stdout.endswith("\nLAST\n")


def test_the_local_tier_timeout_ends_the_box_in_the_sudo_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through sudo, the orchestrator's child is sudo, which stays the box's parent and cannot
    relay SIGKILL: a timeout must end the box itself (sudo relays SIGTERM), or the run outlives
    its limit. A stand-in that stays the parent and relays SIGTERM as sudo does plays sudo here."""
    from bot.training.local import run_script

    shim = tmp_path / "sudo"
    shim.write_text(
        "#!/bin/sh\n"
        '[ "$1" = -n ] && shift\n'
        '/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@" &\n'
        "child=$!\n"
        "trap 'kill -TERM \"$child\"' TERM INT HUP\n"
        'wait "$child"; wait "$child"\n'
    )
    shim.chmod(0o755)
    cap = Capability(True, "", (str(shim), "-n"), probe().tools)
    monkeypatch.setattr("bot.sandbox.probe", lambda: cap)
    token = "876.5432"
    script = tmp_path / "train_gpt.py"
    script.write_text(
        f"import subprocess, time\nprint('hi', flush=True)\nsubprocess.run(['sleep', '{token}'])\n"
    )
    t0 = time.monotonic()
    out = run_script(script, {}, tmp_path / "run", timeout=3)
    assert out.timed_out and out.sandbox == "isolated (sudo)"
    assert time.monotonic() - t0 < 60
    deadline = time.monotonic() + 10
    while _procs_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _procs_with(token) == []
