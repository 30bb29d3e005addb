"""The MLX ↔ PyTorch parity gate.

Public API (stable):

* :func:`run_parity(torch_path, mlx_path, *, env=None, seed=0) -> ParityResult`
* :class:`ParityResult` (``ok``, ``max_abs_logit_diff``, ``abs_loss_diff``,
  ``first_diverging_layer``, ``layers``, ``message``, ``to_dict()``)
* :data:`PARITY_ENV`, :data:`LOGIT_TOL`, :data:`LOSS_TOL`

How it works: both scripts are loaded as modules (their ``main()`` is not run). The PyTorch
script's ``weight_layout`` fixes the tensor names and shapes of the shared ``.npz`` layout (see
the header of ``training/train_gpt.py``); the MLX script must declare the same layout. Random
weights (every tensor non-trivial, unlike the zero-initialised projections of a fresh model) are
written once and loaded by both scripts' ``build_model``; each script's ``parity_trace`` runs one
fp32 CPU forward on the same token batch and returns the residual stream after the embedding and
after every block, the logits and the loss. The gate passes when max |Δlogit| ≤ 1e-4 and
|Δloss| ≤ 1e-5; otherwise the first trace entry whose difference exceeds its tolerance (1e-4 ×
max(1, max|activation|)) is named. A layout difference, a script that fails to load or run, or a
difference between the two scripts' shared numpy section (data, byte accounting, init, exporters)
also fails the gate, naming the tensor or section. So does a pair that is not a PyTorch script and
its MLX twin (:func:`identity_problem`): the same file (or identical bytes) twice, a script missing
the shared-section markers, or a script that does not import its framework (``torch`` resp.
``mlx``) or imports the other one.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import os
import re
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.errors import ParityError, PgolfError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.sandbox import BoxRun, Sandbox

LOGIT_TOL = 1e-4
LOSS_TOL = 1e-5
# Small config of the same architecture: 4 blocks so encoder/decoder skips are exercised, GQA.
PARITY_ENV: dict[str, str] = {
    "VOCAB_SIZE": "256",
    "NUM_LAYERS": "4",
    "MODEL_DIM": "64",
    "NUM_HEADS": "4",
    "NUM_KV_HEADS": "2",
    "MLP_MULT": "2",
    "TRAIN_SEQ_LEN": "32",
    "SEED": "1337",
}
SHARED_BEGIN = "# === shared with train_gpt_mlx.py: begin"
SHARED_END = "# === shared with train_gpt_mlx.py: end ==="
FRAMEWORKS = {"torch": "torch", "mlx": "mlx"}  # role -> the package that script must import
# Definitions the shared section must hold (an emptied section would make its check vacuous).
SHARED_NAMES = ("Hyperparameters", "weight_layout", "init_weights", "export_weights", "import_weights")
_counter = itertools.count()


@dataclass
class LayerDiff:
    name: str
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


@dataclass
class ParityResult:
    ok: bool
    max_abs_logit_diff: float | None
    abs_loss_diff: float | None
    first_diverging_layer: str | None
    message: str
    layers: list[LayerDiff] = field(default_factory=list)
    torch_path: str = ""
    mlx_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "max_abs_logit_diff": self.max_abs_logit_diff,
            "abs_loss_diff": self.abs_loss_diff,
            "first_diverging_layer": self.first_diverging_layer,
            "message": self.message,
            "logit_tolerance": LOGIT_TOL,
            "loss_tolerance": LOSS_TOL,
            "layers": [
                {"name": d.name, "max_abs_diff": d.max_abs_diff, "tolerance": d.tolerance, "ok": d.ok}
                for d in self.layers
            ],
            "torch": self.torch_path,
            "mlx": self.mlx_path,
        }


def load_script(path: Path | str) -> ModuleType:
    """Import a training script as a fresh module (its ``main()`` is not run)."""
    path = Path(path)
    if not path.is_file():
        raise ParityError("training script not found", path=str(path))
    name = f"_pgolf_script_{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ParityError("cannot load as a Python module", path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise ParityError(f"cannot import a dependency: {exc}", path=str(path)) from None
    except Exception as exc:
        raise ParityError(f"fails to load: {type(exc).__name__}: {exc}", path=str(path)) from None
    finally:
        sys.modules.pop(name, None)
    for fn in ("Hyperparameters", "weight_layout", "parity_trace"):
        if not hasattr(module, fn):
            raise ParityError(f"does not define {fn} (needed by the parity gate)", path=str(path))
    return module


def shared_section(text: str) -> str | None:
    """The text between the shared-section markers (None when a marker is missing or misplaced)."""
    if text.count(SHARED_BEGIN) != 1 or text.count(SHARED_END) != 1:
        return None
    start, end = text.index(SHARED_BEGIN), text.index(SHARED_END)
    return text[start:end] if start < end else None


def imported_frameworks(text: str) -> set[str]:
    """Top-level package names among ``torch``/``mlx`` that the script imports (anywhere in it)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()  # load_script reports the syntax error with the file named
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(FRAMEWORKS.values())


def identity_problem(tp: str, mp: str, t_text: str, m_text: str) -> tuple[str, str] | None:
    """Why the two paths are not a PyTorch script and its MLX twin: (failing check, message), or None.

    The gate compares two *different* implementations: the same file (or identical bytes) twice,
    a script without the shared-section markers (which would skip the shared-section check), or a
    script that does not import its framework (e.g. the PyTorch script passed as ``--mlx``) fails.
    """
    same = Path(tp).resolve() == Path(mp).resolve()
    if not same and Path(tp).is_file() and Path(mp).is_file():
        same = os.path.samefile(tp, mp) or t_text == m_text
    if same:
        return "scripts", f"{tp} and {mp} are the same script; parity needs the PyTorch and the MLX twin"
    for path, text in ((tp, t_text), (mp, m_text)):
        section = shared_section(text)
        if section is None:
            return (
                "shared section",
                f"{path} lacks the shared-section markers ({SHARED_BEGIN!r} … {SHARED_END!r}, once each, "
                "in this order); the shared numpy section cannot be checked",
            )
        missing = [n for n in SHARED_NAMES if not re.search(rf"^(?:def|class) {n}\b", section, re.M)]
        if missing:
            return "shared section", f"{path}: the shared section does not define {', '.join(missing)}"
    for role, path, text in (("torch", tp, t_text), ("mlx", mp, m_text)):
        want, other = FRAMEWORKS[role], FRAMEWORKS["mlx" if role == "torch" else "torch"]
        found = imported_frameworks(text)
        if want not in found:
            return "framework", f"{path} is given as the {role} script but does not import {want}"
        if other in found:
            return "framework", f"{path} is given as the {role} script but imports {other}"
    return None


def random_weights(layout: list[tuple[str, tuple[int, ...], str]], seed: int) -> dict[str, np.ndarray]:
    """Non-trivial weights for every tensor: matrices ~ N(0, 1/fan_in), gains around their init."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape, kind in layout:
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2 and kind != "resid_mix" and "skip" not in name:
            a = rng.standard_normal(shape) / np.sqrt(shape[1])
            if name in ("tok_emb.weight", "lm_head.weight"):
                a = a * 4.0
        elif kind == "q_gain":
            a = 1.5 + 0.3 * rng.standard_normal(shape)
        else:
            a = 1.0 + 0.3 * rng.standard_normal(shape)
        out[name] = a.astype(np.float32)
    return out


def _fail(message: str, layer: str | None, tp: str, mp: str) -> ParityResult:
    return ParityResult(False, None, None, layer, message, torch_path=tp, mlx_path=mp)


def _trace(
    module: ModuleType, env: dict[str, str], weights: dict[str, np.ndarray], tokens: np.ndarray, path: str
) -> list[tuple[str, np.ndarray]]:
    try:
        out = module.parity_trace(env, weights, tokens)
    except Exception as exc:
        tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        raise ParityError(f"parity forward failed: {tail}", path=path) from None
    return [(str(n), np.asarray(v, dtype=np.float64)) for n, v in out]


def run_parity(
    torch_path: Path | str = "training/train_gpt.py",
    mlx_path: Path | str = "training/train_gpt_mlx.py",
    *,
    env: dict[str, str] | None = None,
    seed: int = 0,
    batch: int = 2,
) -> ParityResult:
    """Compare the two scripts' forward passes on identical weights (see the module docstring).

    A script that cannot be loaded raises ParityError; every disagreement is a failed result.
    """
    tp, mp = str(torch_path), str(mlx_path)
    cfg = {**PARITY_ENV, **(env or {})}
    t_text = Path(tp).read_text(encoding="utf-8") if Path(tp).is_file() else ""
    m_text = Path(mp).read_text(encoding="utf-8") if Path(mp).is_file() else ""
    t_mod, m_mod = load_script(tp), load_script(mp)
    problem = identity_problem(tp, mp, t_text, m_text)
    if problem is not None:
        return _fail(problem[1], problem[0], tp, mp)

    t_layout = [(n, tuple(s), k) for n, s, k in t_mod.weight_layout(t_mod.Hyperparameters(cfg))]
    m_layout = [(n, tuple(s), k) for n, s, k in m_mod.weight_layout(m_mod.Hyperparameters(cfg))]
    t_shapes, m_shapes = {n: s for n, s, _ in t_layout}, {n: s for n, s, _ in m_layout}
    for name, shape in t_shapes.items():
        if name not in m_shapes:
            return _fail(
                f"weight layout differs: {name} {shape} is missing from the MLX script", name, tp, mp
            )
        if m_shapes[name] != shape:
            return _fail(
                f"weight layout differs: {name} is {shape} in PyTorch, {m_shapes[name]} in MLX", name, tp, mp
            )
    for name, shape in m_shapes.items():
        if name not in t_shapes:
            return _fail(
                f"weight layout differs: {name} {shape} is missing from the PyTorch script", name, tp, mp
            )

    weights = random_weights(t_layout, seed)
    vocab, seq = int(cfg["VOCAB_SIZE"]), int(cfg["TRAIN_SEQ_LEN"])
    tokens = np.random.default_rng(seed + 1).integers(0, vocab, size=(batch, seq + 1), dtype=np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        # Through the shared on-disk layout, exactly as a checkpoint would travel.
        npz = Path(tmp) / "parity_weights.npz"
        np.savez(npz, **weights)  # type: ignore[arg-type]
        with np.load(npz) as z:
            loaded = {k: z[k] for k in z.files}
    t_trace = _trace(t_mod, cfg, loaded, tokens, tp)
    m_trace = _trace(m_mod, cfg, loaded, tokens, mp)
    m_by_name = dict(m_trace)

    layers: list[LayerDiff] = []
    first: str | None = None
    for name, ref in t_trace:
        other = m_by_name.get(name)
        if other is None or other.shape != ref.shape:
            got = "missing" if other is None else f"shape {other.shape} vs {ref.shape}"
            return ParityResult(
                False, None, None, name, f"trace differs at {name}: {got} in MLX", layers, tp, mp
            )
        diff = float(np.max(np.abs(ref - other))) if ref.size else 0.0
        if name == "loss":
            tol = LOSS_TOL
        elif name == "logits":
            tol = LOGIT_TOL
        else:
            tol = LOGIT_TOL * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
        d = LayerDiff(name, diff, tol)
        layers.append(d)
        if first is None and not d.ok:
            first = name
    logit = next((d.max_abs_diff for d in layers if d.name == "logits"), None)
    loss = next((d.max_abs_diff for d in layers if d.name == "loss"), None)
    ok = logit is not None and loss is not None and logit <= LOGIT_TOL and loss <= LOSS_TOL
    if ok and first is None:
        t_sh, m_sh = shared_section(t_text), shared_section(m_text)
        if t_sh is None or m_sh is None or t_sh != m_sh:
            return ParityResult(
                False,
                logit,
                loss,
                "shared section",
                "forward passes agree, but the shared numpy section (settings, data, byte accounting, "
                "init, exporters) differs between the two scripts",
                layers,
                tp,
                mp,
            )
    if ok:
        msg = f"parity OK: max |Δlogit| {logit:.2e} ≤ {LOGIT_TOL:.0e}, |Δloss| {loss:.2e} ≤ {LOSS_TOL:.0e}"
    else:
        first = first or ("logits" if (logit or 0) > LOGIT_TOL else "loss")
        msg = f"parity FAILED: first diverging layer {first} (max |Δlogit| {logit:.2e}, |Δloss| {loss:.2e})"
    return ParityResult(ok, logit, loss, None if ok else first, msg, layers, tp, mp)


# ----------------------------------------------------------------------------- verdicts
# The gate runs inside bot.sandbox next to the candidate scripts (their module-level code runs on
# import), so its result crosses back as a JSON file that the trusted side re-validates with
# :func:`check_verdict`: types, finiteness, and ``ok`` recomputed from the numbers.


def write_verdict(path: Path | str, data: dict[str, Any]) -> None:
    """Inside the sandbox: the gate's result (or ``{"error": …}``) as the verdict file."""
    import json

    Path(path).write_text(json.dumps(data, default=str), encoding="utf-8")


def verdict_of(torch_path: Path | str, mlx_path: Path | str) -> dict[str, Any]:
    """Inside the sandbox: :func:`run_parity` as a verdict dict (``{"error": …}`` when the scripts
    cannot be compared)."""
    try:
        return run_parity(torch_path, mlx_path).to_dict()
    except ParityError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # the candidate's code raised something of its own
        return {"error": f"the parity gate crashed: {type(exc).__name__}: {exc}"}


def _text(value: Any, limit: int = 2000) -> str:
    return " ".join(str(value).split())[:limit]


def _num(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParityError(f"parity verdict: {key} is not a number: {_text(value, 80)!r}")
    try:
        out = float(value)
    except OverflowError:
        raise ParityError(f"parity verdict: {key} is not a finite number") from None
    if out != out or out in (float("inf"), float("-inf")) or out < 0:
        raise ParityError(f"parity verdict: {key} is not a finite non-negative number: {out}")
    return out


def check_verdict(data: Any) -> dict[str, Any]:
    """Re-validate a parity verdict that crossed the sandbox wall; the clean dict (same keys as
    :meth:`ParityResult.to_dict`, or ``{"error": text}``). ``ok`` is recomputed: it holds only when
    both differences are present and within :data:`LOGIT_TOL`/:data:`LOSS_TOL` and no layer is
    over its tolerance. ParityError when the verdict is malformed."""
    if not isinstance(data, dict):
        raise ParityError("parity verdict is not a JSON object")
    if "error" in data:
        return {"error": _text(data["error"])}
    logit, loss = _num(data, "max_abs_logit_diff"), _num(data, "abs_loss_diff")
    layers_in = data.get("layers", [])
    if not isinstance(layers_in, list) or len(layers_in) > 10_000:
        raise ParityError("parity verdict: layers is not a list")
    layers: list[dict[str, Any]] = []
    first_bad: str | None = None
    for entry in layers_in:
        if not isinstance(entry, dict):
            raise ParityError("parity verdict: a layer entry is not an object")
        diff, tol = _num(entry, "max_abs_diff"), _num(entry, "tolerance")
        if diff is None or tol is None:
            raise ParityError("parity verdict: a layer entry lacks max_abs_diff/tolerance")
        name = _text(entry.get("name", ""), 200)
        ok = diff <= tol
        if not ok and first_bad is None:
            first_bad = name
        layers.append({"name": name, "max_abs_diff": diff, "tolerance": tol, "ok": ok})
    claimed = data.get("ok")
    if not isinstance(claimed, bool):
        raise ParityError("parity verdict: ok is not a boolean")
    ok = (
        claimed
        and logit is not None
        and loss is not None
        and logit <= LOGIT_TOL
        and loss <= LOSS_TOL
        and first_bad is None
    )
    layer = data.get("first_diverging_layer")
    return {
        "ok": ok,
        "max_abs_logit_diff": logit,
        "abs_loss_diff": loss,
        "first_diverging_layer": None if ok else _text(layer or first_bad or "unknown", 200),
        "message": _text(data.get("message", "")),
        "logit_tolerance": LOGIT_TOL,
        "loss_tolerance": LOSS_TOL,
        "layers": layers,
        "torch": _text(data.get("torch", ""), 500),
        "mlx": _text(data.get("mlx", ""), 500),
        "claimed_ok": claimed,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.training.parity TORCH MLX VERDICT``: the sandboxed side of the gate."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write("usage: python -m bot.training.parity TORCH MLX VERDICT\n")
        return 2
    write_verdict(args[2], verdict_of(args[0], args[1]))
    return 0


if __name__ == "__main__":  # pragma: no cover - run inside the sandbox
    raise SystemExit(main())


def parity_in_sandbox(
    settings: Settings, torch_src: bytes, mlx_src: bytes, *, timeout: float = 900.0
) -> dict[str, Any]:
    """Trusted side: run the gate on the two scripts' bytes inside :mod:`bot.sandbox` and return
    the re-validated verdict (:func:`check_verdict`), or ``{"error": …}`` when the scripts could
    not be compared (a crash, a timeout, no or a malformed verdict). The dict's ``sandbox`` key
    holds the wall's mode. SandboxError when policy forbids running here."""
    from bot.sandbox import VERDICT_NAME, open_sandbox

    with open_sandbox(settings, with_pgolf=True) as box:
        t = box.add_file(torch_src, "train_gpt.py")
        m = box.add_file(mlx_src, "train_gpt_mlx.py")
        verdict = box.scratch / VERDICT_NAME
        run = box.run(
            [sys.executable, "-P", "-m", "bot.training.parity", str(t), str(m), str(verdict)],
            timeout=timeout,
        )
        if run.timed_out:
            return {"error": f"the parity gate took over {timeout:.0f} s", "sandbox": box.mode}
        return box_verdict(box, run)


def box_verdict(box: Sandbox, run: BoxRun, tail_lines: int = 5) -> dict[str, Any]:
    """The parity verdict a sandboxed run left in its scratch folder, re-validated
    (:func:`check_verdict`), with the wall's mode under ``sandbox``; ``{"error": …}`` naming the
    run's last output lines when it left none or an unusable one."""
    from bot.sandbox import VERDICT_NAME

    try:
        raw = box.read_json(VERDICT_NAME)
        data = check_verdict(raw) if raw is not None else None
    except PgolfError as exc:
        return {"error": str(exc), "sandbox": box.mode}
    if data is None:
        tail = " | ".join((run.stderr or run.stdout).strip().splitlines()[-tail_lines:])
        return {
            "error": f"the parity gate left no verdict (exit {run.returncode}): {tail or 'no output'}",
            "sandbox": box.mode,
        }
    data["sandbox"] = box.mode
    return data
