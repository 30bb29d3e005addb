"""The one capped reader of files another job or a model wrote (bot.fileio)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from bot.errors import ExperimentError, InputError
from bot.fileio import read_capped, read_json_capped


def test_capped_json_reader_refuses_each_way_with_the_callers_error(tmp_path: Path) -> None:
    good = tmp_path / "v.json"
    good.write_bytes(b'{"a": 1}')
    digest = hashlib.sha256(b'{"a": 1}').hexdigest()
    assert read_json_capped(good, 100, "the verdict", sha256=digest.upper()) == {"a": 1}
    assert read_capped(good, 8, "the verdict") == b'{"a": 1}'
    cases = {
        "missing": (tmp_path / "nope.json", "the verdict is missing"),
        "over": (good, "the verdict is 8 bytes, over the 7-byte limit: refused unread"),
        "not json": (tmp_path / "bad.json", "the verdict is not JSON"),
        "symlink": (tmp_path / "link.json", "the verdict is not a regular file"),
        "folder": (tmp_path, "the verdict is not a regular file"),
    }
    (tmp_path / "bad.json").write_bytes(b"\xff{")
    os.symlink(good, tmp_path / "link.json")
    for name, (path, message) in cases.items():
        limit = 7 if name == "over" else 100
        with pytest.raises(InputError, match=message) as info:
            read_json_capped(path, limit, "the verdict")
        assert info.value.path == str(path), name
    # the caller's error class, and the digest its writer declared
    with pytest.raises(ExperimentError, match=r"does not match the digest its job reported \(SHA-256"):
        read_json_capped(good, 100, "the bundle", error=ExperimentError, sha256="0" * 64)
    with pytest.raises(InputError, match="expected none"):
        read_json_capped(good, 100, "the plan file", sha256="")


def test_a_hostile_json_number_is_the_callers_error_not_a_crash(tmp_path: Path) -> None:
    """Python refuses integers of over 4,300 digits with a ValueError: a file another job or a
    model wrote must not turn that into a traceback (exit 1) instead of the caller's error."""
    huge = tmp_path / "verdict.json"
    huge.write_bytes(b'{"round": ' + b"9" * 5000 + b"}")
    with pytest.raises(ExperimentError, match="the verdict is not JSON"):
        read_json_capped(huge, 10_000, "the verdict", error=ExperimentError)


def test_a_file_swapped_for_a_fifo_after_the_check_is_refused_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check and the open are two steps: a regular file replaced by a FIFO between them must
    be refused (what was opened is checked), never block the job on a read no writer ends."""
    fifo = tmp_path / "verdict.json"
    os.mkfifo(fifo)
    regular = tmp_path / "regular.json"
    regular.write_bytes(b"{}")
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: real_lstat(regular if Path(p) == fifo else p))
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(read_capped(fifo, 100, "the verdict"))
        except InputError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # blocked in open(): a writer lets it go, then fail
        with open(fifo, "wb"):
            pass
        reader.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], InputError), outcome
    assert "the verdict is not a regular file" in str(outcome[0])
