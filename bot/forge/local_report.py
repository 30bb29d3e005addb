"""The trusted half of the local tier: validate an untrusted run's result and publish it.

The experiment workflow trains a pull request's code on the self-hosted runner in a job that holds
nothing (``permissions: {}``, no secret) and uploads ``pgolf train local --json`` as the artifact
``pgolf-local-result``. Everything in that artifact was written by code the PR controls, so it is
a *claim*. The ``experiment-report`` workflow (``workflow_run``: its file always comes from the
default branch, so a PR cannot change it) runs pgolf installed from the default branch and calls
:func:`report_run`, which

1. asks the API (not the artifact) which run this was: event ``pull_request``, the workflow file
   ``experiment.yml``, its head SHA and branch, and finds the open ``exp/`` PR whose head is that
   SHA (a fork's run lists no PR, so the head decides);
2. downloads the artifact (size-capped, one JSON file, no zip tricks) and validates every field
   from scratch: finite numbers in range, a known backend, a configuration key of safe characters;
3. recomputes the verdict with the default branch's ledger (running baseline, noise floor), the
   script sizes from git objects (``forge.read_file``) and the artifact limit;
4. posts the sticky comment, the commit status and the candidate label, and appends exactly one
   row it composed itself (tier local, promoted no, cost 0) to the default branch's results.tsv —
   idempotent per run id, so a re-run of the report never adds a second row.

What it cannot know: whether the claimed val_bpb is true (the PR's code could print any number).
The local tier is advice; only a maintainer's ``/promote <sha>`` spends money, and that run is
measured on the pod.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import InputError
from bot.forge import sticky
from bot.forge.base import Forge, PullRequest, WorkflowRun
from bot.forge.dispatch import report_local_result
from bot.ledger import Ledger, make_row

ARTIFACT_NAME = "pgolf-local-result"
RESULT_FILE = "local.json"
EXPERIMENT_WORKFLOW = ".github/workflows/experiment.yml"
# The Linux fallback of the local tier (repository variable PGOLF_TIER1_RUNNER=github-linux): its
# rows and comments are labelled a weaker proxy, decided here from the run's workflow path as the API
# reports it, never from the claim.
EXPERIMENT_LINUX_WORKFLOW = ".github/workflows/experiment-linux.yml"
LINUX_PROXY_NOTE = "weaker proxy: a small model on a GitHub-hosted Linux CPU runner, not the Mac/MLX tier"


def _experiment_workflow(path: str) -> str | None:
    """Which experiment workflow a run's path names (``path`` may carry ``@ref``), else None."""
    base = path.split("@", 1)[0]
    return base if base in (EXPERIMENT_WORKFLOW, EXPERIMENT_LINUX_WORKFLOW) else None


MAX_ZIP_BYTES = 1_000_000
MAX_JSON_BYTES = 256_000
MAX_VAL_BPB = 20.0
MAX_ARTIFACT_BYTES = 10**10
MAX_MEMORY_GB = 10_000.0
BACKENDS = ("mlx", "torch")
CONFIG_RE = re.compile(r"[A-Za-z0-9_.,:=+/-]{1,160}")
OUTCOMES = ("qualifies", "keep", "discard", "crash")


@dataclass
class Claim:
    """The validated content of an untrusted result (each field None when absent or crashed)."""

    val_bpb: float | None
    artifact_bytes: int | None
    memory_gb: float | None
    backend: str
    config: str
    error: str = ""
    problems: list[str] = field(default_factory=list)  # fields that failed validation


@dataclass
class ReportOutcome:
    run_id: int
    recorded: bool
    reason: str
    pr: int | None = None
    sha: str = ""
    decision: str = ""
    val_bpb: float | None = None
    row: dict[str, Any] | None = None
    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- validation
def _one_line(text: Any, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    flat = "".join(ch for ch in flat if ch.isprintable())
    # untrusted text never spells the idempotency tag of a run (see _recorded)
    flat = re.sub(r"run\s*=", "run:", flat, flags=re.IGNORECASE)
    return sticky.neutralize(flat)[:limit]


def _recorded(ledger: Ledger | None, run_id: int) -> bool:
    """Whether a row composed for run ``run_id`` is in the ledger: its tag ``, run=N)`` exactly
    (``run=12`` is not ``run=123``; claim text cannot spell a tag, :func:`_one_line`)."""
    tag = f", run={run_id})"
    return ledger is not None and any(tag in r.description for r in ledger.filter(tier="local"))


def _number(data: dict[str, Any], key: str, lo: float, hi: float, problems: list[str]) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        finite = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:  # an int no float holds
        finite = False
    if not finite:
        problems.append(f"{key}: not a finite number")
        return None
    if not lo <= float(value) <= hi:
        problems.append(f"{key}: {value} is outside [{lo}, {hi}]")
        return None
    return float(value)


def read_artifact(zip_bytes: bytes | None, name: str = RESULT_FILE) -> Any:
    """The JSON object ``name`` inside the artifact zip, or None (missing); damaged, oversized or
    ambiguous archives are an InputError."""
    if not zip_bytes:
        return None
    if len(zip_bytes) > MAX_ZIP_BYTES:
        raise InputError(
            f"the artifact is {len(zip_bytes)} bytes (limit {MAX_ZIP_BYTES})", field=ARTIFACT_NAME
        )
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
            if [i.filename for i in infos] != [name]:
                raise InputError(
                    f"the artifact must hold exactly {name}, not {[i.filename for i in infos][:5]}",
                    field=ARTIFACT_NAME,
                )
            info = infos[0]
            if info.file_size > MAX_JSON_BYTES:
                raise InputError(
                    f"{name} is {info.file_size} bytes (limit {MAX_JSON_BYTES})", field=ARTIFACT_NAME
                )
            with z.open(info) as fh:
                raw = fh.read(MAX_JSON_BYTES + 1)
    except zipfile.BadZipFile:
        raise InputError("the artifact is not a zip archive", field=ARTIFACT_NAME) from None
    if len(raw) > MAX_JSON_BYTES:
        raise InputError(f"{name} exceeds {MAX_JSON_BYTES} bytes", field=ARTIFACT_NAME)
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        return json.loads(text, parse_constant=lambda c: None)  # NaN/Infinity are not numbers here
    except (ValueError, RecursionError):  # JSONDecodeError, or an int past Python's digit limit
        raise InputError(f"{name} is not JSON", field=ARTIFACT_NAME) from None


def validate_claim(data: Any) -> Claim:
    """Read ``pgolf train local --json`` output strictly; anything invalid counts as absent."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return Claim(None, None, None, "", "", "the local run produced no result", ["result: missing"])
    val = _number(data, "val_bpb", 0.0, MAX_VAL_BPB, problems)
    art = data.get("artifact")
    art_bytes: int | None = None
    if isinstance(art, dict):
        n = _number(art, "total_bytes", 0, MAX_ARTIFACT_BYTES, problems)
        art_bytes = int(n) if n is not None else None
    row = data.get("row")
    mem = _number(row, "memory_gb", 0.0, MAX_MEMORY_GB, problems) if isinstance(row, dict) else None
    backend = str(data.get("backend") or "")
    if backend not in BACKENDS:
        problems.append(f"backend: {backend[:20]!r} is not one of {', '.join(BACKENDS)}")
        backend = ""
    config = str(data.get("config") or "")
    if config and (not CONFIG_RE.fullmatch(config) or "run=" in config.lower()):
        problems.append("config: unexpected characters")
        config = ""
    return Claim(val, art_bytes, mem, backend, config, _one_line(data.get("error") or ""), problems)


# --------------------------------------------------------------------------- the report
def find_pr(forge: Forge, run: WorkflowRun) -> PullRequest | None:
    """The open ``exp/`` PR of this repository's whose head is the run's head SHA right now."""
    for pr in forge.list_open_prs("exp/"):
        if pr.head_sha == run.head_sha and pr.head_ref == run.head_branch:
            return pr
    return None


def _script_sizes(
    forge: Forge, root: Path, settings: Settings, backend: str, sha: str
) -> tuple[int | None, bool | None]:
    """(code bytes of the trained script at ``sha``, whether it shrank vs the default branch)."""
    key = "mlx_script" if backend == "mlx" else "training_script"
    rel = str(getattr(settings, key))
    head = forge.read_file(rel, sha)
    base_path = root / rel
    base = base_path.read_bytes() if base_path.is_file() else None
    if head is None:
        return None, None
    return len(head), (len(head) < len(base) if base is not None else None)


def report_run(
    forge: Forge, settings: Settings, root: Path | str, run_id: int, *, log_url: str = ""
) -> ReportOutcome:
    """Validate run ``run_id``'s local result and publish it (see the module docstring)."""
    from bot.training.local import decide  # the training package is heavy; trusted code only
    from bot.training.logparse import TrainResult

    root = Path(root)
    run = forge.workflow_run(run_id)
    out = ReportOutcome(run_id, False, "", sha=run.head_sha)
    workflow = _experiment_workflow(run.path)
    if run.event != "pull_request" or workflow is None:
        out.reason = f"run {run_id} is {run.event} of {run.path or run.name}, not a pull_request run of {EXPERIMENT_WORKFLOW}"
        return out
    proxy = LINUX_PROXY_NOTE if workflow == EXPERIMENT_LINUX_WORKFLOW else ""
    if run.conclusion in ("cancelled", "skipped", ""):
        out.reason = f"run {run_id} was {run.conclusion or 'not finished'}: nothing to report"
        return out
    if not re.fullmatch(r"[0-9a-f]{40}", run.head_sha):
        out.reason = f"run {run_id} has no valid head SHA"
        return out
    pr = find_pr(forge, run)
    if pr is None:
        out.reason = (
            f"no open exp/ pull request has head {run.head_sha[:12]} on {run.head_branch!r} any more "
            "(a newer push is reported by its own run)"
        )
        return out
    out.pr = pr.number
    try:
        data = read_artifact(forge.run_artifact(run_id, ARTIFACT_NAME, MAX_ZIP_BYTES))
    except InputError as exc:
        data = None
        out.problems.append(str(exc))
    claim = validate_claim(data)
    out.problems += claim.problems

    results = settings.path("results_path", root)
    ledger = Ledger.load(results) if results.exists() else None
    tag = f"run={run_id}"
    if _recorded(ledger, run_id):
        out.reason = f"run {run_id} is already in the ledger"
        return out
    cfg = claim.config or None
    baseline = ledger.running_local_baseline(settings.baseline_window, config=cfg) if ledger else None
    noise = ledger.noise_floor(settings.baseline_window, config=cfg) if ledger else None
    code_bytes, shrank = _script_sizes(forge, root, settings, claim.backend or "torch", run.head_sha)
    total = claim.artifact_bytes
    if total is not None and code_bytes is not None:
        total = max(total, code_bytes)  # the code alone is a floor the claim cannot undercut

    result = TrainResult(claim.val_bpb, None, "claimed") if claim.val_bpb is not None else None
    decision = decide(result, baseline, noise, bool(shrank), settings.local_gate_pct, config=cfg)
    outcome, reason = decision.outcome, decision.reason
    if total is not None and total > settings.artifact_limit_bytes and outcome != "crash":
        outcome, reason = (
            "discard",
            f"artifact {total:,} B over the {settings.artifact_limit_bytes:,} B limit",
        )
    status = {"qualifies": "keep", "keep": "keep", "discard": "discard", "crash": "crash"}[outcome]
    where = f"{claim.backend or '?'}, cfg={claim.config or '?'}, PR #{pr.number}, {tag}" + (
        ", weaker-proxy" if proxy else ""
    )
    if outcome == "crash":
        why = claim.error or ("; ".join(claim.problems) if claim.problems else "no final metric")
        desc = f"crash ({where}): {_one_line(why, 200)}"
    else:
        desc = f"{outcome}: {reason} ({where})"
    row = make_row(
        commit=run.head_sha[:7],
        tier="local",
        val_bpb=claim.val_bpb if outcome != "crash" else None,
        artifact_bytes=total,
        memory_gb=claim.memory_gb,
        status=status,
        promoted="no",
        cost_usd=0.0,
        description=" ".join(desc.split()),
    )
    local = sticky.LocalResult(
        sha=run.head_sha,
        val_bpb=row.val_bpb,
        baseline_bpb=baseline,
        noise_floor=noise,
        artifact_bytes=total,
        artifact_limit=settings.artifact_limit_bytes,
        decision=outcome,
        log_url=log_url,
        backend=claim.backend,
        proxy=proxy,
        log_tail=(claim.error or "; ".join(claim.problems)) if outcome == "crash" else "",
    )
    out.actions = report_local_result(forge, settings, pr.number, local)
    Ledger.append(results, row)
    out.recorded, out.decision, out.val_bpb = True, outcome, row.val_bpb
    out.row = row.to_dict()
    out.reason = f"{outcome}: {reason}" if outcome != "crash" else "crash"
    return out


# --------------------------------------------------------------------------- baseline
BASELINE_ARTIFACT = "pgolf-baseline-result"
BASELINE_FILE = "baseline.json"
BASELINE_WORKFLOW = ".github/workflows/baseline.yml"
MAX_SEEDS_REPORTED = 20
_SEED_RE = re.compile(r"\bseed=(\d{1,9})\b")


def report_baseline(
    forge: Forge, settings: Settings, root: Path | str, run_id: int, default_branch: str
) -> ReportOutcome:
    """Validate the baseline run ``run_id``'s artifact and append one row per seed (trusted side).

    The run must be baseline.yml on ``default_branch`` (a push or a dispatch); the rows carry the
    run's head SHA from the API and descriptions composed here; each claim is validated like a
    local result. Idempotent per run id."""
    root = Path(root)
    run = forge.workflow_run(run_id)
    out = ReportOutcome(run_id, False, "", sha=run.head_sha)
    if run.event not in ("push", "workflow_dispatch") or not run.path.startswith(BASELINE_WORKFLOW):
        out.reason = f"run {run_id} is {run.event} of {run.path or run.name}, not a baseline run"
        return out
    if run.head_branch != default_branch or not re.fullmatch(r"[0-9a-f]{40}", run.head_sha):
        out.reason = f"run {run_id} ran on {run.head_branch!r}, not the default branch {default_branch!r}"
        return out
    try:
        data = read_artifact(forge.run_artifact(run_id, BASELINE_ARTIFACT, MAX_ZIP_BYTES), BASELINE_FILE)
    except InputError as exc:
        out.reason, out.problems = "the baseline artifact was refused", [str(exc)]
        return out
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs:
        out.reason = "the baseline run produced no result (a seed crashed or the job failed before the end)"
        return out
    results = settings.path("results_path", root)
    ledger = Ledger.load(results) if results.exists() else None
    tag = f"run={run_id}"
    if _recorded(ledger, run_id):
        out.reason = f"run {run_id} is already in the ledger"
        return out
    rows = []
    for k, item in enumerate(runs[:MAX_SEEDS_REPORTED]):
        claim = validate_claim(item)
        out.problems += [f"seed #{k + 1}: {p}" for p in claim.problems]
        desc_in = (
            str(((item or {}).get("row") or {}).get("description") or "") if isinstance(item, dict) else ""
        )
        m = _SEED_RE.search(desc_in)
        seed = m.group(1) if m else f"#{k + 1}"
        where = f"{claim.backend or '?'}, cfg={claim.config or '?'}, {tag}"
        if claim.val_bpb is None:
            desc = (
                f"crash of baseline seed={seed} ({where}): {_one_line(claim.error or 'no final metric', 200)}"
            )
            status = "crash"
        else:
            desc, status = f"baseline seed={seed} ({where})", "keep"
        rows.append(
            make_row(
                commit=run.head_sha[:7],
                tier="local",
                val_bpb=claim.val_bpb,
                artifact_bytes=claim.artifact_bytes,
                memory_gb=claim.memory_gb,
                status=status,
                description=desc,
            )
        )
    Ledger.append(results, *rows)
    out.recorded = True
    out.row = {"rows": [r.to_dict() for r in rows]}
    out.reason = f"{sum(r.status == 'keep' for r in rows)} baseline row(s), {sum(r.status == 'crash' for r in rows)} crash row(s)"
    return out
