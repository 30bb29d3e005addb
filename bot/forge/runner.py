"""``pgolf runner``: the self-hosted Mac runner, set up so that the PR code it runs reaches nothing.

The experiment workflow runs a pull request's training code on this Mac. The job holds no token
and no secret (docs/security.md), but the Mac itself is an asset: the user's files, keychain,
SSH keys, other repositories, and the next job's workspace. So the runner is

* **a dedicated macOS user** (``pgolf-runner``, not an admin, no password login): the job's code
  runs as that user and cannot read the owner's home;
* **ephemeral**: each registration (``config.sh --ephemeral``) takes ONE job and is removed; a
  supervisor owned by the admin (a LaunchDaemon) kills the user's processes (SIGKILL), removes
  its crontab, its files in the temporary folders and its whole home (made again, empty),
  registers a fresh runner, runs one job as ``pgolf-runner`` and repeats. Nothing one job plants
  (a ``.venv/bin/pgolf``, git hooks, a pip.conf, a background process) survives into the next;
* **fed read-only data**: the shards and tokenizer live in ``/Users/Shared/pgolf-data``, owned by
  the admin, mode ``a+rX,go-w`` (the repository variable ``PGOLF_DATA_DIR`` points there);
* **given a registration token by the supervisor only**: the fine-grained token that may create
  registration tokens (repository *Administration: write*) stays in the admin's keychain, never in
  the runner user's reach.

:func:`setup_script` renders the commands (``pgolf runner`` prints them; nothing is run for you:
they need ``sudo`` and an admin to read them first).
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass

from bot.errors import InputError

GITHUB_SERVER = "https://github.com"
GITHUB_API = "https://api.github.com"
# actions/runner release (--runner-version): GitHub stops sending jobs to versions it deprecates,
# and such a runner exits at once (the supervisor then logs it); the set-up checks its SHA-256
RUNNER_VERSION = "2.321.0"
LABELS = ("self-hosted", "macOS", "ARM64")
PREP_REQUIREMENTS = ("numpy", "sentencepiece", "huggingface_hub")  # training/prepare_data.py's imports


_SYSTEM_USERS = frozenset({"root", "daemon", "nobody", "admin", "wheel", "staff"})
# Where root may wipe (the home), chown (the data) or run from (the install folder). Compared in
# lower case: APFS is case-insensitive by default, so /users/shared IS /Users/Shared.
_SYSTEM_PREFIXES = (
    "/system", "/private", "/etc", "/var", "/usr", "/bin", "/sbin", "/library", "/applications",
    "/volumes", "/cores", "/dev", "/home", "/root", "/opt", "/tmp", "/users/shared",
)  # fmt: skip
_INSTALL_UNDER = ("/usr/local/", "/opt/")  # root's, no user's


def _norm(path: str) -> str | None:
    """``path`` with ``//`` and ``.`` collapsed, in lower case; None when it climbs (``..``)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return None if ".." in parts else ("/" + "/".join(parts)).lower()


def _under(path: str, prefix: str) -> bool:
    return path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")


def _folder_problem(name: str, value: str, user: str) -> str:
    """Why root must not wipe/chown/run from ``value`` given as ``name`` ('' when it may)."""
    norm = _norm(value)
    if not value.startswith("/") or "\n" in value or norm is None or norm == "/":
        return "must be an absolute path of its own"
    if name == "--home":  # removed and made again by root before every job
        if not re.fullmatch(r"/users/[^/]+", norm) or norm.rsplit("/", 1)[1] != user.lower():
            return f"must be /Users/{user}: root removes it before every job"
    elif name == "--data-dir":  # chowned to the admin, read-only to the runner
        if re.fullmatch(r"/users/[^/]+", norm) or (
            any(_under(norm, p) for p in _SYSTEM_PREFIXES) and not _under(norm, "/users/shared/")
        ):
            return "must be a folder of its own (default /Users/Shared/pgolf-data), not a home or a system folder"
    elif not any(norm.startswith(p) and len(norm) > len(p) for p in _INSTALL_UNDER):
        return "must be a folder under /usr/local or /opt: root runs the supervisor from it"
    return ""


@dataclass(frozen=True)
class RunnerPlan:
    repo: str
    user: str = "pgolf-runner"
    data_dir: str = "/Users/Shared/pgolf-data"
    home: str = "/Users/pgolf-runner"
    python: str = "3.11"
    runner_sha256: str = ""
    runner_version: str = RUNNER_VERSION
    server: str = "https://github.com"  # GitHub Enterprise Server: https://HOST
    api: str = ""  # default: api.github.com for github.com, else SERVER/api/v3 (GHES)
    install_dir: str = "/usr/local/pgolf-runner"  # the template and the supervisor, root's

    @property
    def api_base(self) -> str:
        if self.api:
            return self.api.rstrip("/")
        server = self.server.rstrip("/")
        github = re.fullmatch(r"https://(?:www\.)?github\.com(?::443)?", server, re.I)
        return GITHUB_API if github else f"{server}/api/v3"

    def check(self) -> RunnerPlan:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", self.repo):
            raise InputError(f"must be OWNER/REPO, not {self.repo!r}", field="--repo")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", self.user):
            raise InputError(f"not a valid macOS short user name: {self.user!r}", field="--user")
        if self.user in _SYSTEM_USERS or self.user.startswith("_"):
            raise InputError(f"must be a dedicated user, not the system's {self.user!r}", field="--user")
        if not re.fullmatch(r"/[A-Za-z0-9_./-]*", self.install_dir):
            raise InputError(
                f"must be a plain absolute path, not {self.install_dir!r}", field="--install-dir"
            )
        folders = (("--home", self.home), ("--data-dir", self.data_dir), ("--install-dir", self.install_dir))
        for name, value in folders:
            why = _folder_problem(name, value, self.user)
            if why:
                raise InputError(f"{why}, not {value!r}", field=name)
        for (n1, v1), (n2, v2) in itertools.combinations(folders, 2):
            a, b = _norm(v1) or "", _norm(v2) or ""
            if _under(a, b) or _under(b, a):
                raise InputError(f"must not overlap {n2} ({v2!r}), not {v1!r}", field=n1)
        for name, value in (("--github-url", self.server), ("--api-url", self.api_base)):
            m = re.fullmatch(r"(https?)://([A-Za-z0-9.-]+)(?::\d{1,5})?(/[A-Za-z0-9_./-]*)?", value)
            if m is None:
                raise InputError(f"must be an http(s) address, not {value!r}", field=name)
            if m.group(1) == "http" and m.group(2) not in ("127.0.0.1", "localhost"):
                raise InputError(f"must be https (a token travels to it), not {value!r}", field=name)
        if not re.fullmatch(r"\d{1,3}\.\d{1,4}\.\d{1,4}", self.runner_version):
            raise InputError(
                f"must be a release like 2.321.0, not {self.runner_version!r}", field="--runner-version"
            )
        if self.runner_sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.runner_sha256):
            raise InputError("must be the 64-hex SHA-256 of the runner tarball", field="--runner-sha256")
        return self


def setup_script(plan: RunnerPlan) -> str:
    """The shell commands that set the runner up (to read, then run as an admin)."""
    p = plan.check()
    q = shlex.quote
    labels = ",".join(LABELS)
    tarball = f"actions-runner-osx-arm64-{p.runner_version}.tar.gz"
    url = f"https://github.com/actions/runner/releases/download/v{p.runner_version}/{tarball}"
    sha = p.runner_sha256 or "<SHA-256 from the release page of actions/runner>"
    supervisor = f"""#!/bin/bash
# pgolf runner supervisor: one fresh, ephemeral runner per job, as {p.user}. Runs as root (LaunchDaemon).
# Never exits on a failure (launchd would restart it at once, a request to GitHub every 10 s):
# it says why on stderr and retries after $BACKOFF seconds.
set -uo pipefail
REPO={q(p.repo)}
RUNNER_USER={q(p.user)}
RUNNER_HOME={q(p.home)}
SERVER={q(p.server.rstrip("/"))}
API={q(p.api_base)}
TEMPLATE={q(p.install_dir + "/template")}
BACKOFF=60
FAST=0
while true; do
  # Fresh state for every job. The user's processes are killed (SIGKILL: a job can ignore TERM)
  # until none is left; its crontab goes; its home is REMOVED and made again, empty: nothing a job
  # planted there (a pip.conf naming another index, a .gitconfig, a .pth file, a symlink for root
  # to follow) reaches the next job. rm -rf never follows a link inside what it removes.
  for _ in 1 2 3 4 5; do
    pkill -KILL -u "$RUNNER_USER" || true
    pgrep -u "$RUNNER_USER" >/dev/null || break
    sleep 1
  done
  if pgrep -u "$RUNNER_USER" >/dev/null; then
    echo "pgolf-runner: processes of $RUNNER_USER survive SIGKILL; no job starts beside them; retrying in $BACKOFF s" >&2
    sleep "$BACKOFF"; continue
  fi
  crontab -u "$RUNNER_USER" -r 2>/dev/null || true
  # what the job left in the folders every user may write to, whatever its name (never another
  # user's), and in its own temporary and cache folders (/var/folders/…/T and …/C: confstr(3)),
  # found before the home goes
  USER_TMP="$(sudo -u "$RUNNER_USER" getconf DARWIN_USER_TEMP_DIR 2>/dev/null)" || USER_TMP=""
  USER_CACHE="$(sudo -u "$RUNNER_USER" getconf DARWIN_USER_CACHE_DIR 2>/dev/null)" || USER_CACHE=""
  find /private/tmp /private/var/tmp /Users/Shared ${{USER_TMP:+"$USER_TMP"}} ${{USER_CACHE:+"$USER_CACHE"}} \\
       -mindepth 1 -maxdepth 1 -user "$RUNNER_USER" -exec rm -rf {{}} + 2>/dev/null || true
  rm -rf "$RUNNER_HOME"
  if ! mkdir -m 700 "$RUNNER_HOME" || ! chown "$RUNNER_USER" "$RUNNER_HOME" \\
     || ! ditto "$TEMPLATE" "$RUNNER_HOME/runner" || ! chown -R "$RUNNER_USER" "$RUNNER_HOME/runner"; then
    echo "pgolf-runner: cannot make a fresh $RUNNER_HOME from $TEMPLATE; retrying in $BACKOFF s" >&2
    sleep "$BACKOFF"; continue
  fi
  # The admin token (repository Administration: write) never leaves root: read from the System
  # keychain, handed to curl on its standard input (-K -), on no command line `ps` shows.
  ADMIN_TOKEN="$(security find-generic-password -s pgolf-runner-admin -w /Library/Keychains/System.keychain)" || ADMIN_TOKEN=""
  if [ -z "$ADMIN_TOKEN" ]; then
    echo "pgolf-runner: no admin token in the System keychain (service pgolf-runner-admin); retrying in $BACKOFF s" >&2
    sleep "$BACKOFF"; continue
  fi
  REG="$(printf 'header = "Authorization: Bearer %s"\\n' "$ADMIN_TOKEN" \\
        | curl -fsS --max-time 30 -K - -X POST -H "Accept: application/vnd.github+json" \\
               "$API/repos/$REPO/actions/runners/registration-token" \\
        | plutil -extract token raw -o - -)" || REG=""
  unset ADMIN_TOKEN
  if [ -z "$REG" ]; then
    echo "pgolf-runner: GitHub gave no registration token (the admin token's scope or expiry?); retrying in $BACKOFF s" >&2
    sleep "$BACKOFF"; continue
  fi
  cd "$RUNNER_HOME/runner" || {{ sleep "$BACKOFF"; continue; }}
  if ! sudo -u "$RUNNER_USER" ./config.sh --unattended --ephemeral --replace --url "$SERVER/$REPO" \\
       --token "$REG" --name "pgolf-$(hostname -s)-$(date +%s)" --labels {labels} --work _work; then
    unset REG
    echo "pgolf-runner: config.sh could not register a runner with $SERVER/$REPO; retrying in $BACKOFF s" >&2
    cd /; sleep "$BACKOFF"; continue
  fi
  unset REG
  STARTED=$SECONDS
  sudo -u "$RUNNER_USER" -H ./run.sh   # exits after ONE job (--ephemeral)
  RC=$?
  cd /
  # run.sh failing, or returning at once three times running (a runner GitHub no longer accepts
  # exits "no retry needed"): a pause and a reason, not a new registration every 5 s
  if (( SECONDS - STARTED < 30 )); then FAST=$((FAST + 1)); else FAST=0; fi
  if (( RC != 0 || FAST >= 3 )); then
    echo "pgolf-runner: run.sh exited $RC after $((SECONDS - STARTED)) s (fast exits in a row: $FAST); retrying in $BACKOFF s" >&2
    FAST=0; sleep "$BACKOFF"; continue
  fi
  sleep 5
done
"""
    lines = [
        "# pgolf self-hosted runner for " + p.repo + " — read every line, then run it as an admin.",
        "# Why each step: docs/security.md ('The runner'). Forks: also set Settings → Actions → General →",
        "# 'Require approval for all outside collaborators' (or keep the repository private).",
        "",
        "# 1. A dedicated, non-admin macOS user; the jobs run as this user only.",
        f"sudo sysadminctl -addUser {q(p.user)} -fullName 'pgolf runner' -home {q(p.home)} -password \"$(openssl rand -base64 24)\"",
        f"sudo createhomedir -c -u {q(p.user)}",
        f"sudo dscl . -create /Users/{p.user} UserShell /usr/bin/false   # no interactive login",
        "",
        "# 2. Python >= 3.11 for prepare_data.py (macOS ships 3.9; the workflows bring their own 3.11",
        "#    through actions/setup-python), with prepare_data.py's own dependencies.",
        f"brew install python@{p.python}",
        f"python{p.python} -m venv ~/.pgolf-prepare",
        "~/.pgolf-prepare/bin/pip install " + " ".join(PREP_REQUIREMENTS),
        "",
        "# 3. The data, outside every workspace, owned by you and READ-ONLY to the runner user.",
        f'sudo mkdir -p {q(p.data_dir)} && sudo chown "$(whoami)":staff {q(p.data_dir)}',
        f"~/.pgolf-prepare/bin/python training/prepare_data.py --out {q(p.data_dir)}",
        f"chmod -R a+rX,go-w {q(p.data_dir)}",
        f"gh variable set PGOLF_DATA_DIR --repo {q(p.repo)} --body {q(p.data_dir)}",
        "",
        "# 4. The runner template (verified download), then the admin token in the System keychain:",
        "#    a fine-grained token for this repository with Administration: read and write, used only",
        "#    by the supervisor to create one-job registration tokens.",
        f"sudo mkdir -p {q(p.install_dir + '/template')} && cd {q(p.install_dir)}",
        f"sudo curl -fsSLo {tarball} {url}",
        f"echo '{sha}  {tarball}' | shasum -a 256 -c -",
        f"sudo tar -xzf {tarball} -C template",
        "#    Paste the token at the prompt (not echoed); it reaches `security` on its standard input,",
        "#    never on a command line (`ps` shows those to every user, the runner user included).",
        f"read -rsp 'Token for {p.repo} (Administration: read and write): ' ADMIN_TOKEN; echo",
        "printf 'add-generic-password -U -s pgolf-runner-admin -a pgolf -w %s /Library/Keychains/System.keychain\\n' "
        '"$ADMIN_TOKEN" | sudo security -i',
        "unset ADMIN_TOKEN",
        "",
        "# 5. The supervisor (one fresh EPHEMERAL runner per job) as a LaunchDaemon.",
        f"sudo tee {q(p.install_dir + '/supervise.sh')} >/dev/null <<'PGOLF_EOF'",
        supervisor.rstrip("\n"),
        "PGOLF_EOF",
        f"sudo chmod 755 {q(p.install_dir + '/supervise.sh')}",
        "sudo tee /Library/LaunchDaemons/dev.pgolf.runner.plist >/dev/null <<'PGOLF_EOF'",
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
        '<plist version="1.0"><dict>',
        "  <key>Label</key><string>dev.pgolf.runner</string>",
        f"  <key>ProgramArguments</key><array><string>{p.install_dir}/supervise.sh</string></array>",
        "  <key>RunAtLoad</key><true/><key>KeepAlive</key><true/>",
        "  <key>StandardErrorPath</key><string>/var/log/pgolf-runner.log</string>",
        "</dict></plist>",
        "PGOLF_EOF",
        "sudo launchctl bootstrap system /Library/LaunchDaemons/dev.pgolf.runner.plist",
        "# Why no job starts (no token in the keychain, a token GitHub refuses): /var/log/pgolf-runner.log",
    ]
    return "\n".join(lines) + "\n"
