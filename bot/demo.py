"""`pgolf demo`: the whole loop, offline, on one machine, through the real code paths.

No network, no keys, no GPU. Every step calls the module that does the job for real:

====  ==========================================  ============================================
 #    step                                        code it runs
====  ==========================================  ============================================
 1    scaffold a research repository               ``bot.forge.scaffold.scaffold`` (``pgolf init``)
 2    tiny dataset from local text                 ``training/prepare_data.py --from-stdlib``
 3    research from the bundled snapshot           ``bot.research.pipeline.fetch`` (source ``snapshot``)
 4    offline grading and verification             ``bot.grading.grader.grade`` / ``verify.verify``
 5    inject program.md                            ``bot.program_inputs`` + ``bot.program.inject``
 6    local baseline (2 seeds, PyTorch CPU)        ``bot.training.local.run_baseline``
 7    experiment PR on the local forge             ``bot.agent.proposer.propose`` (offline proposer)
 8    Tier 1 run on the PR head and the gate       ``bot.training.local.run_local`` + sticky comment
 9    promote (``promote`` label, local pod, $0)   ``bot.forge.dispatch.run_event`` → ``bot.compute.promote``
10    dashboard                                    ``bot.report.build_report``
====  ==========================================  ============================================

The demo's research repository gets a ``[tool.pgolf]`` table (toy model sizes, the snapshot
source, the local forge and the local pod provider), so every ``pgolf --repo DIR …`` command works
on it afterwards. A step that fails is reported as *failed* (and the steps that need it as
*skipped*), never silently passed over.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot import budget as budget_mod
from bot import program, program_inputs, report
from bot.agent import pr as pr_mod
from bot.agent import proposer, validate
from bot.compute.localpod import stop_pod
from bot.compute.promote import promote_for_event
from bot.config import Settings, load_settings
from bot.errors import InputError, PgolfError
from bot.forge import dispatch, events, scaffold
from bot.forge.local import LocalForge
from bot.git import git, git_ok
from bot.grading import grader
from bot.grading import verify as verify_mod
from bot.research import pipeline
from bot.training import local
from bot.training.local import TOY_ENV

MARKER = ".pgolf-demo"
GIT_NAME = "pgolf demo"
GIT_EMAIL = "demo@pgolf.invalid"
BASELINE_SEEDS = 2  # two seeds: the least that measures a noise floor
SNAPSHOT_HOURS = 24 * 365 * 6  # the bundled snapshot spans years; take all of it

# Toy model sizes: a few seconds per run on a laptop CPU (the model shape of TOY_ENV).
_TOY_SHAPE = ("NUM_LAYERS", "MODEL_DIM", "NUM_HEADS", "NUM_KV_HEADS", "MLP_MULT", "TRAIN_SEQ_LEN")
TOY_KNOBS = {
    **{k: TOY_ENV[k] for k in _TOY_SHAPE},
    "VAL_BATCH_SIZE": "16384",
    "GRAD_ACCUM_STEPS": "1",
}  # never a knob the offline proposer edits: an env value would mask the script's new default
TOY_ITERATIONS = 20
TOY_BATCH_TOKENS = 2048
TOY_VAL_TOKENS = 16384


class StepSkipped(Exception):
    """A step that needs an earlier step which did not complete."""


@dataclass
class StepResult:
    key: str
    title: str
    status: str = "pending"  # ok | failed | skipped
    detail: str = ""
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
            "lines": self.lines,
        }


@dataclass
class DemoResult:
    workdir: Path
    steps: list[StepResult]
    outputs: dict[str, str]
    seconds: float
    reused: str = ""

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "reused": self.reused,
            "steps": [s.to_dict() for s in self.steps],
            "outputs": self.outputs,
        }


def demo_settings_table(workdir: Path, python: str = sys.executable) -> dict[str, Any]:
    """The ``[tool.pgolf]`` settings of the demo repository."""
    data = workdir / "data"
    pod_env = {
        **TOY_KNOBS,
        "ITERATIONS": str(TOY_ITERATIONS),
        "TRAIN_BATCH_TOKENS": str(TOY_BATCH_TOKENS),
        "VAL_MAX_TOKENS": str(TOY_VAL_TOKENS),
        "WARMUP_STEPS": "0",
        "VAL_LOSS_EVERY": "0",
        "TRAIN_LOG_EVERY": "10",
        "DATA_PATH": str(data / "datasets" / "fineweb10B_sp1024"),
        "TOKENIZER_PATH": str(data / "tokenizers" / "fineweb_1024_bpe.model"),
        "PYTHONUNBUFFERED": "1",
    }
    return {
        "sources": ["snapshot"],
        "since_hours": SNAPSHOT_HOURS,
        "forge": "local",
        "pod_provider": "local",
        "pod_setup_command": "",  # the data is already on this machine (DATA_PATH below)
        "pod_train_command": f"{shlex.quote(python)} {{script}}",
        "pod_train_env": [f"{k}={v}" for k, v in pod_env.items()],
        "pod_deadline_seconds": 900,
        "pod_eval_slack_seconds": 300,
        "tier2_min_interval_seconds": 0,
        "local_backend": "torch",
        "local_iterations": TOY_ITERATIONS,
        "local_train_batch_tokens": TOY_BATCH_TOKENS,
        "local_val_max_tokens": TOY_VAL_TOKENS,
        "local_env": [f"{k}={v}" for k, v in TOY_KNOBS.items()],
    }


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string is a valid TOML basic string


def render_pyproject(table: dict[str, Any]) -> str:
    lines = [
        "# The pgolf demo's research repository (written by `pgolf demo`).",
        "# Toy model sizes, the bundled research snapshot, the local forge and the local pod provider.",
        "[tool.pgolf]",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 400) -> str:
    """A failure's message on one line (logs keep the whole text)."""
    flat = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _git(root: Path, *args: str) -> str:
    return git(root, *args).strip()


def _commit_all(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    if not git_ok(root, "diff", "--cached", "--quiet"):
        _git(root, "commit", "--quiet", "--no-verify", "-m", message)
    return _git(root, "rev-parse", "--short", "HEAD")


def prepare_workdir(workdir: Path) -> str:
    """Make ``workdir`` ready for a fresh demo; returns a note when an earlier demo was replaced.

    A folder of an earlier demo (it carries :data:`MARKER`) is replaced; its tiny dataset is kept
    to save time. Any other non-empty folder is refused: the demo never deletes your files.
    """
    if workdir.exists() and not workdir.is_dir():
        raise InputError("exists and is not a folder", path=str(workdir))
    if not workdir.exists() or not any(workdir.iterdir()):
        workdir.mkdir(parents=True, exist_ok=True)
        return ""
    if not (workdir / MARKER).exists():
        raise InputError(
            "is a non-empty folder that is not a pgolf demo; choose another --workdir", path=str(workdir)
        )
    keep = workdir.parent / f".{workdir.name}.data-{os.getpid()}"
    data = workdir / "data"
    has_data = (data / "tokenizers" / "fineweb_1024_bpe.model").is_file()
    if has_data:
        data.rename(keep)
    _stop_local_pods(workdir)
    shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    if has_data:
        keep.rename(data)
    return (
        f"{workdir} held an earlier demo: replaced by a fresh one"
        + (" (its tiny dataset is reused)" if has_data else "")
        + "."
    )


def _stop_local_pods(workdir: Path) -> None:
    """Stop the watchdogs of any local pod an earlier, interrupted demo left behind."""
    for rec in workdir.glob(".pgolf/**/pod.json"):
        try:
            stop_pod(rec)
        except (PgolfError, OSError, ValueError):
            continue


def offline_transport() -> Any:
    """An httpx transport that refuses every request: the demo never touches the network."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"offline demo: no network access ({request.url.host})", request=request)

    return httpx.MockTransport(refuse)


class Demo:
    def __init__(self, workdir: Path | str, *, echo: Callable[[str], None] = print):
        self.workdir = Path(workdir).resolve()
        self.echo = echo
        self.settings: Settings | None = None
        self.outputs: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        self.steps: list[tuple[str, str, Callable[[StepResult], None], tuple[str, ...]]] = [
            ("init", "Scaffold a research repository (pgolf init)", self.step_init, ()),
            ("data", "Build a tiny dataset from local text", self.step_data, ("init",)),
            ("research", "Research from the bundled snapshot, through the real pipeline", self.step_research, ("init",)),
            ("grade", "Grade offline and verify the tier-A items", self.step_grade, ("research",)),
            ("inject", "Inject the research into program.md", self.step_inject, ("grade",)),
            ("baseline", f"Measure the local baseline ({BASELINE_SEEDS} seeds, PyTorch CPU)", self.step_baseline, ("data",)),
            ("experiment", "Open an experiment PR on the local forge (offline proposer)", self.step_experiment, ("inject", "data")),
            ("tier1", "Tier 1: train the PR head locally and apply the gate", self.step_tier1, ("experiment", "baseline")),
            ("promote", "Promote: `promote` label → real promotion code on a local pod ($0)", self.step_promote, ("tier1",)),
            ("report", "Generate the dashboard", self.step_report, ("init",)),
        ]  # fmt: skip

    # ------------------------------------------------------------------ driver
    def run(self) -> DemoResult:
        started = time.monotonic()
        reused = prepare_workdir(self.workdir)
        self.echo(f"pgolf demo — the whole loop offline, in {self.workdir}")
        if reused:
            self.echo(f"note: {reused}")
        results: list[StepResult] = []
        done: dict[str, str] = {}
        total = len(self.steps)
        for n, (key, title, fn, needs) in enumerate(self.steps, 1):
            res = StepResult(key, title)
            self.echo(f"\n[{n}/{total}] {title}")
            t0 = time.monotonic()
            missing = [d for d in needs if done.get(d) != "ok"]
            try:
                if missing:
                    raise StepSkipped(
                        "needs " + ", ".join(f"step '{d}' ({done.get(d, 'not run')})" for d in missing)
                    )
                fn(res)
                res.status = "ok"
            except StepSkipped as exc:
                res.status, res.detail = "skipped", str(exc)
            except PgolfError as exc:
                res.status, res.detail = "failed", str(exc)
            except Exception as exc:  # another part's bug: report it as this step's failure, go on
                res.status, res.detail = "failed", f"{type(exc).__name__}: {exc}"
            res.seconds = time.monotonic() - t0
            res.detail = _one_line(res.detail)
            done[key] = res.status
            mark = {"ok": "✓", "failed": "✗", "skipped": "–"}[res.status]
            tail = f" — {res.detail}" if res.detail else ""
            self.echo(f"  {mark} {res.status} in {res.seconds:.1f} s{tail}")
            results.append(res)
        self.outputs["workdir"] = str(self.workdir)
        return DemoResult(self.workdir, results, self.outputs, time.monotonic() - started, reused)

    def say(self, res: StepResult, line: str) -> None:
        res.lines.append(line)
        self.echo(f"  {line}")

    @property
    def s(self) -> Settings:
        assert self.settings is not None
        return self.settings

    # ------------------------------------------------------------------ steps
    def step_init(self, res: StepResult) -> None:
        root = self.workdir
        (root / MARKER).write_text("created by `pgolf demo`; the demo may replace this folder\n")
        (root / "pyproject.toml").write_text(render_pyproject(demo_settings_table(root)), encoding="utf-8")
        self.settings = load_settings(root, env={})  # the demo ignores PGOLF_* of the caller's shell
        out = scaffold.scaffold(root, self.settings)
        for w in out.warnings:
            self.say(res, f"warning: {w}")
        _git(root, "config", "user.name", GIT_NAME)
        _git(root, "config", "user.email", GIT_EMAIL)
        _git(root, "checkout", "--quiet", "-B", "main")
        with (root / ".gitignore").open("a", encoding="utf-8") as fh:
            fh.write(f"{MARKER}\nreport/\n")
        sha = _commit_all(root, "demo: scaffold (pgolf init)")
        self.say(
            res, f"scaffolded {len(out.created)} file(s): workflows, program.md, training scripts, ledger"
        )
        self.say(res, f"git repository on branch main at {sha}")
        self.outputs["repository"] = str(root)
        self.outputs["settings"] = str(root / "pyproject.toml")

    def step_data(self, res: StepResult) -> None:
        data = self.s.path("data_dir", self.workdir)
        tok = data / "tokenizers" / "fineweb_1024_bpe.model"
        if tok.is_file():
            self.say(res, f"reusing the tiny dataset in {data}")
        else:
            script = self.workdir / "training" / "prepare_data.py"
            self.say(res, "tokenizer + shards from Python's own documentation (no download)")
            proc = subprocess.run(
                [sys.executable, str(script), "--from-stdlib", "--out", str(data)],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            if proc.returncode != 0 or not tok.is_file():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                raise PgolfError("prepare_data.py failed: " + " | ".join(tail))
        shards = sorted((data / "datasets" / "fineweb10B_sp1024").glob("fineweb_*_*.bin"))
        size = sum(p.stat().st_size for p in shards)
        self.say(res, f"{len(shards)} shard(s), {size / 1e6:.1f} MB, SentencePiece tokenizer: {data}")
        self.outputs["data"] = str(data)

    def step_research(self, res: StepResult) -> None:
        state_dir = self.s.path("state_dir", self.workdir)
        report = pipeline.fetch(self.s, state_dir, sources=["snapshot"], env={})
        if report.errors:
            raise PgolfError(f"research fetch failed: {report.errors}")
        d = report.to_dict()
        self.say(
            res,
            f"fetched {d['fetched']} item(s): {d['new']} new, {d['duplicates']} duplicate(s), "
            f"{d['below_threshold']} below the relevance threshold {d['threshold']}",
        )
        if report.competitor_scores:
            self.say(res, f"{report.competitor_scores} competitor score(s) stored")
        self.state["research_new"] = d["new"]
        self.outputs["research_state"] = str(state_dir)

    def step_grade(self, res: StepResult) -> None:
        run = grader.grade(self.workdir, self.s, {}, offline_only=True)
        tiers: dict[str, int] = {}
        for g in run.grades:
            tiers[g.tier] = tiers.get(g.tier, 0) + 1
        self.say(
            res,
            f"graded {len(run.grades)} item(s) offline against the rubric: "
            + (", ".join(f"tier {k} {v}" for k, v in sorted(tiers.items())) or "none"),
        )
        with httpx.Client(transport=offline_transport()) as http:
            vrun = verify_mod.verify(self.workdir, self.s, {}, offline_only=True, http=http)
        verified = len(vrun.verified)
        self.say(
            res,
            f"verified {verified} tier-A item(s) offline (no full text without network: the snapshot "
            "summary stands in)",
        )

    def step_inject(self, res: StepResult) -> None:
        inputs = program_inputs.gather_inputs(self.workdir, self.s)
        path = self.s.path("program_path", self.workdir)
        result = program.inject(path, inputs.sections, inputs.sota)
        sota = f"{inputs.sota:.4f}" if inputs.sota is not None else "n/a"
        self.say(res, f"program.md {'updated' if result.changed else 'unchanged'}; SOTA line {sota} bpb")
        sha = _commit_all(self.workdir, "demo: research, grades and program.md")
        self.say(res, f"committed the research state and program.md on main ({sha})")
        self.outputs["program"] = str(path)

    def _progress(self, res: StepResult, label: str) -> Callable[[Any], None]:
        last = [0.0]

        def on(p: Any) -> None:
            now = time.monotonic()
            step = getattr(p, "step", 0)
            total = getattr(p, "total", 0)
            if now - last[0] >= 5.0 or (total and step >= total):
                last[0] = now
                loss = getattr(p, "train_loss", None)
                self.echo(
                    f"    {label}: step {step}/{total or '?'}" + (f", train_loss {loss:.3f}" if loss else "")
                )

        return on

    def step_baseline(self, res: StepResult) -> None:
        out = local.run_baseline(
            self.workdir,
            self.s,
            seeds=BASELINE_SEEDS,
            iterations=TOY_ITERATIONS,
            backend="torch",
            on_progress=self._progress(res, "baseline"),
        )
        for r in out.runs:  # one LocalOutcome per seed
            bpb = r.result.val_bpb if r.result else None
            self.say(
                res, f"seed run: val_bpb {bpb:.4f}" if bpb is not None else f"seed run crashed: {r.error}"
            )
        noise = "n/a" if out.noise_floor is None else f"±{out.noise_floor * 100:.2f} %"
        if out.baseline is None:
            raise PgolfError("no baseline measured")
        self.say(res, f"running local baseline {out.baseline:.4f} bpb, noise floor {noise}")
        sha = _commit_all(self.workdir, "demo: baseline rows")
        self.say(res, f"baseline rows committed to results.tsv on main ({sha})")

    def step_experiment(self, res: StepResult) -> None:
        # the demo's settings name the local forge (demo_settings_table); its state is one file
        forge = LocalForge(self.workdir, self.s.path("local_forge_path", self.workdir))
        data = self.s.path("data_dir", self.workdir)
        validator = validate.Validator(self.workdir, self.s, smoke_data=data)
        result = proposer.propose(
            self.workdir,
            self.s,
            forge=pr_mod.ForgePublisher(forge),
            llm=None,
            validator=validator,
            offline_mode=True,
        )
        p = result.proposal
        self.say(res, f"research item: {p.item_id} — {p.item_title} ({p.item_grade})")
        for c in p.checks:
            first = str(c.get("detail", "")).splitlines()[0][:120] if c.get("detail") else ""
            self.say(res, f"{'✓' if c.get('ok') else '✗'} check {c.get('name')}: {first}")
        if not result.ok or p.pr is None:
            raise PgolfError(f"no PR opened: {p.reason or p.status}")
        pr = forge.get_pr(p.pr)
        diff = _git(self.workdir, "diff", "--stat", f"{pr.base_ref}...{pr.head_ref}") if pr.base_ref else ""
        self.say(res, f"opened PR #{pr.number} from branch {pr.head_ref} at {pr.head_sha[:10]}")
        if diff:
            self.say(res, "change: " + " ".join(diff.splitlines()[-1].split()))
        self.state.update(pr=pr.number, branch=pr.head_ref, head=pr.head_sha, forge=forge)
        self.outputs["pull_request"] = f"PR #{pr.number} ({pr.head_ref}) in {forge.state_path}"
        if getattr(p, "patch_path", ""):
            self.outputs["patch"] = str(p.patch_path)

    def step_tier1(self, res: StepResult) -> None:
        forge = self.state["forge"]
        pr, head, branch = self.state["pr"], self.state["head"], self.state["branch"]
        tree = self.workdir / ".pgolf" / "worktrees" / f"pr-{pr}"
        if tree.exists():
            _git(self.workdir, "worktree", "remove", "--force", str(tree))
        _git(self.workdir, "worktree", "add", "--quiet", "--detach", str(tree), head)
        # The runner's checkout is the PR head; the ledger it writes is the main one.
        ledger_paths = {
            k: str(self.s.path(k, self.workdir))
            for k in ("results_path", "budget_path", "state_dir", "data_dir")
        }
        settings = load_settings(self.workdir, env={}, overrides=ledger_paths)
        try:
            out = local.run_local(
                tree,
                settings,
                iterations=TOY_ITERATIONS,
                backend="torch",
                base_ref="main",
                on_progress=self._progress(res, f"PR #{pr}"),
                runs_dir=self.s.path("runs_dir", self.workdir),
            )
        finally:
            _git(self.workdir, "worktree", "remove", "--force", str(tree))
        d = out.to_dict()
        bpb = d.get("val_bpb")
        base = d.get("baseline")
        delta = (
            "" if bpb is None or not base else f" ({(bpb - base) / base * 100:+.2f} % vs baseline {base:.4f})"
        )
        self.say(
            res, f"PR #{pr} at {head[:10]} ({branch}): val_bpb {bpb if bpb is None else f'{bpb:.4f}'}{delta}"
        )
        self.say(res, f"gate: {d.get('outcome', d.get('status'))} — {d.get('reason', '')}")
        result = dispatch.local_result_from_json(d, head, self.s)
        actions = dispatch.report_local_result(forge, self.s, pr, result)
        self.say(res, "sticky PR comment and commit status updated: " + "; ".join(actions))
        if out.result is None:
            raise PgolfError(f"the Tier 1 run crashed: {out.error}")
        sha = _commit_all(self.workdir, f"demo: local result for #{pr}")
        self.say(res, f"results.tsv committed on main ({sha})")
        self.state["tier1_outcome"] = d.get("outcome")

    def step_promote(self, res: StepResult) -> None:
        forge = self.state["forge"]
        pr_number = self.state["pr"]
        before = budget_mod.load(self.s.path("budget_path", self.workdir), self.s)
        outcome = self.state.get("tier1_outcome")
        if outcome != "qualifies":
            self.say(
                res,
                f"the gate said {outcome!r}, not 'qualifies': on a real repository a maintainer could still "
                "promote it; the demo does, to show Tier 2",
            )
        user = forge.owner
        forge.add_label(pr_number, self.s.promote_label)
        pr = forge.get_pr(pr_number)
        # exactly the webhook GitHub sends when a maintainer adds the label
        payload = {
            "action": "labeled",
            "label": {"name": self.s.promote_label},
            "sender": {"login": user, "type": "User"},
            "repository": {"full_name": forge.repo},
            "pull_request": {
                "number": pr_number,
                "head": {"sha": pr.head_sha, "ref": pr.head_ref, "repo": {"full_name": pr.head_repo}},
                "labels": [{"name": name} for name in pr.labels],
            },
        }
        event = events.parse_payload(payload, "pull_request", self.s)
        self.say(res, f"label `{self.s.promote_label}` added by {user} ({forge.permission(user)} permission)")
        result = dispatch.run_event(event, forge, self.s, self.workdir, promote_hook=promote_for_event).result
        if result is None:
            raise PgolfError("the promotion did not run")
        after = budget_mod.load(self.s.path("budget_path", self.workdir), self.s)
        bpb = "n/a" if result.val_bpb is None else f"{result.val_bpb:.4f}"
        self.say(
            res,
            f"run {result.run_id} on pod {result.pod_id or '?'}: {result.status}, val_bpb {bpb}, "
            f"pod time {result.pod_seconds:.0f} s, cost ${result.cost_usd:.2f}, "
            f"terminated: {'yes' if result.terminated else 'NO'}",
        )
        runs_added = len(after.runs) - len(before.runs)
        if runs_added > 0:
            rec = after.runs[-1]
            self.say(res, f"budget.json: reserved, then settled run {rec.run_id} at ${rec.cost_usd:.2f}")
        else:
            self.say(
                res,
                "budget.json: no run record — the promotion code did not reserve or settle a budget "
                "for the local pod provider",
            )
        self.say(
            res,
            f"budget: ${after.remaining:.2f} of ${after.total_credits:.2f} left, {len(after.reservations)} open reservation(s)",
        )
        if result.status == "crash":
            raise PgolfError(f"the promotion crashed: {result.error}")
        sha = _commit_all(self.workdir, f"demo: Tier 2 result for #{pr_number}")
        self.say(res, f"results.tsv and budget.json committed on main ({sha})")
        self.outputs["promotion_log"] = str(Path(result.run_dir) / "promote.log")

    def step_report(self, res: StepResult) -> None:
        out = report.build_report(self.workdir, self.s, self.workdir / "report")
        self.say(res, f"{out.rows} experiment row(s) in {out.seconds:.1f} s")
        self.outputs["dashboard"] = str(out.index)
        self.outputs["plots"] = str(out.out_dir / "plots")


def run_demo(workdir: Path | str, *, echo: Callable[[str], None] = print) -> DemoResult:
    return Demo(workdir, echo=echo).run()


def summary_lines(result: DemoResult) -> list[str]:
    """Where everything is, and the one command that opens the dashboard."""
    o = result.outputs
    root = result.workdir
    lines = ["", f"pgolf demo finished in {result.seconds:.0f} s: " + ", ".join(
        f"{sum(1 for s in result.steps if s.status == k)} {k}"
        for k in ("ok", "failed", "skipped")
        if any(s.status == k for s in result.steps)
    )]  # fmt: skip
    bad = [s for s in result.steps if s.status != "ok"]
    for s in bad:
        lines.append(f"  {s.status.upper()}: {s.title} — {s.detail}")
    lines += ["", "Outputs:"]
    entries = [
        ("research repository", o.get("repository")),
        ("settings ([tool.pgolf])", o.get("settings")),
        ("ledger", str(root / "results.tsv")),
        ("budget", str(root / "budget.json")),
        ("program.md", o.get("program")),
        ("research state", o.get("research_state")),
        ("tiny dataset", o.get("data")),
        ("experiment", o.get("pull_request")),
        ("promotion log", o.get("promotion_log")),
        ("dashboard", o.get("dashboard")),
        ("PNG plots", o.get("plots")),
    ]
    for label, value in entries:
        if value:
            lines.append(f"  {label:<24} {value}")
    lines += [
        "",
        f"Explore it: pgolf --repo {shlex.quote(str(root))} results show",
    ]
    if o.get("dashboard"):
        lines.append(f"Open the dashboard: python -m webbrowser {Path(o['dashboard']).as_uri()}")
    return lines
