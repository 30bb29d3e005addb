"""``pgolf submission build``: turn a Tier 2 run into an upstream record folder.

Writes ``records/track_10min_16mb/<date>_<name>/`` with

* ``submission.json`` — the fields most upstream records use (author, github_id, name, blurb,
  date ``YYYY-MM-DD``, track, val_loss, val_loss_std, val_bpb, val_bpb_std, ``seeds`` as a list,
  ``seed_results`` ``{"<seed>": {"val_loss", "val_bpb", "artifact_bytes", …}}``, bytes_total,
  bytes_code, hardware, technique_summary) plus the commit and the significance verdict;
* ``README.md`` — title with the score, a bold score line (with the hardware the run used:
  GPU count x type from the run, or "local CPU"), the per-seed table, std, artifact size and the
  technique summary (the commit message unless ``--blurb`` is given);
* ``train_gpt.py`` exactly as in the promoted commit, and the training log of every seed
  (``train_seed<N>.log``, what the script printed, without our timestamps).

The folder is assembled in a temporary sibling and renamed into place: a failure leaves
nothing half-written, and an existing folder is never overwritten without ``force``.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
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

TRACK_DIR = "records/track_10min_16mb"


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
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


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
    seeds = [s for s in res.get("seeds") or [] if isinstance(s, dict) and s.get("val_bpb") is not None]
    if not seeds:
        raise InputError("no seed with a val_bpb", path=where, field="seeds")
    for i, s in enumerate(seeds):
        if s.get("val_loss") is None:
            raise InputError("missing val_loss", path=where, field=f"seeds[{i}].val_loss")
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
    folder_name = f"{when.strftime('%Y-%m-%d')}_{_slug(name or subject or str(res.get('run_id')))}"
    target = root / TRACK_DIR / folder_name
    if target.exists() and not force:
        raise InputError("already exists (use --force to replace it)", path=str(target))

    bpbs = [float(s["val_bpb"]) for s in seeds]
    losses = [float(s["val_loss"]) for s in seeds]
    sizes = [int(s["artifact_bytes"]) for s in seeds if s.get("artifact_bytes") is not None]
    mean_bpb, mean_loss = statistics.fmean(bpbs), statistics.fmean(losses)
    std_bpb = statistics.stdev(bpbs) if len(bpbs) > 1 else 0.0
    std_loss = statistics.stdev(losses) if len(losses) > 1 else 0.0
    code_bytes = len(code)
    bytes_total = max(sizes) if sizes else None
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
            "train_time_s": s.get("seconds"),
            "stopped_early": bool(s.get("stopped_early")),
        }
        for s in seeds
    }
    hardware = run_hardware(res, settings)
    submission: dict[str, Any] = {
        "author": author_v,
        "github_id": gh_v,
        "name": title,
        "blurb": short_blurb,
        "date": when.strftime("%Y-%m-%d"),
        "track": TRACK_DIR.rsplit("track_", 1)[-1],
        "val_loss": round(mean_loss, 8),
        "val_loss_std": round(std_loss, 8),
        "val_bpb": round(mean_bpb, 8),
        "val_bpb_std": round(std_bpb, 8),
        "seeds": [int(s["seed"]) for s in seeds],
        "seed_results": per_seed,
        "bytes_total": bytes_total,
        "bytes_code": code_bytes,
        "hardware": hardware,
        "technique_summary": " ".join(title.split())[:300],
        "commit": sha,
        "record_grade": bool(sig.get("record_grade")),
        "significance": sig.get("verdict", ""),
    }
    n = len(seeds)
    gpus = settings.gpu_count
    size_txt = f"{bytes_total:,} bytes" if bytes_total is not None else "n/a"
    readme = [
        f"# Record: {title} — val_bpb {mean_bpb:.5f} ({n}-seed mean)",
        "",
        f"**val_bpb: {mean_bpb:.5f}** ({n}-seed mean, std {std_bpb:.5f}) | **{mean_loss:.5f} nats** "
        f"(val_loss per token, mean) | **{size_txt}** | {hardware}, {settings.max_wallclock_seconds}s",
        "",
        "## Results",
        "",
        "| Seed | val_bpb | val_loss | Artifact bytes |",
        "|---:|---:|---:|---:|",
    ]
    for s in seeds:
        art = f"{s['artifact_bytes']:,}" if s.get("artifact_bytes") is not None else "n/a"
        readme.append(f"| {s['seed']} | {float(s['val_bpb']):.8f} | {float(s['val_loss']):.8f} | {art} |")
    readme += [
        f"| **mean** | **{mean_bpb:.8f}** | {mean_loss:.8f} | |",
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
        for s in seeds:
            log = Path(str(s.get("log") or ""))
            if log.is_file():
                (tmp / f"train_seed{s['seed']}.log").write_text(
                    strip_stamps(log.read_text(encoding="utf-8")), encoding="utf-8"
                )
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p.name for p in target.iterdir())
    return BuiltSubmission(target, submission, files)
