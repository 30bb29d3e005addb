"""The suite's house rules hold: nothing but loopback is reachable (in-process guard, and the
network namespace ``make test`` runs in), and under ``CI=true`` a skip is a failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests import strict

REPO = Path(__file__).resolve().parents[2]


def test_non_loopback_connections_and_lookups_are_refused() -> None:
    with pytest.raises(strict.NetworkBlocked, match=r"connect 192\.0\.2\.1:443"):
        socket.create_connection(("192.0.2.1", 443), timeout=5)
    with pytest.raises(OSError, match="resolve api.anthropic.com"):
        socket.getaddrinfo("api.anthropic.com", 443)
    # a real SDK's live default endpoint: refused before a packet leaves
    with pytest.raises(httpx.ConnectError, match="loopback"):
        httpx.get("https://api.github.com/zen", timeout=5)
    assert strict.ATTEMPTS == [
        "connect 192.0.2.1:443",
        "resolve api.anthropic.com:443",
        "resolve api.github.com:443",
    ]
    strict.ATTEMPTS.clear()  # expected here; anywhere else they fail the test


def test_datagrams_fast_open_and_old_style_lookups_are_refused_too() -> None:
    """connect() is not the only way out: a UDP datagram, a TCP Fast Open SYN and the
    gethostby* lookups (a DNS query) leave the machine without it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(strict.NetworkBlocked, match=r"connect 192\.0\.2\.1:53"):
            udp.sendto(b"x", ("192.0.2.1", 53))
        with pytest.raises(strict.NetworkBlocked, match=r"connect 192\.0\.2\.2:53"):
            udp.sendmsg([b"x"], [], 0, ("192.0.2.2", 53))
    with socket.socket() as tcp, pytest.raises(strict.NetworkBlocked, match=r"connect 192\.0\.2\.3:80"):
        tcp.sendto(b"GET /", getattr(socket, "MSG_FASTOPEN", 0x20000000), ("192.0.2.3", 80))
    for lookup in (socket.gethostbyname, socket.gethostbyname_ex, socket.gethostbyaddr):
        with pytest.raises(strict.NetworkBlocked, match="resolve example.com"):
            lookup("example.com")
    assert socket.gethostbyname("localhost").startswith("127.")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        tx.sendto(b"ok", rx.getsockname())  # loopback datagrams still flow
        assert rx.recv(2) == b"ok"
    assert len(strict.ATTEMPTS) == 6
    strict.ATTEMPTS.clear()


def test_a_local_name_that_resolves_elsewhere_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """``localhost`` is trusted by what it resolves to, not by its name (a hosts file can point
    it anywhere): a lookup or a connect by name that lands off loopback is refused."""

    def hosts_file_points_elsewhere(host: object, port: object, *args: object, **kwargs: object) -> object:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", port or 0))]

    monkeypatch.setattr(strict, "_real_getaddrinfo", hosts_file_points_elsewhere)
    with pytest.raises(strict.NetworkBlocked, match=r"resolve localhost:443 -> 10\.9\.8\.7"):
        socket.getaddrinfo("localhost", 443)
    with socket.socket() as s, pytest.raises(strict.NetworkBlocked, match=r"localhost:80 -> 10\.9\.8\.7"):
        s.connect(("localhost", 80))
    assert len(strict.ATTEMPTS) == 2
    strict.ATTEMPTS.clear()


def test_loopback_and_unix_sockets_still_work(tmp_path: Path) -> None:
    for family, host in (
        (socket.AF_INET, "127.0.0.1"),
        (socket.AF_INET6, "::1"),
        (socket.AF_INET, "localhost"),
    ):
        with socket.create_server((host, 0), family=family) as srv:
            port = srv.getsockname()[1]
            with socket.create_connection((host, port), timeout=5) as c:
                peer, _ = srv.accept()
                c.sendall(b"ok")
                assert peer.recv(2) == b"ok"
                peer.close()
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as srv:
        srv.bind(path)
        srv.listen()
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(path)
    assert strict.ATTEMPTS == []


def _run_pytest(tmp_path: Path, body: str, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(body))
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.strict",
            "-p",
            "no:cacheprovider",
            "test_probe.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


PROBE = """
    import socket
    import pytest

    def test_swallowed_attempt_still_fails():
        try:
            socket.create_connection(("198.51.100.7", 80), timeout=1)
        except OSError:
            pass  # the code under test hid the error

    def test_skipped():
        pytest.skip("sshd is not installed")

    def test_fine():
        assert 1 + 1 == 2
"""


def test_swallowed_attempts_fail_and_skips_fail_under_ci(tmp_path: Path) -> None:
    local = _run_pytest(tmp_path, PROBE, ci="")
    assert "1 failed, 1 passed, 1 skipped" in local.stdout, local.stdout
    assert "tried to leave the machine: ['connect 198.51.100.7:80']" in local.stdout
    ci = _run_pytest(tmp_path, PROBE, ci="true")
    assert "2 failed, 1 passed" in ci.stdout and "skipped" not in ci.stdout.splitlines()[-1], ci.stdout
    assert "skipped under CI=true, where a skip is a failure: sshd is not installed" in ci.stdout


def test_the_suite_runs_where_only_loopback_exists() -> None:
    """``make test`` runs pytest through scripts/loopback.sh: the subprocesses tests start (the
    CLI, ssh, training, chromium) see no interface but ``lo``, so no live endpoint is reachable."""
    if os.environ.get("TESTS_NETNS") != "loopback":
        pytest.skip("not inside scripts/loopback.sh's namespace (make test runs the suite there)")
    code = "import socket, json; print(json.dumps(socket.if_nameindex()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[[1, "lo"]]'
    # a process without the in-process guard: the kernel has no route anywhere but loopback
    probe = "import socket\ntry:\n socket.create_connection(('192.0.2.1', 443), timeout=5)\nexcept OSError as e:\n print(e.errno)\n"
    errno = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True).stdout.strip()
    assert errno == "101", errno  # ENETUNREACH, at once (not a timeout)
