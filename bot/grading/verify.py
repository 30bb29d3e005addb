"""Verification of tier-A items: full text, re-grade, corroboration, implementation brief.

For the top ``grading_verify_top`` tier-A items (by selection score, see
:mod:`bot.grading.frontier`) not yet verified in their current content:

1. **full content** — arXiv items: the abstract page ``<arxiv_abs_base_url>/abs/<id>`` (httpx),
   its abstract and comments, then the PDF ``/pdf/<id>`` as text (:mod:`.pdftext`; the abstract
   alone when the PDF is unreadable); other pages: Tavily extract (tavily-python, ``TAVILY_API_KEY``),
   else a plain httpx GET with the HTML stripped;
2. **corroboration** — a Tavily search on the item title (up to 3 other URLs);
3. **re-grade** with the full text and the corroboration, by Claude (a ``record_verification``
   tool call: the rubric dimensions plus the brief's fields, validated like a grade and asked
   again once when invalid) or, offline, by the offline grader on the full text;
4. a **dense implementation brief** — what to change in train_gpt.py, expected effect on bytes,
   step time and val_bpb, risks, evidence — and the score change, written as a
   :class:`~bot.state.VerifiedBrief` to ``verified.jsonl``. program.md's VERIFIED section shows the
   top 5. The offline brief names only what the item itself says (its own sentences about the
   change, bytes, speed, val_bpb and limits; "not stated by the item" otherwise), never a
   category template that may not fit it.

Every brief carries a status (``extra.status`` and its first line): ``verified`` when the full
text was read, ``unverified: full text unreachable`` when only the item's summary was available
— the re-grade then rests on the same text as the original grade and proves nothing more.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx

from bot import clock
from bot.config import Settings
from bot.errors import GradingError
from bot.grading import frontier, offline_grader, taxonomy, untrusted
from bot.grading.grader import daily_left, grading_llm, parse_answer
from bot.grading.ledger_state import GradingState
from bot.grading.pdftext import extract_text
from bot.grading.prompt import GradingContext, Prompt, build_context, build_prompt, content_hash
from bot.ledger import Ledger
from bot.llm import LLM, estimate_cost
from bot.state import GradedItem, ResearchItem, ResearchState, VerifiedBrief, append_jsonl, latest_by

TOOL_NAME = "record_verification"
FULL_TEXT_CHARS = 12000
ARXIV_ID_RE = re.compile(r"(\d{4}\.\d{4,5})(v\d+)?")
BRIEF_FIELDS = ("change", "bytes_effect", "step_time_effect", "val_bpb_effect", "risks")

# Offline briefs: what a change in each category usually touches in train_gpt.py.


@dataclass
class VerifyRun:
    mode: str
    candidates: int = 0
    verified: list[VerifiedBrief] = field(default_factory=list)
    skipped: int = 0
    stopped: str = ""
    warnings: list[str] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)

    @property
    def unverified(self) -> int:
        return sum(1 for b in self.verified if b.extra.get("status") == UNVERIFIED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "candidates": self.candidates,
            "unverified": self.unverified,
            "skipped": self.skipped,
            "stopped": self.stopped,
            "warnings": self.warnings,
            "cost": self.cost,
            "verified": [
                {
                    "item_id": b.item_id,
                    "title": b.title,
                    "score_before": b.score_before,
                    "score_after": b.score_after,
                    "tier": b.tier,
                    "grader": b.grader,
                    "corroboration": b.corroboration,
                    "status": b.extra.get("status", ""),
                }
                for b in self.verified
            ],
        }


VERIFIED = "verified"
UNVERIFIED = "unverified: full text unreachable"


def arxiv_id(item: ResearchItem) -> str:
    if item.arxiv_id:
        return item.arxiv_id
    for text in (
        item.id if item.id.startswith("arxiv:") else "",
        item.url if "arxiv.org" in item.url else "",
    ):
        m = ARXIV_ID_RE.search(text)
        if m:
            return m.group(1)
    return ""


def html_to_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


def arxiv_abstract(page: str) -> str:
    """Title, abstract and comments from an arXiv abstract page."""
    parts = []
    for pattern in (
        r'(?is)<h1 class="title[^"]*">(.*?)</h1>',
        r'(?is)<blockquote class="abstract[^"]*">(.*?)</blockquote>',
        r'(?is)<td class="tablecell comments[^"]*">(.*?)</td>',
    ):
        m = re.search(pattern, page)
        if m:
            parts.append(re.sub(r"^(Title|Abstract):\s*", "", html_to_text(m.group(1))))
    return "\n".join(parts) if parts else html_to_text(page)


class Fetcher:
    """Full text and corroboration, from arXiv (httpx) and Tavily (tavily-python)."""

    def __init__(self, settings: Settings, env: Mapping[str, str], http: httpx.Client | None = None):
        self.settings = settings
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=settings.source_timeout_seconds, follow_redirects=True)
        key = (env.get("TAVILY_API_KEY") or "").strip()
        base = settings.tavily_base_url.strip() or None
        self.tavily: Any = None
        if key:
            from tavily import TavilyClient

            self.tavily = TavilyClient(api_key=key, api_base_url=base)
        self.warnings: list[str] = []

    def full_text(self, item: ResearchItem) -> tuple[str, str, bool]:
        """(text, where it came from, complete); ("", reason, False) when nothing could be
        fetched. ``complete`` is False for an arXiv abstract without its PDF: that is the text
        the item was listed (and graded) with, not the full text."""
        aid = arxiv_id(item)
        if aid:
            base = self.settings.arxiv_abs_base_url.rstrip("/")
            abstract = body = ""
            url = f"{base}/abs/{aid}"
            try:
                r = self.http.get(url)
                r.raise_for_status()
                abstract = arxiv_abstract(r.text)
            except httpx.HTTPError as exc:
                self.warnings.append(f"{item.id}: arXiv page {url} failed: {exc}")
            pdf_url = f"{base}/pdf/{aid}"
            try:
                r = self.http.get(pdf_url)
                r.raise_for_status()
                body = extract_text(r.content)
                if not body:
                    self.warnings.append(f"{item.id}: no readable text in {pdf_url}; abstract only")
            except httpx.HTTPError as exc:
                self.warnings.append(f"{item.id}: arXiv PDF {pdf_url} failed: {exc}")
            if abstract or body:
                where = " + ".join(w for w, t in ((url, abstract), (pdf_url, body)) if t)
                if not body:
                    where += f" (abstract only: {pdf_url} unreachable)"
                text = "\n\n".join(t for t in (abstract, body) if t)[:FULL_TEXT_CHARS]
                return text, where, bool(body)
            return "", "arXiv unreachable", False  # its URL is arxiv.org too: no point trying it again
        if not item.url:
            return "", "no URL", False
        if self.tavily is not None:
            try:
                data = self.tavily.extract(urls=[item.url], format="text")
                for res in data.get("results", []):
                    text = str(res.get("raw_content") or "")
                    if text:
                        return " ".join(text.split())[:FULL_TEXT_CHARS], f"tavily extract {item.url}", True
                failed = data.get("failed_results") or []
                if failed:
                    self.warnings.append(f"{item.id}: Tavily extract failed: {failed[0].get('error', '')}")
            except Exception as exc:  # tavily-python raises plain exceptions and requests errors
                self.warnings.append(f"{item.id}: Tavily extract failed: {type(exc).__name__}: {exc}")
        try:
            r = self.http.get(item.url)
            r.raise_for_status()
            text = html_to_text(r.text)[:FULL_TEXT_CHARS]
            return text, item.url, bool(text)
        except httpx.HTTPError as exc:
            self.warnings.append(f"{item.id}: {item.url} failed: {exc}")
        return "", "fetch failed", False

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def corroborate(self, item: ResearchItem) -> list[dict[str, str]]:
        if self.tavily is None:
            return []
        try:
            data = self.tavily.search(query=item.title[:300], max_results=5)
        except Exception as exc:
            self.warnings.append(f"{item.id}: Tavily search failed: {type(exc).__name__}: {exc}")
            return []
        out = []
        for res in data.get("results", []):
            url = str(res.get("url") or "")
            if url and url != item.url:
                out.append(
                    {
                        "url": url,
                        "title": str(res.get("title") or ""),
                        "content": str(res.get("content") or "")[:500],
                    }
                )
        return out[:3]


def _sentences_with_numbers(text: str, limit: int = 3) -> list[str]:
    out = []
    for s in re.split(r"(?<=[.!?])\s+", text):
        if re.search(r"\d", s) and re.search(
            r"bpb|perplexity|loss|%|bits|parameters|speed|faster|bytes", s, re.I
        ):
            out.append(s.strip()[:240])
        if len(out) >= limit:
            break
    return out


_SAYS = {
    "change": re.compile(
        r"\bwe (?:propose|introduce|present|replace|add|use|quantiz|train|show)|\b(?:replac|introduc|propos)\w*|"
        r"\binstead of\b|\bby (?:\w+ing)\b",
        re.I,
    ),
    "bytes": re.compile(
        r"\bbytes?\b|\bMB\b|\bKB\b|compress|\bparameters?\b|\bsize\b|\bbits?\b|artifact|shrink", re.I
    ),
    "time": re.compile(
        r"faster|slower|throughput|step time|\bms\b|speed|wall-?clock|latency|GPU-hours|overhead", re.I
    ),
    "risks": re.compile(
        r"limitation|however|\brequires?\b|depends? on|unstable|instabilit|degrad|does not|fails?|costs?\b|"
        r"library|\bonly\b",
        re.I,
    ),
}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def _what_it_says(sentences: Sequence[str], kind: str, limit: int = 2) -> str:
    hits = [s[:240] for s in sentences if _SAYS[kind].search(s)]
    if kind != "change":  # a sentence with a figure says more than one without
        hits.sort(key=lambda s: not re.search(r"\d", s))
    return " ".join(hits[:limit])


def offline_brief(
    item: ResearchItem, full: str, category: str, corroboration: Sequence[Mapping[str, str]]
) -> dict[str, str]:
    """The brief's fields from the item's own words only (full text when read, else its summary).

    ``category`` is not used to invent a change: a category template can be wrong for the item."""
    del category, corroboration
    sentences = _sentences(full or item.summary)
    change = _what_it_says(sentences, "change") or (sentences[0][:240] if sentences else "")
    evidence = _sentences_with_numbers(full or item.summary)
    return {
        "change": f"as the item describes it: {item.title.strip()}" + (f" — {change}" if change else ""),
        "bytes_effect": _what_it_says(sentences, "bytes", 1) or "not stated by the item",
        "step_time_effect": _what_it_says(sentences, "time", 1) or "not stated by the item",
        "val_bpb_effect": (
            "; ".join(evidence) if evidence else "no figure reported; measure on the local tier first"
        ),
        "risks": _what_it_says(sentences, "risks", 1)
        or "not stated by the item; check the 16 MB artifact and the 10-minute limit on the local tier",
    }


def render_brief(
    fields: Mapping[str, str],
    source: str,
    full_chars: int,
    corroboration: Sequence[Mapping[str, str]],
    before: int,
    after: int,
    max_total: int,
    complete: bool = True,
) -> str:
    status = VERIFIED if full_chars and complete else UNVERIFIED
    lines = [
        f"**Status:** {status}",
        f"**Change in train_gpt.py:** {fields['change'].strip()}",
        f"**Expected effect:** bytes — {fields['bytes_effect'].strip()}; step time — "
        f"{fields['step_time_effect'].strip()}; val_bpb — {fields['val_bpb_effect'].strip()}",
        f"**Risks:** {fields['risks'].strip()}",
        (
            f"**Evidence:** {full_chars} characters of full text from {source}; "
            if full_chars and complete
            else f"**Evidence:** no full text; {full_chars} characters from {source}; "
            if full_chars
            else f"**Evidence:** no full text ({source}); the item summary only; "
        )
        + f"{len(corroboration)} corroborating source(s). Score {before} → {after} of {max_total}.",
    ]
    return "\n".join(lines)


def _tool(rubric_dims: Sequence[tuple[str, int]]) -> dict[str, Any]:
    props: dict[str, Any] = {"item_id": {"type": "string"}}
    for name, top in rubric_dims:
        props[name] = {"type": "integer", "minimum": 0, "maximum": top}
    props["category"] = {"type": "string", "enum": [*taxonomy.NAMES, taxonomy.OTHER]}
    props["rationale"] = {"type": "string"}
    for f in BRIEF_FIELDS:
        props[f] = {"type": "string", "maxLength": 600}
    return {
        "name": TOOL_NAME,
        "description": "Record the re-grade and the implementation brief of one item.",
        "input_schema": {
            "type": "object",
            "properties": {"grades": {"type": "array", "items": {"type": "object", "properties": props}}},
            "required": ["grades"],
        },
    }


def _brief_fields(content: Sequence[Any], item_id: str) -> dict[str, str] | None:
    for b in content:
        inp = getattr(b, "input", None) if not isinstance(b, Mapping) else b.get("input")
        if isinstance(inp, Mapping) and isinstance(inp.get("grades"), list):
            for g in inp["grades"]:
                if isinstance(g, Mapping) and g.get("item_id") == item_id:
                    vals = {f: g.get(f) for f in BRIEF_FIELDS}
                    if all(isinstance(v, str) and v.strip() for v in vals.values()):
                        return {k: str(v) for k, v in vals.items()}
    return None


def _llm_verify(
    llm: LLM,
    settings: Settings,
    prompt_system: list[dict[str, Any]],
    rubric: Any,
    item: ResearchItem,
    full: str,
    corroboration: Sequence[Mapping[str, str]],
    context_block: Mapping[str, Any] | None = None,
) -> tuple[dict[str, int], str, dict[str, str]] | str | None:
    """(scores, category, brief) or an error string; None when the budget stops it.

    The page text and the corroborating sources are web text: they reach the model only inside
    declared-untrusted blocks of the user turn (bot/grading/untrusted.py)."""
    tool = _tool(rubric.dims)
    corr = "\n".join(f"- {c['url']}: {c['title']} — {c['content']}" for c in corroboration) or "- none found"
    user = (
        f"Verify this tier-A item with its full text, then call {TOOL_NAME} once with one entry: "
        "item_id, every rubric dimension re-scored, category, rationale, and the brief fields: "
        "change (what exactly to change in train_gpt.py), bytes_effect, step_time_effect, "
        "val_bpb_effect (with numbers when the text gives them), risks.\n\n"
        f"Item id: {item.id}\n\n"
        + untrusted.block(
            "research-item", f"Title: {item.title}\nURL: {item.url}\n\nFull text:\n{full or item.summary}"
        )
        + "\n\nCorroborating sources:\n"
        + untrusted.block("corroboration", corr)
    )
    prefix = [dict(context_block)] if context_block else []
    note = ""
    for _attempt in range(2):
        params = {
            "model": settings.grader_model,
            "max_tokens": settings.grader_max_tokens,
            "system": prompt_system,
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
            "messages": [{"role": "user", "content": [*prefix, {"type": "text", "text": user + note}]}],
        }
        if not llm.meter.can_afford(estimate_cost(params)):
            return None
        try:
            msg = llm.create_message(params, what=f"verify {item.id}")
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
            raise GradingError(f"verification of {item.id} failed: {exc}") from None
        content = list(msg.content)
        renamed = [_as_grades_call(b) for b in content]
        good, bad = parse_answer(renamed, [item.id], _BriefRubric(rubric))
        fields_ = _brief_fields(content, item.id)
        if good and fields_:
            scores, category, _ = good[item.id]
            return scores, category, fields_
        reason = bad.get(item.id) or "brief fields missing or empty"
        note = f"\n\nYour previous answer was rejected: {reason}. Answer again with every field."
    return f"invalid answer twice: {reason}"


def _as_grades_call(block: Any) -> Any:
    """Present a record_verification call as a record_grades call for :func:`parse_answer`."""
    from bot.grading.prompt import TOOL_NAME as GRADES

    if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == TOOL_NAME:
        return {"type": "tool_use", "name": GRADES, "input": block.input}
    return block


class _BriefRubric:
    """A rubric whose validation ignores the brief's extra string fields."""

    def __init__(self, rubric: Any):
        self.rubric = rubric

    def validate(self, raw: Any) -> Any:
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in BRIEF_FIELDS}
        return self.rubric.validate(raw)


def candidates(
    graded: Sequence[GradedItem], fr: frontier.Frontier, verified: Sequence[VerifiedBrief]
) -> tuple[list[GradedItem], int]:
    done = {v.item_id: v for v in verified}
    out = []
    skipped = 0
    for g in frontier.rank([g for g in graded if g.tier == "A"], fr):
        v = done.get(g.item_id)
        if v is not None and v.extra.get("content_hash") == g.content_hash:
            skipped += 1
            continue
        out.append(g)
    return out, skipped


def verify(
    root: Path,
    settings: Settings,
    env: Mapping[str, str],
    *,
    top: int | None = None,
    offline_only: bool = False,
    max_usd: float | None = None,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyRun:
    state = ResearchState(settings.path("state_dir", root))
    ledger = Ledger.load(settings.path("results_path", root))
    graded = state.graded()
    items = {i.id: i for i in latest_by(state.raw_items(), lambda i: i.id)}
    fr = frontier.compute(ledger, graded)
    todo, skipped = candidates(graded, fr, state.verified())
    todo = todo[: settings.grading_verify_top if top is None else top]
    ctx = build_context(ledger, graded, state.competitors(), settings)
    prompt = build_prompt(ctx, settings.grader_model)
    gstate = GradingState(state.dir)  # verification spends from the same daily cap as grading
    run_budget = settings.grading_max_usd if max_usd is None else max_usd
    budget, llm = grading_llm(
        settings, env, min(run_budget, daily_left(settings, gstate)), offline_only=offline_only, sleep=sleep
    )
    run = VerifyRun(mode="anthropic" if llm else "offline", candidates=len(todo), skipped=skipped)
    fetcher = Fetcher(settings, env, http)
    try:
        _verify_all(run, todo, items, fetcher, llm, settings, prompt, ctx, fr, state, budget)
    finally:
        fetcher.close()
        if llm is not None:
            llm.close()
            gstate.add_spend(llm.meter.usd)
    run.warnings.extend(fetcher.warnings)
    if llm is not None:
        run.cost = llm.meter.to_dict()
    return run


def _verify_all(
    run: VerifyRun,
    todo: Sequence[GradedItem],
    items: Mapping[str, ResearchItem],
    fetcher: Fetcher,
    llm: LLM | None,
    settings: Settings,
    prompt: Prompt,
    ctx: GradingContext,
    fr: frontier.Frontier,
    state: ResearchState,
    budget: float,
) -> None:
    system = [dict(b) for b in prompt.system]
    system[-1]["cache_control"] = {"type": "ephemeral"}
    for g in todo:
        item = items.get(g.item_id) or ResearchItem(
            source=g.source, id=g.item_id, title=g.title, url=g.url, summary=g.summary
        )
        full, source, complete = fetcher.full_text(item)
        corroboration = fetcher.corroborate(item)
        grader_label = offline_grader.GRADER
        if llm is not None:
            result = _llm_verify(
                llm, settings, system, ctx.rubric, item, full, corroboration, prompt.context_block
            )
            if result is None:
                run.stopped = "budget"
                run.warnings.append(f"budget of ${budget:.2f} reached before verifying {item.id}")
                break
            if isinstance(result, str):
                run.warnings.append(f"{item.id}: {result}; not verified")
                continue
            scores, category, fields_ = result
            grader_label = f"anthropic:{settings.grader_model}"
        else:
            enriched = ResearchItem(
                source=item.source, id=item.id, title=item.title, url=item.url, summary=(full or item.summary)
            )
            regraded = offline_grader.grade_item(
                enriched, ctx, fr, context_version=prompt.version, graded_at=clock.stamp()
            )
            scores, category = regraded.scores, regraded.category
            fields_ = offline_brief(item, full, category, corroboration)
        after = sum(scores.values())
        brief = VerifiedBrief(
            item_id=item.id,
            title=item.title,
            url=item.url,
            brief=render_brief(
                fields_, source, len(full), corroboration, g.total, after, ctx.rubric.max_total, complete
            ),
            score_before=g.total,
            score_after=after,
            tier=ctx.rubric.tier(after),
            corroboration=[c["url"] for c in corroboration],
            grader=grader_label,
            verified_at=clock.stamp(),
            extra={
                "content_hash": g.content_hash or content_hash(item),
                "scores": scores,
                "category": category,
                "max_total": ctx.rubric.max_total,
                "full_text_source": source,
                "full_text_chars": len(full),
                "status": VERIFIED if full and complete else UNVERIFIED,
            },
        )
        append_jsonl(state.verified_path, [brief])
        run.verified.append(brief)
