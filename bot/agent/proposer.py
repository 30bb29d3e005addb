"""``propose``: pick a research item, have it implemented in both training scripts, validate, publish.

Item selection (:func:`select_item`): among graded items (not ``ungradable``) that no earlier
proposal and no ledger row has tried, the one with the highest ``total / max_total`` plus the
exploration-frontier bonus of its category (:mod:`bot.grading.frontier`, when present). Ties go to
the lower item id. ``--from-item ID`` picks that item whatever its rank (tried or not).

The LLM path is a tool-use conversation (:mod:`bot.agent.tools`): the model sees program.md, the
item, and an outline of both scripts; it views and edits the scripts with the editing tools and
ends with ``submit_proposal``. The edits are then validated (:mod:`bot.agent.validate`); a
failure goes back to the model once, as the error ``tool_result`` of its ``submit_proposal`` call,
and a second failure is recorded as a ``crash`` proposal with its reason and diff — nothing is
pushed. A request that could overrun the spend cap is never sent: the proposal stops cleanly and
is recorded as ``stopped`` with what it spent. Without an API key (or with ``offline=True``) the
deterministic menu of :mod:`bot.agent.menu_proposer` makes the change instead, through the same tools,
validation and PR path.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anthropic

from bot import clock
from bot.agent import gitops, menu_proposer
from bot.agent.pr import ExperimentForge, publish, unique_slug
from bot.agent.record import Proposal, ProposalArchive
from bot.agent.tools import TOOLS, TRAINING_SCRIPTS, Workspace, run_tool
from bot.agent.validate import Candidate, ValidationReport, Validator
from bot.config import Settings
from bot.config import validate as validate_settings
from bot.errors import BudgetBlocked, ExperimentError, InputError
from bot.grading import calibration, untrusted
from bot.ledger import Ledger
from bot.state import GradedItem, ResearchState, VerifiedBrief

if TYPE_CHECKING:  # the anthropic SDK loads only where a model is asked
    from bot.llm import LLM

MAX_ATTEMPTS = 2  # the first validation failure goes back to the model once
EARLIER = 5  # earlier proposals' outcomes shown to the next conversation
OFFLINE_EXHAUSTED = "the offline menu has no untried change left for this repository"


# --------------------------------------------------------------------------- item selection
@dataclass
class Pick:
    item: GradedItem
    score: float
    bonus: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item.item_id,
            "title": self.item.title,
            "score": round(self.score, 4),
            "bonus": round(self.bonus, 4),
            "reason": self.reason,
        }


def grade_text(item: GradedItem) -> str:
    return f"{item.tier} {item.total}/{item.max_total}"


def ledger_item_refs(ledger: Ledger, known_ids: Sequence[str]) -> set[str]:
    """Item ids a ledger description references (``[item:<id>]``, ``Research-Item: <id>``, bare id)."""
    found: set[str] = set()
    texts = [r.description for r in ledger.rows]
    for t in texts:
        found.update(calibration.item_refs(t))
    for item_id in known_ids:
        if any(item_id in t for t in texts):
            found.add(item_id)
    return found


def frontier_scorer(ledger: Ledger, graded: Sequence[GradedItem]) -> Callable[[GradedItem], float]:
    """``item → selection score``: the rubric total on the 15-point scale plus the exploration
    frontier's bonus for the item's category (:func:`bot.grading.frontier.selection_score`)."""
    try:
        from bot.grading import frontier
    except ImportError:  # pragma: no cover - the frontier ships with pgolf
        return lambda g: g.total * 15 / g.max_total if g.max_total else 0.0
    fr = frontier.compute(ledger, graded)
    return lambda g: float(frontier.selection_score(g, fr))


def _plain_score(g: GradedItem) -> float:
    return g.total * 15 / g.max_total if g.max_total else 0.0


def select_item(
    graded: Sequence[GradedItem],
    tried: set[str],
    *,
    from_item: str | None = None,
    score: Callable[[GradedItem], float] = _plain_score,
) -> Pick:
    if from_item:
        for g in graded:
            if g.item_id == from_item:
                return Pick(g, score(g), score(g) - _plain_score(g), "chosen with --from-item")
        raise InputError(f"no graded research item with id {from_item!r}", field="--from-item")
    candidates = [g for g in graded if g.tier != "ungradable" and g.max_total and g.item_id not in tried]
    if not candidates:
        raise ExperimentError(
            "no untried graded research item: run `pgolf research fetch` and `pgolf research grade`, "
            "or pick one with --from-item"
        )
    ranked = sorted(((score(g), g) for g in candidates), key=lambda t: (-t[0], t[1].item_id))
    total, g = ranked[0]
    bonus = total - _plain_score(g)
    reason = (
        f"highest graded untried item ({grade_text(g)}"
        + (f", frontier bonus {bonus:+.0f}" if bonus else "")
        + ")"
    )
    return Pick(g, total, bonus, reason)


# --------------------------------------------------------------------------- prompts
SYSTEM_RULES = """You are the experimenter of a Parameter Golf research repository. You turn one \
research item into one small, testable change of the training scripts.

Rules:
- Edit with the tools only: view_file, replace_in_file (old_string must be unique and exact), \
insert_in_file. Never rewrite a whole file.
- Make the SAME change in training/train_gpt.py (PyTorch) and training/train_gpt_mlx.py (MLX): \
same architecture, initialisation, forward pass and defaults, so the MLX/PyTorch parity gate \
passes. Only a change that truly cannot apply to PyTorch (e.g. an MLX speed trick) may be \
MLX-only: then edit only the MLX script, and set mlx_only with the reason.
- The artifact (train_gpt.py bytes + compressed weights) must stay within 16,000,000 bytes; \
training is capped at 10 minutes on 8xH100. Keep the log line formats unchanged.
- Keep the change small and focused on the hypothesis; do not touch anything else.
- When done, call submit_proposal with the item id, a short title, the category, the \
hypothesis, what you changed and why, and the expected effect on artifact bytes, step time and \
val_bpb. Your edits are then validated (patch, import, artifact gate, parity gate, a short CPU \
smoke run). If a check fails you get the error once: fix it and call submit_proposal again.
- If the item cannot be turned into a sensible change, reply in text without calling any tool \
and say why."""


def outline(text: str, limit: int = 120) -> str:
    """Line numbers of the top-level structure of a script (classes, functions, section rules)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if re.match(r"\s*(class|def) \w+", line) or re.match(r"# -{5,}", line):
            out.append(f"{n}: {line.strip()[:100]}")
    if len(out) > limit:
        out = [*out[:limit], f"… {len(out) - limit} more"]
    return "\n".join(out)


def item_message(
    item: GradedItem, brief: VerifiedBrief | None, files: Mapping[str, str], pick_reason: str
) -> str:
    research = [f"Title: {item.title}"]
    if item.url:
        research.append(f"URL: {item.url}")
    if item.summary:
        research.append(f"Summary: {item.summary[:2000]}")
    if item.rationale:
        research.append(f"Grader's rationale: {item.rationale[:1500]}")
    if brief is not None and brief.brief:
        research.append(f"Verified implementation brief:\n{brief.brief[:4000]}")
    parts = [
        f"Research item `{item.item_id}` ({pick_reason}):",
        f"Grade: {grade_text(item)} · category: {item.category or menu_proposer.item_category(item)}",
        untrusted.block("research-item", "\n".join(research)),
    ]
    for rel, text in files.items():
        parts.append(f"\nOutline of {rel} ({len(text.splitlines())} lines):\n{outline(text)}")
    parts.append("\nImplement this item in both scripts, then call submit_proposal.")
    return "\n".join(parts)


# --------------------------------------------------------------------------- result
@dataclass
class ProposeResult:
    proposal: Proposal
    pushed: bool
    pick: Pick | None = None
    report: ValidationReport | None = None
    diff: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.proposal.status in ("opened", "dry-run")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "pushed": self.pushed,
            "pick": self.pick.to_dict() if self.pick else None,
            "proposal": self.proposal.to_dict(),
        }


@dataclass
class Submission:
    tool_id: str
    data: dict[str, Any]


@dataclass
class Plan:
    pick: Pick
    base: str
    originals: dict[str, str]
    brief: VerifiedBrief | None
    use_llm: bool


@dataclass
class Dialogue:
    """One experimenter conversation; it can cross jobs (:mod:`bot.agent.stages` stores it)."""

    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    attempts: int = 0  # submissions validated, over the whole proposal
    job_attempts: int = 0  # submissions validated in this process (the limit is MAX_ATTEMPTS)
    turns: int = 0  # model turns in this process
    nudged: bool = False
    max_attempts: int = MAX_ATTEMPTS  # submissions this process validates before it gives up
    last_data: dict[str, Any] = field(default_factory=dict)
    last_report: ValidationReport | None = None


@dataclass
class Suspended:
    """A submission passed the validator of this process: ``pending`` holds the tool results of
    that turn other than the submission's own (the next user message must carry them)."""

    submission: Submission
    candidate: Candidate
    report: ValidationReport
    pending: list[dict[str, Any]]


@dataclass
class Ended:
    """The conversation ended without a candidate: ``crash``, ``stopped`` or ``declined``."""

    status: str
    reason: str
    data: dict[str, Any]
    candidate: Candidate
    report: ValidationReport | None


def _blocks(message: Any) -> list[dict[str, Any]]:
    """An SDK message's content as plain request blocks."""
    out: list[dict[str, Any]] = []
    for b in message.content:
        kind = getattr(b, "type", None)
        if kind == "text":
            out.append({"type": "text", "text": b.text})
        elif kind == "tool_use":
            out.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
    return out


# --------------------------------------------------------------------------- the experimenter
class Experimenter:
    def __init__(
        self,
        root: Path | str,
        settings: Settings,
        *,
        forge: ExperimentForge | None,
        llm: LLM | None = None,
        validator: Validator | None = None,
        smoke_data: Path | str | None = None,
    ):
        self.root = Path(root)
        self.settings = settings
        self.forge = forge
        self.llm = llm
        self.validator = validator or Validator(self.root, settings, smoke_data=smoke_data)
        self.archive = ProposalArchive(settings.path("state_dir", self.root), self.root)
        self.state = ResearchState(settings.path("state_dir", self.root))

    # ------------------------------------------------------------------ helpers
    def base_ref(self) -> str:
        return self.settings.experimenter_base_branch or "HEAD"

    def base_branch_name(self) -> str:
        if self.settings.experimenter_base_branch:
            return self.settings.experimenter_base_branch
        name = gitops.git(self.root, "rev-parse", "--abbrev-ref", "HEAD").strip()
        return "main" if name == "HEAD" else name

    def program_text(self, base: str) -> str:
        """program.md as committed at ``base`` (the default branch), never the working copy: a
        research run may have injected changes there that, in review mode, wait in the research
        pull request. Only reviewed text reaches the model."""
        rel = Path(self.settings.program_path).as_posix()
        try:
            return gitops.show_file(self.root, base, rel)
        except ExperimentError:
            return "(no program.md)"

    def reviewed_items(self, base: str) -> set[str] | None:
        """Review mode: the item ids that program.md at ``base`` lists (RESEARCH and VERIFIED);
        the research state reaches the default branch unreviewed, so only these may be picked.
        None in commit mode (every graded item may be)."""
        if self.settings.research_review != "pr":
            return None
        from bot.program_changes import parse

        items = parse(self.program_text(base)).items
        return {k for name in ("RESEARCH", "VERIFIED") for k in items[name] if not k.startswith("title:")}

    def check_base_is_reviewed(self) -> None:
        """Refuse to start from the research review branch (unreviewed program.md)."""
        review_branch = self.settings.research_review_branch
        name = (
            self.settings.experimenter_base_branch
            or gitops.git(self.root, "rev-parse", "--abbrev-ref", "HEAD").strip()
        )
        if name == review_branch:
            raise ExperimentError(
                f"the experimenter starts from the default branch, not from the research review branch "
                f"{review_branch!r} (its program.md is not reviewed yet); check out the default branch",
                path=str(self.root),
            )

    def tried(self, graded: Sequence[GradedItem]) -> set[str]:
        ledger = Ledger.load(self.settings.path("results_path", self.root))
        return self.archive.tried_items() | ledger_item_refs(ledger, [g.item_id for g in graded])

    def spent_today(self) -> float:
        return self.archive.spend_on(clock.now().date())

    def _candidate(self, ws: Workspace, base: str, mlx_only: bool) -> Candidate:
        files = ws.current()
        changed = ws.changed()
        diff = ""
        if changed:
            tree = gitops.build_tree(self.root, base, changed)
            diff = gitops.diff_trees(self.root, base, tree)
        return Candidate(base, files, dict(ws.originals), diff, mlx_only)

    # ------------------------------------------------------------------ main entry
    def plan(
        self, *, from_item: str | None = None, max_usd: float | None = None, offline_mode: bool = False
    ) -> Plan:
        """Everything decided before the first model turn: the base commit, the item, the base
        scripts, its verified brief, and (LLM) the spend cap of this proposal set on the meter."""
        validate_settings(self.settings)  # built directly, it skipped load_settings
        if not gitops.is_repo(self.root):
            raise ExperimentError("not a git repository", path=str(self.root))
        self.check_base_is_reviewed()
        graded = self.state.graded()
        ledger = Ledger.load(self.settings.path("results_path", self.root))
        base = gitops.rev_parse(self.root, self.base_ref())
        if not base:
            raise ExperimentError(f"cannot resolve the base {self.base_ref()!r}", path=str(self.root))
        reviewed = self.reviewed_items(base)
        candidates = graded
        if reviewed is not None and not from_item:
            candidates = [g for g in graded if g.item_id in reviewed]
            if graded and not candidates:
                raise ExperimentError(
                    "review mode: no graded item is listed in program.md on the default branch yet "
                    "(new items wait in the research pull request until it is merged)",
                    path=str(self.root),
                )
        pick = select_item(
            candidates, self.tried(graded), from_item=from_item, score=frontier_scorer(ledger, graded)
        )
        originals = {rel: gitops.show_file(self.root, base, rel) for rel in TRAINING_SCRIPTS}
        briefs = {
            b.item_id: b
            for b in self.state.verified()
            if reviewed is None or b.item_id in reviewed or from_item
        }
        use_llm = self.llm is not None and not offline_mode
        if use_llm:
            cap = max_usd
            if cap is None:
                current = self.llm.meter.max_usd  # type: ignore[union-attr]
                cap = self.settings.experimenter_max_usd if current is None else float(current)
            left_today = max(0.0, self.settings.experimenter_daily_usd - self.spent_today())
            budget = min(cap, left_today)
            if budget <= 0:
                raise BudgetBlocked(
                    f"the experimenter's daily LLM cap (${self.settings.experimenter_daily_usd:.2f}) is spent"
                )
            self.llm.meter.max_usd = budget  # type: ignore[union-attr]
        return Plan(pick, base, originals, briefs.get(pick.item.item_id), use_llm)

    def propose(
        self,
        *,
        from_item: str | None = None,
        max_usd: float | None = None,
        offline_mode: bool = False,
        dry_run: bool = False,
    ) -> ProposeResult:
        plan = self.plan(from_item=from_item, max_usd=max_usd, offline_mode=offline_mode)
        with tempfile.TemporaryDirectory(prefix="pgolf-propose-") as tmp:
            ws = Workspace.create(Path(tmp) / "ws", plan.originals)
            if plan.use_llm:
                return self._propose_llm(ws, plan.pick, plan.base, plan.brief, dry_run)
            return self._propose_offline(ws, plan.pick, plan.base, dry_run)

    # ------------------------------------------------------------------ offline path
    def _proposal(self, pick: Pick, base: str, proposer: str, data: Mapping[str, Any]) -> Proposal:
        item = pick.item
        title = str(data.get("title") or item.title)
        taken = self.archive.slugs()
        return Proposal(
            slug=unique_slug(title, taken, self.root),
            status="crash",
            item_id=item.item_id,
            item_title=item.title,
            item_grade=grade_text(item),
            title=title,
            category=menu_proposer.normalise_category(str(data.get("category") or ""))
            or menu_proposer.item_category(item),
            proposer=proposer,
            hypothesis=str(data.get("hypothesis") or ""),
            change=str(data.get("change") or ""),
            expected_bytes=str(data.get("expected_bytes") or ""),
            expected_step_time=str(data.get("expected_step_time") or ""),
            expected_val_bpb=str(data.get("expected_val_bpb") or ""),
            mlx_only=bool(data.get("mlx_only") or False),
            mlx_only_reason=str(data.get("mlx_only_reason") or ""),
            base_sha=base,
        )

    def offline_edit(self, ws: Workspace, pick: Pick) -> tuple[dict[str, Any], str] | None:
        """The offline menu's change applied to ``ws``: ``(submission data, menu key)``, or None
        when the menu has nothing untried left."""
        tried_keys = {str(p.extra.get("menu_key")) for p in self.archive.all() if p.extra.get("menu_key")}
        change = menu_proposer.plan_change(ws, pick.item, tried_keys)
        if change is None:
            return None
        menu_proposer.apply_change(ws, change)
        data = {
            "title": change.title,
            "category": change.category,
            "hypothesis": f"{pick.item.title}: {change.entry.why}",
            "change": change.change,
            "expected_bytes": change.entry.expected_bytes,
            "expected_step_time": change.entry.expected_step_time,
            "expected_val_bpb": change.entry.expected_val_bpb,
        }
        return data, change.entry.key

    def _propose_offline(self, ws: Workspace, pick: Pick, base: str, dry_run: bool) -> ProposeResult:
        edit = self.offline_edit(ws, pick)
        if edit is None:
            proposal = self._proposal(pick, base, "offline", {"title": pick.item.title})
            proposal.status = "declined"
            proposal.reason = OFFLINE_EXHAUSTED
            self.archive.save(proposal)
            return ProposeResult(proposal, False, pick)
        data, key = edit
        proposal = self._proposal(pick, base, "offline", data)
        proposal.extra["menu_key"] = key
        candidate = self._candidate(ws, base, False)
        report = self.validator.validate(candidate)
        proposal.attempts = 1
        proposal.checks = report.to_list()
        return self._finish(proposal, candidate, report, pick, dry_run, ws.changed())

    # ------------------------------------------------------------------ LLM path
    def opening_messages(
        self,
        pick: Pick,
        base: str,
        brief: VerifiedBrief | None,
        originals: Mapping[str, str],
        extra: str = "",
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(system, messages)`` of a new conversation. program.md holds web-derived and
        model-written text: it is data in the user turn (a declared-untrusted block, the cached
        prefix), never system text; so is ``extra`` (e.g. the outcomes of earlier proposals)."""
        system = [{"type": "text", "text": SYSTEM_RULES + "\n\n" + untrusted.NOTE}]
        content: list[dict[str, Any]] = [
            untrusted.text_block("program.md", self.program_text(base), cache=True),
            {"type": "text", "text": item_message(pick.item, brief, originals, pick.reason)},
        ]
        if extra:
            content.append({"type": "text", "text": extra})
        return system, [{"role": "user", "content": content}]

    def earlier_outcomes(self, limit: int = EARLIER) -> str:
        """What the last proposals came to (status, the check that stopped them, the reason), as a
        declared-untrusted block: the verdicts of earlier runs teach the next conversation."""
        recent = self.archive.latest()[-limit:]
        if not recent:
            return ""
        lines = []
        for p in recent:
            failed = next((c.get("name") for c in p.checks if not c.get("ok")), "")
            reason = " ".join((p.reason or "").split())[:300]
            lines.append(
                f"- {p.title or p.item_title} [{p.status}]"
                + (f" failed at {failed}" if failed else "")
                + (f": {reason}" if reason else "")
            )
        return (
            "Earlier proposals and their validation outcomes (avoid repeating their failures):\n"
            + untrusted.block("earlier-proposals", "\n".join(lines))
        )

    def _propose_llm(
        self, ws: Workspace, pick: Pick, base: str, brief: VerifiedBrief | None, dry_run: bool
    ) -> ProposeResult:
        llm = self.llm
        assert llm is not None
        system, messages = self.opening_messages(pick, base, brief, ws.originals, self.earlier_outcomes())
        dlg = Dialogue(system, messages)
        proposer = f"anthropic:{llm.model}"
        out = self.converse(ws, base, dlg, self.validator)
        if isinstance(out, Ended):
            proposal = self._proposal(pick, base, proposer, out.data or {"title": pick.item.title})
            proposal.status = out.status
            proposal.reason = out.reason
            proposal.attempts = dlg.attempts
            proposal.checks = out.report.to_list() if out.report else []
            return self._record_failure(proposal, out.candidate, pick, out.report, dlg.messages)
        dlg.messages.append(
            {
                "role": "user",
                "content": [
                    *out.pending,
                    _result(out.submission.tool_id, "All checks passed. The PR will be opened.", False),
                ],
            }
        )
        proposal = self._proposal(pick, base, proposer, out.submission.data)
        proposal.attempts = dlg.attempts
        proposal.checks = out.report.to_list()
        proposal.cost_usd = round(llm.meter.usd, 6)
        proposal.usage = llm.meter.to_dict()
        return self._finish(proposal, out.candidate, out.report, pick, dry_run, ws.changed(), dlg.messages)

    def converse(self, ws: Workspace, base: str, dlg: Dialogue, validator: Validator) -> Ended | Suspended:
        """The tool-use loop: the model edits ``ws`` until a submission passes ``validator``
        (:class:`Suspended`: the caller decides what happens next — open the PR in-process, or
        hand the candidate to the sandboxed ``check`` job) or the conversation ends
        (:class:`Ended`). A failed validation goes back to the model as the error
        ``tool_result`` of its ``submit_proposal`` call while ``dlg.job_attempts`` is under
        ``dlg.max_attempts`` (:data:`MAX_ATTEMPTS` by default)."""
        llm = self.llm
        assert llm is not None
        s = self.settings

        def stop(status: str, reason: str) -> Ended:
            candidate = self._candidate(ws, base, bool(dlg.last_data.get("mlx_only")))
            return Ended(status, reason, dict(dlg.last_data), candidate, dlg.last_report)

        while True:
            dlg.turns += 1
            if dlg.turns > s.experimenter_max_turns * dlg.max_attempts:
                return stop("crash", f"the model used {dlg.turns - 1} turns without a valid submission")
            params = {
                "model": llm.model,
                "max_tokens": s.experimenter_max_tokens,
                "system": dlg.system,
                "tools": TOOLS,
                "messages": dlg.messages,
            }
            try:
                message = llm.create_message(params, what="experimenter turn")
            except BudgetBlocked as exc:
                return stop("stopped", f"spend cap reached: {exc}")
            except anthropic.APIError as exc:  # retries (bot.llm) are exhausted, or a 4xx
                status = getattr(exc, "status_code", None)
                return stop("stopped", f"the Anthropic API failed ({status or type(exc).__name__}): {exc}")
            blocks = _blocks(message)
            dlg.messages.append(
                {"role": "assistant", "content": blocks or [{"type": "text", "text": "(empty)"}]}
            )
            uses = [b for b in blocks if b["type"] == "tool_use"]
            if not uses:
                text = " ".join(b["text"] for b in blocks if b["type"] == "text").strip()
                if not ws.changed():
                    return Ended(
                        "declined",
                        text[:2000] or "the model made no change and gave no reason",
                        {},
                        self._candidate(ws, base, False),
                        None,
                    )
                if dlg.nudged:
                    return stop("crash", "the model stopped without calling submit_proposal")
                dlg.nudged = True
                dlg.messages.append(
                    {
                        "role": "user",
                        "content": "You edited the scripts but did not call submit_proposal. Call it now.",
                    }
                )
                continue
            results: list[dict[str, Any]] = []
            submission: Submission | None = None
            for use in uses:
                if use["name"] == "submit_proposal" and submission is None:
                    raw = use["input"]
                    submission = Submission(use["id"], dict(raw) if isinstance(raw, Mapping) else {})
                    continue
                if use["name"] == "submit_proposal":
                    text, is_error = "error: submit_proposal was called twice in one turn; ignored", True
                else:
                    text, is_error = run_tool(ws, use["name"], use["input"])
                results.append(
                    {"type": "tool_result", "tool_use_id": use["id"], "content": text, "is_error": is_error}
                )
            if submission is not None:
                problem = _submission_problem(submission.data)
                if problem:
                    results.append(_result(submission.tool_id, f"error: {problem}", True))
                    dlg.messages.append({"role": "user", "content": results})
                    continue
                dlg.last_data = submission.data
                dlg.attempts += 1
                dlg.job_attempts += 1
                candidate = self._candidate(ws, base, bool(submission.data.get("mlx_only")))
                report = validator.validate(candidate)
                dlg.last_report = report
                if report.ok:
                    return Suspended(submission, candidate, report, results)
                if dlg.job_attempts >= dlg.max_attempts:
                    times = "twice" if dlg.job_attempts == 2 else f"{dlg.job_attempts} times"
                    return stop("crash", f"validation failed {times}; last: {report.message()}")
                results.append(
                    _result(
                        submission.tool_id,
                        report.message()
                        + "\n\nFix this (one more attempt), then call submit_proposal again.",
                        True,
                    )
                )
            dlg.messages.append({"role": "user", "content": results})

    # ------------------------------------------------------------------ outcomes
    def _record_failure(
        self,
        proposal: Proposal,
        candidate: Candidate,
        pick: Pick,
        report: ValidationReport | None,
        messages: list[dict[str, Any]],
    ) -> ProposeResult:
        if self.llm is not None and proposal.proposer.startswith("anthropic:"):
            proposal.cost_usd = round(self.llm.meter.usd, 6)
            proposal.usage = self.llm.meter.to_dict()
        proposal.files = candidate.changed
        self.archive.save(proposal, candidate.diff or None)
        return ProposeResult(proposal, False, pick, report, candidate.diff, messages)

    def _finish(
        self,
        proposal: Proposal,
        candidate: Candidate,
        report: ValidationReport,
        pick: Pick,
        dry_run: bool,
        changed: dict[str, str],
        messages: list[dict[str, Any]] | None = None,
    ) -> ProposeResult:
        messages = messages or []
        proposal.files = candidate.changed
        if not report.ok:
            proposal.status = "crash"
            proposal.reason = report.message()
            return self._record_failure(proposal, candidate, pick, report, messages)
        proposal.patch_path = self.archive.write_patch(proposal.slug, candidate.diff)
        if dry_run or self.forge is None:
            proposal.status = "dry-run"
            proposal.reason = (
                "dry run: validated, not pushed" if dry_run else "no forge configured: not pushed"
            )
            self.archive.save(proposal)
            return ProposeResult(proposal, False, pick, report, candidate.diff, messages)
        try:
            published = publish(
                self.root,
                self.forge,
                proposal,
                changed,
                base_branch=self.base_branch_name(),
                item_url=pick.item.url,
            )
        except ExperimentError as exc:
            proposal.status = "crash"
            proposal.reason = f"publishing failed: {exc}"
            self.archive.save(proposal)
            raise
        proposal.status = "opened"
        proposal.pr = published.pr.number
        proposal.pr_url = published.pr.url
        self.archive.save(proposal)
        return ProposeResult(proposal, True, pick, report, candidate.diff, messages)


def _result(tool_id: str, text: str, is_error: bool) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": text, "is_error": is_error}


def _submission_problem(data: Mapping[str, Any]) -> str:
    missing = [
        k
        for k in ("item_id", "title", "category", "hypothesis", "change")
        if not str(data.get(k) or "").strip()
    ]
    if missing:
        return f"submit_proposal is missing {', '.join(missing)}"
    if data.get("mlx_only") and not str(data.get("mlx_only_reason") or "").strip():
        return "mlx_only is set: give mlx_only_reason"
    return ""


def propose(
    root: Path | str,
    settings: Settings,
    *,
    forge: ExperimentForge | None,
    llm: LLM | None = None,
    validator: Validator | None = None,
    smoke_data: Path | str | None = None,
    from_item: str | None = None,
    max_usd: float | None = None,
    offline_mode: bool = False,
    dry_run: bool = False,
) -> ProposeResult:
    """One proposal end to end (see the module docs)."""
    exp = Experimenter(root, settings, forge=forge, llm=llm, validator=validator, smoke_data=smoke_data)
    return exp.propose(from_item=from_item, max_usd=max_usd, offline_mode=offline_mode, dry_run=dry_run)
