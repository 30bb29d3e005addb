"""The sticky PR comment: one bot comment per PR, found by a hidden marker, edited in place.

It has three sections — local result, promotion status, final H100 result — each kept between
its own hidden markers so that one workflow can rewrite its section without touching the others.
Whatever the log, the comment stays under GitHub's 65,536-character limit: each section is capped
and log tails are shortened from the top. The same Markdown can be appended to the Actions job
summary (``$GITHUB_STEP_SUMMARY``).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.errors import PgolfError
from bot.forge.base import Comment, Forge

MARKER = "<!-- pgolf:sticky -->"
GITHUB_COMMENT_LIMIT = 65_536
BODY_BUDGET = 60_000  # leave headroom below the hard limit
SECTION_LIMIT = 18_000
SECTIONS = ("local", "promotion", "final", "winner")
TITLES = {
    "local": "Local result (Apple Silicon)",
    "promotion": "Promotion",
    "final": "Final H100 result",
    "winner": "Merge into the baseline",
}
PLACEHOLDER = {
    "local": "_No local run yet._",
    "promotion": "_Not promoted. A maintainer can add the `promote` label or comment `/promote`._",
    "final": "_No H100 result yet._",
    "winner": "_Not considered yet: a winner needs ≥ 3 Tier 2 seeds against a Tier 2 baseline._",
}


ARTIFACT_NAME = "pgolf-run-logs"  # the upload-artifact step's name (promote.yml, experiment.yml)


@dataclass(frozen=True)
class RunLinks:
    run_url: str = ""
    artifact_url: str = ""


def run_links(env: Mapping[str, str] | None = None) -> RunLinks:
    """The workflow run's URL and its artifacts' anchor (empty outside Actions).

    ``PGOLF_ARTIFACT_URL`` (the upload-artifact step's ``artifact-url`` output, when a later step
    rewrites the comment) wins over the run page's ``#artifacts`` anchor."""
    env = os.environ if env is None else env
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    repo, run = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if not (server and repo and run):
        return RunLinks("", env.get("PGOLF_ARTIFACT_URL", ""))
    url = f"{server}/{repo}/actions/runs/{run}"
    return RunLinks(url, env.get("PGOLF_ARTIFACT_URL", "") or f"{url}#artifacts")


def _start(name: str) -> str:
    return f"<!-- pgolf:{name}:start -->"


def _end(name: str) -> str:
    return f"<!-- pgolf:{name}:end -->"


def neutralize(text: str) -> str:
    """Make untrusted text unable to forge our hidden markers."""
    return text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")


def log_block(log: str, limit: int = 6_000, summary: str = "log tail") -> str:
    """A collapsed, HTML-escaped tail of ``log`` of at most ~``limit`` characters."""
    text = log.replace("\r\n", "\n")
    cut = ""
    if len(text) > limit:
        text = text[-limit:]
        text = text[text.find("\n") + 1 :] if "\n" in text else text
        cut = f"… {len(log) - len(text):,} earlier characters omitted …\n"
    return f"<details><summary>{html.escape(summary)}</summary>\n\n<pre>{html.escape(cut + text)}</pre>\n</details>"


def clamp(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = "\n\n_… truncated to fit GitHub's comment size limit._"
    return text[: limit - len(note)] + note


def _fmt(value: float | None, digits: int = 4, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def _delta(value: float | None, ref: float | None) -> str:
    if value is None or ref is None or ref == 0:
        return "n/a"
    d = value - ref
    return f"{d:+.4f} ({d / ref * 100:+.2f} %)"


@dataclass
class LocalResult:
    sha: str
    val_bpb: float | None
    baseline_bpb: float | None = None
    noise_floor: float | None = None  # relative std of the baseline rows (0.002 = 0.2 %)
    artifact_bytes: int | None = None
    artifact_limit: int = 16_000_000
    decision: str = ""  # e.g. "promote-candidate", "keep", "discard", "crash", "artifact over limit"
    log_url: str = ""
    iterations: int | None = None
    backend: str = ""
    log_tail: str = ""
    proxy: str = ""  # non-empty: the run is a weaker proxy (e.g. a GitHub-hosted Linux runner preset)


@dataclass
class PromotionStatus:
    state: str  # queued | approved | running | finished | aborted | refused | failed
    sha: str = ""
    approved_by: str = ""
    pod_id: str = ""
    gpus: int | None = None
    elapsed_seconds: float | None = None
    spend_usd: float | None = None
    seeds: int | None = None
    message: str = ""
    log_url: str = ""


@dataclass
class FinalResult:
    sha: str
    val_bpb: float | None
    sota_bpb: float | None = None
    cost_usd: float | None = None
    artifact_bytes: int | None = None
    seeds: int | None = None
    std: float | None = None
    record_grade: bool | None = None
    correlation: str = ""
    log_url: str = ""
    log_tail: str = ""
    artifact_url: str = ""  # the workflow artifact holding the full logs and result JSON
    budget_note: str = ""  # an overrun, or new promotions blocked (shown in bold)
    significance: str = ""  # the test against the Tier 2 baseline (p-value, effect)


def render_local(r: LocalResult) -> str:
    headroom = None if r.artifact_bytes is None else r.artifact_limit - r.artifact_bytes
    rows = [
        ("commit", f"`{r.sha[:12]}`"),
        ("val_bpb", _fmt(r.val_bpb)),
        (
            "Δ vs running local baseline",
            f"{_delta(r.val_bpb, r.baseline_bpb)} (baseline {_fmt(r.baseline_bpb)})",
        ),
        (
            "noise floor",
            "n/a"
            if r.noise_floor is None
            else f"{r.noise_floor * 100:.2f} % (relative std of baseline runs)",
        ),
        (
            "artifact",
            "n/a"
            if r.artifact_bytes is None
            else f"{r.artifact_bytes:,} B of {r.artifact_limit:,} B (headroom {headroom:,} B)",
        ),
        ("decision", f"**{neutralize(r.decision)}**" if r.decision else "n/a"),
    ]
    if r.iterations is not None or r.backend:
        rows.append(
            (
                "run",
                " ".join(
                    x
                    for x in (f"{r.iterations} it" if r.iterations is not None else "", neutralize(r.backend))
                    if x
                ),
            )
        )
    links = run_links()

    if r.proxy:
        rows.append(("⚠ tier 1 proxy", neutralize(r.proxy)))
    if r.log_url:
        rows.append(("log", f"[run log]({r.log_url})"))
    elif links.run_url:
        rows.append(("log", f"[workflow run]({links.run_url})"))
    if links.artifact_url:
        rows.append(("full logs", f"[logs and result JSON]({links.artifact_url})"))
    out = _table(rows)
    if r.log_tail:
        out += "\n\n" + log_block(r.log_tail)
    return out


def render_promotion(p: PromotionStatus) -> str:
    rows = [("state", f"**{neutralize(p.state)}**")]
    if p.sha:
        rows.append(("pinned commit", f"`{p.sha[:12]}`"))
    if p.approved_by:
        rows.append(("approved by", f"@{neutralize(p.approved_by)}"))
    if p.seeds:
        rows.append(("seeds", str(p.seeds)))
    if p.pod_id:
        rows.append(("pod", f"`{neutralize(p.pod_id)}`" + (f" ({p.gpus}× GPU)" if p.gpus else "")))
    if p.elapsed_seconds is not None:
        m, sec = divmod(int(p.elapsed_seconds), 60)
        rows.append(("elapsed", f"{m} min {sec:02d} s"))
    if p.spend_usd is not None:
        rows.append(("spend so far", f"${p.spend_usd:.2f}"))
    if p.log_url:
        rows.append(("log", f"[workflow run]({p.log_url})"))
    out = _table(rows)
    if p.message:
        out += "\n\n" + clamp(unmention(neutralize(p.message)), 2_000)
    return out


def unmention(text: str) -> str:
    """Untrusted text (a crash reason quoting the training log) must not make pgolf mention
    anyone: ``@name`` becomes ``@\u200bname`` (shown the same, never a notification)."""
    return re.sub(r"@(?=[A-Za-z0-9])", "@\u200b", text)


def render_final(f: FinalResult) -> str:
    rows = [
        ("commit", f"`{f.sha[:12]}`"),
        ("val_bpb", _fmt(f.val_bpb) + (f" ± {f.std:.4f}" if f.std is not None else "")),
        ("Δ vs SOTA", f"{_delta(f.val_bpb, f.sota_bpb)} (SOTA {_fmt(f.sota_bpb)})"),
        ("cost", "n/a" if f.cost_usd is None else f"${f.cost_usd:.2f}"),
    ]
    if f.artifact_bytes is not None:
        rows.append(("artifact", f"{f.artifact_bytes:,} B"))
    if f.seeds:
        rows.append(("seeds", str(f.seeds)))
    if f.record_grade is not None:
        rows.append(("record-grade", "yes" if f.record_grade else "no"))
    if f.correlation:
        rows.append(("tier correlation", neutralize(f.correlation)))
    if f.significance:
        rows.append(("significance", neutralize(f.significance)))
    if f.log_url:
        rows.append(("log", f"[workflow run]({f.log_url})"))
    if f.artifact_url:
        rows.append(("full logs", f"[logs and result JSON]({f.artifact_url})"))
    out = _table(rows)
    if f.budget_note:
        out = f"> [!WARNING]\n> **{neutralize(f.budget_note)}**\n\n" + out
    if f.log_tail:
        out += "\n\n" + log_block(f.log_tail)
    return out


def _cell(value: str, limit: int = 300) -> str:
    value = value.replace("|", "&#124;").replace("\n", " ")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the body
def parse_sections(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in SECTIONS:
        m = re.search(re.escape(_start(name)) + r"\n?(.*?)\n?" + re.escape(_end(name)), body, re.S)
        if m:
            out[name] = m.group(1)
    return out


def compose(sections: Mapping[str, str], pr: int | None = None) -> str:
    parts = [MARKER, f"## pgolf{f' — #{pr}' if pr else ''}"]
    for name in SECTIONS:
        content = clamp(sections.get(name) or PLACEHOLDER[name], SECTION_LIMIT)
        parts.append(f"### {TITLES[name]}\n{_start(name)}\n{content}\n{_end(name)}")
    parts.append(
        "<sub>Edited in place by pgolf. Commands: `/promote [seeds=N]` `/retrain` `/status` `/budget` `/abort` `/help`.</sub>"
    )
    body = "\n\n".join(parts)
    if len(body) > BODY_BUDGET:  # only possible if many sections are near their cap
        body = clamp(body, BODY_BUDGET)
    assert len(body) < GITHUB_COMMENT_LIMIT
    return body


# Workflows that post with the job's GITHUB_TOKEN (experiment.yml on the self-hosted runner)
# write as this account; only this repository's own workflows can.
ACTIONS_LOGIN = "github-actions[bot]"


def pgolf_identities(forge: Forge, env: Mapping[str, str] | None = None) -> set[str]:
    """Every login pgolf posts under: this forge's own, the GitHub App's (``<slug>[bot]`` from
    ``GH_APP_SLUG``/``GITHUB_APP_SLUG``) and ``github-actions[bot]``. Humans cannot hold any
    of them (``[bot]`` logins are GitHub's), so a pasted marker never counts."""
    env = os.environ if env is None else env
    ids = {ACTIONS_LOGIN}
    try:
        if forge.bot_login:
            ids.add(forge.bot_login)
    except PgolfError:  # an unreachable GET /user must not lose the other identities
        pass
    for name in ("GH_APP_SLUG", "GITHUB_APP_SLUG", "PGOLF_APP_SLUG"):
        slug = env.get(name, "").strip()
        if slug:
            ids.add(slug if slug.endswith("[bot]") else f"{slug}[bot]")
    return ids


def find_sticky(forge: Forge, pr: int, env: Mapping[str, str] | None = None) -> Comment | None:
    """Our sticky comment: the hidden marker AND an author among :func:`pgolf_identities` (a
    human quoting or pasting the marker never counts). Whichever identity posted it first, every
    path — experiment (GITHUB_TOKEN), promotion and commands (the App) — edits that one."""
    ids = pgolf_identities(forge, env)
    for c in forge.list_comments(pr):
        if MARKER in c.body and c.author in ids:
            return c
    return None


def upsert_sticky(forge: Forge, pr: int, section: str, content: str) -> Comment:
    """Replace ``section`` of PR ``pr``'s sticky comment (creating the comment once)."""
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {SECTIONS}")
    existing = find_sticky(forge, pr)
    sections = parse_sections(existing.body) if existing else {}
    sections[section] = content
    body = compose(sections, pr)
    if existing is not None:
        if existing.body == body:
            return existing
        return forge.update_comment(pr, existing.id, body)
    return forge.create_comment(pr, body)


def write_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> bool:
    """Append ``markdown`` to the Actions job summary; False outside Actions."""
    env = os.environ if env is None else env
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(clamp(markdown, 900_000).rstrip() + "\n\n")
    return True
