from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import LogParseError
from bot.training.logparse import parse_log
from tests.fixture_paths import roots


@pytest.mark.parametrize("root", roots())
def test_real_upstream_log(root: Path) -> None:
    """The baseline's log: our condensed copy of its formats (default) and the upstream one (corpus)."""
    r = parse_log((root / "parameter-golf" / "logs" / "naive_baseline_train.log").read_text())
    assert r.val_bpb == pytest.approx(1.22436570)
    assert r.val_loss == pytest.approx(2.07269931)
    assert r.tag == "int8_zlib_roundtrip"
    assert (r.artifact_bytes, r.codec, r.code_bytes, r.model_bytes) == (
        15863489,
        "int8+zlib",
        47642,
        15815847,
    )
    assert (r.last_step, r.total_steps, r.stopped_early) == (13780, 20000, True)
    assert r.train_time_ms == 600038 and r.step_avg_ms == pytest.approx(43.54)
    assert r.pre_quant_val_bpb == pytest.approx(1.2172)
    assert r.peak_memory_mib == 10184
    assert r.train_points[0].train_loss == pytest.approx(6.9408)
    assert r.val_points[0].val_bpb == pytest.approx(4.0978)


VARIANT = """\
[rank0]: 100/9000 train_loss:3.1000 train_time:4000ms step_avg:40.00ms
9000/9000 val_loss:1.9000 val_bpb:1.1250 train_time:599000ms step_avg:66.55ms
Serialized model int6+lzma: 15,500,000 bytes
Code size: 60,001 bytes
Total submission size int6+lzma: 15,560,001 bytes
final_int6_roundtrip_exact val_loss:1.91000000 val_bpb:1.13000000
final_int6_sliding_window_exact val_loss:1.88000000 val_bpb:1.11500000
"""


def test_variants_prefixless_steps_other_codecs_and_tags() -> None:
    r = parse_log(VARIANT)
    assert r.tag == "int6_sliding_window" and r.val_bpb == pytest.approx(1.115)
    assert set(r.finals) == {"int6_roundtrip", "int6_sliding_window"}
    assert r.artifact_bytes == 15_560_001 and r.codec == "int6+lzma" and r.code_bytes == 60_001
    assert [s.step for s in r.steps] == [100, 9000]
    assert r.steps[0].train_loss == pytest.approx(3.1) and r.steps[1].val_bpb == pytest.approx(1.125)
    assert not r.stopped_early


def test_final_without_val_loss_and_carriage_returns() -> None:
    r = parse_log("step:1/2 train_loss:5.0\rstep:2/2 train_loss:4.0\nfinal_ttt_exact val_bpb:1.0611\n")
    assert r.val_bpb == pytest.approx(1.0611) and r.val_loss is None and r.last_step == 2


def test_no_final_metric_is_a_clear_error() -> None:
    text = "step:5/500 train_loss:4.2 train_time:10ms step_avg:2ms\nTraceback (most recent call last):\nRuntimeError: CUDA out of memory\n"
    with pytest.raises(LogParseError) as ei:
        parse_log(text)
    msg = str(ei.value)
    assert "no final metric" in msg and "5/500" in msg and "out of memory" in msg
    with pytest.raises(LogParseError, match="no step lines"):
        parse_log("")
