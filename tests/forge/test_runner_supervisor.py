"""The Mac runner's supervisor (``pgolf runner``'s script, bot/forge/runner.py), run for real
under bash: real curl against the GitHub emulator's registration-token endpoint on 127.0.0.1.
The macOS tools it calls (``security``, ``plutil``, ``ditto``, ``sudo``, ``pkill``, ``crontab``,
``chown``, ``getconf``, ``pgrep``, and ``find`` over the machine's shared temporary folders)
are small shims here with their documented behaviour (``security`` exits
44 when the keychain has no such item); ``curl`` is the real one behind a shim that writes down
its command line, as ``ps`` would show it to every user; ``sleep`` writes down its pause and ends
the run after a given number of them.

What broke before: the printed set-up stored ``"$ADMIN_TOKEN"`` that nothing had set (an empty
keychain item); the supervisor (``set -e``) then died on the refused request and launchd restarted
it at once, a request to GitHub every 10 s, forever, with no word anywhere; and the admin token
travelled on curl's command line."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.forge.runner import RunnerPlan, setup_script
from tests.emulators.github import GitHubEmulator

ADMIN = "github_pat_11ADMINTOKENforTests0000000000000000"

SHIMS = {
    "security": """#!/bin/bash
# security find-generic-password -s SERVICE -w KEYCHAIN: the stored password, or exit 44
[ -s "$SHIM_STATE/keychain" ] || { echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2; exit 44; }
cat "$SHIM_STATE/keychain"
""",
    "plutil": f"""#!{sys.executable}
# plutil -extract KEY raw -o - -: KEY's value of the JSON on stdin, or exit 1
import json, sys
key = sys.argv[sys.argv.index("-extract") + 1]
try:
    print(json.load(sys.stdin)[key])
except Exception:
    sys.exit(1)
""",
    "ditto": '#!/bin/bash\nexec cp -R "$1" "$2"\n',
    "chown": '#!/bin/bash\necho "chown $*" >> "$SHIM_STATE/calls"\n',
    "pkill": '#!/bin/bash\necho "pkill $*" >> "$SHIM_STATE/calls"\nexit 1\n',
    "crontab": '#!/bin/bash\necho "crontab $*" >> "$SHIM_STATE/calls"\nexit 1\n',
    "getconf": "#!/bin/bash\nexit 1\n",
    # the shared temporary folders are the machine's: written down, never searched here
    "find": '#!/bin/bash\necho "find $*" >> "$SHIM_STATE/calls"\n',
    "pgrep": '#!/bin/bash\n[ -e "$SHIM_STATE/survivors" ]\n',  # exit 1: no process left (0: some survive)
    "hostname": "#!/bin/bash\necho mac-mini\n",
    "sudo": """#!/bin/bash
# sudo -u USER [-H] CMD...: runs CMD (with this environment: the supervisor itself must drop secrets)
[ "$1" = "-u" ] || exit 64
echo "sudo -u $2 ${*:3}" >> "$SHIM_STATE/calls"
shift 2; [ "$1" = "-H" ] && shift
exec "$@"
""",
    "sleep": """#!/bin/bash
echo "$1" >> "$SHIM_STATE/sleeps"
[ "$(wc -l < "$SHIM_STATE/sleeps")" -ge "$STOP_AFTER" ] && kill -TERM "$PPID"
exit 0
""",
    "curl": """#!/bin/bash
printf '%s\\n' "curl $*" >> "$SHIM_STATE/argv"
exec "$REAL_CURL" "$@"
""",
}

# the runner template: config.sh and run.sh write down what they were given and what they see
CONFIG_SH = """#!/bin/bash
n=$(ls "$SHIM_STATE" | grep -c '^config\\.')
printf '%s\\n' "$@" > "$SHIM_STATE/config.$n"
env > "$SHIM_STATE/config_env.$n"
printf '%s\\n' "config.sh $*" >> "$SHIM_STATE/argv"
exit "${CONFIG_RC:-0}"
"""
RUN_SH = """#!/bin/bash
n=$(ls "$SHIM_STATE" | grep -c '^run\\.')
ls -A . > "$SHIM_STATE/run.$n"
[ -e "$HOME_UNDER_TEST/.cache/x" ] && echo CACHE_LEFT >> "$SHIM_STATE/run.$n"
[ -e "$HOME_UNDER_TEST/.config/pip/pip.conf" ] && echo PIP_CONF_LEFT >> "$SHIM_STATE/run.$n"
touch planted_by_the_job; mkdir -p "$HOME_UNDER_TEST/.cache/x" "$HOME_UNDER_TEST/.config/pip"
printf '[global]\\nindex-url = http://127.0.0.1:9/evil\\n' > "$HOME_UNDER_TEST/.config/pip/pip.conf"
# the home's Library replaced by a link to a folder root must not touch
[ -n "$VICTIM" ] && rm -rf "$HOME_UNDER_TEST/Library" && ln -s "$VICTIM" "$HOME_UNDER_TEST/Library"
exit "${RUN_RC:-0}"
"""


@dataclass
class Run:
    rc: int
    stderr: str
    state: Path

    def lines(self, name: str) -> list[str]:
        p = self.state / name
        return p.read_text().splitlines() if p.exists() else []


@pytest.fixture
def mac(tmp_path: Path) -> Path:
    real_curl = shutil.which("curl")
    assert real_curl, "curl is needed (scripts/setup.sh installs it)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in SHIMS.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    template = tmp_path / "install" / "template"
    template.mkdir(parents=True)
    for name, body in (("config.sh", CONFIG_SH), ("run.sh", RUN_SH)):
        (template / name).write_text(body)
        (template / name).chmod(stat.S_IRWXU)
    (tmp_path / "home").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "real_curl").write_text(real_curl)
    return tmp_path


def supervise(
    mac: Path,
    gh: GitHubEmulator,
    *,
    stop_after: int,
    keychain: str,
    config_rc: int = 0,
    run_rc: int = 0,
    victim: Path | None = None,
) -> Run:
    # the printed script, for the real folders; the test moves the home and the install folder
    # into its temporary one (the two lines it edits: root's real ones are refused anywhere else)
    plan = RunnerPlan("me/lab", server=gh.url, api=gh.url)
    script = setup_script(plan).split("<<'PGOLF_EOF'\n", 1)[1].split("\nPGOLF_EOF", 1)[0]
    home_line, template_line = (
        "RUNNER_HOME=/Users/pgolf-runner\n",
        "TEMPLATE=/usr/local/pgolf-runner/template\n",
    )
    assert home_line in script and template_line in script
    script = script.replace(home_line, f"RUNNER_HOME={mac / 'home'}\n").replace(
        template_line, f"TEMPLATE={mac / 'install' / 'template'}\n"
    )
    (mac / "supervise.sh").write_text(script + "\n")
    state = mac / "state"
    (state / "keychain").write_text(keychain)
    env = {
        "PATH": f"{mac / 'bin'}:{os.environ['PATH']}",
        "SHIM_STATE": str(state),
        "STOP_AFTER": str(stop_after),
        "REAL_CURL": (mac / "real_curl").read_text(),
        "CONFIG_RC": str(config_rc),
        "RUN_RC": str(run_rc),
        "VICTIM": str(victim or ""),
        "HOME_UNDER_TEST": str(mac / "home"),
        "NO_PROXY": "*",
    }
    res = subprocess.run(
        ["bash", str(mac / "supervise.sh")], env=env, capture_output=True, text=True, timeout=60, cwd=mac
    )
    return Run(res.returncode, res.stderr, state)


@pytest.fixture
def gh() -> GitHubEmulator:
    emu = GitHubEmulator().start()
    emu.add_repo("me/lab", files={"README.md": b"lab"})
    emu.add_user("me")  # the owner: admin of me/lab
    emu.add_user("writer")
    emu.set_permission("me/lab", "writer", "write")
    yield emu
    emu.stop()


def test_one_fresh_ephemeral_runner_per_job_and_the_admin_token_on_no_command_line(
    mac: Path, gh: GitHubEmulator
) -> None:
    gh.add_token("me", value=ADMIN)
    run = supervise(mac, gh, stop_after=2, keychain=ADMIN + "\n")
    assert run.lines("sleeps") == ["5", "5"], run.stderr  # two jobs, no failure pause
    issued = [tok for repo, tok in gh.runner_registrations]
    assert [repo for repo, _ in gh.runner_registrations] == ["me/lab", "me/lab"] and len(set(issued)) == 2
    for n in (0, 1):
        args = run.lines(f"config.{n}")
        assert args[args.index("--token") + 1] == issued[n]  # each job its own registration
        assert "--ephemeral" in args and args[args.index("--url") + 1] == f"{gh.url}/me/lab"
        assert ADMIN not in (run.state / f"config_env.{n}").read_text()  # gone before the job's user runs
    # the job's code runs as the runner user only, and finds nothing the previous job planted
    calls = run.lines("calls")
    assert any(c.startswith("sudo -u pgolf-runner -H ./run.sh") for c in calls)
    assert not [c for c in calls if c.startswith("sudo") and "pgolf-runner" not in c]
    assert "planted_by_the_job" not in run.lines("run.1") and "config.sh" in run.lines("run.1")
    assert "CACHE_LEFT" not in run.lines("run.1")  # the user's caches are wiped too
    assert calls.count("pkill -KILL -u pgolf-runner") == 2 and calls.count("crontab -u pgolf-runner -r") == 2
    assert (
        sum(
            c.startswith("find /private/tmp /private/var/tmp /Users/Shared") and "-user pgolf-runner" in c
            for c in calls
        )
        == 2
    )
    # the admin token was on no command line (curl read it on its standard input)
    argv = (run.state / "argv").read_text()
    assert "curl " in argv and ADMIN not in argv and "-K -" in argv


def test_no_token_in_the_keychain_waits_and_says_why(mac: Path, gh: GitHubEmulator) -> None:
    run = supervise(mac, gh, stop_after=2, keychain="")
    assert run.lines("sleeps") == ["60", "60"]  # a pause, not launchd's instant restart
    assert run.stderr.count("no admin token in the System keychain") == 2, run.stderr
    assert run.lines("argv") == [] and gh.runner_registrations == []  # nothing asked of GitHub


def test_a_token_github_refuses_waits_and_says_why(mac: Path, gh: GitHubEmulator) -> None:
    gh.add_token("writer", value="github_pat_11WRITEONLY")  # Administration: write missing
    run = supervise(mac, gh, stop_after=2, keychain="github_pat_11WRITEONLY")
    assert run.lines("sleeps") == ["60", "60"], run.stderr
    assert run.stderr.count("GitHub gave no registration token") == 2
    assert "403" in run.stderr  # curl -fsS names the refusal
    assert not [p for p in run.state.iterdir() if p.name.startswith("config.")]  # never registered
    assert gh.runner_registrations == []


def test_a_registration_config_sh_refuses_waits_and_says_why(mac: Path, gh: GitHubEmulator) -> None:
    gh.add_token("me", value=ADMIN)
    run = supervise(mac, gh, stop_after=2, keychain=ADMIN, config_rc=1)
    assert run.lines("sleeps") == ["60", "60"], run.stderr
    assert run.stderr.count("config.sh could not register a runner") == 2
    assert not [c for c in run.lines("calls") if "run.sh" in c]  # no job without a registration


def test_nothing_a_job_plants_in_its_home_reaches_the_next_and_root_follows_no_link(
    mac: Path, gh: GitHubEmulator
) -> None:
    """Second review: only runner/, .cache and Library/Caches were wiped, so a pip.conf naming
    another index (the next job's `pip install`, the baseline's too), a .gitconfig or a .pth file
    survived; and root's `rm -rf ~/Library/Caches` followed a link the job put at ~/Library."""
    gh.add_token("me", value=ADMIN)
    victim = mac / "victim"
    (victim / "Caches").mkdir(parents=True)
    (victim / "Caches" / "keep").write_text("root must not delete this")
    run = supervise(mac, gh, stop_after=2, keychain=ADMIN, victim=victim)
    assert run.lines("sleeps") == ["5", "5"], run.stderr
    seen = run.lines("run.1")
    assert "PIP_CONF_LEFT" not in seen and "CACHE_LEFT" not in seen and "planted_by_the_job" not in seen
    assert (victim / "Caches" / "keep").read_text() == "root must not delete this"


def test_processes_that_survive_sigkill_hold_the_next_job(mac: Path, gh: GitHubEmulator) -> None:
    """pkill sent TERM, which a job's background process may ignore; it then shared a user with
    the next job (its workspace, the registration token on config.sh's command line)."""
    gh.add_token("me", value=ADMIN)
    (mac / "state" / "survivors").write_text("")
    run = supervise(mac, gh, stop_after=6, keychain=ADMIN)
    assert run.lines("sleeps") == ["1"] * 5 + ["60"], run.stderr
    assert run.lines("calls").count("pkill -KILL -u pgolf-runner") == 5
    assert "survive SIGKILL" in run.stderr and gh.runner_registrations == []


@pytest.mark.parametrize(("run_rc", "stop_after", "sleeps"), [(1, 2, ["60", "60"]), (0, 3, ["5", "5", "60"])])
def test_a_run_sh_that_fails_or_returns_at_once_pauses_and_says_why(
    mac: Path, gh: GitHubEmulator, run_rc: int, stop_after: int, sleeps: list[str]
) -> None:
    """Second review: a runner that exits at once (a version GitHub no longer accepts) made a
    registration every 5 s, silently; now a failure, or a third fast return in a row, waits 60 s."""
    gh.add_token("me", value=ADMIN)
    run = supervise(mac, gh, stop_after=stop_after, keychain=ADMIN, run_rc=run_rc)
    assert run.lines("sleeps") == sleeps, run.stderr
    assert f"run.sh exited {run_rc} after" in run.stderr
