"""stream_to_log: the trusted side copying a pod's (pull-request code's) output to the seed log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.compute.remote import stream_to_log


def test_a_flood_keeps_the_log_bounded_and_its_last_lines(tmp_path: Path) -> None:
    """One line with no end and a flood of lines: the log (later read whole and parsed) stays
    within its cap, no line is held whole in memory, and the final metric lines survive."""
    code = (
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        "w(b'first\\n')\n"
        "for _ in range(24): w(b'x' * (1 << 20))\n"
        "w(b'\\n')\n"
        "for i in range(200000): w(b'step:%d/200000 train_loss:3.0 ' % i + b'y' * 80 + b'\\n')\n"
        "w(b'final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.2\\n')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    log = tmp_path / "seed.log"
    rc = stream_to_log(proc, log, 120, lambda m: None, limit=8 << 20)
    assert rc == 0
    size = log.stat().st_size
    assert size <= (8 << 20) + (1 << 20), size
    text = log.read_text(encoding="utf-8")
    assert "bytes of output left out" in text
    assert text.splitlines()[0].endswith("first")
    assert text.rstrip().endswith("final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.2")
    assert max(len(ln) for ln in text.splitlines()) <= (1 << 16) + 64
