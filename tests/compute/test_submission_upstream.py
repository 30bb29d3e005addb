"""Submission folders upstream would accept: the record bar, the non-record track, every key
recent upstream records carry, logs only from inside the run folder, and a lint of the layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.compute.submission import NON_RECORD_DIR, SUBMISSION_KEYS, TRACK_DIR, build_submission, lint_folder
from bot.errors import InputError
from tests.compute.conftest import Repo

WHEN = datetime(2026, 11, 27, tzinfo=UTC)


def seed_log(train_ms: int, eval_ms: int, bpb: float) -> str:
    return (
        f"step:100/100 val_loss:2.0 val_bpb:1.2 train_time:{train_ms}ms step_avg:43.54ms\n"
        f"stopping_early: wallclock_cap train_time:{train_ms}ms step:100/100\n"
        "Total submission size int8+zlib: 15000000 bytes\n"
        f"final_int8_zlib_roundtrip val_loss:{bpb * 1.69:.4f} val_bpb:{bpb:.4f} eval_time:{eval_ms}ms\n"
        f"final_int8_zlib_roundtrip_exact val_loss:{bpb * 1.69:.8f} val_bpb:{bpb:.8f}\n"
    )


def make_run(
    repo: Repo,
    run_id: str,
    *,
    seeds: tuple[int, ...] = (1, 2, 3),
    eval_ms: int = 400_000,
    record_grade: bool = True,
    p_value: float = 0.001,
    log_override: str | None = None,
    provider: str = "runpod",
) -> str:
    run_dir = repo.root / ".pgolf/runs" / run_id
    run_dir.mkdir(parents=True)
    out: list[dict[str, Any]] = []
    for sd in seeds:
        bpb = 1.10 - 0.0005 * sd
        log = run_dir / f"train_seed{sd}.log"
        log.write_text(seed_log(590_000, eval_ms, bpb))
        out.append({
            "seed": sd, "rc": 0, "log": log_override or str(log), "val_bpb": bpb, "val_loss": bpb * 1.69,
            "artifact_bytes": 15_000_000, "seconds": 1000.0,
        })  # fmt: skip
    result = {
        "run_id": run_id, "pr": 3, "sha": repo.sha, "provider": provider, "status": "keep",
        "hardware": "8xH100 80GB HBM3" if provider == "runpod" else "local CPU", "seeds": out,
        "significance": {"record_grade": record_grade, "p_value": p_value, "improvement_nats": 0.02,
                         "verdict": "record-grade" if record_grade else "not record-grade"},
    }  # fmt: skip
    (run_dir / "result.json").write_text(json.dumps(result))
    return run_id


def test_record_grade_run_goes_to_the_record_track_and_lints_clean(repo: Repo) -> None:
    s = repo.settings()
    built = build_submission(repo.root, s, make_run(repo, "r-rec"), name="Wide MLP", date=WHEN)
    assert built.folder == repo.root / TRACK_DIR / "2026-11-27_Wide_MLP"
    sub = built.submission
    assert all(k in sub for k in SUBMISSION_KEYS)
    assert sub["track"] == "10min_16mb" and sub["record_grade"] is True
    assert sub["pytorch_version"] == "2.8.0"  # from the pod image's tag (no log printed it)
    assert (
        sub["seed_results"]["1"]["eval_time_s"] == 400.0 and sub["seed_results"]["1"]["train_time_s"] == 590.0
    )
    assert sub["compliance"]["eval_under_600s"] and sub["compliance"]["train_under_600s"]
    assert (built.folder / "README.md").read_text().startswith("# Record: Wide MLP")
    assert lint_folder(built.folder) == []


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"seeds": (1,)}, "1 seed(s)"),
        ({"eval_ms": 650_000}, "evaluation over 600 s"),
        ({"record_grade": False, "p_value": 0.2}, "not shown to beat the record"),
        ({"provider": "local"}, "trained on local CPU"),
    ],
)
def test_runs_below_the_bar_go_to_the_non_record_track(repo: Repo, kw: dict[str, Any], why: str) -> None:
    built = build_submission(
        repo.root, repo.settings(), make_run(repo, "r-non", **kw), name="Idea", date=WHEN
    )
    assert built.folder == repo.root / NON_RECORD_DIR / "2026-11-27_Idea"
    assert built.submission["track"] == "non_record_16mb" and built.submission["record_grade"] is False
    readme = (built.folder / "README.md").read_text()
    assert readme.startswith("# Non-record: Idea") and why in readme
    assert not (repo.root / TRACK_DIR).exists()
    assert lint_folder(built.folder) == []


def test_a_log_path_outside_the_run_folder_is_refused(repo: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "passwd"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    run = make_run(repo, "r-evil", log_override=str(outside))
    with pytest.raises(InputError, match=r"seeds\[0\]\.log.*outside the run folder"):
        build_submission(repo.root, repo.settings(), run, date=WHEN)
    run2 = make_run(repo, "r-evil2", log_override="../r-evil/../../../../etc/passwd")
    with pytest.raises(InputError, match="outside the run folder"):
        build_submission(repo.root, repo.settings(), run2, date=WHEN)
    assert not (repo.root / "records").exists()


def test_lint_names_what_upstream_would_refuse(tmp_path: Path) -> None:
    folder = tmp_path / "records" / "track_10min_16mb" / "best-run"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# My run\n")
    (folder / "submission.json").write_text(json.dumps({"val_bpb": "1.1", "track": "non_record_16mb"}))
    problems = lint_folder(folder)
    text = "\n".join(problems)
    for expected in (
        "folder name must be YYYY-MM-DD_<name>",
        "train_gpt.py: missing",
        "no training log",
        "pytorch_version: missing",
        "val_bpb: must be a number",
        "track: 'non_record_16mb' but the folder is in records/track_10min_16mb",
        "title must say Record",
    ):
        assert expected in text, (expected, problems)
