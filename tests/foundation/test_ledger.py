from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.ledger import COLUMNS, HEADER, Ledger, make_row


def row(
    commit: str,
    tier: str = "local",
    bpb: float | None = 1.5,
    status: str = "keep",
    desc: str = "x",
    promoted: str = "no",
):
    return make_row(
        commit=commit,
        tier=tier,
        val_bpb=bpb,
        artifact_bytes=15_000_000,
        memory_gb=10.0,
        status=status,
        promoted=promoted,
        cost_usd=0.0,
        description=desc,
    )


def write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def test_roundtrip_and_header(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    Ledger.append(p, row("abc1234"), row("def5678", "runpod", 1.21))
    text = p.read_text()
    assert text.splitlines()[0] == HEADER
    led = Ledger.load(p)
    assert [r.commit for r in led.rows] == ["abc1234", "def5678"]
    assert led.rows[1].val_bpb == pytest.approx(1.21)
    assert led.warnings == []


def test_tolerant_reader_keeps_and_reports(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    lines = [
        HEADER,
        "aaa1111\tlocal\t1.5\t100\t1.0\tkeep\tno\t0\tok row",
        "bbb2222\tlocal\tn/a",  # short row
        "ccc3333\trunpod\t\t\t\tweird\tmaybe\tabc\tunknown status, bad cost",
        "ddd4444\tlocal\t1.4\t100\t1.0\tkeep\tno\t0\tdesc\textra1\textra2",
        "eee5555\trunpod\t1.2\t100\t1.0\tkeep\tno\t-3\tnegative cost",
    ]
    write(p, "\n".join(lines) + "\n")
    led = Ledger.load(p)
    assert len(led.rows) == 5
    joined = "\n".join(led.warnings)
    assert "3 of 9 columns" in joined
    assert "unknown status 'weird'" in joined
    assert "cost_usd 'abc' is not a number" in joined
    assert "extra column" in joined
    assert "cost_usd '-3' is negative" in joined
    assert led.rows[2].status == "weird" and led.rows[2].val_bpb is None
    # A rewrite keeps every odd row byte-for-byte, changing only what was asked.
    changed = Ledger.mark_promoted(p, "aaa1111")
    assert changed == 1
    out = p.read_text().splitlines()
    assert out[2] == lines[2] and out[3] == lines[3] and out[4] == lines[4] and out[5] == lines[5]
    assert out[1].split("\t")[6] == "yes"


def test_bom_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    body = HEADER + "\r\n" + "aaa1111\trunpod\t1.2\t100\t1.0\tkeep\tno\t0\tdesc\r\n"
    write(p, b"\xef\xbb\xbf" + body.encode())
    led = Ledger.load(p)
    assert led.has_header and len(led.rows) == 1
    assert led.rows[0].description == "desc"
    assert led.current_best_bpb() == pytest.approx(1.2)
    assert any("byte-order mark" in w for w in led.warnings)
    assert any("Windows line endings" in w for w in led.warnings)
    Ledger.append(p, row("bbb2222"))
    assert b"\r" not in p.read_bytes() and not p.read_bytes().startswith(b"\xef")
    assert len(Ledger.load(p).rows) == 2


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"val_bpb": -1.0}, "val_bpb"),
        ({"val_bpb": float("nan")}, "val_bpb"),
        ({"cost_usd": -0.5}, "cost_usd"),
        ({"tier": "cloud"}, "tier"),
        ({"status": "great"}, "status"),
        ({"promoted": "perhaps"}, "promoted"),
        ({"commit": "not a sha!"}, "commit"),
        ({"description": "tab\there"}, "description"),
        ({"artifact_bytes": -1}, "artifact_bytes"),
        ({"val_bpb": None}, "val_bpb"),
    ],
)
def test_make_row_validates(kwargs: dict, field: str) -> None:
    base = dict(
        commit="abc1234",
        tier="local",
        val_bpb=1.5,
        artifact_bytes=1,
        memory_gb=1.0,
        status="keep",
        promoted="no",
        cost_usd=0.0,
        description="d",
    )
    base.update(kwargs)
    with pytest.raises(InputError, match=f"field '{field}'"):
        make_row(**base)


def test_crash_row_may_have_no_bpb() -> None:
    r = make_row(
        commit="abc1234",
        tier="local",
        val_bpb=None,
        artifact_bytes=None,
        memory_gb=None,
        status="crash",
        description="oom",
    )
    assert r.fields[2] == "n/a"


def test_queries(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    Ledger.append(
        p,
        row("b000001", desc="baseline seed=1", bpb=2.00),
        row("b000002", desc="baseline seed=2", bpb=2.02),
        row("b000003", desc="baseline seed=3", bpb=1.98),
        row("e000001", desc="exp 1", bpb=1.90),
        row("e000001", "runpod", 1.20, desc="exp 1 muon tweak", promoted="no"),
        row("e000002", desc="exp 2", bpb=2.10, status="discard"),
        row("e000003", desc="exp 3", bpb=None, status="crash"),
        row("e000004", "runpod", 1.25, desc="exp 4", status="discard"),
    )
    led = Ledger.load(p)
    assert led.current_best_bpb() == pytest.approx(1.20)
    assert led.running_local_baseline() == pytest.approx(2.00)
    nf = led.noise_floor()
    assert nf is not None and 0.009 < nf < 0.011
    failed = led.failed_experiments(10)
    assert [r.commit for r in failed] == ["e000004", "e000003", "e000002"]
    assert [r.commit for r in led.history(2)] == ["e000003", "e000004"]
    proven = led.proven_techniques()
    assert any("exp 1 muon tweak" in t for t in proven)
    assert any("Muon" in t for t in proven)


def test_running_baseline_median_ignores_one_outlier(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    Ledger.append(
        p,
        *[
            row(f"b00000{i}", desc=f"baseline seed={i}", bpb=v)
            for i, v in enumerate([2.0, 2.01, 5.0, 1.99, 2.0])
        ],
    )
    assert Ledger.load(p).running_local_baseline() == pytest.approx(2.0)


def test_tier_correlation(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    pairs = [(2.0, 1.22), (1.9, 1.20), (1.95, 1.21), (1.8, 1.18), (2.1, 1.24)]
    rows = []
    for i, (loc, rp) in enumerate(pairs):
        rows += [row(f"c{i:06d}", bpb=loc), row(f"c{i:06d}", "runpod", rp)]
    rows.append(row("zzzzzzz", bpb=1.5))  # unpaired
    Ledger.append(p, *rows[:4])
    c2 = Ledger.load(p).tier_correlation()
    assert c2.pairs == 2 and c2.pearson_r is None and not c2.reliable and c2.slope is not None
    Ledger.append(p, *rows[4:])
    c = Ledger.load(p).tier_correlation()
    assert c.pairs == 5 and c.reliable
    assert c.pearson_r is not None and c.pearson_r > 0.99
    assert c.spearman_rho == pytest.approx(1.0)
    assert c.mean_delta == pytest.approx(sum(rp - lo for lo, rp in pairs) / 5)
    assert c.slope == pytest.approx(0.2, abs=0.01)
    assert "reliable" in c.summary()


def _appender(path: str, worker: int, n: int) -> None:
    for i in range(n):
        Ledger.append(path, row(f"w{worker:02d}{i:04d}", desc=f"worker {worker} row {i}"))


def test_concurrent_appenders_lose_nothing(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(p), w, 15)) for w in range(6)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    led = Ledger.load(p)
    assert len(led.rows) == 90
    assert len({r.commit for r in led.rows}) == 90
    assert led.warnings == []
    assert all(len(r.fields) == len(COLUMNS) for r in led.rows)


def test_sigkill_mid_append_never_tears_a_row(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    Ledger.append(p, row("seed000", desc="x" * 2000))
    code = (
        "import sys; from bot.ledger import Ledger, make_row\n"
        "i = 0\n"
        "while True:\n"
        "    Ledger.append(sys.argv[1], make_row(commit=f'k{i:06d}', tier='local', val_bpb=1.0, artifact_bytes=1,"
        " memory_gb=1.0, status='keep', description='y' * 5000))\n"
        "    i += 1\n"
    )
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code, str(p)])
        time.sleep(0.6)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        led = Ledger.load(p)
        assert led.warnings == []
        assert all(len(r.fields) == 9 for r in led.rows)
    assert len(Ledger.load(p).rows) > 1


def test_non_utf8_bytes_survive_a_rewrite(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    raw = (HEADER + "\n").encode() + b"aaa1111\tlocal\t1.5\t1\t1.0\tkeep\tno\t0\tcaf\xe9 by hand\n"
    p.write_bytes(raw)
    led = Ledger.load(p)
    assert any("not valid UTF-8" in w for w in led.warnings) and len(led.rows) == 1
    Ledger.append(p, row("bbb2222"))
    assert p.read_bytes().startswith(raw)


def test_baseline_queries_filter_by_config(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    Ledger.append(
        p,
        row("b000001", desc="baseline seed=1 (mlx, 500 it, cfg=mlx-500it-0a1b2c3d)", bpb=1.50),
        row("b000002", desc="baseline seed=2 (mlx, 500 it, cfg=mlx-500it-0a1b2c3d)", bpb=1.52),
        row("b000003", desc="baseline seed=1 (torch, 20 it, cfg=torch-20it-0a1b2c3d)", bpb=3.00),
        row("b000004", desc="baseline seed=2 (torch, 20 it, cfg=torch-20it-0a1b2c3d)", bpb=3.06),
        row("b000005", desc="baseline seed=3 (torch, 20 it, cfg=torch-20it-0a1b2c3dff)", bpb=9.0),
        row("e000001", desc="keep: … (torch, 20 it, cfg=torch-20it-0a1b2c3d)", bpb=2.0),
    )
    led = Ledger.load(p)
    # default: the configuration of the latest baseline row (b000005's longer key) only
    assert [r.commit for r in led.baseline_rows(10)] == ["b000005"]
    assert led.running_local_baseline(10) == pytest.approx(9.0)
    torch_rows = led.baseline_rows(10, config="torch-20it-0a1b2c3d")
    assert [r.commit for r in torch_rows] == ["b000003", "b000004"]  # not the longer key, not the experiment
    assert led.running_local_baseline(10, config="torch-20it-0a1b2c3d") == pytest.approx(3.03)
    nf = led.noise_floor(10, config="torch-20it-0a1b2c3d")
    assert nf is not None and 0.013 < nf < 0.015
    assert led.running_local_baseline(10, config="mlx-500it-0a1b2c3d") == pytest.approx(1.51)
    assert led.running_local_baseline(10, config="mlx-20it-0a1b2c3d") is None
    assert led.noise_floor(10, config="mlx-20it-0a1b2c3d") is None
    assert len(led.baseline_rows(1, config="mlx-500it-0a1b2c3d")) == 1


def test_default_baseline_follows_the_latest_configuration(tmp_path: Path) -> None:
    p = tmp_path / "results.tsv"
    Ledger.append(
        p,
        row("a000001", desc="baseline seed=1 (mlx, 500 it, cfg=mlx-500it-aaaa1111)", bpb=1.50),
        row("a000002", desc="baseline seed=2 (mlx, 500 it, cfg=mlx-500it-aaaa1111)", bpb=1.52),
        row("b000001", desc="baseline seed=1 (torch, 20 it, cfg=torch-20it-bbbb2222)", bpb=3.70),
        row("b000002", desc="baseline seed=2 (torch, 20 it, cfg=torch-20it-bbbb2222)", bpb=3.80),
    )
    led = Ledger.load(p)
    assert led.running_local_baseline() == pytest.approx(3.75)  # latest config only, not 2.61
    assert led.running_local_baseline(config="mlx-500it-aaaa1111") == pytest.approx(1.51)
    nf = led.noise_floor()
    assert nf is not None and nf < 0.02
