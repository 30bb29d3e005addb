"""The one capped reader of files another job or a model wrote (bot.fileio)."""

from __future__ import annotations

import hashlib
import os
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
