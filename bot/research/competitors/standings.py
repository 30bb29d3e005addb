"""What the stored competitor scores *mean*: one standing per submission, with its status and
the figure that decides, so that SOTA, the COMPETITORS section and the grading prompt use
accepted records only.

Several stored scores can describe one parameter-golf submission: its Leaderboard row, its
merged record folder (submission.json + README), the PR that proposed it (and the PR's body).
They are grouped by the record folder's name and by PR number (a PR number from a link or from
the PR itself; never one a summary merely mentions, as "On PR #198" heads two rows).

**Status** of a submission, first rule that applies:

1. on the challenge README's Leaderboard → ``record`` (record table) or ``non-record`` (the
   unlimited-compute / non-record table): the maintainers' list decides;
2. merged into ``records/`` (read from the default branch or a checkout) → ``record`` or
   ``non-record`` by its track;
3. a PR: merged → as 2; open → ``claim``; closed without merging → ``closed``;
4. anything else (a file parsed by hand) → ``claim``.

Accepted = ``record`` (the record board) or ``non-record`` (its own board, never ranked with
records). Claims are shown as claims; closed submissions are never shown.

**Which figure**, when the sources disagree: precedence ``leaderboard`` > ``submission.json`` >
``README`` > ``PR body`` > ``log line``. The highest source's figure decides; a lower source's
figure that rounds to it (the leaderboard prints 4 decimals) refines the precision; one that does
not is kept visible in ``extra.disagreements`` ("README says 1.1965, leaderboard says 1.163:
leaderboard wins").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from bot.research.competitors.common import (
    PG,
    PRECEDENCE,
    PROV_README,
    PROV_SUBMISSION,
    STATUS_CLAIM,
    STATUS_CLOSED,
    STATUS_NON_RECORD,
    STATUS_RECORD,
)
from bot.research.competitors.files import agrees
from bot.state import CompetitorScore


def provenance_of(s: CompetitorScore) -> str:
    if s.provenance:
        return s.provenance
    return PROV_SUBMISSION if s.source_file.lower().endswith(".json") else PROV_README


def _rank(s: CompetitorScore) -> int:
    p = provenance_of(s)
    return PRECEDENCE.index(p) if p in PRECEDENCE else len(PRECEDENCE)


def _folder(s: CompetitorScore) -> str:
    folder = str(s.extra.get("record_folder") or "")
    if not folder:
        m = re.search(r"(?:^|:)(records/.+)$", s.key)
        folder = m.group(1) if m else ""
    if not folder and "records/" in s.source_file:
        folder = s.source_file.rsplit("/", 1)[0]
    return folder.rstrip("/").rsplit("/", 1)[-1] if folder else ""


def _pr_identity(s: CompetitorScore) -> int | None:
    """The PR this score *is* (not one it mentions)."""
    if s.pr is None:
        return None
    if "pr_state" in s.extra or s.key.startswith(f"{PG}:pr#"):
        return s.pr
    if provenance_of(s) == "leaderboard" and s.extra.get("pr_from") == "link":
        return s.pr
    return None


def _own_status(s: CompetitorScore) -> str:
    if s.status:
        return s.status
    state = str(s.extra.get("pr_state") or "")
    nonrec = s.track == "non-record"
    if state == "merged":
        return STATUS_NON_RECORD if nonrec else STATUS_RECORD
    if state == "open":
        return STATUS_CLAIM
    if state == "closed":
        return STATUS_CLOSED
    if s.key.startswith(f"{PG}:records/"):  # stored by refresh/import before statuses existed
        return STATUS_NON_RECORD if nonrec else STATUS_RECORD
    return STATUS_CLAIM


def _on_board(s: CompetitorScore) -> bool:
    """Only an accepted Leaderboard row speaks for the maintainers (a row removed from the board
    is closed; one a PR brought in is that PR's claim, whatever its provenance says)."""
    return provenance_of(s) == "leaderboard" and _own_status(s) in (STATUS_RECORD, STATUS_NON_RECORD)


def _status(members: Sequence[CompetitorScore]) -> str:
    board = [s for s in members if _on_board(s)]
    if board:
        return _own_status(board[0])
    own = [_own_status(s) for s in members if provenance_of(s) != "leaderboard" or "pr_state" in s.extra]
    for status in (STATUS_RECORD, STATUS_NON_RECORD, STATUS_CLAIM, STATUS_CLOSED):
        if status in own:
            return status
    return STATUS_CLOSED  # only leaderboard rows, all removed from the leaderboard


def groups(scores: Iterable[CompetitorScore]) -> list[list[CompetitorScore]]:
    """parameter-golf scores grouped by submission (folder name / PR identity)."""
    pg = [s for s in scores if s.source == PG and s.val_bpb is not None]
    parent = list(range(len(pg)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, s in enumerate(pg):
        ids = []
        if f := _folder(s):
            ids.append(f"folder:{f}")
        if (p := _pr_identity(s)) is not None:
            ids.append(f"pr:{p}")
        for ident in ids:
            if ident in owner:
                parent[find(i)] = find(owner[ident])
            else:
                owner[ident] = i
    out: dict[int, list[CompetitorScore]] = {}
    for i, s in enumerate(pg):
        out.setdefault(find(i), []).append(s)
    return _link_rows_to_folders(list(out.values()))


def _days_apart(a: str, b: str) -> int | None:
    try:
        return abs((date.fromisoformat(a[:10]) - date.fromisoformat(b[:10])).days)
    except ValueError:
        return None


def _link_rows_to_folders(found: list[list[CompetitorScore]]) -> list[list[CompetitorScore]]:
    """A Leaderboard row that links only its PR (no folder) and a merged folder that names no PR
    are one submission when the folder's score rounds to the row's, on the same board, dated
    within 3 days — and, when several folders qualify, the one whose author matches the row's
    (else nothing is joined: two rows never become one by guesswork)."""
    rows = [
        g
        for g in found
        if all(provenance_of(s) == "leaderboard" for s in g) and not any(_folder(s) for s in g)
    ]
    folders = [
        g
        for g in found
        if not any(provenance_of(s) == "leaderboard" for s in g)
        and any(_folder(s) for s in g)
        and _status(g) in (STATUS_RECORD, STATUS_NON_RECORD)
    ]
    taken: set[int] = set()
    for g in rows:
        row = g[0]
        text = str(row.extra.get("score_text") or "")
        cands = []
        for k, f in enumerate(folders):
            if k in taken:
                continue
            # the folder's own accepted figure (an open PR touching it is only a claim)
            best = min((s for s in f if _own_status(s) in (STATUS_RECORD, STATUS_NON_RECORD)), key=_rank)
            if best.val_bpb is None or row.val_bpb is None or not agrees(row.val_bpb, best.val_bpb, text):
                continue
            if (best.track == "non-record") != (row.board == "non-record"):
                continue
            apart = _days_apart(row.date, best.date)
            if apart is None or apart > 3:
                continue
            cands.append(k)
        who = row.author.lower()
        mine = [
            k
            for k in cands
            if who
            and who in {s.github_id.lower() for s in folders[k]} | {s.author.lower() for s in folders[k]}
        ]
        pick = mine if mine else cands
        if len(pick) == 1:
            taken.add(pick[0])
            g.extend(folders[pick[0]])
            folders[pick[0]].clear()  # the same list object is in `found`: empty it there too
    return [g for g in found if g]


def resolve(members: Sequence[CompetitorScore]) -> CompetitorScore:
    """One submission's standing: status, the deciding figure and its provenance."""
    status = _status(members)

    def backs(s: CompetitorScore) -> bool:  # does this member carry the submission's status?
        return _on_board(s) or (provenance_of(s) != "leaderboard" and _own_status(s) == status)

    # the figure comes from the members that carry the status: an open PR touching a merged
    # folder is grouped with it but never rewrites the accepted record (its figure is a claim)
    ordered = sorted(members, key=lambda s: (not backs(s), _rank(s)))
    top = ordered[0]
    value, prov, text = top.val_bpb, provenance_of(top), str(top.extra.get("score_text") or "")
    # every figure any member saw (a merged folder carries its README's and log's figures too)
    figures: list[tuple[int, str, float, str]] = []
    for s in ordered:
        own = [(provenance_of(s), s.val_bpb, str(s.extra.get("score_text") or ""))]
        seen = dict(s.extra.get("figures") or {})
        own += [(str(p), float(v), "") for p, v in seen.items() if str(p) != provenance_of(s)]
        tag = "" if backs(s) else f" ({_own_status(s)}, PR #{s.pr})" if s.pr else f" ({_own_status(s)})"
        for p, v, t in own:
            if v is not None:
                rank = PRECEDENCE.index(p) if p in PRECEDENCE else len(PRECEDENCE)
                figures.append((rank + (len(PRECEDENCE) + 1 if tag else 0), p + tag, v, t))
    figures.sort(key=lambda f: f[0])
    confirmed: list[str] = []
    disagreements: list[str] = []
    for _, p, v, t in figures:
        if value is None or p == prov:
            continue
        if agrees(value, v, text) or agrees(v, value, t):
            confirmed.append(p)  # agreeing within rounding: a claim can add digits, never move it
            if len(repr(v)) > len(repr(value)) and agrees(value, v, text):
                value, text = v, repr(v)  # same figure, more digits
        else:
            note = f"{p} says {v:g}, {prov} says {value:g}: {prov} wins"
            if note not in disagreements:
                disagreements.append(note)
    # descriptive fields: the best-informed member (a folder beats a leaderboard row for bytes,
    # seeds; the leaderboard's name and date are the maintainers')
    base = next((s for s in ordered if provenance_of(s) != "leaderboard"), top)
    board_row = next((s for s in ordered if provenance_of(s) == "leaderboard"), None)
    extra = dict(base.extra)
    extra.update(
        {
            "sources": sorted({s.key for s in members}),
            "confirmed_by": sorted(set(confirmed)),
        }
    )
    extra.pop("disagreements", None)
    if disagreements:
        extra["disagreements"] = disagreements
    nonrec = status == STATUS_NON_RECORD or (status != STATUS_RECORD and base.track == "non-record")
    return replace(
        base,
        name=(board_row.name if board_row else base.name) or base.name,
        author=(board_row.author if board_row and board_row.author else base.author),
        date=(board_row.date if board_row and board_row.date else base.date),
        pr=next((s.pr for s in ordered if _pr_identity(s) is not None), base.pr),
        url=(board_row.url if board_row and board_row.url else base.url),
        techniques=(board_row.techniques if board_row else base.techniques) or base.techniques,
        val_bpb=value,
        provenance=prov,
        status=status,
        board="non-record" if nonrec else "record",
        extra=extra,
    )


def standings(scores: Iterable[CompetitorScore]) -> list[CompetitorScore]:
    """Every parameter-golf submission once, best first within status order."""
    order = {STATUS_RECORD: 0, STATUS_NON_RECORD: 1, STATUS_CLAIM: 2, STATUS_CLOSED: 3}
    rows = [resolve(g) for g in groups(scores)]
    return sorted(rows, key=lambda s: (order.get(s.status, 9), s.val_bpb or 0.0, s.date, s.name))


def accepted(scores: Iterable[CompetitorScore], board: str = "record") -> list[CompetitorScore]:
    """Accepted submissions of one board (``record`` or ``non-record``), best first."""
    want = STATUS_RECORD if board == "record" else STATUS_NON_RECORD
    return [s for s in standings(scores) if s.status == want]


def claims(scores: Iterable[CompetitorScore]) -> list[CompetitorScore]:
    """Open claims (not accepted, not closed), best first."""
    return [s for s in standings(scores) if s.status == STATUS_CLAIM]


def sota(scores: Iterable[CompetitorScore]) -> CompetitorScore | None:
    """The best accepted record, or None."""
    rows = accepted(scores)
    return rows[0] if rows else None
