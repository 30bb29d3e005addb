"""Crash-safe file primitives shared by the ledger, the budget and the research state.

* :func:`atomic_write_bytes` writes a temporary file in the same folder, fsyncs it and
  ``os.replace``-s it over the target: readers see the old or the new file, never a torn one.
* :func:`file_lock` is an exclusive advisory lock (``fcntl.flock``) on a sibling ``.lock``
  file, so read-modify-write cycles from several processes serialise.
* :func:`read_capped` / :func:`read_json_capped` read a file another job or a model wrote: a
  regular file (never through a symlink), refused over a size cap without reading past it,
  optionally bound to the SHA-256 its writer declared, parsed as JSON; every refusal is the
  caller's error class naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.errors import InputError, PgolfError


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` (the lock file is ``<path>.lock``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_capped(path: Path | str, limit: int, what: str, error: type[PgolfError] = InputError) -> bytes:
    """The bytes of the regular file ``path`` (never through a symlink), refused over ``limit``
    bytes without reading past it. ``what`` names the file in the message ("the verdict");
    ``error`` is the caller's error class."""
    where = str(path)
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            raise error(f"{what} is not a regular file", path=where)
        if st.st_size > limit:
            raise error(
                f"{what} is {st.st_size} bytes, over the {limit}-byte limit: refused unread", path=where
            )
        # O_NONBLOCK: a FIFO swapped in after the lstat must not block the open; what was opened
        # is checked again (the lstat and the open are two steps)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise error(f"{what} is not a regular file", path=where)
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{what} is missing", path=where) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", path=where) from None
    if len(data) > limit:  # it grew after the lstat
        raise error(f"{what} is over the {limit}-byte limit: refused unread", path=where)
    return data


def read_json_capped(
    path: Path | str,
    limit: int,
    what: str,
    *,
    error: type[PgolfError] = InputError,
    sha256: str | None = None,
) -> Any:
    """:func:`read_capped`, then JSON. ``sha256``: the digest the writing job declared (in job
    outputs no other job can set); a file with another one was not written by that job and is
    refused before it is parsed."""
    data = read_capped(path, limit, what, error)
    if sha256 is not None:
        got, want = hashlib.sha256(data).hexdigest(), sha256.strip().lower()
        if got != want:
            raise error(
                f"{what} does not match the digest its job reported (SHA-256 {got[:12]}…, expected "
                f"{want[:12] + '…' if want else 'none'}): not that job's file; refused",
                path=str(path),
            )
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON, or a 4,300+ digit int
        raise error(f"{what} is not JSON: {exc}", path=str(path)) from None
