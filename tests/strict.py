"""The suite's two house rules, as a pytest plugin (loaded by ``tests/conftest.py``):

1. **No silent skips.** Under ``CI=true`` (what ``.ci/run`` and GitHub Actions set) a skipped test
   is reported as a failure naming the skip's reason (a missing sshd, rsync, chromium or zizmor
   means the machine is not set up: ``scripts/setup.sh`` installs them).
2. **Loopback only.** In this process every ``connect()``, every addressed ``sendto()``/``sendmsg()``
   (UDP, TCP Fast Open) and every name lookup is checked: only
   127.0.0.0/8, ::1, ``localhost`` and Unix sockets are allowed. Anything else raises
   :class:`NetworkBlocked` *and* fails the test even if the code under test swallowed the error.
   Subprocesses are covered by the network namespace ``make test`` runs the suite in
   (``scripts/loopback.sh``: only ``lo`` exists, so nothing else is reachable by construction).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Generator
from typing import Any

import pytest

CI_TRUE = {"1", "true", "yes", "on"}
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

#: every refused attempt since the last test started ("connect 10.0.0.1:443", "resolve api.github.com")
ATTEMPTS: list[str] = []
_CI = False


class NetworkBlocked(ConnectionRefusedError):
    """A test tried to leave the machine."""


def in_ci() -> bool:
    return _CI


def _is_local_host(host: Any) -> bool:
    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    name = str(host).strip("[]").split("%", 1)[0].lower()
    if name in LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _is_ip(host: Any) -> bool:
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host).split("%", 1)[0])
    except ValueError:
        return False
    return True


def _check(kind: str, host: Any, port: Any = None) -> None:
    if not _is_local_host(host):
        where = f"{host}:{port}" if port is not None else str(host)
        ATTEMPTS.append(f"{kind} {where}")
        raise NetworkBlocked(f"tests only contact loopback: {kind} {where} refused")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_sendmsg = socket.socket.sendmsg
_real_getaddrinfo = socket.getaddrinfo
_real_lookups = {
    name: getattr(socket, name) for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr")
}


def _check_resolved(kind: str, host: Any, port: Any, infos: Any) -> Any:
    """A local *name* is trusted by what it resolves to (a hosts file can point it anywhere)."""
    away = sorted({str(info[4][0]) for info in infos if not _is_local_host(info[4][0])})
    if away:
        where = f"{host}:{port} -> {', '.join(away)}"
        ATTEMPTS.append(f"{kind} {where}")
        raise NetworkBlocked(f"tests only contact loopback: {kind} {where} refused")
    return infos


def _guard_address(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host, port = address[0], address[1]
        _check("connect", host, port)
        if host and not _is_ip(host):  # connect() by name resolves in C: check where it lands
            _check_resolved("connect", host, port, _real_getaddrinfo(host, port, sock.family))


def _connect(self: socket.socket, address: Any) -> None:
    _guard_address(self, address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _guard_address(self, address)
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    """UDP datagrams and TCP Fast Open (``sendto(data, MSG_FASTOPEN, addr)``) leave without connect()."""
    if args:
        _guard_address(self, args[-1])
    return _real_sendto(self, data, *args)


def _sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
    if len(args) >= 3:  # (ancdata, flags, address)
        _guard_address(self, args[2])
    return _real_sendmsg(self, buffers, *args)


def _lookup(name: str) -> Any:
    real = _real_lookups[name]

    def guarded(host: Any) -> Any:
        if not _is_ip(host):
            _check("resolve", host)
        return real(host)

    guarded.__name__ = name
    return guarded


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if _is_ip(host) or host is None:  # a numeric address needs no lookup; its connect() is checked
        return _real_getaddrinfo(host, port, *args, **kwargs)
    _check("resolve", host, port)
    return _check_resolved("resolve", host, port, _real_getaddrinfo(host, port, *args, **kwargs))


def install_guard() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]
    socket.socket.sendmsg = _sendmsg  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
    for name in _real_lookups:
        setattr(socket, name, _lookup(name))


def pytest_configure(config: pytest.Config) -> None:
    global _CI
    _CI = os.environ.get("CI", "").strip().lower() in CI_TRUE
    install_guard()


def pytest_runtest_setup(item: pytest.Item) -> None:
    ATTEMPTS.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    rep = outcome.get_result()
    if ATTEMPTS:  # refused, and maybe swallowed by the code under test: the test fails regardless
        tried = sorted(set(ATTEMPTS))
        ATTEMPTS.clear()
        rep.outcome = "failed"
        rep.longrepr = f"the test tried to leave the machine: {tried}"
    elif _CI and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reason = reason.removeprefix("Skipped: ")
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, where a skip is a failure: {reason}"
