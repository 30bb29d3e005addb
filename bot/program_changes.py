"""What changed in program.md, in terms a maintainer reviews: items, tiers, SOTA, competitors.

:func:`parse` reads one program.md text into per-section items (the inverse of the renderers in
:mod:`bot.program`, tolerant of hand edits and of older renderings); :func:`compare` turns two
texts into a :class:`ProgramChanges`: research items added/removed/regraded, verified briefs,
competitor rows added or changed, experiment rows, the SOTA line before/after, and whether the
human-written text changed. It renders

* a one-line commit subject that always fits in :data:`SUBJECT_LIMIT` characters
  (``research: +3 (A 2, B 1), −1; SOTA 1.0634 → 1.0611``),
* a commit body listing every item with its link,
* a Markdown table for the Actions job summary (``$GITHUB_STEP_SUMMARY``).

Research-state changes (rows added to ``research/*.jsonl``) are summarised by
:func:`state_changes` so a run that changes nothing in program.md still gets a commit that says
what it did record. Everything here is pure: no git, no network (callers pass the texts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bot.program import SECTIONS, SOTA_RE, marker

SUBJECT_LIMIT = 72
URL_LINK_MAX = 2000  # longer URLs are not linked in the job summary / PR table
MINUS = "\u2212"  # "−": reads as a count, not as a list bullet
ARROW = "\u2192"
TRAILER_CYCLE = "Pgolf-Research-Cycle"
TRAILER_PR = "Pgolf-Research-PR"

# the title runs to the LAST "**" (a title may contain "**" itself); what follows is a label
_RESEARCH_HEAD = re.compile(
    r"^- \*\*\[(?P<tier>[^\]\s]+) (?P<score>[^\]]*)\] (?P<title>.*)\*\*(?P<rest>[^*]*)$"
)
_ID_LINE = re.compile(r"^\s+`(?P<id>[^`]+)`(?P<rest>.*)$")
_URL = re.compile(r"<(?P<url>https?://[^>\s]+)>")
_VERIFIED_SCORE = re.compile(r"score (?P<before>-?\d+) \S+ (?P<after>-?\d+)")
_SPEEDRUN = re.compile(r"^- (?P<min>[0-9.]+) min \S (?P<name>.*?)(?: \((?P<date>[^)]*)\))?$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
# C0/C1 controls (terminal escapes, bells) and bidi embeddings/overrides/isolates: web text that
# could hide or disguise an item in a terminal (`pgolf program diff`, `git log`) or a web page
_UNSEEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Item:
    """One entry of a program.md section (a graded item, a brief, a table row)."""

    section: str
    key: str
    title: str
    tier: str = ""
    score: str = ""
    url: str = ""
    value: str = ""  # what "changed" compares (tier+score, val_bpb, status…)
    extra: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key, "title": self.title}
        for name in ("tier", "score", "url"):
            if getattr(self, name):
                d[name] = getattr(self, name)
        d.update(dict(self.extra))
        return d

    def label(self) -> str:
        grade = " ".join(x for x in (self.tier, self.score) if x)
        return f"[{grade}] {self.title}" if grade else self.title


@dataclass
class Parsed:
    items: dict[str, dict[str, Item]]  # section -> key -> item (rendered order)
    sota: float | None
    prose: str  # everything outside the marked sections and the SOTA line
    well_formed: bool = True
    broken: list[str] = field(default_factory=list)  # sections whose markers are broken


@dataclass
class SectionChange:
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    changed: list[tuple[Item, Item]] = field(default_factory=list)  # (before, after)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [i.to_dict() for i in self.added],
            "removed": [i.to_dict() for i in self.removed],
            "changed": [{"before": a.to_dict(), "after": b.to_dict()} for a, b in self.changed],
        }


@dataclass
class ProgramChanges:
    sections: dict[str, SectionChange]
    sota_before: float | None
    sota_after: float | None
    text_changed: bool  # the two texts differ at all
    prose_changed: bool  # the human-written parts differ
    state: dict[str, int] = field(default_factory=dict)  # research-state file -> rows added
    broken: list[str] = field(default_factory=list)  # sections whose markers are broken after
    existed_before: bool = True
    existed_after: bool = True

    @property
    def changed(self) -> bool:
        return self.text_changed

    @property
    def sota_changed(self) -> bool:
        return self.sota_before != self.sota_after

    def section(self, name: str) -> SectionChange:
        return self.sections.get(name) or SectionChange()

    def to_dict(self) -> dict[str, Any]:
        research = self.section("RESEARCH")
        comp = self.section("COMPETITORS")
        return {
            "changed": self.changed,
            "added": {name: [i.to_dict() for i in s.added] for name, s in self.sections.items() if s.added},
            "removed": {
                name: [i.to_dict() for i in s.removed] for name, s in self.sections.items() if s.removed
            },
            "regraded": [{"before": a.to_dict(), "after": b.to_dict()} for a, b in research.changed],
            "sota_before": self.sota_before,
            "sota_after": self.sota_after,
            "competitors_added": [i.to_dict() for i in comp.added],
            "competitors_changed": [{"before": a.to_dict(), "after": b.to_dict()} for a, b in comp.changed],
            "prose_changed": self.prose_changed,
            "broken_sections": list(self.broken),
            "existed_before": self.existed_before,
            "existed_after": self.existed_after,
            "sections": {name: s.to_dict() for name, s in self.sections.items()},
            "state": dict(self.state),
            "subject": subject(self),
        }


# --------------------------------------------------------------------------- parsing
def _split_sections(text: str, broken: list[str] | None = None) -> tuple[dict[str, str], str, bool]:
    """Section bodies and the prose around them; tolerant: a broken marker leaves it unparsed
    (and, when ``broken`` is given and the text is not empty, its name is added to it)."""
    bodies: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    ok = True
    for name in SECTIONS:
        s, e = marker(name), marker(name, end=True)
        if text.count(s) != 1 or text.count(e) != 1 or text.index(e) < text.index(s):
            ok = False
            if broken is not None and text.strip():
                broken.append(name)
            continue
        a, b = text.index(s) + len(s), text.index(e)
        bodies[name] = text[a:b]
        spans.append((a, b))
    pieces: list[str] = []
    pos = 0
    for a, b in sorted(spans):
        if a < pos:  # overlapping sections: not well-formed; keep the text as it is
            ok = False
            continue
        pieces.append(text[pos:a])
        pos = b
    pieces.append(text[pos:])
    prose = SOTA_RE.sub("", "\n".join(pieces))
    return bodies, "\n".join(ln.rstrip() for ln in prose.splitlines()).strip(), ok


def _cells(line: str) -> list[str]:
    inner = line.strip()
    if not (inner.startswith("|") and inner.endswith("|")):
        return []
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(inner[1:-1])]


def _is_separator(cells: list[str]) -> bool:
    return bool(cells) and all(re.fullmatch(r":?-{3,}:?", c) for c in cells)


def _url_of(text: str) -> str:
    m = _URL.search(text)
    return m.group("url") if m else ""


def _research(body: str) -> dict[str, Item]:
    out: dict[str, Item] = {}
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        m = _RESEARCH_HEAD.match(lines[i])
        if not m:
            i += 1
            continue
        tier, score, title = m.group("tier"), m.group("score").strip(), m.group("title").strip()
        key, url = "", _url_of(m.group("rest"))
        j = i + 1
        while j < len(lines) and lines[j].startswith("  ") and not _RESEARCH_HEAD.match(lines[j]):
            idm = _ID_LINE.match(lines[j])
            if idm and not key:
                key = idm.group("id")
                url = url or _url_of(idm.group("rest"))
            j += 1
        key = key or f"title:{title}"
        if key not in out:
            out[key] = Item("RESEARCH", key, title, tier, score, url, f"{tier} {score}")
        i = j
    return out


def _verified(body: str) -> dict[str, Item]:
    out: dict[str, Item] = {}
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("### "):
            continue
        title = line[4:].strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        idm = _ID_LINE.match(" " + nxt)
        key = idm.group("id") if idm else f"title:{title}"
        sm = _VERIFIED_SCORE.search(nxt)
        score = f"{sm.group('before')} {ARROW} {sm.group('after')}" if sm else ""
        if key not in out:
            out[key] = Item("VERIFIED", key, title, "A", score, _url_of(nxt), score)
    return out


def _competitors(body: str) -> dict[str, Item]:
    out: dict[str, Item] = {}
    for line in body.splitlines():
        cells = _cells(line)
        if len(cells) >= 8 and not _is_separator(cells) and cells[1] != "val_bpb":
            _, bpb, _delta, name, author, date, pr, track = cells[:8]
            key = f"{name}|{author}|{pr}"
            extra = (("val_bpb", bpb), ("author", author), ("date", date), ("pr", pr), ("track", track))
            out.setdefault(key, Item("COMPETITORS", key, name, value=f"{bpb} {date} {track}", extra=extra))
            continue
        m = _SPEEDRUN.match(line.strip())
        if m:
            key = f"speedrun|{m.group('name')}"
            sr = (("record_minutes", str(m.group("min"))), ("date", str(m.group("date") or "")))
            out.setdefault(key, Item("COMPETITORS", key, m.group("name"), value=m.group("min"), extra=sr))
    return out


def _experiments(body: str) -> dict[str, Item]:
    out: dict[str, Item] = {}
    for line in body.splitlines():
        cells = _cells(line)
        if len(cells) < 7 or _is_separator(cells) or cells[0] == "commit":
            continue
        commit, tier, bpb, status, promoted, cost, desc = cells[:7]
        commit = commit.strip("`")
        key = f"{commit}|{tier}|{desc}"
        extra = (
            ("commit", commit),
            ("tier_name", tier),
            ("val_bpb", bpb),
            ("status", status),
            ("promoted", promoted),
            ("cost", cost),
        )
        out.setdefault(
            key,
            Item("EXPERIMENTS", key, desc or commit, value=f"{bpb} {status} {promoted} {cost}", extra=extra),
        )
    return out


_PARSERS = {
    "RESEARCH": _research,
    "VERIFIED": _verified,
    "COMPETITORS": _competitors,
    "EXPERIMENTS": _experiments,
}


def parse(text: str) -> Parsed:
    """Split a program.md text into per-section items, the SOTA value and the prose (with control
    and bidi characters left out: everything parsed here is shown to people)."""
    broken: list[str] = []
    text = _UNSEEN.sub("", text or "")
    bodies, prose, ok = _split_sections(text, broken)
    items = {name: _PARSERS[name](bodies.get(name, "")) for name in SECTIONS}
    sota: float | None = None
    m = SOTA_RE.search(text or "")
    if m:
        try:
            sota = float(m.group("sota"))
        except ValueError:
            sota = None
    return Parsed(items, sota, prose, ok, broken)


def compare(before: str | None, after: str | None, state: Mapping[str, int] | None = None) -> ProgramChanges:
    """What changed from ``before`` to ``after`` (None or "" = no program.md)."""
    a, b = parse(before or ""), parse(after or "")
    sections: dict[str, SectionChange] = {}
    for name in SECTIONS:
        old, new = a.items[name], b.items[name]
        if name in a.broken or name in b.broken:  # unreadable on one side: not items added/removed
            sections[name] = SectionChange()
            continue
        ch = SectionChange(
            added=[it for k, it in new.items() if k not in old],
            removed=[it for k, it in old.items() if k not in new],
            changed=[(old[k], it) for k, it in new.items() if k in old and old[k].value != it.value],
        )
        sections[name] = ch
    return ProgramChanges(
        sections=sections,
        sota_before=a.sota,
        sota_after=b.sota,
        text_changed=(before or "") != (after or ""),
        prose_changed=a.prose != b.prose,
        state={k: v for k, v in (state or {}).items() if v},
        broken=list(b.broken),
        existed_before=before is not None,
        existed_after=after is not None,
    )


def state_changes(before: Mapping[str, bytes | None], after: Mapping[str, bytes | None]) -> dict[str, int]:
    """Rows added per research-state file (JSONL lines new in ``after``); names without folders."""
    out: dict[str, int] = {}
    for path in sorted(set(before) | set(after)):
        old = {ln for ln in (before.get(path) or b"").splitlines() if ln.strip()}
        new = [ln for ln in (after.get(path) or b"").splitlines() if ln.strip()]
        added = sum(1 for ln in new if ln not in old)
        if added or (before.get(path) != after.get(path)):
            name = path.rsplit("/", 1)[-1]
            out[name] = out.get(name, 0) + added
    return out


# --------------------------------------------------------------------------- rendering
def _fmt_sota(v: float | None) -> str:
    return "none" if v is None else f"{v:.4f}"


def _tier_counts(items: list[Item]) -> str:
    counts: dict[str, int] = {}
    for it in items:
        counts[it.tier or "?"] = counts.get(it.tier or "?", 0) + 1
    return ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))


def _parts(ch: ProgramChanges) -> list[str]:
    """Subject fragments, most important first."""
    parts: list[str] = []
    if ch.existed_before and not ch.existed_after:
        parts.append("program.md deleted")
    elif ch.existed_after and not ch.existed_before:
        parts.append("program.md created")
    if ch.broken:
        parts.append(f"program.md markers broken ({', '.join(ch.broken)})")
    r = ch.section("RESEARCH")
    research: list[str] = []
    if r.added:
        research.append(f"+{len(r.added)} ({_tier_counts(r.added)})")
    if r.removed:
        research.append(f"{MINUS}{len(r.removed)}")
    if research:
        parts.append(", ".join(research))
    if ch.sota_changed:
        parts.append(f"SOTA {_fmt_sota(ch.sota_before)} {ARROW} {_fmt_sota(ch.sota_after)}")
    v = ch.section("VERIFIED")
    if v.added or v.removed:
        parts.append(
            "verified "
            + " ".join(
                x
                for x in (
                    f"+{len(v.added)}" if v.added else "",
                    f"{MINUS}{len(v.removed)}" if v.removed else "",
                )
                if x
            )
        )
    c = ch.section("COMPETITORS")
    if c.added or c.changed:
        parts.append(
            "competitors "
            + " ".join(
                x
                for x in (f"+{len(c.added)}" if c.added else "", f"~{len(c.changed)}" if c.changed else "")
                if x
            )
        )
    if r.changed:
        parts.append(f"{len(r.changed)} regraded")
    e = ch.section("EXPERIMENTS")
    if e.added or e.changed:
        parts.append(f"ledger +{len(e.added)}" + (f" ~{len(e.changed)}" if e.changed else ""))
    if ch.prose_changed and ch.existed_before and ch.existed_after:
        parts.append("text edited")
    return parts


def fit(prefix: str, parts: list[str], limit: int) -> str:
    """``prefix`` and as many ``parts`` as fit in ``limit`` characters; " …" marks left-out parts."""
    out = prefix
    skipped = False
    parts = [p for p in parts if p]
    for i, p in enumerate(parts):
        cand = out + (" " if out == prefix else "; ") + p
        last = i == len(parts) - 1
        if len(cand) <= (limit if last and not skipped else limit - 2):
            out = cand
        else:
            skipped = True
    if out == prefix and parts:  # even the first part is too long: cut it
        out = (prefix + " " + parts[0])[: limit - 1].rstrip() + "…"
    elif skipped:
        out += " …"
    return out


def subject(ch: ProgramChanges, *, prefix: str = "research:", limit: int = SUBJECT_LIMIT) -> str:
    """One line, at most ``limit`` characters, saying what changed (most important first)."""
    parts = _parts(ch)
    if ch.changed and not parts:
        parts = ["program.md re-rendered"]
    if not parts:
        note = state_note(ch.state)
        parts = ["program.md unchanged" + (f" ({note})" if note else "")]
    return fit(prefix, parts, limit)


def state_note(state: Mapping[str, int]) -> str:
    if not state:
        return ""
    names = {
        "raw_cache.jsonl": "raw",
        "graded.jsonl": "graded",
        "verified.jsonl": "verified",
        "competitors.jsonl": "competitors",
    }
    bits = [f"{names.get(k, k.removesuffix('.jsonl'))} +{n}" for k, n in state.items() if n]
    other = sum(1 for n in state.values() if not n)
    if other:
        bits.append(f"{other} file(s) rewritten")
    return "state " + ", ".join(bits)


def _line(it: Item) -> str:
    link = f" — {it.url}" if it.url else ""
    return f"- {it.label()}{link}"


def body(ch: ProgramChanges, *, pr_url: str = "", cycle: str = "", pr: int | None = None) -> str:
    """The commit body: every item with its link, then trailers."""
    out: list[str] = []
    if not ch.changed:
        out.append("program.md is unchanged by this run; only research state is recorded.")
    out.extend(_warnings(ch))
    r = ch.section("RESEARCH")
    for title, items in (("Research added", r.added), ("Research removed", r.removed)):
        if items:
            out.append(f"{title} ({len(items)}):")
            out.extend(_line(i) for i in items)
    if r.changed:
        out.append(f"Research regraded ({len(r.changed)}):")
        out.extend(f"- {b.title}: {a.tier} {a.score} {ARROW} {b.tier} {b.score}" for a, b in r.changed)
    if ch.sota_changed:
        out.append(f"SOTA: {_fmt_sota(ch.sota_before)} {ARROW} {_fmt_sota(ch.sota_after)} bpb")
    v = ch.section("VERIFIED")
    for title, items in (("Verified added", v.added), ("Verified removed", v.removed)):
        if items:
            out.append(f"{title} ({len(items)}):")
            out.extend(_line(i) for i in items)
    c = ch.section("COMPETITORS")
    if c.added:
        out.append(f"Competitors added ({len(c.added)}):")
        out.extend(f"- {_competitor(i)}" for i in c.added)
    if c.changed:
        out.append(f"Competitors changed ({len(c.changed)}):")
        out.extend(f"- {b.title}: {_comp_value(a)} {ARROW} {_comp_value(b)}" for a, b in c.changed)
    e = ch.section("EXPERIMENTS")
    if e.added or e.changed:
        out.append(f"Ledger rows shown: +{len(e.added)}, changed {len(e.changed)}")
    if ch.prose_changed:
        out.append("The human-written text of program.md changed too.")
    note = state_note(ch.state)
    if note:
        out.append(f"Research {note}.")
    if pr_url:
        out.append(f"Review: {pr_url}")
    text = "\n".join(out)
    tr = trailers(cycle=cycle, pr=pr)
    if tr:
        text = (text + "\n\n" if text else "") + "\n".join(tr)
    return text


def _warnings(ch: ProgramChanges) -> list[str]:
    out = []
    if ch.existed_before and not ch.existed_after:
        out.append("program.md was deleted.")
    if ch.broken:
        out.append(
            f"The markers of {', '.join(ch.broken)} in program.md are broken (missing, duplicated or out "
            "of order): those sections are not compared, and `pgolf inject` refuses the file until "
            "they are fixed."
        )
    return out


def trailers(*, cycle: str = "", pr: int | None = None) -> list[str]:
    """Git trailers linking a commit to its research cycle and review PR (read by the dashboard)."""
    out = []
    cycle = " ".join(str(cycle).split())  # data: a newline in it must not start another trailer
    if cycle:
        out.append(f"{TRAILER_CYCLE}: {cycle}")
    if pr is not None:
        out.append(f"{TRAILER_PR}: {pr}")
    return out


def _comp_value(it: Item) -> str:
    d = dict(it.extra)
    if "val_bpb" in d:
        return f"{d['val_bpb']} bpb ({d.get('date', '')})".replace(" ()", "")
    return f"{d.get('record_minutes', '')} min"


def _competitor(it: Item) -> str:
    d = dict(it.extra)
    who = f" by {d['author']}" if d.get("author") else ""
    pr = f" {d['pr']}" if d.get("pr") else ""
    return f"{it.title}{who}: {_comp_value(it)}{pr}"


def message(ch: ProgramChanges, *, prefix: str = "research:", **kw: Any) -> str:
    """Subject, blank line, body (a complete commit message)."""
    b = body(ch, **kw)
    return subject(ch, prefix=prefix) + ("\n\n" + b if b else "")


_WJ = "\u2060"  # word joiner: invisible, but GitHub no longer sees a mention or a reference
_PINGS = re.compile(r"([@#])(?=\w)|\b(GH)(?=-\d)", re.IGNORECASE)


def _md(text: str) -> str:
    """One table cell of web text: no pipe that splits the row, no `@user` that notifies anyone and
    no `#5`/`owner/repo#5`/`GH-5` that cross-references an issue (the table goes into a PR body)."""
    cell = " ".join(str(text).split()).replace("|", "\\|")
    return _PINGS.sub(lambda m: (m.group(1) or m.group(2)) + _WJ, cell)


def _link_target(url: str) -> str:
    """A URL as a Markdown link target that stays one table cell and one link: characters that
    would end the link or the cell (``|()[]<>``, spaces, backticks…) are percent-encoded."""
    return quote(url, safe=":/?#@!$&'*+,;=%~-._")


def summary_markdown(ch: ProgramChanges, *, title: str = "Research run", pr_url: str = "") -> str:
    """The job summary: the subject as a heading and one table row per change."""
    out = [f"### {title}: {_md(subject(ch, prefix='').strip())}", ""]
    out += [f"**{w}**\n" for w in _warnings(ch)]
    rows: list[tuple[str, str, str, str, str, str]] = []
    for name in SECTIONS:
        s = ch.section(name)
        for kind, items in (("added", s.added), ("removed", s.removed)):
            for it in items:
                rows.append(
                    (kind, name, it.title, it.tier, it.score or dict(it.extra).get("val_bpb", ""), it.url)
                )
        for a, b in s.changed:
            before = f"{a.tier} {a.score}".strip() or a.value
            after = f"{b.tier} {b.score}".strip() or b.value
            rows.append(("changed", name, b.title, b.tier, f"{before} {ARROW} {after}", b.url))
    if ch.sota_changed:
        rows.append(
            (
                "changed",
                "SOTA",
                "SOTA line",
                "",
                f"{_fmt_sota(ch.sota_before)} {ARROW} {_fmt_sota(ch.sota_after)}",
                "",
            )
        )
    if rows:
        out.append("| change | section | item | tier | score / value | link |")
        out.append("|---|---|---|---|---|---|")
        for kind, sec, item, tier, score, url in rows:
            link = f"[link]({_link_target(url)})" if url else ""
            if len(url) > URL_LINK_MAX:  # web text: a huge URL would crowd out every other row
                link = f"(a {len(url)}-character link, not shown)"
            out.append(f"| {kind} | {sec} | {_md(item)} | {_md(tier)} | {_md(score)} | {link} |")
    else:
        out.append(
            "program.md: no change." if not ch.changed else "program.md: re-rendered, no item changed."
        )
    note = state_note(ch.state)
    if note:
        out += ["", f"Research {note}."]
    if pr_url:
        out += ["", f"Review pull request: {pr_url}"]
    return "\n".join(out) + "\n"
