"""GitHub Actions event payloads, slash commands, and the ONE trust function.

An :class:`Event` is built from ``$GITHUB_EVENT_PATH`` (``pull_request`` opened / synchronize /
reopened / labeled, ``issue_comment``, ``workflow_dispatch``) with no network. Slash commands sit
on a comment's first line: ``/promote [seeds=N]``, ``/retrain``, ``/status``, ``/budget``,
``/abort``, ``/help``.

Trust (:func:`authorize`) is the same for every command and for the ``promote`` label:

1. :func:`prefilter` (offline): only ``created`` comments; only on a pull request; bots ignored
   (including ourselves — except our own App adding the promote label when the auto-promotion
   policy is on); ``author_association`` must be OWNER/MEMBER/COLLABORATOR. This is a cheap
   pre-filter, never the decision.
2. The decision: the collaborator-permission endpoint says write, maintain or admin.

Approval binds to the head SHA the approver saw (:func:`bind_head`): if the head has moved, the
promotion is refused and the ``promote`` label removed with an explanation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import InputError, TrustError
from bot.forge.base import TRUSTED_PERMISSIONS, Forge

COMMANDS = ("promote", "retrain", "status", "budget", "abort", "help")
COMMAND_HELP = {
    "promote": "`/promote <head sha> [seeds=N]` — train exactly that commit (this PR's head) on RunPod "
    "H100s, N seeds (1-8, default 1); a bare `/promote` replies with the command for the current head",
    "retrain": "`/retrain` — re-run the local (Apple Silicon) tier on this PR's head",
    "status": "`/status` — refresh the sticky comment with this PR's results and promotion state",
    "budget": "`/budget` — show compute credits, spend, reservations and whether a run may start",
    "abort": "`/abort` — stop this PR's running promotion, terminate its pod and settle the cost",
    "help": "`/help` — this list",
}
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
MAX_SEEDS = 8
PR_EVENTS = ("opened", "synchronize", "reopened", "labeled")


@dataclass(frozen=True)
class SlashCommand:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    raw: str = ""


@dataclass(frozen=True)
class Event:
    name: str  # pull_request | issue_comment | workflow_dispatch | …
    action: str
    repo: str
    pr: int | None
    is_pr: bool
    actor: str
    actor_type: str  # User | Bot | Organization
    author_association: str
    head_sha: str | None = None
    head_repo: str | None = None
    label: str | None = None
    comment_id: int | None = None
    command: SlashCommand | None = None
    labels: tuple[str, ...] = ()

    @property
    def actor_is_bot(self) -> bool:
        return self.actor_type == "Bot" or self.actor.endswith("[bot]")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    stage: str = "prefilter"  # prefilter | permission
    permission: str | None = None


@dataclass(frozen=True)
class Approval:
    """THE typed approval a promotion checks (``bot.compute.gates.check_trust``): who approved
    which commit, and whether that is allowed. Made from :func:`authorize`'s decision plus
    :func:`bind_head` (the forge: ``/promote <sha>``, the label, a dispatch) or by
    ``bot.compute.gates.operator_approval`` (the operator at the command line)."""

    allowed: bool
    reason: str
    sha: str = ""
    actor: str = ""


# The full object name only (SHA-1 or SHA-256 repositories): an abbreviation binds nothing, since a
# PR author can grind a commit whose name starts the same way (7 hex digits = 2^28 tries).
SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
SHA_RULE = "the full 40-character hex SHA of the head commit"
SEEDS_RE = re.compile(r"[0-9]{1,2}")  # ASCII digits only: "²".isdigit() is True but int("²") fails


def promote_usage() -> str:
    return f"accepted: `/promote <head sha> [seeds=N]` with {SHA_RULE} (no abbreviation) and N from 1 to {MAX_SEEDS}"


def parse_command(body: str) -> SlashCommand | None:
    """The slash command on the first non-blank line of ``body``; None when there is none.

    Never raises: any argument it does not accept becomes ``error`` (a reply that says what is
    accepted)."""
    try:
        return _parse_command(body)
    except Exception as exc:  # a parser bug must become a reply, not a crashed workflow
        first = next((ln.strip() for ln in (body or "").splitlines() if ln.strip()), "")
        return SlashCommand(
            "unknown", {}, f"could not read the command ({type(exc).__name__}); try /help", first
        )


def _parse_command(body: str) -> SlashCommand | None:
    lines = [ln.strip() for ln in (body or "").splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("/"):
        return None
    first = lines[0]
    words = first.split()
    name = words[0][1:].lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        return None  # "/ something", a path like "/tmp/x"… is not a command
    if name not in COMMANDS:
        return SlashCommand(name, {}, f"unknown command /{name[:40]} (try /help)", first)
    args: dict[str, Any] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        shown = word if len(word) <= 60 else word[:60] + "…"
        if name == "promote" and sep and key.lower() == "seeds":
            if not SEEDS_RE.fullmatch(value) or not 1 <= int(value) <= MAX_SEEDS:
                return SlashCommand(
                    name,
                    {},
                    f"seeds must be a whole number from 1 to {MAX_SEEDS}, not {value[:20]!r} ({promote_usage()})",
                    first,
                )
            args["seeds"] = int(value)
        elif name == "promote" and not sep and "sha" not in args and SHA_RE.fullmatch(word.lower()):
            args["sha"] = word.lower()
        elif name == "promote":
            return SlashCommand(name, {}, f"/promote does not take {shown!r} ({promote_usage()})", first)
        else:
            return SlashCommand(name, {}, f"/{name} takes no arguments, not {shown!r} (try /help)", first)
    if name == "promote":
        args.setdefault("seeds", 1)
    return SlashCommand(name, args, "", first)


def _user(obj: Any) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return "", "User"
    return str(obj.get("login") or ""), str(obj.get("type") or "User")


def parse_payload(payload: Any, event_name: str, settings: Settings | None = None) -> Event:
    """Build an :class:`Event` from a webhook payload (``where`` names the file in errors)."""
    s = settings or Settings()
    if not isinstance(payload, dict):
        raise InputError("the event payload must be a JSON object")
    repo = str((payload.get("repository") or {}).get("full_name") or "")
    sender, sender_type = _user(payload.get("sender"))
    action = str(payload.get("action") or "")
    if event_name == "issue_comment":
        issue = payload.get("issue")
        comment = payload.get("comment")
        if not isinstance(issue, dict) or not isinstance(comment, dict):
            raise InputError("issue_comment payload without 'issue' and 'comment'", field="issue")
        author, author_type = _user(comment.get("user"))
        return Event(
            name=event_name,
            action=action,
            repo=repo,
            pr=int(issue["number"]) if "number" in issue else None,
            is_pr=bool(issue.get("pull_request")),
            actor=author or sender,
            actor_type=author_type if author else sender_type,
            author_association=str(comment.get("author_association") or "NONE"),
            comment_id=int(comment["id"]) if "id" in comment else None,
            command=parse_command(str(comment.get("body") or "")),
            labels=tuple(str(lb.get("name")) for lb in issue.get("labels") or [] if isinstance(lb, dict)),
        )
    if event_name in ("pull_request", "pull_request_target"):
        pr = payload.get("pull_request")
        if not isinstance(pr, dict):
            raise InputError("pull_request payload without 'pull_request'", field="pull_request")
        head = pr.get("head") or {}
        label = (payload.get("label") or {}).get("name") if action in ("labeled", "unlabeled") else None
        command = (
            SlashCommand("promote", {"seeds": 1}, "", f"label:{label}")
            if action == "labeled" and label == s.promote_label
            else SlashCommand("hold", {}, "", f"label:{label}")
            if action == "labeled" and label == s.research_hold_label
            else None
        )
        return Event(
            name=event_name,
            action=action,
            repo=repo,
            pr=int(pr.get("number") or payload.get("number") or 0) or None,
            is_pr=True,
            actor=sender,
            actor_type=sender_type,
            # A label event does not say how the *labeler* relates to the repository; the
            # permission endpoint decides for them.
            author_association="" if action == "labeled" else str(pr.get("author_association") or "NONE"),
            head_sha=str(head.get("sha") or "") or None,
            head_repo=str((head.get("repo") or {}).get("full_name") or "") or None,
            label=str(label) if label else None,
            command=command,
            labels=tuple(str(lb.get("name")) for lb in pr.get("labels") or [] if isinstance(lb, dict)),
        )
    if event_name == "workflow_dispatch":
        inputs = payload.get("inputs") or {}
        pr_text = str(inputs.get("pr") or "").strip()
        if not re.fullmatch(r"[0-9]{1,9}", pr_text):
            raise InputError(
                f"workflow_dispatch input 'pr' must be a PR number, not {pr_text!r}", field="inputs.pr"
            )
        seeds_text = str(inputs.get("seeds") or "1").strip()
        # promote.yml dispatches promotions only; the seeds input goes through the same parser.
        sha_text = str(inputs.get("sha") or "").strip().lower()
        if not SEEDS_RE.fullmatch(seeds_text) or not 1 <= int(seeds_text) <= MAX_SEEDS:
            cmd = SlashCommand(
                "promote",
                {},
                f"seeds must be a whole number from 1 to {MAX_SEEDS}, not {seeds_text[:20]!r}",
                "dispatch",
            )
        elif sha_text and not SHA_RE.fullmatch(sha_text):
            cmd = SlashCommand("promote", {}, f"sha must be {SHA_RULE}, not {sha_text[:60]!r}", "dispatch")
        else:
            args: dict[str, Any] = {"seeds": int(seeds_text)}
            if sha_text:
                args["sha"] = sha_text
            cmd = SlashCommand("promote", args, "", "dispatch")
        return Event(
            name=event_name,
            action="dispatch",
            repo=repo,
            pr=int(pr_text),
            is_pr=True,
            actor=sender,
            actor_type=sender_type,
            author_association="",
            head_sha=str(inputs.get("sha") or "").strip() or None,
            command=cmd,
        )
    return Event(event_name, action, repo, None, False, sender, sender_type, "")


def infer_event_name(payload: Any) -> str:
    if isinstance(payload, dict):
        if "comment" in payload and "issue" in payload:
            return "issue_comment"
        if "pull_request" in payload:
            return "pull_request"
        if "inputs" in payload:
            return "workflow_dispatch"
        if "schedule" in payload:
            return "schedule"
    return "unknown"


def load_event(
    path: Path | str,
    event_name: str | None = None,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
) -> Event:
    """Read ``$GITHUB_EVENT_PATH``; the event name comes from ``event_name``, ``$GITHUB_EVENT_NAME``
    or the payload's shape."""
    env = os.environ if env is None else env
    p = Path(path)
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("event file not found", path=str(p)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON event payload: {exc}", path=str(p)) from None
    name = event_name or env.get("GITHUB_EVENT_NAME") or infer_event_name(payload)
    try:
        return parse_payload(payload, name, settings)
    except InputError as exc:
        raise InputError(str(exc), path=str(p)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed {name} payload: {exc!r}", path=str(p)) from None


# --------------------------------------------------------------------------- trust
def prefilter(event: Event, settings: Settings | None = None, *, bot_login: str = "") -> Decision:
    """The offline part of the trust check. Passing it is necessary, never sufficient."""
    s = settings or Settings()
    if event.name == "issue_comment":
        if event.action != "created":
            return Decision(
                False,
                f"comment {event.action or 'event'}: only newly created comments are commands (edits are ignored)",
            )
        if not event.is_pr:
            return Decision(False, "comment on an issue, not a pull request")
        if event.actor_is_bot:
            return Decision(False, f"comments by bots are ignored ({event.actor})")
        if event.command is None:
            return Decision(False, "no slash command on the comment's first line")
        if event.command.error:
            return Decision(False, event.command.error)
        if event.author_association not in TRUSTED_ASSOCIATIONS:
            return Decision(
                False,
                f"author_association {event.author_association}: only repository collaborators may run commands",
            )
        return Decision(True, "pre-filter passed; the collaborator permission decides")
    if event.name in ("pull_request", "pull_request_target"):
        if event.action != "labeled":
            return Decision(False, f"pull_request {event.action} is not a command")
        if event.label == s.research_hold_label and event.label != s.promote_label:
            # the research PR's brake (bot.research_review): a person with write permission
            if event.actor_is_bot:
                return Decision(False, f"labels added by bots are ignored ({event.actor})")
            return Decision(True, "pre-filter passed; the labeler's collaborator permission decides")
        if event.label != s.promote_label:
            return Decision(
                False,
                f"label {event.label!r} is not a command (only {s.promote_label!r} and {s.research_hold_label!r} are)",
            )
        if event.actor_is_bot:
            own = bool(bot_login) and event.actor == bot_login
            if not (s.auto_promote and (own or not bot_login)):
                return Decision(
                    False,
                    f"labels added by bots are ignored ({event.actor}); auto_promote is {'on' if s.auto_promote else 'off'}",
                )
        if not event.head_sha:
            return Decision(False, "labeled event without a head SHA")
        return Decision(True, "pre-filter passed; the labeler's collaborator permission decides")
    if event.name == "pull_request_review":
        # a review that requests changes on the research PR (bot.research_review) holds its merge
        if event.action != "submitted" or not event.is_pr or event.pr is None:
            return Decision(
                False, f"pull_request_review {event.action or 'event'} is not a request for changes"
            )
        if event.actor_is_bot:
            return Decision(False, f"reviews by bots are ignored ({event.actor})")
        return Decision(True, "pre-filter passed; the reviewer's collaborator permission decides")
    if event.name == "workflow_dispatch":
        if event.command is None or event.command.error:
            return Decision(False, event.command.error if event.command else "no command")
        if event.actor_is_bot and not s.auto_promote:
            return Decision(False, f"dispatches by bots are ignored ({event.actor})")
        return Decision(True, "pre-filter passed; the dispatcher's collaborator permission decides")
    return Decision(False, f"event {event.name!r} carries no command")


def authorize(event: Event, forge: Forge, settings: Settings | None = None) -> Decision:
    """THE trust function, for every command and for the promote label."""
    s = settings or Settings()
    bot_login = forge.bot_login if event.actor_is_bot else ""
    pre = prefilter(event, s, bot_login=bot_login)
    if not pre.allowed:
        return pre
    if event.actor_is_bot:
        # Only reachable for our own App with the auto-promotion policy on (prefilter above).
        if event.actor != bot_login:
            return Decision(False, f"bot {event.actor} is not this repository's App", "permission")
        return Decision(
            True, "our App applied the label under the auto-promotion policy", "permission", "app"
        )
    role = forge.permission(event.actor)
    if role in TRUSTED_PERMISSIONS:
        return Decision(True, f"{event.actor} has {role} permission", "permission", role)
    return Decision(
        False,
        f"{event.actor} has {role} permission; write, maintain or admin is required",
        "permission",
        role,
    )


def require(event: Event, forge: Forge, settings: Settings | None = None) -> Decision:
    d = authorize(event, forge, settings)
    if not d.allowed:
        raise TrustError(d.reason)
    return d


def promote_hint(pr: int, head: str, seeds: int = 1) -> str:
    """The reply to a bare ``/promote``: the exact command that approves the current head."""
    extra = f" seeds={seeds}" if seeds != 1 else ""
    return (
        f"To promote #{pr}, approve the exact commit you reviewed. The head is now `{head}`:\n\n"
        f"```\n/promote {head}{extra}\n```\n\n"
        "Only that commit is trained; if the head moves before the run starts, the promotion is refused."
    )


def head_moved_message(pr: int, approved: str, current: str, label: str) -> str:
    return (
        f"⚠️ Promotion of #{pr} refused: the approval was for `{approved[:12]}` but the head is now "
        f"`{current[:12]}`. New commits need a new approval, so the `{label}` label was removed. "
        f"Review the new commits and add the label (or comment `/promote`) again."
    )


def bind_head(forge: Forge, pr: int, approved_sha: str, settings: Settings | None = None) -> str:
    """Check that the PR head is still the approved SHA; otherwise remove the promote label,
    explain why on the PR and raise :class:`TrustError`. Returns the SHA to ship."""
    s = settings or Settings()
    current = forge.get_pr(pr).head_sha
    if approved_sha and current == approved_sha.lower():
        return current
    removed = forge.remove_label(pr, s.promote_label)
    forge.create_comment(pr, head_moved_message(pr, approved_sha or "(none)", current, s.promote_label))
    raise TrustError(
        f"PR #{pr}: head moved from {approved_sha[:12] or '(none)'} to {current[:12]}; promotion refused"
        + ("; promote label removed" if removed else "")
    )
