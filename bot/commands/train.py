"""`pgolf train …`: the parity gate, Tier 1 local runs and the local baseline.

* ``pgolf train parity [--torch P] [--mlx P] [--json]`` — exit 1 when the gate fails.
* ``pgolf train local [--preset NAME] [--minutes N | --iterations N] [--backend auto|mlx|torch]
  [--seed N] [--json]`` — exit 0 for qualifies/keep/discard (the decision is printed), 1 for a crash.
* ``pgolf train baseline [--seeds 3] [--preset NAME] [--minutes N] [--json]`` — baseline rows + the
  noise floor.
* ``pgolf train presets [--json]`` — the named run sizes (:mod:`bot.training.presets`).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.commands.context import AppContext, emit_json, json_option, pass_app
from bot.errors import InputError, ParityError
from bot.training.local import Progress, run_baseline, run_local
from bot.training.parity import parity_in_sandbox
from bot.training.presets import PRESETS, Plan, plan_run


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def progress_printer(enabled: bool) -> Callable[[Progress], None]:
    """A callback drawing `[#####.....] step 120/500 loss 3.2101 12.3k tok/s ETA 1m20s` on stderr."""
    tty = sys.stderr.isatty()
    last = {"t": -1}

    def show(p: Progress) -> None:
        if not enabled:
            return
        width = 24
        done = int(width * p.step / max(p.total, 1))
        tps = f"{p.tokens_per_s / 1000:.1f}k tok/s" if p.tokens_per_s else "-- tok/s"
        loss = f"{p.train_loss:.4f}" if p.train_loss is not None else "--"
        line = f"[{'#' * done}{'.' * (width - done)}] step {p.step}/{p.total} loss {loss} {tps} ETA {_fmt_eta(p.eta_s)}"
        if tty:
            click.echo("\r" + line, nl=p.step >= p.total, err=True)
        elif p.step // max(1, p.total // 10) != last["t"]:
            last["t"] = p.step // max(1, p.total // 10)
            click.echo(line, err=True)

    return show


def _env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        out[key] = value
    return out


@click.group("train")
def train_group() -> None:
    """Training: MLX↔PyTorch parity gate, Tier 1 local runs, local baseline."""


@train_group.command("parity")
@click.option("--torch", "torch_path", type=click.Path(path_type=Path), default=None, help="PyTorch script.")
@click.option("--mlx", "mlx_path", type=click.Path(path_type=Path), default=None, help="MLX script.")
@json_option
@pass_app
def parity_cmd(app: AppContext, torch_path: Path | None, mlx_path: Path | None, as_json: bool) -> None:
    """Load identical weights into both scripts and compare logits and loss (fp32, CPU).

    The scripts may be pull-request or model-written code: the comparison runs in the sandbox
    (setting ``sandbox``) and its verdict is re-validated here."""
    tp = Path(torch_path or app.path("training_script"))
    mp = Path(mlx_path or app.path("mlx_script"))
    for path in (tp, mp):
        if not path.is_file():
            raise InputError("training script not found", path=str(path))
    res = parity_in_sandbox(app.settings, tp.read_bytes(), mp.read_bytes())
    if "error" in res:
        raise ParityError(str(res["error"]))
    res["torch"], res["mlx"] = str(tp), str(mp)
    if as_json:
        emit_json(res)
    else:
        click.echo(res["message"])
        for d in res["layers"]:
            click.echo(
                f"  {d['name']:<10} max|Δ| {d['max_abs_diff']:.3e}  tol {d['tolerance']:.1e}  "
                f"{'ok' if d['ok'] else 'DIVERGES'}"
            )
        click.echo(f"  sandbox: {res.get('sandbox', '?')}")
    if not res["ok"]:
        raise ParityError("")  # the gate's own "no" (as in a promotion); the layers are listed above


class _Minutes(click.ParamType):
    """A positive, finite number of minutes (click's FloatRange lets NaN and infinity through)."""

    name = "minutes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            out = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(out) and out > 0):
            self.fail(f"{value!r} is not a positive, finite number of minutes", param, ctx)
        return out


_MINUTES = _Minutes()

_common = [
    click.option(
        "--backend",
        type=click.Choice(["auto", "mlx", "torch"]),
        default=None,
        help="Default: settings.local_backend.",
    ),
    click.option(
        "--iterations",
        type=click.IntRange(min=1),
        default=None,
        help="Default: the preset's, else settings.local_iterations (500).",
    ),
    click.option(
        "--preset",
        type=click.Choice([*sorted(PRESETS), "auto"]),
        default=None,
        help="A named run size (`pgolf train presets`), or auto (with --minutes); default settings.local_preset.",
    ),
    click.option(
        "--minutes",
        type=_MINUTES,
        default=None,
        help="Time budget: probe a few steps, then size the iterations to end within N minutes.",
    ),
    click.option(
        "--data-path",
        type=click.Path(path_type=Path),
        default=None,
        help="Shard folder (default data/datasets/fineweb10B_sp1024).",
    ),
    click.option(
        "--tokenizer-path", type=click.Path(path_type=Path), default=None, help="SentencePiece .model."
    ),
    click.option(
        "--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Extra training knob (repeatable)."
    ),
    json_option,
    click.option("--quiet", is_flag=True, help="No progress bar."),
]


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _CommonRun:
    """The options `train local` and `train baseline` share (see ``_common``)."""

    backend: str | None
    iterations: int | None
    preset: str | None
    minutes: float | None
    data_path: Path | None
    tokenizer_path: Path | None
    env_pairs: tuple[str, ...]
    as_json: bool
    quiet: bool

    def plan(self, app: AppContext) -> Plan | None:
        """The preset/time-budget plan (None: neither a preset nor a budget was asked for)."""
        preset = self.preset or app.settings.local_preset or None
        if preset is None and self.minutes is None:
            return None
        if not (self.quiet or self.as_json) and self.minutes is not None:
            click.echo(f"probing a few steps to size the run to {self.minutes:g} min …", err=True)
        return plan_run(
            app.root,
            app.settings,
            preset,
            self.minutes,
            backend=self.backend,
            data_path=self.data_path,
            tokenizer_path=self.tokenizer_path,
            extra_env=_env_pairs(self.env_pairs),
            iterations=self.iterations,
        )

    def run_kwargs(self, plan: Plan | None = None) -> dict[str, Any]:
        """Keyword arguments for ``run_local``/``run_baseline`` (sized by ``plan`` when given)."""
        out: dict[str, Any] = {
            "iterations": self.iterations,
            "backend": self.backend,
            "data_path": self.data_path,
            "tokenizer_path": self.tokenizer_path,
            "extra_env": _env_pairs(self.env_pairs),
            "on_progress": progress_printer(not (self.quiet or self.as_json)),
        }
        if plan is not None:
            out.update(
                iterations=plan.iterations, extra_env=plan.env, plan_tag=plan.tag(), proxy=plan.preset.proxy
            )
        return out


def _with_common(fn: F) -> F:
    """Add the ``_common`` options; the command receives them bundled as ``common: _CommonRun``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        backend: str | None,
        iterations: int | None,
        preset: str | None,
        minutes: float | None,
        data_path: Path | None,
        tokenizer_path: Path | None,
        env_pairs: tuple[str, ...],
        as_json: bool,
        quiet: bool,
        **kwargs: Any,
    ) -> Any:
        common = _CommonRun(
            backend, iterations, preset, minutes, data_path, tokenizer_path, env_pairs, as_json, quiet
        )
        return fn(*args, common=common, **kwargs)

    decorated: Any = wrapper
    for opt in reversed(_common):
        decorated = opt(decorated)
    return decorated  # type: ignore[no-any-return]


@train_group.command("local")
@click.option("--seed", type=int, default=None, help="SEED for the run (default: the script's 1337).")
@click.option(
    "--base-ref",
    default="auto",
    help="Git ref whose script size decides 'got shorter' (auto: PR base or main).",
)
@click.option("--no-record", is_flag=True, help="Do not append the row to results.tsv.")
@_with_common
@pass_app
def local_cmd(
    app: AppContext,
    seed: int | None,
    base_ref: str,
    no_record: bool,
    common: _CommonRun,
) -> None:
    """Run a Tier 1 local training run, gate it against the running baseline, record it."""
    plan = common.plan(app)
    out = run_local(
        app.root,
        app.settings,
        seed=seed,
        base_ref=base_ref or None,
        record=not no_record,
        **common.run_kwargs(plan),
    )
    if common.as_json:
        emit_json({**out.to_dict(), "plan_detail": plan.to_dict() if plan else None})
    else:
        if plan is not None:
            sized = f" sized to {plan.sizing.budget_s / 60:g} min" if plan.sizing else ""
            click.echo(f"config: {plan.tag() or 'settings'} {plan.iterations} it{sized} (cfg={out.config})")
            if plan.preset.proxy:
                click.echo(f"note: {plan.preset.proxy}")
        r = out.result
        if r:
            click.echo(f"val_bpb: {r.val_bpb:.6f} ({r.tag})")
        if out.artifact:
            click.echo(f"artifact: {out.artifact.total_bytes} bytes (headroom {out.artifact.headroom})")
        base = f"{out.baseline:.4f}" if out.baseline is not None else "none"
        noise = f"{100 * out.noise:.2f}%" if out.noise is not None else "unmeasured"
        click.echo(f"baseline: {base}  noise floor: {noise}")
        click.echo(f"decision: {out.decision.outcome} — {out.decision.reason}")
        click.echo(f"sandbox: {out.run.sandbox}")
        if out.decision.outcome == "crash":
            click.echo(f"log tail ({out.run.log_path}):\n{out.run.tail()}")
        else:
            click.echo(f"log: {out.run.log_path}")
    if out.decision.outcome == "crash":
        sys.exit(1)


@train_group.command("baseline")
@click.option("--seeds", type=click.IntRange(1, 20), default=3, show_default=True, help="Number of seeds.")
@click.option("--first-seed", type=int, default=1337, show_default=True)
@_with_common
@pass_app
def baseline_cmd(
    app: AppContext,
    seeds: int,
    first_seed: int,
    common: _CommonRun,
) -> None:
    """Run the unmodified baseline with several seeds; record baseline rows and the noise floor."""
    plan = common.plan(app)
    out = run_baseline(app.root, app.settings, seeds=seeds, first_seed=first_seed, **common.run_kwargs(plan))
    if common.as_json:
        emit_json(out.to_dict())
        return
    for r in out.runs:
        if r.row:
            click.echo(f"{r.row.description}: val_bpb {r.row.val_bpb}")
    base = f"{out.baseline:.6f}" if out.baseline is not None else "none"
    noise = f"{100 * out.noise_floor:.3f}%" if out.noise_floor is not None else "unmeasured (need ≥ 2 rows)"
    click.echo(f"running local baseline: {base}  noise floor: {noise}")


@train_group.command("presets")
@json_option
def presets_cmd(as_json: bool) -> None:
    """The named Tier 1 run sizes (`--preset NAME`, or settings.local_preset)."""
    if as_json:
        emit_json({name: p.to_dict() for name, p in PRESETS.items()})
        return
    for name, p in PRESETS.items():
        knobs = " ".join(f"{k}={v}" for k, v in p.env.items())
        proxy = "  [weaker proxy]" if p.proxy else ""
        click.echo(f"{name:<9} {p.iterations:>6} it  {p.meant_for}{proxy}\n          {knobs}")


def register(cli: click.Group) -> None:
    cli.add_command(train_group)
