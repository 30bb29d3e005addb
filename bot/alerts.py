"""One "pgolf alerts" issue: what a maintainer must hear about outside any pull request.

Reaper failures, overruns, promotions the reaper had to settle, and differences between what
budget.json books and what RunPod reports open the issue (title :data:`TITLE`, label
:data:`LABEL`, a hidden marker) or, while it is open, add one comment to it. The issue is found
by label, marker *and* an author among pgolf's own identities (a copy opened by someone else
does not count); a closed issue means "handled", so the next alert opens a fresh one.

A forge without issues (the local forge) gets the alerts appended to ``alerts.md`` in a folder
the caller names (``.pgolf/`` for the reaper).
Alerts are never fatal to the job that raises them: a failure to post is reported back.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot import clock
from bot.errors import ForgeError

TITLE = "pgolf alerts"
LABEL = "pgolf-alerts"
MARKER = "<!-- pgolf:alerts -->"
KINDS = ("reaper-failure", "overrun", "reaper-settled", "booked-vs-runpod", "paused")


@dataclass
class Alert:
    kind: str
    message: str

    def line(self) -> str:
        return f"- **{self.kind}**: {html.escape(self.message, quote=False)}"


@dataclass
class AlertOutcome:
    alerts: list[Alert] = field(default_factory=list)
    issue: int | None = None
    created: bool = False
    commented: bool = False
    fallback: str = ""  # the file written when the forge has no issues
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _body(alerts: list[Alert], run_url: str) -> str:
    when = clock.stamp()
    head = f"**{len(alerts)} alert(s)** at {when}" + (f" — [workflow run]({run_url})" if run_url else "")
    return "\n".join([head, "", *[a.line() for a in alerts]])


def find_issue(forge: Any, identities: set[str]) -> int | None:
    """The open alerts issue: label, marker and an author among ``identities`` (pgolf's own)."""
    for issue in forge.find_issues(LABEL):
        if MARKER in issue.body and issue.author in identities and issue.state == "open":
            return issue.number
    return None


def raise_alerts(
    forge: Any,
    alerts: list[Alert],
    fallback_dir: Path,
    *,
    identities: set[str] | None = None,
    run_url: str = "",
) -> AlertOutcome:
    """Open or update the alerts issue with ``alerts`` (nothing happens for an empty list);
    without issues, append them to ``fallback_dir/alerts.md``. ``identities`` are pgolf's own
    logins (:func:`bot.forge.sticky.pgolf_identities`); by default the forge's own login and
    ``github-actions[bot]``."""
    out = AlertOutcome(list(alerts))
    if not alerts:
        return out
    text = _body(alerts, run_url)
    try:
        if forge is None:
            raise ForgeError("no forge")
        ids = identities if identities is not None else {str(forge.bot_login), "github-actions[bot]"}
        number = find_issue(forge, ids)
        if number is None:
            intro = (
                f"{MARKER}\nThis issue collects what pgolf could not settle or explain by itself: reaper "
                "failures, budget overruns, promotions the reaper had to book, and differences between "
                "budget.json and RunPod. Close it once handled; the next alert opens a new one. "
                "`pgolf pause` stops every paid run.\n\n"
            )
            issue = forge.create_issue(TITLE, intro + text, [LABEL])
            out.issue, out.created = issue.number, True
        else:
            forge.create_comment(number, text)
            out.issue, out.commented = number, True
    except ForgeError as exc:
        path = Path(fallback_dir) / "alerts.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n\n")
        out.fallback = str(path)
        out.error = str(exc)
    return out


def reap_alerts(report: Any) -> list[Alert]:
    """The alerts a reaper tick produced (see :class:`bot.compute.reaper.ReapReport`)."""
    alerts: list[Alert] = []
    for err in getattr(report, "errors", []):
        alerts.append(Alert("reaper-failure", err))
    for a in getattr(report, "actions", []):
        if getattr(report, "dry_run", False):
            continue
        if a.error:
            alerts.append(
                Alert("reaper-failure", f"{a.name} ({a.pod_id or 'no pod'}): {a.reason}: {a.error}")
            )
            continue
        if a.overrun:
            alerts.append(
                Alert(
                    "overrun",
                    f"run {a.run_id} cost ${a.cost_usd:.2f} against ${a.reserved_usd:.2f} reserved; "
                    "new reservations stay blocked below the reserve floor until total_credits is raised",
                )
            )
        if a.settled:
            alerts.append(Alert("reaper-settled", f"{a.reason}: booked ${a.cost_usd:.2f} ({a.settled})"))
    for d in getattr(report, "differences", []):
        alerts.append(Alert("booked-vs-runpod", d))
    return alerts
