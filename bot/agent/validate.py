"""Validation of a proposal before anything is pushed.

The checks, in order (the first failure stops the run; its message goes back to the model):

``scope``
    Both training scripts changed (the translation rule), or, for a proposal declared MLX-only,
    only ``train_gpt_mlx.py``.
``patch``
    The proposal's diff applies with ``git apply`` to a pristine copy of the base commit's
    training scripts and reproduces the edited files exactly.
``static``
    :mod:`bot.agent.astrule` on what the proposal adds to its base commit: no new import or call
    of os/subprocess/socket/urllib/http/importlib/ctypes/shutil, no ``__import__``/``exec``/
    ``eval``/``compile``, nothing on builtins, no ``/proc`` or ``~`` path; the message names the
    rule and the line. A second wall only (setting ``candidate_ast_rule``).
``import``
    Both scripts compile, and import (top-level code only, ``__name__`` is not ``"__main__"``) in
    a fresh interpreter inside :mod:`bot.sandbox` (as do the parity and smoke checks). The MLX script is only compiled when MLX is not installed.
``artifact``
    :func:`bot.artifact.measure_artifact` on the edited ``train_gpt.py``: its code bytes plus the
    weight bytes of the last measured artifact (the latest ledger row with ``artifact_bytes``, minus
    the base script's bytes) must stay within ``artifact_limit_bytes``. Without any measured row
    the code bytes alone are gated.
``parity``
    :func:`bot.training.parity.run_parity` on the edited scripts (max |Δlogit| ≤ 1e-4, |Δloss| ≤
    1e-5). A proposal that declares itself MLX-only passes with a warning when parity fails: it is
    then never promotable, and the PR body says so.
``smoke``
    A toy CPU run (:data:`SMOKE_ENV`, ``experimenter_smoke_iterations`` steps) of each changed script in a
    scratch folder, on the tiny dataset, must print a final ``val_bpb``.

Every check is a function ``(ctx: CheckContext) -> CheckOutcome``; :class:`Validator` takes any
list of them, so tests and callers can run a subset.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.agent import astrule, gitops
from bot.agent.record import CheckOutcome
from bot.agent.tools import TRAINING_SCRIPTS
from bot.artifact import measure_artifact
from bot.config import Settings
from bot.errors import ExperimentError, PgolfError
from bot.git import run as run_git
from bot.ledger import Ledger
from bot.sandbox import VERDICT_NAME, open_sandbox
from bot.training.parity import box_verdict, parity_in_sandbox

TORCH_SCRIPT, MLX_SCRIPT = TRAINING_SCRIPTS
SMOKE_ITERATIONS = 3
SMOKE_TIMEOUT_S = 600.0
IMPORT_TIMEOUT_S = 180.0


# Never passed to candidate code (the scripts are model-written until validated): see
# bot.safeenv (any variable whose name says it holds a credential).
@dataclass
class Candidate:
    """The edited scripts of one proposal, as a diff against ``base_sha``."""

    base_sha: str
    files: dict[str, str]  # every editable file (relative path → text), edited or not
    originals: dict[str, str]  # the same files at ``base_sha``
    diff: str
    mlx_only: bool = False

    @property
    def changed(self) -> list[str]:
        return [rel for rel, text in self.files.items() if text != self.originals.get(rel)]


@dataclass
class CheckContext:
    repo: Path  # the research repository (for git objects and the ledger)
    settings: Settings
    candidate: Candidate
    tree: Path  # scratch folder with the base scripts, the patch applied by the `patch` check
    smoke_data: Path | None = None  # a folder with datasets/ and tokenizers/ (tiny dataset)
    checks: list[Any] = field(default_factory=list)  # the checks of this run, in order
    cache: dict[str, Any] = field(default_factory=dict)  # results one check computes for a later one

    def script(self, rel: str) -> Path:
        return self.tree / rel


Check = Callable[[CheckContext], CheckOutcome]


@dataclass
class ValidationReport:
    checks: list[CheckOutcome]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failure(self) -> CheckOutcome | None:
        return next((c for c in self.checks if not c.ok), None)

    def message(self) -> str:
        """What the model is told when a check fails."""
        f = self.failure
        if f is None:
            return "All checks passed."
        passed = [c.name for c in self.checks if c.ok]
        head = f"Validation failed at check `{f.name}`"
        if passed:
            head += f" (passed: {', '.join(passed)})"
        return f"{head}:\n{f.detail}"

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.checks]


def _tail(text: str, lines: int = 25, chars: int = 3000) -> str:
    out = "\n".join(text.strip().splitlines()[-lines:])
    return out[-chars:]


# --------------------------------------------------------------------------- checks
def check_scope(ctx: CheckContext) -> CheckOutcome:
    """Both scripts change together, unless the proposal is MLX-only (then only the MLX one)."""
    cand = ctx.candidate
    changed = set(cand.changed)
    if not changed:
        return CheckOutcome("scope", False, "the proposal changes nothing: edit the training scripts first")
    if cand.mlx_only:
        if TORCH_SCRIPT in changed:
            return CheckOutcome(
                "scope",
                False,
                f"an MLX-only proposal must not change {TORCH_SCRIPT}; undo that edit or drop mlx_only",
            )
        return CheckOutcome("scope", True, f"MLX-only: changes {MLX_SCRIPT}")
    missing = [rel for rel in (TORCH_SCRIPT, MLX_SCRIPT) if rel not in changed]
    if missing:
        return CheckOutcome(
            "scope",
            False,
            f"only {', '.join(sorted(changed))} changed: make the same change in {', '.join(missing)} "
            "(translation rule), or set mlx_only with a reason",
        )
    return CheckOutcome("scope", True, "both scripts changed")


def check_patch(ctx: CheckContext) -> CheckOutcome:
    cand = ctx.candidate
    if not cand.changed:
        return CheckOutcome("patch", False, "the proposal changes nothing: edit the training scripts first")
    if not cand.diff.strip():
        return CheckOutcome("patch", False, "the diff is empty although files changed")
    for rel, text in cand.originals.items():
        target = ctx.tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    gitops.git(ctx.tree, "init", "-q")
    patch = ctx.tree.parent / "proposal.patch"
    patch.write_text(cand.diff, encoding="utf-8")
    proc = run_git(ctx.tree, "apply", "--whitespace=nowarn", str(patch), timeout=60)
    if proc.returncode != 0:
        return CheckOutcome(
            "patch", False, f"git apply failed: {_tail(proc.stderr.decode('utf-8', 'replace'))}"
        )
    for rel in cand.changed:
        if (ctx.tree / rel).read_text(encoding="utf-8") != cand.files[rel]:
            return CheckOutcome("patch", False, f"applying the diff does not reproduce {rel}")
    return CheckOutcome(
        "patch", True, f"applies cleanly to {cand.base_sha[:10]}; changes {', '.join(cand.changed)}"
    )


def check_static(ctx: CheckContext) -> CheckOutcome:
    """The static rule (:mod:`bot.agent.astrule`) on what the candidate adds to its base: a second
    wall only (``candidate_ast_rule = false`` switches it off; the sandbox holds without it)."""
    if not ctx.settings.candidate_ast_rule:
        return CheckOutcome("static", True, "switched off (candidate_ast_rule = false)")
    cand = ctx.candidate
    found: list[astrule.Finding] = []
    for rel in cand.changed:
        if not rel.endswith(".py"):
            continue
        try:
            found += astrule.added_findings(cand.originals.get(rel), cand.files[rel], rel)
        except SyntaxError as exc:
            return CheckOutcome("static", False, f"{rel} line {exc.lineno}: SyntaxError: {exc.msg}")
    if found:
        lines = [str(f) for f in found[:10]]
        more = f"\n(and {len(found) - 10} more)" if len(found) > 10 else ""
        return CheckOutcome(
            "static",
            False,
            "the change adds what a training script must not contain:\n" + "\n".join(lines) + more,
            data={"findings": [{"rule": f.rule, "path": f.path, "line": f.line} for f in found]},
        )
    return CheckOutcome(
        "static", True, "adds no import/call of os, subprocess, sockets, dynamic code or /proc"
    )


_IMPORT_SNIPPET = """
import importlib.util, json, sys, traceback
args = sys.argv[1:]
parity = args[1] if args and args[0] == "--parity" else ""
if parity:
    args = args[2:]
for i in range(0, len(args), 2):
    path, need = args[i], args[i + 1]
    if importlib.util.find_spec(need) is None:
        import py_compile
        py_compile.compile(path, doraise=True)
        print(path + ": compiled only (" + need + " is not installed)")
        continue
    spec = importlib.util.spec_from_file_location("pgolf_candidate_%d" % i, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.stderr.write("importing " + path + " failed:\\n" + traceback.format_exc())
        raise SystemExit(3)
    print(path + ": imported")
if parity:
    from bot.training.parity import verdict_of, write_verdict
    write_verdict(parity, verdict_of(args[0], args[2]))
"""


def check_import(ctx: CheckContext) -> CheckOutcome:
    """Both scripts compile, then import in one fresh interpreter (top-level code only), inside
    :mod:`bot.sandbox`; with the parity check next, the same interpreter runs the gate and leaves
    its verdict as a file that :func:`bot.training.parity.check_verdict` re-validates here."""
    start = time.monotonic()
    sources: dict[str, bytes] = {}
    for rel in (TORCH_SCRIPT, MLX_SCRIPT):
        path = ctx.script(rel)
        if not path.is_file():
            return CheckOutcome("import", False, f"{rel} is missing")
        try:
            compile(path.read_text(encoding="utf-8"), rel, "exec")
        except SyntaxError as exc:
            return CheckOutcome(
                "import", False, f"{rel} line {exc.lineno}: SyntaxError: {exc.msg}\n{exc.text or ''}"
            )
        sources[rel] = path.read_bytes()
    # With the parity gate coming next, the same interpreter runs it (one torch import, not two).
    with_parity = check_parity in ctx.checks
    with open_sandbox(ctx.settings, with_pgolf=True) as box:
        argv: list[str] = []
        names: dict[str, str] = {}  # path inside the box → the repository path the model knows
        for rel, need in ((TORCH_SCRIPT, "torch"), (MLX_SCRIPT, "mlx")):
            inside = str(box.add_file(sources[rel], Path(rel).name))
            names[inside] = rel
            argv += [inside, need]
        verdict = box.scratch / VERDICT_NAME
        flag = ["--parity", str(verdict)] if with_parity else []
        run = box.run([sys.executable, "-c", _IMPORT_SNIPPET, *flag, *argv], timeout=IMPORT_TIMEOUT_S)
        for inside, rel in names.items():
            run.stdout, run.stderr = run.stdout.replace(inside, rel), run.stderr.replace(inside, rel)
        if run.timed_out:
            return CheckOutcome("import", False, f"importing the scripts took over {IMPORT_TIMEOUT_S:.0f} s")
        if run.returncode != 0:
            return CheckOutcome("import", False, _tail(run.stderr or run.stdout))
        if with_parity:
            ctx.cache["parity"] = box_verdict(box, run, tail_lines=25)
        mode = box.mode
    notes = [line for line in run.stdout.strip().splitlines() if line.endswith(("imported", "installed)"))]
    return CheckOutcome("import", True, "; ".join([*notes, f"sandbox: {mode}"]), time.monotonic() - start)


def estimated_weight_bytes(ctx: CheckContext) -> tuple[int | None, str]:
    """Weight bytes of the last measured artifact (ledger) minus the base script's code bytes."""
    ledger = Ledger.load(ctx.settings.path("results_path", ctx.repo))
    rows = [r for r in ledger.rows if r.artifact_bytes and r.status != "crash"]
    if not rows:
        return None, "no measured artifact in the ledger yet: gating the code bytes only"
    base_code = len(ctx.candidate.originals[TORCH_SCRIPT].encode("utf-8"))
    row = rows[-1]
    weights = max(0, int(row.artifact_bytes or 0) - base_code)
    return weights, f"weights estimated from ledger row {row.commit[:10]} ({row.artifact_bytes} B total)"


def check_artifact(ctx: CheckContext) -> CheckOutcome:
    s = ctx.settings
    report = measure_artifact(
        ctx.script(TORCH_SCRIPT), [], limit=s.artifact_limit_bytes, zstd_level=s.artifact_zstd_level
    )
    code = report.total_bytes
    base_code = len(ctx.candidate.originals[TORCH_SCRIPT].encode("utf-8"))
    weights, how = estimated_weight_bytes(ctx)
    total = code + (weights or 0)
    data = {
        "code_bytes": code,
        "code_delta": code - base_code,
        "estimated_weight_bytes": weights,
        "estimated_total_bytes": total,
        "limit_bytes": s.artifact_limit_bytes,
        "headroom": s.artifact_limit_bytes - total,
    }
    detail = (
        f"code {code} B ({code - base_code:+d} B vs base), estimated total {total} B of "
        f"{s.artifact_limit_bytes} B ({how})"
    )
    ok = total <= s.artifact_limit_bytes
    if not ok:
        detail = f"OVER LIMIT by {total - s.artifact_limit_bytes} B: " + detail
    return CheckOutcome("artifact", ok, detail, data=data)


PARITY_TIMEOUT_S = 300.0


def parity_result(
    torch_script: Path, mlx_script: Path, settings: Settings, *, timeout: float = PARITY_TIMEOUT_S
) -> dict[str, Any]:
    """:func:`bot.training.parity.parity_in_sandbox` on the two scripts: the re-validated verdict,
    or ``{"error": …}`` when the scripts cannot be compared."""
    return parity_in_sandbox(settings, torch_script.read_bytes(), mlx_script.read_bytes(), timeout=timeout)


def check_parity(ctx: CheckContext) -> CheckOutcome:
    start = time.monotonic()
    cached = ctx.cache.pop("parity", None)
    data = (
        cached
        if isinstance(cached, dict)
        else parity_result(ctx.script(TORCH_SCRIPT), ctx.script(MLX_SCRIPT), ctx.settings)
    )
    elapsed = time.monotonic() - start
    mlx_only = ctx.candidate.mlx_only
    if "error" in data:
        detail = f"parity gate could not compare the scripts: {data['error']}"
        if mlx_only:
            return CheckOutcome(
                "parity", True, "MLX-only (declared): " + detail + " — not promotable", elapsed, data
            )
        return CheckOutcome("parity", False, detail, elapsed, data)
    logit = float(data.get("max_abs_logit_diff") or 0.0)
    loss = float(data.get("abs_loss_diff") or 0.0)
    if data.get("ok"):
        return CheckOutcome("parity", True, f"max |Δlogit| {logit:.2e}, |Δloss| {loss:.2e}", elapsed, data)
    layer = data.get("first_diverging_layer")
    detail = (
        f"MLX and PyTorch disagree: max |Δlogit| {logit:.3e}, |Δloss| {loss:.3e}"
        + (f"; first diverging layer: {layer}" if layer else "")
        + (f"\n{data['message']}" if data.get("message") else "")
    )
    if mlx_only:
        data["mlx_only_waived"] = True
        return CheckOutcome(
            "parity", True, "MLX-only (declared): " + detail + " — not promotable", elapsed, data
        )
    return CheckOutcome(
        "parity",
        False,
        detail
        + "\nMake the same change in both scripts (same architecture, init, defaults and forward pass).",
        elapsed,
        data,
    )


def tiny_dataset(dest: Path, repo: Path, settings: Settings | None = None, timeout: float = 300) -> Path:
    """Build (once) the tiny offline dataset with the repository's ``training/prepare_data.py
    --from-stdlib``. That script is repository (possibly PR) code: it runs in :mod:`bot.sandbox`
    and only the regular files it wrote under its output folder are copied to ``dest``."""
    marker = dest / "tokenizers" / "fineweb_1024_bpe.model"
    if marker.is_file():
        return dest
    script = repo / "training" / "prepare_data.py"
    if not script.is_file():
        raise ExperimentError(
            "cannot build the smoke-test dataset: training/prepare_data.py is missing", path=str(repo)
        )
    with open_sandbox(settings or Settings()) as box:
        inside = box.add_file(script, "prepare_data.py")
        out = box.scratch / "out"
        for flag in ("--from-stdlib", "--from-text-stdlib"):
            run = box.run([sys.executable, str(inside), flag, "--out", str(out)], timeout=timeout)
            if "unrecognized arguments" not in run.stderr:
                break
        if run.returncode == 0:
            box.copy_out(["out/tokenizers/*", "out/datasets/*/*"], dest / ".incoming")
    incoming = dest / ".incoming" / "out"
    if run.returncode != 0 or not (incoming / "tokenizers" / "fineweb_1024_bpe.model").is_file():
        raise ExperimentError(f"building the smoke-test dataset failed: {_tail(run.stderr or run.stdout)}")
    for sub in ("datasets", "tokenizers"):
        if (incoming / sub).is_dir():
            shutil.copytree(incoming / sub, dest / sub, dirs_exist_ok=True)
    shutil.rmtree(dest / ".incoming", ignore_errors=True)
    return dest


# The smallest model that still exercises every code path (train, export, roundtrip eval).
SMOKE_ENV = {
    "NUM_LAYERS": "2",
    "MODEL_DIM": "32",
    "NUM_HEADS": "2",
    "NUM_KV_HEADS": "1",
    "TRAIN_SEQ_LEN": "32",
    "TRAIN_BATCH_TOKENS": "1024",
    "GRAD_ACCUM_STEPS": "1",
    "VAL_BATCH_SIZE": "8192",
    "VAL_MAX_TOKENS": "8192",
    "WARMUP_STEPS": "0",
    "VAL_LOSS_EVERY": "0",
    "MAX_WALLCLOCK_SECONDS": "0",
    "COMPILE": "0",
}


def smoke_env(data: Path, iterations: int = SMOKE_ITERATIONS) -> dict[str, str]:
    env = dict(SMOKE_ENV)
    env.update(
        {
            "DATA_PATH": str(data / "datasets" / "fineweb10B_sp1024"),
            "TOKENIZER_PATH": str(data / "tokenizers" / "fineweb_1024_bpe.model"),
            "ITERATIONS": str(iterations),
            "WARMDOWN_ITERS": str(max(1, iterations // 2)),
            "TRAIN_LOG_EVERY": str(max(1, iterations)),
            "RUN_ID": "pgolf_smoke",
        }
    )
    return env


def run_smoke(
    script: Path,
    data: Path,
    *,
    iterations: int = SMOKE_ITERATIONS,
    timeout: float = SMOKE_TIMEOUT_S,
    settings: Settings | None = None,
) -> tuple[bool, str, dict[str, Any]]:
    """Run ``script`` at toy size inside :mod:`bot.sandbox` (its scratch folder is the working
    directory; the dataset is read-only); ``(ok, detail, figures)``. The log is parsed here."""
    from bot.training.logparse import parse_log

    env = smoke_env(data, iterations)
    env.setdefault("OMP_NUM_THREADS", "2")
    with open_sandbox(settings or Settings()) as box:
        for key in ("DATA_PATH", "TOKENIZER_PATH"):
            box.bind(env[key])
        inside = box.add_file(script, script.name)
        run = box.run([sys.executable, str(inside)], env=env, timeout=timeout)
        mode = box.mode
    elapsed = run.seconds
    if run.timed_out:
        return False, f"{script.name}: smoke run took over {timeout:.0f} s", {"sandbox": mode}
    out = run.stdout + "\n" + run.stderr
    if run.returncode != 0:
        return (
            False,
            f"{script.name}: exit code {run.returncode}\n{_tail(out)}",
            {"seconds": elapsed, "sandbox": mode},
        )
    try:
        result = parse_log(run.stdout)
    except PgolfError as exc:
        return (
            False,
            f"{script.name}: no final metric ({exc})\n{_tail(out)}",
            {"seconds": elapsed, "sandbox": mode},
        )
    bpb = result.val_bpb
    if bpb is None or not math.isfinite(bpb):
        return False, f"{script.name}: final val_bpb is {bpb}", {"seconds": elapsed, "sandbox": mode}
    figures = {
        "val_bpb": bpb,
        "seconds": round(elapsed, 2),
        "step_avg_ms": getattr(result, "step_avg_ms", None),
        "sandbox": mode,
    }
    return True, f"{script.name}: val_bpb {bpb:.4f} after {iterations} steps ({elapsed:.1f} s)", figures


def check_smoke(ctx: CheckContext) -> CheckOutcome:
    if ctx.smoke_data is None:
        return CheckOutcome("smoke", False, "no smoke-test dataset configured")
    changed = ctx.candidate.changed
    targets = [
        rel for rel in (TORCH_SCRIPT, MLX_SCRIPT) if rel in changed and (rel != MLX_SCRIPT or _has_mlx())
    ]
    if not targets:
        targets = [TORCH_SCRIPT]
    details: list[str] = []
    data: dict[str, Any] = {}
    start = time.monotonic()
    for rel in targets:
        ok, detail, figures = run_smoke(
            ctx.script(rel),
            ctx.smoke_data,
            iterations=ctx.settings.experimenter_smoke_iterations,
            settings=ctx.settings,
        )
        details.append(detail)
        data[rel] = figures
        if not ok:
            return CheckOutcome("smoke", False, detail, time.monotonic() - start, data)
    return CheckOutcome("smoke", True, "; ".join(details), time.monotonic() - start, data)


def _has_mlx() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlx") is not None


DEFAULT_CHECKS: tuple[Check, ...] = (
    check_scope,
    check_patch,
    check_static,
    check_import,
    check_artifact,
    check_parity,
    check_smoke,
)


class Validator:
    """Runs ``checks`` on a candidate in a scratch folder; stops at the first failure."""

    def __init__(
        self,
        repo: Path | str,
        settings: Settings,
        *,
        checks: Sequence[Check] = DEFAULT_CHECKS,
        smoke_data: Path | str | None = None,
    ):
        self.repo = Path(repo)
        self.settings = settings
        self.checks = list(checks)
        self.smoke_data = Path(smoke_data) if smoke_data else None

    def validate(self, candidate: Candidate) -> ValidationReport:
        outcomes: list[CheckOutcome] = []
        with tempfile.TemporaryDirectory(prefix="pgolf-validate-") as tmp:
            tree = Path(tmp) / "tree"
            tree.mkdir()
            if check_patch not in self.checks:  # the other checks need the edited files in place
                for rel, text in candidate.files.items():
                    (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                    (tree / rel).write_text(text, encoding="utf-8")
            ctx = CheckContext(self.repo, self.settings, candidate, tree, self.smoke_data, list(self.checks))
            for check in self.checks:
                start = time.monotonic()
                try:
                    outcome = check(ctx)
                except PgolfError as exc:
                    outcome = CheckOutcome(
                        getattr(check, "__name__", "check").removeprefix("check_"), False, str(exc)
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    outcome = CheckOutcome(
                        getattr(check, "__name__", "check").removeprefix("check_"),
                        False,
                        f"{type(exc).__name__}: {exc}",
                    )
                if not outcome.seconds:
                    outcome.seconds = round(time.monotonic() - start, 3)
                outcomes.append(outcome)
                if not outcome.ok:
                    break
        return ValidationReport(outcomes)


def default_smoke_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pgolf" / "tiny-data"


def resolve_smoke_data(root: Path | str, settings: Settings) -> Path:
    """The smoke-test dataset: the ``experimenter_smoke_data`` folder, else the tiny dataset built
    once (``training/prepare_data.py --from-stdlib``) in ``~/.cache/pgolf/tiny-data``."""
    root = Path(root)
    if settings.experimenter_smoke_data:
        path = Path(settings.experimenter_smoke_data)
        path = path if path.is_absolute() else root / path
        if not (path / "tokenizers" / "fineweb_1024_bpe.model").is_file():
            raise ExperimentError(
                "not a dataset folder (expected tokenizers/fineweb_1024_bpe.model and datasets/fineweb10B_sp1024/)",
                path=str(path),
                field="experimenter_smoke_data",
            )
        return path
    return tiny_dataset(default_smoke_cache(), root, settings)
