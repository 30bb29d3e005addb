"""``pgolf submission build``: turn a Tier 2 run into a folder upstream would accept.

Record-grade means upstream's bar (its README, "Submission Process"): the run beats the current
record by at least ``record_min_improvement_nats`` (0.005) at p < ``record_p_value`` (0.01) over
its seeds (at least three, as upstream's records show), on 8×H100, with training *and*
evaluation each within 600 s per seed (both read from the training logs: ``train_time:…ms`` and
``eval_time:…ms``) and an artifact within the limit. Such a run goes to
``records/track_10min_16mb/<date>_<name>/`` titled "Record"; every other run goes to
``records/track_non_record_16mb/<date>_<name>/`` titled "Non-record", and its README says which
part of the bar it missed.

The folder holds

* ``submission.json`` — every key recent upstream records carry (:data:`SUBMISSION_KEYS`:
  author, github_id, name, blurb, date, track, val_loss(_std), val_bpb(_std), seeds,
  seed_results with per-seed val_loss/val_bpb/artifact_bytes/train_time_s/eval_time_s,
  bytes_total, bytes_code, hardware, pytorch_version, technique_summary, compliance,
  attribution) plus the commit and the significance verdict;
* ``README.md`` — title, bold score line, per-seed table, the compliance figures, technique
  summary and how to reproduce;
* ``train_gpt.py`` exactly as in the promoted commit, and the training log of every seed
  (``train_seed<N>.log``). A seed's log is taken only from inside the run's own folder: a
  result.json naming any other path is refused.

The folder is assembled in a temporary sibling and renamed into place: a failure leaves
nothing half-written, and an existing folder is never overwritten without ``force``.
:func:`lint_folder` checks a folder against upstream's layout.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import clock
from bot.compute.gates import file_at
from bot.compute.outcome import hardware_label
from bot.compute.remote import strip_stamps
from bot.config import Settings
from bot.errors import InputError
from bot.git import run as run_git

TRACK_DIR = "records/track_10min_16mb"
NON_RECORD_DIR = "records/track_non_record_16mb"
TRACKS = {TRACK_DIR: "10min_16mb", NON_RECORD_DIR: "non_record_16mb"}
TIME_LIMIT_S = 600.0  # upstream: training and evaluation each under 10 minutes on 8xH100
MIN_RECORD_SEEDS = 3
# The keys recent upstream records carry (records/track_10min_16mb/2026-04-*/submission.json).
SUBMISSION_KEYS = (
    "author", "github_id", "name", "blurb", "date", "track", "val_loss", "val_loss_std", "val_bpb",
    "val_bpb_std", "seeds", "seed_results", "bytes_total", "bytes_code", "hardware",
    "pytorch_version", "technique_summary", "compliance", "attribution",
)  # fmt: skip
_TRAIN_TIME = re.compile(r"train_time:(\d+(?:\.\d+)?)ms")
_EVAL_TIME = re.compile(r"eval_time:(\d+(?:\.\d+)?)ms")
_TORCH_VERSION = re.compile(
    r"(?:pytorch_version|torch_version|torch)[:= ]+v?(\d+\.\d+(?:\.\d+)?[^\s,]*)", re.I
)
_IMAGE_TORCH = re.compile(r"pytorch:(\d+\.\d+(?:\.\d+)?)")


@dataclass
class BuiltSubmission:
    folder: Path
    submission: dict[str, Any]
    files: list[str]


def load_run(root: Path, settings: Settings, run: str) -> tuple[Path, dict[str, Any]]:
    """The run folder and its result.json (``run`` is a run id or a path to the folder)."""
    candidate = Path(run)
    folder = candidate if candidate.is_dir() else settings.path("runs_dir", root) / run
    path = folder / "result.json"
    if not path.is_file():
        raise InputError(f"no result.json for run {run!r}", path=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", path=str(path))
    return folder, data


def run_hardware(res: dict[str, Any], settings: Settings) -> str:
    """What the run trained on: result.json's ``hardware`` (set by the promotion from the pod),
    else derived from its provider and the GPU settings."""
    value = res.get("hardware")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return hardware_label(str(res.get("provider") or ""), settings.gpu_count, settings.gpu_type)


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("_.")
    return s[:80]


def _git(repo: Path, *args: str) -> str:
    """git's stripped stdout, "" when it fails (the fields it fills have their own fallbacks)."""
    proc = run_git(repo, *args)
    return proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""


def _seed_log(run_dir: Path, value: Any, where: str, index: int) -> Path:
    """The seed's log, which must lie inside the run folder (never a path a result.json names
    elsewhere: ``/etc/passwd`` is not a training log)."""
    field = f"seeds[{index}].log"
    if not isinstance(value, str) or not value.strip():
        raise InputError("missing: every seed needs its training log", path=where, field=field)
    raw = Path(value)
    path = (raw if raw.is_absolute() else run_dir / raw).resolve()
    base = run_dir.resolve()
    if not path.is_relative_to(base):
        raise InputError(f"{value!r} is outside the run folder {base}", path=where, field=field)
    if not path.is_file():
        raise InputError(f"{value!r} does not exist", path=where, field=field)
    return path


def _number(value: Any, where: str, field: str, *, integer: bool = False) -> None:
    """A finite, non-negative number (an integer when ``integer``); InputError naming the field."""
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < 0:
        what = "a non-negative integer" if integer else "a finite, non-negative number"
        raise InputError(f"{value!r} is not {what}", path=where, field=field)


def _check_values(res: dict[str, Any], raw: list[Any], seeds: list[dict[str, Any]], where: str) -> None:
    """Every value the folder is built from: scores finite and non-negative, seeds distinct
    integers, sizes integers, the significance an object whose p-value (if any) is in [0, 1]."""
    seen: set[int] = set()
    for s in seeds:
        i = raw.index(s)
        for key in ("val_bpb", "val_loss"):
            if s.get(key) is None:
                raise InputError(f"missing {key}", path=where, field=f"seeds[{i}].{key}")
            _number(s[key], where, f"seeds[{i}].{key}")
        _number(s.get("seed"), where, f"seeds[{i}].seed", integer=True)
        if s["seed"] in seen:
            raise InputError(f"seed {s['seed']} appears twice", path=where, field=f"seeds[{i}].seed")
        seen.add(s["seed"])
        if s.get("artifact_bytes") is not None:
            _number(s["artifact_bytes"], where, f"seeds[{i}].artifact_bytes", integer=True)
    sig = res.get("significance")
    if sig is None:
        return
    if not isinstance(sig, dict):
        raise InputError("must be an object", path=where, field="significance")
    for key in ("p_value", "improvement_nats"):
        v = sig.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise InputError(f"{v!r} is not a finite number", path=where, field=f"significance.{key}")
    p = sig.get("p_value")
    if p is not None and not 0 <= p <= 1:
        raise InputError(f"{p!r} is not a probability", path=where, field="significance.p_value")


def _last_ms(pattern: re.Pattern[str], text: str) -> float | None:
    found = pattern.findall(text)
    return round(float(found[-1]) / 1000.0, 3) if found else None


def pytorch_version(res: dict[str, Any], logs: list[str], settings: Settings) -> str:
    """result.json's ``pytorch_version``, else what a log printed, else the pod image's tag."""
    value = res.get("pytorch_version")
    if isinstance(value, str) and value.strip():
        return value.strip()
    for text in logs:
        m = _TORCH_VERSION.search(text)
        if m:
            return m.group(1)
    m = _IMAGE_TORCH.search(settings.pod_image) if str(res.get("provider")) != "local" else None
    return m.group(1) if m else "unknown"


def record_bar(
    res: dict[str, Any],
    seeds: list[dict[str, Any]],
    settings: Settings,
    hardware: str,
    artifact_max: int | None,
) -> tuple[bool, list[str], dict[str, Any]]:
    """Does the run meet upstream's record bar? (record-grade, what it missed, compliance)."""
    sig = res.get("significance") or {}
    missed: list[str] = []
    p = sig.get("p_value")
    gain = sig.get("improvement_nats")
    if not sig.get("record_grade") or not isinstance(p, (int, float)) or p >= settings.record_p_value:
        missed.append(
            f"not shown to beat the record by ≥ {settings.record_min_improvement_nats} nats at "
            f"p < {settings.record_p_value}"
            + (
                f" (Δ {gain:+.5f} nats, p = {p:.3g})"
                if isinstance(gain, (int, float)) and isinstance(p, (int, float))
                else ""
            )
        )
    if len(seeds) < MIN_RECORD_SEEDS:
        missed.append(f"{len(seeds)} seed(s); upstream records show at least {MIN_RECORD_SEEDS}")
    trains = [s.get("train_time_s") for s in seeds]
    evals = [s.get("eval_time_s") for s in seeds]
    if any(t is None for t in trains):
        missed.append("training time not recorded for every seed")
    elif max(float(t) for t in trains if t is not None) > TIME_LIMIT_S:
        missed.append(f"training over {TIME_LIMIT_S:.0f} s")
    if any(t is None for t in evals):
        missed.append("evaluation time not recorded for every seed (no eval_time:…ms in a log)")
    elif max(float(t) for t in evals if t is not None) > TIME_LIMIT_S:
        missed.append(f"evaluation over {TIME_LIMIT_S:.0f} s")
    if str(res.get("provider")) != "runpod" or "H100" not in hardware or not hardware.startswith("8x"):
        missed.append(f"trained on {hardware}; records need the challenge's 8-GPU hardware")
    if artifact_max is None or artifact_max > settings.artifact_limit_bytes:
        missed.append("artifact size unknown or over the limit")
    known = [float(t) for t in trains if t is not None]
    known_e = [float(t) for t in evals if t is not None]
    compliance = {
        "train_under_600s": bool(known) and len(known) == len(seeds) and max(known) <= TIME_LIMIT_S,
        "eval_under_600s": bool(known_e) and len(known_e) == len(seeds) and max(known_e) <= TIME_LIMIT_S,
        "artifact_under_16mb": artifact_max is not None and artifact_max <= settings.artifact_limit_bytes,
        "three_seeds": len(seeds) >= MIN_RECORD_SEEDS,
        "train_time_max_s": max(known) if known else None,
        "eval_time_max_s": max(known_e) if known_e else None,
        "artifact_bytes_max": artifact_max,
        "p_value": p,
        "improvement_nats": gain,
    }
    return not missed, missed, compliance


def build_submission(
    root: Path,
    settings: Settings,
    run: str,
    *,
    name: str | None = None,
    blurb: str | None = None,
    author: str | None = None,
    github_id: str | None = None,
    repo: Path | None = None,
    date: datetime | None = None,
    force: bool = False,
) -> BuiltSubmission:
    root = Path(root)
    repo = Path(repo or root)
    run_dir, res = load_run(root, settings, run)
    where = str(run_dir / "result.json")
    if res.get("status") == "crash":
        raise InputError("the run crashed; there is no score to submit", path=where, field="status")
    raw_seeds = res.get("seeds") or []
    if not isinstance(raw_seeds, list):
        raise InputError("must be a list", path=where, field="seeds")
    seeds = [s for s in raw_seeds if isinstance(s, dict) and s.get("val_bpb") is not None]
    if not seeds:
        raise InputError("no seed with a val_bpb", path=where, field="seeds")
    _check_values(res, raw_seeds, seeds, where)
    log_texts: dict[int, str] = {}
    for i, s in enumerate(seeds):
        log_path = _seed_log(run_dir, s.get("log"), where, raw_seeds.index(s))
        text = strip_stamps(log_path.read_text(encoding="utf-8", errors="replace"))
        log_texts[int(s["seed"])] = text
        s = dict(s)
        s["train_time_s"] = _last_ms(_TRAIN_TIME, text)
        s["eval_time_s"] = _last_ms(_EVAL_TIME, text)
        seeds[i] = s
    sha = str(res.get("sha") or "")
    code = file_at(repo, sha, settings.training_script) if sha else None
    if code is None:
        raise InputError(
            f"{settings.training_script} not found at commit {sha[:12] or '?'}", path=str(repo), field="sha"
        )

    when = date or clock.now()
    commit_msg = _git(repo, "log", "-1", "--format=%B", sha)
    subject = commit_msg.splitlines()[0].strip() if commit_msg else ""
    title = name or subject or f"pgolf run {res.get('run_id', '')}"

    bpbs = [float(s["val_bpb"]) for s in seeds]
    losses = [float(s["val_loss"]) for s in seeds]
    sizes = [int(s["artifact_bytes"]) for s in seeds if s.get("artifact_bytes") is not None]
    mean_bpb, mean_loss = statistics.fmean(bpbs), statistics.fmean(losses)
    std_bpb = statistics.stdev(bpbs) if len(bpbs) > 1 else 0.0
    std_loss = statistics.stdev(losses) if len(losses) > 1 else 0.0
    code_bytes = len(code)
    bytes_total = max(sizes) if sizes else None
    hardware = run_hardware(res, settings)
    record, missed, compliance = record_bar(res, seeds, settings, hardware, bytes_total)
    track_dir = TRACK_DIR if record else NON_RECORD_DIR
    folder_name = f"{when.strftime('%Y-%m-%d')}_{_slug(name or subject or str(res.get('run_id')))}"
    target = root / track_dir / folder_name
    if target.exists() and not force:
        raise InputError("already exists (use --force to replace it)", path=str(target))

    author_v = author or settings.submission_author or _git(repo, "config", "user.name") or "unknown"
    gh_v = github_id or settings.submission_github_id or ""
    sig = res.get("significance") or {}
    summary = (blurb or commit_msg or title).strip()
    short_blurb = " ".join(summary.split())[:600]
    per_seed = {
        str(s["seed"]): {
            "val_loss": round(float(s["val_loss"]), 8),
            "val_bpb": round(float(s["val_bpb"]), 8),
            "artifact_bytes": s.get("artifact_bytes"),
            "train_time_s": s.get("train_time_s"),
            "eval_time_s": s.get("eval_time_s"),
            "stopped_early": bool(s.get("stopped_early")),
        }
        for s in seeds
    }
    kind = "Record" if record else "Non-record"
    submission: dict[str, Any] = {
        "author": author_v,
        "github_id": gh_v,
        "name": title,
        "blurb": short_blurb,
        "date": when.strftime("%Y-%m-%d"),
        "track": TRACKS[track_dir],
        "val_loss": round(mean_loss, 8),
        "val_loss_std": round(std_loss, 8),
        "val_bpb": round(mean_bpb, 8),
        "val_bpb_std": round(std_bpb, 8),
        "seeds": [int(s["seed"]) for s in seeds],
        "seed_results": per_seed,
        "bytes_total": bytes_total,
        "bytes_code": code_bytes,
        "hardware": hardware,
        "pytorch_version": pytorch_version(res, list(log_texts.values()), settings),
        "technique_summary": " ".join(title.split())[:300],
        "compliance": compliance,
        "attribution": {"built_by": "pgolf", "commit": sha, "run_id": str(res.get("run_id", ""))},
        "commit": sha,
        "record_grade": record,
        "significance": sig.get("verdict", ""),
    }
    n = len(seeds)
    gpus = settings.gpu_count
    size_txt = f"{bytes_total:,} bytes" if bytes_total is not None else "n/a"
    readme = [
        f"# {kind}: {title} — val_bpb {mean_bpb:.5f} ({n}-seed mean)",
        "",
        f"**val_bpb: {mean_bpb:.5f}** ({n}-seed mean, std {std_bpb:.5f}) | **{mean_loss:.5f} nats** "
        f"(val_loss per token, mean) | **{size_txt}** | {hardware}, {settings.max_wallclock_seconds}s",
        "",
    ]
    if not record:
        readme += [
            f"Submitted to the non-record track: it does not meet the record bar ({'; '.join(missed)}).",
            "",
        ]
    readme += [
        "## Results",
        "",
        "| Seed | val_bpb | val_loss | Artifact bytes | Train s | Eval s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in seeds:
        art = f"{s['artifact_bytes']:,}" if s.get("artifact_bytes") is not None else "n/a"
        tr = "n/a" if s.get("train_time_s") is None else f"{s['train_time_s']:.1f}"
        ev = "n/a" if s.get("eval_time_s") is None else f"{s['eval_time_s']:.1f}"
        readme.append(
            f"| {s['seed']} | {float(s['val_bpb']):.8f} | {float(s['val_loss']):.8f} | {art} | {tr} | {ev} |"
        )
    readme += [
        f"| **mean** | **{mean_bpb:.8f}** | {mean_loss:.8f} | | | |",
        "",
        f"Std across seeds: {std_bpb:.8f} bpb, {std_loss:.8f} nats.",
        f"Artifact: {size_txt} total, of which code {code_bytes:,} bytes (`train_gpt.py`).",
    ]
    if sig.get("verdict"):
        readme += ["", f"Significance: {sig['verdict']}"]
    readme += ["", "## Technique summary", "", summary, "", "## Reproduce", "", "```bash"]
    readme += [
        f"SEED=<seed> MAX_WALLCLOCK_SECONDS={settings.max_wallclock_seconds} \\",
        f"torchrun --standalone --nproc_per_node={gpus} train_gpt.py",
        "```",
        "",
        f"Built by pgolf from commit `{sha}` (run `{res.get('run_id', '')}`).",
    ]

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder_name}.", dir=target.parent))
    try:
        (tmp / "submission.json").write_text(json.dumps(submission, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text("\n".join(readme) + "\n", encoding="utf-8")
        (tmp / "train_gpt.py").write_bytes(code)
        for seed, text in log_texts.items():
            (tmp / f"train_seed{seed}.log").write_text(text, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p.name for p in target.iterdir())
    return BuiltSubmission(target, submission, files)


_FOLDER_RE = re.compile(r"\d{4}-\d{2}-\d{2}_[A-Za-z0-9._-]+")


def lint_folder(folder: Path) -> list[str]:
    """Problems that would get ``folder`` refused upstream (empty when it lints clean).

    Upstream's README: a PR adds one folder under the right ``records/`` track with a README.md,
    a submission.json (name, GitHub id, val_bpb and metadata), a train log produced by the
    script, and ``train_gpt.py``; everything the folder needs lives inside it."""
    problems: list[str] = []
    folder = Path(folder)
    track_dir = f"{folder.parent.parent.name}/{folder.parent.name}"
    if track_dir not in TRACKS:
        problems.append(f"{folder}: not under records/track_10min_16mb or records/track_non_record_16mb")
    if not _FOLDER_RE.fullmatch(folder.name):
        problems.append(f"{folder.name}: folder name must be YYYY-MM-DD_<name>")
    for required in ("README.md", "submission.json", "train_gpt.py"):
        if not (folder / required).is_file():
            problems.append(f"{required}: missing")
    entries = list(folder.rglob("*"))
    logs = [p for p in entries if p.is_file() and p.suffix in (".log", ".txt")]
    if not logs:
        problems.append("no training log (*.log or *.txt)")
    for p in entries:
        if p.is_symlink():
            problems.append(f"{p.name}: a symlink (the folder must be self-contained)")
    not_json: list[str] = []

    def constant(name: str) -> float:  # NaN, Infinity: Python reads them, JSON has no such thing
        not_json.append(name)
        return 0.0

    try:
        sub = json.loads((folder / "submission.json").read_text(encoding="utf-8"), parse_constant=constant)
    except (OSError, ValueError) as exc:  # ValueError: broken JSON or not UTF-8
        return [*problems, f"submission.json: unreadable ({exc})"]
    if not_json:
        problems.append(
            f"submission.json: {', '.join(sorted(set(not_json)))} is not JSON (a non-finite value)"
        )
    if not isinstance(sub, dict):
        return [*problems, "submission.json: must be a JSON object"]
    for key in SUBMISSION_KEYS:
        if key not in sub:
            problems.append(f"submission.json: {key}: missing")
    bpb = sub.get("val_bpb")
    if not isinstance(bpb, (int, float)) or isinstance(bpb, bool) or bpb < 0:
        problems.append("submission.json: val_bpb: must be a number (finite, non-negative)")
    if track_dir in TRACKS and sub.get("track") != TRACKS[track_dir]:
        problems.append(f"submission.json: track: {sub.get('track')!r} but the folder is in {track_dir}")
    seeds = sub.get("seeds")
    results = sub.get("seed_results")
    if (
        not isinstance(seeds, list)
        or not isinstance(results, dict)
        or {str(x) for x in seeds} != set(results)
        or len(seeds) != len(set(map(str, seeds)))
    ):
        problems.append("submission.json: seeds and seed_results do not match")
    if not isinstance(sub.get("date"), str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", sub.get("date") or ""):
        problems.append("submission.json: date: must be YYYY-MM-DD")
    if not str(sub.get("pytorch_version") or "").strip():
        problems.append("submission.json: pytorch_version: empty")
    try:
        readme = (
            (folder / "README.md").read_text(encoding="utf-8") if (folder / "README.md").is_file() else ""
        )
    except (OSError, ValueError) as exc:
        return [*problems, f"README.md: unreadable ({exc})"]
    title = readme.splitlines()[0] if readme else ""
    if track_dir == TRACK_DIR and not title.startswith("# Record"):
        problems.append("README.md: a record folder's title must say Record")
    if track_dir == NON_RECORD_DIR and "Record:" in title and "Non-record" not in title:
        problems.append("README.md: a non-record folder must not be titled Record")
    return problems
