"""What the experiment split (issue 13) adds to one experiment, measured end to end on loopback.

The untrusted Mac job now uploads its result and a trusted GitHub-hosted job validates and
publishes it. This times the trusted job's pgolf work against the GitHub emulator with the real
PyGithub/httpx clients: fetch the run from the API, find the PR, download the artifact (302 to
storage, no token forwarded), validate, recompute the verdict, post comment + status + label,
append the row. Repeated ``--runs`` times; the median and worst are reported. GitHub's own job
start-up (runner allocation, checkout, pip install: typically tens of seconds) cannot be measured
here and is named, not invented.

Ends with one JSON line: figures, target (median ≤ 5 s per experiment) and "ok".

    .venv/bin/python benchmarks/experiment_split.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.forge.github import GitHubForge  # noqa: E402
from bot.forge.local_report import ARTIFACT_NAME, report_run  # noqa: E402
from bot.ledger import Ledger, make_row  # noqa: E402
from tests.emulators.github import GitHubEmulator  # noqa: E402
from tests.forge.conftest import app_env, make_key  # noqa: E402

TARGET_S = 5.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    key = make_key()
    s = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)
    seconds: list[float] = []
    with GitHubEmulator() as gh, tempfile.TemporaryDirectory() as tmp:
        assert isinstance(gh, GitHubEmulator)
        repo = gh.add_repo("o/lab", files={"training/train_gpt_mlx.py": b"x = 1\n" * 100})
        gh.add_app(4242, key.public_pem, slug="pgolf-bot", installations=[77], repos=[repo])
        root = Path(tmp)
        (root / "training").mkdir()
        (root / "training" / "train_gpt_mlx.py").write_bytes(b"x = 1\n" * 100)
        Ledger.init(root / "results.tsv")
        for seed, bpb in ((1, 1.30), (2, 1.302), (3, 1.298)):
            Ledger.append(
                root / "results.tsv",
                make_row(
                    commit="abcdef0",
                    tier="local",
                    val_bpb=bpb,
                    artifact_bytes=1,
                    memory_gb=None,
                    status="keep",
                    description=f"baseline seed={seed} (mlx, 500 it, cfg=mlx-500)",
                ),
            )
        forge = GitHubForge.from_env(s, app_env(gh, key) | {"GITHUB_REPOSITORY": "o/lab"})
        result = {
            "val_bpb": 1.2,
            "backend": "mlx",
            "config": "mlx-500",
            "artifact": {"total_bytes": 6_000_000},
        }
        for i in range(args.runs):
            pr = gh.add_pr(
                repo, 100 + i, head_ref=f"exp/b{i}", files={"training/train_gpt_mlx.py": b"y\n" * i}
            )
            run_id = gh.add_workflow_run(
                repo,
                name="experiment",
                path=".github/workflows/experiment.yml",
                event="pull_request",
                head_sha=pr.head_sha,
                head_branch=pr.head_ref,
                artifacts={ARTIFACT_NAME: {"local.json": json.dumps(result).encode()}},
            )
            t0 = time.perf_counter()
            out = report_run(forge, s, root, run_id)
            seconds.append(time.perf_counter() - t0)
            assert out.recorded, out.reason
    median = statistics.median(seconds)
    print(
        json.dumps(
            {
                "benchmark": "experiment_split",
                "runs": args.runs,
                "trusted_report_median_s": round(median, 3),
                "trusted_report_max_s": round(max(seconds), 3),
                "not_measured": "GitHub-hosted job start, checkout and pip install of the report job",
                "target_median_s": TARGET_S,
                "ok": median <= TARGET_S,
            }
        )
    )


if __name__ == "__main__":
    main()
