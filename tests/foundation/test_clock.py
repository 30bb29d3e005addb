"""bot.clock: the one source of "now" (pinned in-process, $PGOLF_NOW for subprocesses), and a
guard that no module of bot/ reads the wall clock's date any other way."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import clock
from tests.frozen import FROZEN_NOW

BOT = Path(__file__).resolve().parents[2] / "bot"
# Reading today's date anywhere but bot/clock.py (durations use time.monotonic / time.time).
_WALL_DATE = re.compile(
    r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|datetime\.today\(|time\.strftime\("
)


def test_the_suite_runs_at_the_frozen_instant() -> None:
    assert clock.now() == FROZEN_NOW
    # derived, so that the whole suite can be swept over other instants by editing FROZEN_NOW alone
    # (done for 2028-02-29T23:59:30Z: midnight and a leap day, all green)
    assert clock.stamp() == FROZEN_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pinned_nests_and_restores() -> None:
    a = datetime(2030, 1, 1, 23, 58, tzinfo=UTC)
    with clock.pinned(a):
        assert clock.now() == a
        with clock.pinned("2030-01-02T00:00:30+01:00") as b:
            assert b == datetime(2030, 1, 1, 23, 0, 30, tzinfo=UTC) and clock.now() == b
        assert clock.now() == a
    assert clock.now() == FROZEN_NOW


def test_parse_and_stamp_shapes() -> None:
    assert clock.parse("2026-11-27T09:00:00Z") == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert clock.parse("2026-11-27T10:00:00+01:00") == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert clock.parse("2026-11-27T09:00:00") == datetime(2026, 11, 27, 9, tzinfo=UTC)  # naive = UTC
    east = timezone(timedelta(hours=5))
    assert clock.stamp(datetime(2026, 11, 28, 3, 0, tzinfo=east)) == "2026-11-27T22:00:00Z"
    with pytest.raises(ValueError):
        clock.parse("yesterday")


def test_env_pins_a_subprocess_and_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "from bot import clock; print(clock.stamp())"
    env_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert env_out.stdout.strip() == clock.stamp(FROZEN_NOW)  # the autouse fixture's $PGOLF_NOW
    monkeypatch.setenv(clock.ENV_VAR, "2031-02-03T04:05:06Z")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2031-02-03T04:05:06Z"
    monkeypatch.setenv(clock.ENV_VAR, "not a time")
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert bad.returncode != 0 and "ConfigError" in bad.stderr and "PGOLF_NOW='not a time'" in bad.stderr
    with clock.pinned(FROZEN_NOW):  # in-process, a pin wins over the variable
        assert clock.now() == FROZEN_NOW


def test_no_module_reads_the_date_but_the_clock() -> None:
    offenders = [
        f"{p.relative_to(BOT.parent)}:{n}: {line.strip()}"
        for p in sorted(BOT.rglob("*.py"))
        if p.name != "clock.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if _WALL_DATE.search(line)
    ]
    assert offenders == []
    assert (BOT / "clock.py").read_text().count("datetime.now(UTC)") == 1
