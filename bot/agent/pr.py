"""The experiment pull request: branch ``exp/<slug>`` with one commit, its body, labels, archive.

The body has three sections, in this order:

``## Hypothesis``
    The research item it comes from (title, grade, category, link) and what should improve.
``## Change``
    What was changed and why; the expected effect on artifact bytes, step time and val_bpb; the
    validation that ran before the push.
``## Results``
    A placeholder: the bot's sticky comment carries the local and RunPod results.

It ends with the trailer ``Research-Item: <id>`` (the reference calibration reads, also in the
commit message), so the outcome can be linked to the grade. Labels: ``experiment``,
``technique:<category>`` and ``mlx-only`` when the change is MLX-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.agent import gitops
from bot.agent.record import Proposal
from bot.errors import ExperimentError
from bot.grading import calibration
from bot.grading.calibration import defuse_refs
from bot.program import one_line, sanitize

BRANCH_PREFIX = "exp/"
EXPERIMENT_LABEL = "experiment"
MLX_ONLY_LABEL = "mlx-only"
ITEM_TRAILER = "Research-Item"
MAX_BODY_CHARS = 60_000  # GitHub refuses bodies over 65,536 characters
SLUG_MAX = 48


def item_reference(item_id: str) -> str:
    """The trailer that links a PR or commit to its research item (read by calibration)."""
    try:
        return calibration.item_trailer(item_id)
    except ValueError:
        return f"{ITEM_TRAILER}: {item_id.split()[0] if item_id.split() else 'unknown'}"


def item_tag(item_id: str) -> str:
    try:
        return calibration.item_tag(item_id)
    except ValueError:
        return ""


def slugify(text: str, limit: int = SLUG_MAX) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(s) > limit:
        s = s[:limit].rsplit("-", 1)[0] if "-" in s[:limit] else s[:limit]
    return s.strip("-") or "experiment"


def unique_slug(text: str, taken: set[str], repo: Path | str | None = None) -> str:
    """A slug not used by an archived proposal nor by an existing ``exp/`` branch."""
    base = slugify(text)
    n = 1
    while True:
        slug = base if n == 1 else f"{base}-{n}"
        busy = slug in taken or (repo is not None and gitops.branch_exists(repo, BRANCH_PREFIX + slug))
        if not busy:
            return slug
        n += 1


def labels_for(proposal: Proposal) -> list[str]:
    labels = [EXPERIMENT_LABEL]
    if proposal.category:
        labels.append(f"technique:{slugify(proposal.category, 32)}")
    if proposal.mlx_only:
        labels.append(MLX_ONLY_LABEL)
    return labels


def _text(value: str, limit: int = 4000) -> str:
    value = defuse_refs(sanitize(value or "")).strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _check_line(checks: Sequence[dict[str, Any]]) -> str:
    if not checks:
        return "not run"
    parts = []
    for c in checks:
        mark = "✓" if c.get("ok") else "✗"
        detail = one_line(str(c.get("detail", "")), 160)
        parts.append(f"- {mark} `{c.get('name')}` — {defuse_refs(sanitize(detail))}")
    return "\n".join(parts)


def render_body(proposal: Proposal, *, item_url: str = "", diffstat: str = "") -> str:
    """The PR body (three sections + the research-item trailer)."""
    p = proposal
    item = f"**{_text(p.item_title or p.item_id, 300)}**"
    meta = [f"`{p.item_id}`"] if p.item_id else []
    if p.item_grade:
        meta.append(f"grade {p.item_grade}")
    if p.category:
        meta.append(f"category {p.category}")
    if item_url:
        meta.append(f"<{defuse_refs(sanitize(item_url))}>")
    mlx = (
        f"**MLX-only:** yes — {_text(p.mlx_only_reason, 600) or 'no reason given'}. The parity gate is waived, "
        "so this PR cannot be promoted to RunPod."
        if p.mlx_only
        else "**MLX-only:** no — the same change is made in both scripts, so the parity gate can pass."
    )
    lines = [
        "## Hypothesis",
        "",
        _text(p.hypothesis) or "_(none given)_",
        "",
        f"From research item {item} ({' · '.join(meta)}).",
        "",
        "## Change",
        "",
        _text(p.change) or "_(none given)_",
        "",
        mlx,
        "",
        "| expected effect on | |",
        "|---|---|",
        f"| artifact bytes | {_cell(p.expected_bytes)} |",
        f"| step time | {_cell(p.expected_step_time)} |",
        f"| val_bpb | {_cell(p.expected_val_bpb)} |",
        "",
    ]
    if diffstat.strip():
        lines += ["```", sanitize(diffstat.strip("\n")), "```", ""]
    lines += [
        "Validation before push:",
        "",
        _check_line(p.checks),
        "",
        "## Results",
        "",
        "_Pending: the bot's sticky comment on this PR reports the local (MLX) run, Δ vs the running "
        "local baseline and, after promotion, the RunPod result._",
        "",
        "---",
        f"Proposed by the pgolf experimenter ({p.proposer}"
        + (f", ${p.cost_usd:.4f} of LLM spend" if p.cost_usd else "")
        + ")"
        + (f"; full diff archived at `{p.patch_path}`." if p.patch_path else "."),
        "",
        item_reference(p.item_id) if p.item_id else "",
    ]
    body = "\n".join(lines).rstrip() + "\n"
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - 200] + "\n\n…(truncated)\n\n" + item_reference(p.item_id) + "\n"
    return body


def _cell(text: str) -> str:
    return defuse_refs(one_line(sanitize(text or "not stated"), 200)).replace("|", "\\|")


def commit_message(proposal: Proposal) -> str:
    title = defuse_refs(one_line(proposal.title or proposal.slug, 72))
    body = defuse_refs(one_line(proposal.change, 600))
    return (
        f"exp: {title}\n\n{body}\n\n{item_reference(proposal.item_id)}\n"
        if proposal.item_id
        else f"exp: {title}\n\n{body}\n"
    )


# --------------------------------------------------------------------------- the forge seam
@dataclass
class OpenedPR:
    number: int
    url: str = ""


class ExperimentForge(Protocol):
    """What publishing needs from a forge (GitHub or the local one)."""

    def publish_branch(self, repo: Path, branch: str) -> None:
        """Make the local branch ``branch`` visible to the forge (push, or nothing when local)."""
        ...

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> OpenedPR: ...


@dataclass
class Published:
    branch: str
    head_sha: str
    pr: OpenedPR


def publish(
    repo: Path | str,
    forge: ExperimentForge,
    proposal: Proposal,
    changed: dict[str, str],
    *,
    base_branch: str,
    item_url: str = "",
) -> Published:
    """Commit ``changed`` on top of ``proposal.base_sha`` as ``exp/<slug>``, push, open the PR."""
    repo = Path(repo)
    if not changed:
        raise ExperimentError("nothing to publish: the proposal changes no file")
    branch = BRANCH_PREFIX + proposal.slug
    if gitops.branch_exists(repo, branch):
        raise ExperimentError(f"branch {branch} already exists; refusing to overwrite it", path=str(repo))
    tree = gitops.build_tree(repo, proposal.base_sha, changed)
    commit = gitops.commit_tree(repo, tree, proposal.base_sha, commit_message(proposal))
    gitops.create_branch(repo, branch, commit)
    diffstat = gitops.git(repo, "diff", "--stat", proposal.base_sha, commit)
    proposal.branch = branch
    proposal.head_sha = commit
    proposal.labels = labels_for(proposal)
    forge.publish_branch(repo, branch)
    title = f"[exp] {defuse_refs(one_line(proposal.title or proposal.slug, 100))}"
    if proposal.item_id and item_tag(proposal.item_id):
        title += f" {item_tag(proposal.item_id)}"
    opened = forge.open_pull(
        branch=branch,
        base=base_branch,
        title=title,
        body=render_body(proposal, item_url=item_url, diffstat=diffstat),
        labels=proposal.labels,
    )
    return Published(branch, commit, opened)


class ForgePublisher:
    """Adapts a :class:`bot.forge.base.Forge` to what publishing needs.

    * local forge: the branch already lives in the repository the forge reads; nothing to push;
    * GitHub: ``git push`` of the branch to ``remote`` (default ``origin``). With App credentials
      the installation token is passed to git as an HTTP header through ``GIT_CONFIG_*``
      environment variables — never on the command line, never in the remote URL, never logged —
      so the push (and the PR) triggers the experiment workflow, which pushes made with the
      workflow's own ``GITHUB_TOKEN`` would not. Without an App, ``GITHUB_TOKEN`` is used the same
      way (the experiment workflow then has to be started by hand or by the next push).
    """

    def __init__(
        self,
        forge: Any,
        *,
        remote: str = "origin",
        server_url: str | None = None,
        env: Mapping[str, str] | None = None,
    ):
        import os

        self.forge = forge
        self.remote = remote
        self.env = dict(os.environ if env is None else env)
        self.server_url = (server_url or self.env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip(
            "/"
        )

    @property
    def kind(self) -> str:
        return str(self.forge.info().kind)

    def publish_branch(self, repo: Path, branch: str) -> None:
        if self.kind == "local":
            if not gitops.branch_exists(getattr(self.forge, "root", repo), branch):
                raise ExperimentError(f"branch {branch} is not in the local forge's repository")
            return
        if self.remote not in gitops.remotes(repo):
            raise ExperimentError(f"no git remote {self.remote!r} to push {branch} to", path=str(repo))
        env: dict[str, str] = {}
        tokens = getattr(self.forge, "tokens", None)
        token = (
            tokens.token
            if tokens is not None
            else (self.env.get("GITHUB_TOKEN") or self.env.get("GH_TOKEN") or "")
        )
        if token:
            import base64

            cred = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env = {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.{self.server_url}/.extraheader",
                "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {cred}",
                "GIT_TERMINAL_PROMPT": "0",
            }
        try:
            gitops.git(
                repo,
                "push",
                "--quiet",
                self.remote,
                f"refs/heads/{branch}:refs/heads/{branch}",
                env=env,
                timeout=300,
            )
        except ExperimentError as exc:
            raise ExperimentError(f"pushing {branch} failed: {exc}") from None

    def open_pull(self, *, branch: str, base: str, title: str, body: str, labels: Sequence[str]) -> OpenedPR:
        from bot.errors import ForgeError

        try:
            pr = self.forge.open_pr(branch, base, title, body, list(labels))
        except ForgeError as exc:
            raise ExperimentError(f"opening the pull request failed: {exc}") from None
        return OpenedPR(int(pr.number), str(pr.url))
