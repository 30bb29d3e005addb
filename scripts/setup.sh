#!/usr/bin/env bash
# Set up everything pgolf's demo and tests need on a fresh Debian machine; idempotent.
#   - system tools: git, openssh (server + client, for the loopback "pod"), rsync,
#     chromium (headless dashboard test), ip + unshare (the tests' loopback-only namespace);
#     with apt-get as root, or through `sudo -n` when not root; otherwise it says what to install
#   - a virtual environment in .venv with pgolf and its [dev,torch,mlx] extras
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null || need_apt+=(openssh-client)
command -v rsync >/dev/null || need_apt+=(rsync)
command -v curl >/dev/null || need_apt+=(curl)             # the runner supervisor's test
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need_apt+=(chromium)
command -v ip >/dev/null || need_apt+=(iproute2)           # `make test`'s loopback-only namespace
command -v unshare >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; }; then
    echo "setup: ${as_root[*]:+${as_root[*]} }apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system tools: ${need_apt[*]}" >&2
    echo "setup: install them as root, e.g. 'sudo apt-get install ${need_apt[*]}' (Debian/Ubuntu);" >&2
    echo "setup: without them the tests that need them fail under CI=true (and skip, saying why, elsewhere)" >&2
  fi
fi

stamp=.venv/.pgolf-installed
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing pgolf[dev,torch,mlx] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch==2.13.0 first: on this kind of machine pip takes a CPU build from local disk.
  .venv/bin/python -m pip install -q "torch==2.13.0" || .venv/bin/python -m pip install -q "torch>=2.4,<2.15"
  .venv/bin/python -m pip install -q -e ".[dev,torch,mlx]"
  touch "$stamp"
fi
