#!/usr/bin/env bash
# Run a command in a network namespace where only loopback exists (nothing else is reachable,
# by construction, for the command and every process it starts); used by `make test`.
#   scripts/loopback.sh CMD [ARGS...]
# Tries, in order: `unshare -n` as root; `sudo unshare -n` dropping back to the calling user;
# `unshare -rn` (an unprivileged user namespace: there sshd cannot drop privileges, so the SSH
# tests fail, loudly). Where none works it says so and runs the command as is (the tests'
# in-process guard still refuses non-loopback connections, and test_loopback.py fails under
# CI=true, so a CI run cannot pass outside the namespace unnoticed).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ "${TESTS_NETNS:-}" = loopback ]; then exec "$@"; fi   # already inside
export TESTS_NETNS=loopback
inner='ip link set lo up 2>/dev/null || { echo "loopback.sh: cannot bring up lo" >&2; exit 97; }; exec "$@"'
if command -v unshare >/dev/null && command -v ip >/dev/null; then
  if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    exec unshare -n -- bash -c "$inner" loopback "$@"
  fi
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && command -v setpriv >/dev/null \
     && sudo -n unshare -n true 2>/dev/null; then
    exec sudo -n --preserve-env unshare -n -- env PATH="$PATH" HOME="$HOME" bash -c \
      "ip link set lo up && exec setpriv --reuid=$(id -u) --regid=$(id -g) --init-groups -- \"\$@\"" loopback "$@"
  fi
  if unshare -rn true 2>/dev/null; then
    echo "loopback.sh: unprivileged namespace (unshare -rn): sshd cannot run here" >&2
    exec unshare -rn -- bash -c "$inner" loopback "$@"
  fi
fi
unset TESTS_NETNS
echo "loopback.sh: no network namespace available here (unshare -rn / sudo unshare -n); running without one" >&2
exec "$@"
