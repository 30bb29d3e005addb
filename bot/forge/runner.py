"""``pgolf runner``: the self-hosted Mac runner, set up so that the PR code it runs reaches nothing.

The experiment workflow runs a pull request's training code on this Mac. The job holds no token
and no secret (docs/security.md), but the Mac itself is an asset: the user's files, keychain,
SSH keys, other repositories, and the next job's workspace. So the runner is

* **a dedicated macOS user** (``pgolf-runner``, not an admin, no password login): the job's code
  runs as that user and cannot read the owner's home;
* **ephemeral**: each registration (``config.sh --ephemeral``) takes ONE job and is removed; a
  supervisor owned by the admin (a LaunchDaemon) wipes the runner's work folder and home scratch,
  registers a fresh runner, runs one job as ``pgolf-runner`` and repeats. Nothing one job plants
  (a ``.venv/bin/pgolf``, git hooks, a background process) survives into the next;
* **fed read-only data**: the shards and tokenizer live in ``/Users/Shared/pgolf-data``, owned by
  the admin, mode ``a+rX,go-w`` (the repository variable ``PGOLF_DATA_DIR`` points there);
* **given a registration token by the supervisor only**: the fine-grained token that may create
  registration tokens (repository *Administration: write*) stays in the admin's keychain, never in
  the runner user's reach.

:func:`setup_script` renders the commands (``pgolf runner`` prints them; nothing is run for you:
they need ``sudo`` and an admin to read them first).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from bot.errors import InputError

RUNNER_VERSION = "2.321.0"  # actions/runner release; the supervisor verifies the download's SHA-256
LABELS = ("self-hosted", "macOS", "ARM64")
PREP_REQUIREMENTS = ("numpy", "sentencepiece", "huggingface_hub")  # training/prepare_data.py's imports


@dataclass(frozen=True)
class RunnerPlan:
    repo: str
    user: str = "pgolf-runner"
    data_dir: str = "/Users/Shared/pgolf-data"
    home: str = "/Users/pgolf-runner"
    python: str = "3.11"
    runner_sha256: str = ""

    def check(self) -> RunnerPlan:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", self.repo):
            raise InputError(f"must be OWNER/REPO, not {self.repo!r}", field="--repo")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", self.user):
            raise InputError(f"not a valid macOS short user name: {self.user!r}", field="--user")
        for name, value in (("--data-dir", self.data_dir), ("--home", self.home)):
            if not value.startswith("/") or "\n" in value:
                raise InputError(f"must be an absolute path, not {value!r}", field=name)
        if self.runner_sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.runner_sha256):
            raise InputError("must be the 64-hex SHA-256 of the runner tarball", field="--runner-sha256")
        return self


def setup_script(plan: RunnerPlan) -> str:
    """The shell commands that set the runner up (to read, then run as an admin)."""
    p = plan.check()
    q = shlex.quote
    labels = ",".join(LABELS)
    tarball = f"actions-runner-osx-arm64-{RUNNER_VERSION}.tar.gz"
    url = f"https://github.com/actions/runner/releases/download/v{RUNNER_VERSION}/{tarball}"
    sha = p.runner_sha256 or "<SHA-256 from the release page of actions/runner>"
    supervisor = f"""#!/bin/bash
# pgolf runner supervisor: one fresh, ephemeral runner per job, as {p.user}. Runs as root (LaunchDaemon).
set -euo pipefail
REPO={q(p.repo)}
RUNNER_USER={q(p.user)}
RUNNER_HOME={q(p.home)}
TEMPLATE=/usr/local/pgolf-runner/template
while true; do
  # Fresh state for every job: the work folder, the runner copy and the user's scratch are wiped.
  pkill -u "$RUNNER_USER" || true
  rm -rf "$RUNNER_HOME/runner" "$RUNNER_HOME/.cache" "$RUNNER_HOME/Library/Caches" /tmp/pgolf-* || true
  ditto "$TEMPLATE" "$RUNNER_HOME/runner"
  chown -R "$RUNNER_USER" "$RUNNER_HOME/runner"
  # The admin token (repository Administration: write) never leaves root's keychain.
  ADMIN_TOKEN="$(security find-generic-password -s pgolf-runner-admin -w /Library/Keychains/System.keychain)"
  REG="$(curl -fsS -X POST -H "Authorization: Bearer $ADMIN_TOKEN" -H "Accept: application/vnd.github+json" \\
        "https://api.github.com/repos/$REPO/actions/runners/registration-token" | /usr/bin/plutil -extract token raw -o - -)"
  unset ADMIN_TOKEN
  cd "$RUNNER_HOME/runner"
  sudo -u "$RUNNER_USER" ./config.sh --unattended --ephemeral --replace --url "https://github.com/$REPO" \\
       --token "$REG" --name "pgolf-$(hostname -s)-$(date +%s)" --labels {labels} --work _work
  unset REG
  sudo -u "$RUNNER_USER" -H ./run.sh || true   # exits after ONE job (--ephemeral)
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
        "sudo mkdir -p /usr/local/pgolf-runner/template && cd /usr/local/pgolf-runner",
        f"sudo curl -fsSLo {tarball} {url}",
        f"echo '{sha}  {tarball}' | shasum -a 256 -c -",
        f"sudo tar -xzf {tarball} -C template",
        'sudo security add-generic-password -s pgolf-runner-admin -a pgolf -w "$ADMIN_TOKEN" /Library/Keychains/System.keychain',
        "",
        "# 5. The supervisor (one fresh EPHEMERAL runner per job) as a LaunchDaemon.",
        "sudo tee /usr/local/pgolf-runner/supervise.sh >/dev/null <<'PGOLF_EOF'",
        supervisor.rstrip("\n"),
        "PGOLF_EOF",
        "sudo chmod 755 /usr/local/pgolf-runner/supervise.sh",
        "sudo tee /Library/LaunchDaemons/dev.pgolf.runner.plist >/dev/null <<'PGOLF_EOF'",
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
        '<plist version="1.0"><dict>',
        "  <key>Label</key><string>dev.pgolf.runner</string>",
        "  <key>ProgramArguments</key><array><string>/usr/local/pgolf-runner/supervise.sh</string></array>",
        "  <key>RunAtLoad</key><true/><key>KeepAlive</key><true/>",
        "</dict></plist>",
        "PGOLF_EOF",
        "sudo launchctl bootstrap system /Library/LaunchDaemons/dev.pgolf.runner.plist",
    ]
    return "\n".join(lines) + "\n"
