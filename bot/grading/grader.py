"""The grader: research items → rubric grades in the research state, at the lowest cost.

One run (:func:`grade`):

1. reads the raw items and the latest grades, builds the cycle's prompt (:mod:`.prompt`);
2. **skips unchanged items** (``grading_skip_unchanged``): same content hash, same grader, not
   ungradable, and no *material* context change for the item (:func:`material_change`): the
   rubric/instructions/model are the same, our best RunPod val_bpb and the best accepted
   competitor record have not moved by more than the noise floor, and no experiment of the
   item's category was added to the ledger since its grade. Any other context change (an
   unrelated ledger row, new calibration notes) re-grades nothing;
   items in a batch that an earlier run submitted and has not collected yet wait for it;
3. grades the rest — offline (:mod:`.offline`) without an API key, with ``--offline``, or when
   the API turns out to be unavailable; otherwise with Claude:

   * several items per request (``grading_items_per_request``), after one cached prefix
     (rubric + context, ``cache_control``; ``grading_use_cache``);
   * through the Message Batches API (``grading_use_batches``, 50 % off): submit, poll until
     ``ended``, read the JSONL results; errored (transient), expired and canceled entries are
     re-sent once through the Messages API, ``invalid_request_error`` entries become ungradable;
   * each answer is a ``record_grades`` tool call validated against the rubric
     (:meth:`Rubric.validate`); items whose grade is missing, malformed or out of range are
     re-asked once, with the reason, and then recorded as ``ungradable`` with that reason —
     never coerced;
   * a per-run budget (``--max-usd`` / ``grading_max_usd``) and a daily cap across runs
     (``grading_daily_max_usd``, recorded in ``grading_state.json``): no request is sent whose
     worst-case cost could overrun either; the run stops cleanly, what is graded is kept and the
     rest waits;
   * a batch's id is saved (``grading_state.json``) before it is polled; a later run collects a
     batch an earlier run submitted (and paid for) before sending anything new;

4. appends the grades to ``graded.jsonl`` (after every request, so nothing paid for is lost),
   and one line per run to ``grading_runs.jsonl`` with the token breakdown and dollars, and the
   graders that really ran (``graders``: grades per grader; ``mode``/``model`` name the grader
   that graded, "offline" after a fall-back).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anthropic

from bot import clock
from bot.config import Settings
from bot.errors import GradingError
from bot.fileio import atomic_write_bytes, file_lock
from bot.grading import frontier, offline_grader
from bot.grading.ledger_state import GradingState
from bot.grading.prompt import TOOL_NAME, Prompt, build_context, build_prompt, content_hash, graded_item
from bot.ledger import Ledger
from bot.llm import LLM, estimate_cost, make_llm
from bot.state import GradedItem, ResearchItem, ResearchState, append_jsonl, latest_by

RUNS_LOG = "grading_runs.jsonl"
FATAL_BATCH_ERRORS = frozenset({"invalid_request_error", "authentication_error", "permission_error"})


class ApiUnavailable(Exception):
    """The API cannot be used this run (auth refused, retries exhausted, unreachable)."""


@dataclass
class GradeRun:
    run_id: str
    mode: str  # offline | messages | batch
    model: str
    context_version: str
    started_at: str
    considered: int = 0
    skipped: int = 0
    graded: int = 0
    ungradable: int = 0
    left: int = 0  # not graded because the budget stopped the run
    retried: int = 0  # items re-asked after an invalid answer or a failed batch entry
    stopped: str = ""  # "" | "budget" | "daily cap" | "batch pending"
    fell_back: str = ""  # why the run switched to the offline grader
    graders: dict[str, int] = field(default_factory=dict)  # grades per grader that really ran
    regraded_for: dict[str, int] = field(default_factory=dict)  # why graded items were re-graded
    collected: list[str] = field(default_factory=list)  # earlier runs' batches collected now
    pending_batches: list[str] = field(default_factory=list)  # batches left for a later run
    batch: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    grades: list[GradedItem] = field(default_factory=list)

    def to_dict(self, with_grades: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "grades"}
        out["tiers"] = {t: sum(1 for g in self.grades if g.tier == t) for t in ("A", "B", "C", "ungradable")}
        if with_grades:
            out["grades"] = [
                {
                    "item_id": g.item_id,
                    "title": g.title,
                    "tier": g.tier,
                    "total": g.total,
                    "max_total": g.max_total,
                    "scores": g.scores,
                    "category": g.category,
                    "grader": g.grader,
                    "error": g.error,
                }
                for g in self.grades
            ]
        return out


# ------------------------------------------------------------------------- materiality
@dataclass
class Basis:
    """What an item's grade depends on in the context, beyond its own text (see module doc)."""

    static: str  # hash of the model, the tool schema (rubric) and the instructions
    best_bpb: float | None  # our best RunPod val_bpb
    sota: float | None  # the best accepted competitor record
    tried: dict[str, int]  # experiments per technique category in the ledger
    floor: float  # bpb moves smaller than this are noise

    def for_category(self, category: str) -> dict[str, Any]:
        return {
            "static": self.static,
            "best_bpb": self.best_bpb,
            "sota": self.sota,
            "category": category,
            "tried": self.tried.get(category, 0),
        }


MIN_FLOOR_BPB = 0.001


def make_basis(prompt: Prompt, ledger: Ledger, fr: frontier.Frontier, baseline_window: int) -> Basis:
    digest = hashlib.sha256()
    for part in (
        prompt.tool.get("name", ""),
        json.dumps(prompt.tool, sort_keys=True),
        prompt.system[0]["text"],
    ):
        digest.update(str(part).encode("utf-8") + b"\x00")
    digest.update(str(prompt.context.rubric.to_dict()).encode("utf-8"))
    ctx = prompt.context
    sota = ctx.competitors[0]["val_bpb"] if ctx.competitors else None
    rel = ledger.noise_floor(baseline_window)
    ref = sota or ctx.best_bpb or 1.2244
    floor = max(MIN_FLOOR_BPB, rel * ref) if rel else 2 * MIN_FLOOR_BPB
    return Basis(
        static=digest.hexdigest()[:16],
        best_bpb=ctx.best_bpb,
        sota=sota,
        tried={name: c.tried for name, c in fr.categories.items()},
        floor=floor,
    )


def material_change(old: Mapping[str, Any] | None, basis: Basis, category: str) -> str:
    """Why the context change matters to an item graded under ``old`` ("" = it does not)."""
    if not old:
        return "graded before context bases were recorded"
    now = basis.for_category(category)
    if old.get("static") != now["static"]:
        return "rubric, instructions or model changed"
    for key, what in (("best_bpb", "our best val_bpb"), ("sota", "the best competitor record")):
        a, b = old.get(key), now[key]
        if (a is None) != (b is None) or (a is not None and b is not None and abs(a - b) > basis.floor):
            return f"{what} moved beyond the noise floor ({basis.floor:.4f} bpb)"
    if int(old.get("tried", 0) or 0) < int(now["tried"]):
        return f"a {category} experiment was added to the ledger"
    return ""


# ------------------------------------------------------------------------------- answers
def _attr(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


class Validator(Protocol):
    def validate(self, raw: Any) -> tuple[dict[str, int], str, str]: ...


def parse_answer(
    content: Sequence[Any], item_ids: Sequence[str], rubric: Validator
) -> tuple[dict[str, tuple[dict[str, int], str, str]], dict[str, str]]:
    """Validate one answer: (good grades by item id, reasons by item id for the rest)."""
    calls = [b for b in content if _attr(b, "type") == "tool_use" and _attr(b, "name") == TOOL_NAME]
    if not calls:
        texts = " ".join(str(_attr(b, "text") or "") for b in content if _attr(b, "type") == "text")
        reason = f"no {TOOL_NAME} tool call in the answer" + (f" (text: {texts[:80]!r})" if texts else "")
        return {}, {i: reason for i in item_ids}
    payload = _attr(calls[0], "input")
    grades = payload.get("grades") if isinstance(payload, Mapping) else None
    if not isinstance(grades, list):
        return {}, {i: "the tool input has no 'grades' list" for i in item_ids}
    by_id: dict[str, list[Any]] = {}
    for g in grades:
        iid = g.get("item_id") if isinstance(g, Mapping) else None
        if isinstance(iid, str):
            by_id.setdefault(iid, []).append(g)
    good: dict[str, tuple[dict[str, int], str, str]] = {}
    bad: dict[str, str] = {}
    for iid in item_ids:
        found = by_id.get(iid, [])
        if not found:
            bad[iid] = "no grade for this item in the answer"
        elif len(found) > 1:
            bad[iid] = f"{len(found)} grades for this item"
        else:
            try:
                good[iid] = rubric.validate(dict(found[0]))
            except ValueError as exc:
                bad[iid] = str(exc)
    return good, bad


# ------------------------------------------------------------------------------- the run
class Grader:
    def __init__(
        self,
        settings: Settings,
        prompt: Prompt,
        run: GradeRun,
        llm: LLM | None,
        sink: Callable[[list[GradedItem]], object],
        fr: frontier.Frontier,
        basis: Basis | None = None,
        gstate: GradingState | None = None,
    ):
        self.settings = settings
        self.prompt = prompt
        self.run = run
        self.llm = llm
        self.sink = sink
        self.frontier = fr
        self.basis = basis
        self.gstate = gstate
        self.recorded_usd = 0.0
        self.label = f"anthropic:{settings.grader_model}" if llm else offline_grader.GRADER

    def record_spend(self, day: str | None = None) -> None:
        """Add what the run spent since the last call to today's total (daily cap), or to
        ``day``'s (a batch collected after midnight: the day that submitted and reserved it)."""
        if self.llm is None or self.gstate is None:
            return
        delta = self.llm.meter.usd - self.recorded_usd
        if delta > 0:
            self.gstate.add_spend(delta, day)
            self.recorded_usd = self.llm.meter.usd

    # -- records
    def _emit(self, grades: list[GradedItem]) -> None:
        self.record_spend()
        for g in grades:
            self.run.graders[g.grader] = self.run.graders.get(g.grader, 0) + 1
            if self.basis is not None and g.tier != "ungradable":
                g.extra["basis"] = self.basis.for_category(g.category)
            if g.tier != "ungradable":
                bonus = self.frontier.bonus(g.category)
                g.extra["selection_bonus"] = bonus
                g.extra["selection_score"] = round(frontier.selection_score(g, self.frontier), 3)
        if grades:
            self.sink(grades)
        self.run.grades.extend(grades)
        self.run.graded += sum(1 for g in grades if g.tier != "ungradable")
        self.run.ungradable += sum(1 for g in grades if g.tier == "ungradable")

    def _graded(
        self, item: ResearchItem, scores: dict[str, int], category: str, rationale: str
    ) -> GradedItem:
        return graded_item(
            item,
            scores,
            self.prompt.rubric,
            grader=self.label,
            rationale=rationale.strip(),
            category=category,
            context_version=self.prompt.version,
            graded_at=clock.stamp(),
        )

    def _ungradable(self, item: ResearchItem, reason: str) -> GradedItem:
        return GradedItem(
            item_id=item.id,
            title=item.title,
            url=item.url,
            source=item.source,
            max_total=self.prompt.rubric.max_total,
            tier="ungradable",
            grader=self.label,
            content_hash=content_hash(item),
            context_version=self.prompt.version,
            graded_at=clock.stamp(),
            error=reason,
            summary=item.summary[:500],
        )

    def offline(self, items: Sequence[ResearchItem]) -> None:
        grades = offline_grader.grade_all(
            items,
            self.prompt.context,
            self.frontier,
            context_version=self.prompt.version,
            graded_at=clock.stamp(),
        )
        self._emit(grades)

    # -- Messages API
    def _params(self, chunk: Sequence[ResearchItem], note: str = "") -> dict[str, Any]:
        return self.prompt.params(
            self.settings.grader_model,
            self.settings.grader_max_tokens,
            chunk,
            cache=self.settings.grading_use_cache,
            note=note,
        )

    def _send(self, chunk: Sequence[ResearchItem], note: str = "") -> list[Any] | None:
        """One Messages request; None when the budget does not allow it."""
        assert self.llm is not None
        params = self._params(chunk, note)
        if not self.llm.meter.can_afford(estimate_cost(params)):
            return None
        try:
            message = self.llm.create_message(params, what=f"grade {len(chunk)} item(s)")
        except anthropic.BadRequestError as exc:
            raise GradingError(f"the API refused the grading request: {exc.message}") from None
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
            raise ApiUnavailable(_describe(exc)) from None
        return list(message.content)

    def messages(
        self, chunks: Sequence[Sequence[ResearchItem]], reasons: Mapping[str, str] | None = None
    ) -> None:
        """Grade ``chunks`` through the Messages API; ``reasons`` marks items already re-asked."""
        for n, chunk in enumerate(chunks):
            content = self._send(chunk, _retry_note(chunk, reasons) if reasons else "")
            if content is None:
                self._stop_for_budget(sum(len(c) for c in chunks[n:]))
                return
            good, bad = parse_answer(content, [i.id for i in chunk], self.prompt.rubric)
            by_id = {i.id: i for i in chunk}
            out = [self._graded(by_id[iid], *v) for iid, v in good.items()]
            if bad and reasons is None:
                self.run.retried += len(bad)
                retry = [by_id[iid] for iid in bad]
                content2 = self._send(retry, _retry_note(retry, bad))
                if content2 is None:
                    self._emit(out)
                    self._stop_for_budget(len(retry) + sum(len(c) for c in chunks[n + 1 :]))
                    return
                good2, bad2 = parse_answer(content2, [i.id for i in retry], self.prompt.rubric)
                out += [self._graded(by_id[iid], *v) for iid, v in good2.items()]
                out += [
                    self._ungradable(by_id[iid], f"invalid answer twice: {bad[iid]}; then {r}")
                    for iid, r in bad2.items()
                ]
            elif bad and reasons is not None:
                out += [
                    self._ungradable(by_id[iid], f"invalid answer twice: {reasons.get(iid, '?')}; then {r}")
                    for iid, r in bad.items()
                ]
            self._emit(out)

    def collect(self, items: Mapping[str, ResearchItem]) -> set[str]:
        """Collect the batches earlier runs submitted (and paid for). Returns the ids of items
        still waiting in a batch that has not ended: they are not sent again this run."""
        assert self.llm is not None
        if self.gstate is None:
            return set()
        waiting: set[str] = set()
        for rec in self.gstate.pending():
            bid = str(rec["id"])
            requests = {str(k): [str(i) for i in v] for k, v in dict(rec.get("requests") or {}).items()}
            try:
                batch = self.llm.retrieve_batch(bid)
                if batch.processing_status != "ended":
                    waiting |= {iid for ids in requests.values() for iid in ids}
                    self.run.pending_batches.append(bid)
                    continue
                self.record_spend()  # anything earlier is today's
                entries = list(self.llm.batch_results(bid))
                self.record_spend(str(rec.get("created_at") or "")[:10] or None)
            except anthropic.NotFoundError:
                self.run.warnings.append(
                    f"batch {bid} of an earlier run is gone (404); its items are re-graded"
                )
                self.gstate.drop_batch(bid)
                continue
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
                raise ApiUnavailable(_describe(exc)) from None
            by_cid = {cid: [items[i] for i in ids if i in items] for cid, ids in requests.items()}
            self._take_batch(entries, by_cid)
            self.gstate.drop_batch(bid)
            self.run.collected.append(bid)
        return waiting

    def _stop_for_budget(self, left: int) -> None:
        self.run.stopped = "budget"
        self.run.left += left

    # -- Message Batches API
    def batches(self, chunks: Sequence[Sequence[ResearchItem]]) -> None:
        assert self.llm is not None
        meter = self.llm.meter
        requests: list[dict[str, Any]] = []
        by_cid: dict[str, Sequence[ResearchItem]] = {}
        planned = 0.0
        for n, chunk in enumerate(chunks):
            params = self._params(chunk)
            cost = estimate_cost(params, batch=True)
            if not meter.can_afford(planned + cost):
                self._stop_for_budget(sum(len(c) for c in chunks[n:]))
                break
            planned += cost
            cid = f"grade-{n:04d}"
            requests.append({"custom_id": cid, "params": params})
            by_cid[cid] = chunk
        if not requests:
            return
        try:
            batch = self.llm.create_batch(requests)
            self.run.batch = {"id": batch.id, "requests": len(requests)}
            if self.gstate is not None:  # saved before polling: a killed run leaves it to the next
                self.gstate.add_batch(
                    {
                        "id": batch.id,
                        "created_at": clock.stamp(),
                        "estimate_usd": round(planned, 6),
                        "context_version": self.prompt.version,
                        "requests": {cid: [i.id for i in chunk] for cid, chunk in by_cid.items()},
                    }
                )
            ended = self.llm.wait_for_batch(
                batch.id,
                poll_seconds=self.settings.grading_batch_poll_seconds,
                timeout_seconds=self.settings.grading_batch_timeout_seconds,
            )
            self.run.batch["request_counts"] = ended.request_counts.to_dict()
            entries = list(self.llm.batch_results(batch.id))
        except anthropic.BadRequestError as exc:
            raise GradingError(f"the API refused the grading batch: {exc.message}") from None
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
            raise ApiUnavailable(_describe(exc)) from None
        self._take_batch(entries, by_cid)
        if self.gstate is not None:
            self.gstate.drop_batch(batch.id)

    def _take_batch(self, entries: Sequence[Any], by_cid: Mapping[str, Sequence[ResearchItem]]) -> None:
        """Grades from an ended batch's results; failed entries are re-sent (Messages API)."""
        again: list[ResearchItem] = []
        reasons: dict[str, str] = {}
        seen: set[str] = set()
        out: list[GradedItem] = []
        for entry in entries:
            found = by_cid.get(entry.custom_id)
            if found is None:
                self.run.warnings.append(f"batch result for unknown custom_id {entry.custom_id!r} ignored")
                continue
            seen.add(entry.custom_id)
            chunk = found
            by_id = {i.id: i for i in chunk}
            kind = entry.result.type
            if kind == "succeeded":
                good, bad = parse_answer(list(entry.result.message.content), list(by_id), self.prompt.rubric)
                out += [self._graded(by_id[iid], *v) for iid, v in good.items()]
                for iid, r in bad.items():
                    again.append(by_id[iid])
                    reasons[iid] = r
            elif kind == "errored":
                etype = str(_attr(_attr(entry.result.error, "error"), "type") or "error")
                msg = str(_attr(_attr(entry.result.error, "error"), "message") or "")
                if etype in FATAL_BATCH_ERRORS:
                    out += [self._ungradable(i, f"batch entry errored: {etype}: {msg}") for i in chunk]
                else:
                    again += list(chunk)
                    self.run.batch.setdefault("resent", 0)
                    self.run.batch["resent"] += len(chunk)
            else:  # expired | canceled
                again += list(chunk)
                self.run.batch.setdefault("resent", 0)
                self.run.batch["resent"] += len(chunk)
        for cid, chunk in by_cid.items():
            if cid not in seen:
                self.run.warnings.append(f"batch returned no result for {cid}; re-sending")
                again += list(chunk)
        self._emit(out)
        if again:
            self.run.retried += len(again)
            size = max(1, self.settings.grading_items_per_request)
            # Items with an invalid answer get their one retry; failed entries their first answer.
            redo = [i for i in again if i.id in reasons]
            fresh = [i for i in again if i.id not in reasons]
            if redo:
                self.messages([redo[i : i + size] for i in range(0, len(redo), size)], reasons=reasons)
            if fresh:
                self.messages([fresh[i : i + size] for i in range(0, len(fresh), size)])


def _retry_note(chunk: Sequence[ResearchItem], reasons: Mapping[str, str] | None) -> str:
    if not reasons:
        return ""
    lines = [f"- {i.id}: {reasons[i.id]}" for i in chunk if reasons.get(i.id)]
    if not lines:
        return ""
    return (
        "Your previous answer for these items was rejected:\n"
        + "\n".join(lines)
        + f"\nCall {TOOL_NAME} again with one valid entry per item (integers within range)."
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, anthropic.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _write_run_log(path: Path, record: Mapping[str, Any]) -> None:
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with file_lock(path):
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        atomic_write_bytes(path, old + line.encode("utf-8"))


def select(
    items: Sequence[ResearchItem],
    existing: Mapping[str, GradedItem],
    version: str,
    label: str,
    skip: bool,
    basis: Basis | None = None,
    why: dict[str, int] | None = None,
) -> tuple[list[ResearchItem], int]:
    """Items to grade now, most useful first, and how many were skipped as unchanged.

    With a ``basis``, an item whose content and grader are unchanged is re-graded only when the
    context change is material to it (:func:`material_change`); ``why`` counts the reasons.
    Without one, any context version change re-grades.

    Order: never graded (newest first), then changed content or previously ungradable, then
    items whose only change is the grading context, best previous total first — so that a run
    cut short by ``grading_max_items_per_run`` or the budget spends on what matters most.
    """
    ranked: list[tuple[int, float, ResearchItem]] = []
    skipped = 0
    for item in items:
        g = existing.get(item.id)
        same_content = g is not None and g.tier != "ungradable" and g.content_hash == content_hash(item)
        if skip and same_content and g is not None and g.grader == label:
            if g.context_version == version:
                skipped += 1
                continue
            if basis is not None:
                reason = material_change(g.extra.get("basis"), basis, g.category)
                if not reason:
                    skipped += 1
                    continue
                if why is not None:
                    why[reason] = why.get(reason, 0) + 1
        if g is None:
            ranked.append((0, 0.0, item))
        elif not same_content:
            ranked.append((1, 0.0, item))
        else:
            ranked.append((2, -(g.total / g.max_total if g.max_total else 0.0), item))
    ranked.sort(key=lambda r: r[2].published or r[2].fetched_at, reverse=True)  # newest first …
    ranked.sort(key=lambda r: (r[0], r[1]))  # … within each group (the sort is stable)
    return [r[2] for r in ranked], skipped


def grading_llm(
    settings: Settings,
    env: Mapping[str, str],
    max_usd: float | None,
    *,
    offline_only: bool,
    sleep: Callable[[float], None],
) -> tuple[float, LLM | None]:
    """The run's budget (``max_usd`` or ``settings.grading_max_usd``) and the grader model's
    client under it; no client when ``offline_only`` (or when ``make_llm`` has no key)."""
    budget = settings.grading_max_usd if max_usd is None else max_usd
    llm = (
        None
        if offline_only
        else make_llm(settings, env, model=settings.grader_model, max_usd=budget, sleep=sleep)
    )
    return budget, llm


def daily_left(settings: Settings, gstate: GradingState) -> float:
    """Dollars today's cap (``grading_daily_max_usd``) still allows, every run together."""
    return max(0.0, settings.grading_daily_max_usd - gstate.spent_today())


def batches_pending(gstate: GradingState) -> bool:
    return bool(gstate.pending())


def grade(
    root: Path,
    settings: Settings,
    env: Mapping[str, str],
    *,
    max_usd: float | None = None,
    offline_only: bool = False,
    use_batches: bool | None = None,
    limit: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> GradeRun:
    """Grade what needs grading; see the module docstring."""
    state = ResearchState(settings.path("state_dir", root))
    ledger = Ledger.load(settings.path("results_path", root))
    items = latest_by(state.raw_items(), lambda i: i.id)
    existing_list = state.graded()
    existing = {g.item_id: g for g in existing_list}
    ctx = build_context(ledger, existing_list, state.competitors(), settings)
    prompt = build_prompt(ctx, settings.grader_model)
    gstate = GradingState(state.dir)
    run_budget = settings.grading_max_usd if max_usd is None else max_usd
    left_today = daily_left(settings, gstate)
    capped_by_day = not offline_only and left_today < run_budget
    budget, llm = grading_llm(
        settings, env, min(run_budget, left_today), offline_only=offline_only, sleep=sleep
    )
    batches = settings.grading_use_batches if use_batches is None else use_batches
    mode = "offline" if llm is None else ("batch" if batches else "messages")
    run = GradeRun(
        run_id=uuid.uuid4().hex[:12],
        mode=mode,
        model=settings.grader_model if llm else offline_grader.GRADER,
        context_version=prompt.version,
        started_at=clock.stamp(),
        warnings=list(ctx.warnings),
    )
    fr = frontier.compute(ledger, existing_list)
    basis = make_basis(prompt, ledger, fr, settings.baseline_window)
    grader = Grader(
        settings, prompt, run, llm, lambda gs: append_jsonl(state.graded_path, gs), fr, basis, gstate
    )
    waiting: set[str] = set()
    if llm is not None and batches_pending(gstate):
        try:
            waiting = grader.collect({i.id: i for i in items})
        except ApiUnavailable as exc:
            run.warnings.append(f"could not collect earlier batches ({exc}); they stay pending")
            waiting = {iid for b in gstate.pending() for ids in b.get("requests", {}).values() for iid in ids}
        if run.collected:
            existing = {g.item_id: g for g in state.graded()}
    todo, run.skipped = select(
        items,
        existing,
        prompt.version,
        grader.label,
        settings.grading_skip_unchanged,
        basis,
        run.regraded_for,
    )
    if waiting:
        before = len(todo)
        todo = [i for i in todo if i.id not in waiting]
        if before - len(todo):
            run.warnings.append(
                f"{before - len(todo)} item(s) wait for batch(es) {', '.join(run.pending_batches)} "
                "submitted by an earlier run (collected by a later run)"
            )
            run.left += before - len(todo)
            run.stopped = run.stopped or "batch pending"
    cap = settings.grading_max_items_per_run if limit is None else limit
    capped = max(0, len(todo) - cap) if cap else 0
    if capped:
        run.warnings.append(f"{len(todo) - cap} item(s) wait for a later run (at most {cap} per run)")
        run.left += len(todo) - cap
        todo = todo[:cap]
    run.considered = len(items)
    if llm is None:
        grader.offline(todo)
    elif todo and capped_by_day and left_today <= 0:
        run.stopped = "daily cap"
        run.left += len(todo)
        run.warnings.append(
            f"today's grading cap of ${settings.grading_daily_max_usd:.2f} is spent; "
            f"{len(todo)} item(s) wait for tomorrow"
        )
        todo = []
    elif todo:
        size = max(1, settings.grading_items_per_request)
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
        try:
            if batches:
                grader.batches(chunks)
            else:
                grader.messages(chunks)
        except ApiUnavailable as exc:
            done = {g.item_id for g in run.grades}
            rest = [i for i in todo if i.id not in done]
            run.fell_back = str(exc)
            run.warnings.append(f"Anthropic API unavailable ({exc}); {len(rest)} item(s) graded offline")
            grader.label = offline_grader.GRADER
            grader.offline(rest)
    if run.stopped == "budget":
        which = "today's remaining cap" if capped_by_day else "budget"
        run.warnings.append(
            f"{which} of ${budget:.2f} reached; {run.left - capped} item(s) left for the next run"
        )
        if capped_by_day:
            run.stopped = "daily cap"
    # Say which grader really ran: the API grader only if it graded something.
    api = {k: v for k, v in run.graders.items() if k != offline_grader.GRADER}
    if run.graders and not api:
        run.mode, run.model = "offline", offline_grader.GRADER
    elif api and offline_grader.GRADER in run.graders:
        run.mode = f"{run.mode}+offline"
    if llm is not None:
        grader.record_spend()
        llm.close()
        run.cost = llm.meter.to_dict()
        run.cost["retry_log"] = llm.retry_log
    state.dir.mkdir(parents=True, exist_ok=True)
    _write_run_log(state.dir / RUNS_LOG, {**run.to_dict(), "finished_at": clock.stamp()})
    if run.stopped == "budget" and run.graded == 0 and run.ungradable == 0 and todo and not capped_by_day:
        raise GradingError(
            f"budget of ${budget:.2f} is too small for even one grading request; nothing graded "
            f"({len(todo)} item(s) waiting)"
        )
    return run
