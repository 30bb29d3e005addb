"""``pgolf ledger commit``: put the ledger (results.tsv, budget.json, program.md, research state)
on the default branch from CI, as the App, with ``[skip ci]``, surviving races.

Two workflows may finish at the same moment and both append a row. Instead of a textual
``git pull --rebase`` (which conflicts on every pair of appended rows), each attempt does:

1. fetch the remote branch tip T;
2. in a temporary worktree at T, three-way merge every ledger file: base = the file at the commit
   our working copy started from (HEAD), ours = the working copy, theirs = T's file;
3. commit there as the App (``… [skip ci]``) and push; when the push is rejected because someone
   else pushed first, start again from 1 (up to ``ledger_push_attempts`` times).

The merges are semantic, so nothing is lost:

* ``results.tsv`` and ``*.jsonl`` research state: union of rows. Rows we added are appended
  unless already there; rows we rewrote (e.g. ``promoted`` pending → yes) replace the same row
  in place (matched on commit + tier + description); rows we deleted are deleted.
* ``budget.json``: our *changes* are re-applied on top of theirs. Runs are a union keyed by
  ``run_id`` (our version wins for a run we changed); reservations we opened are added and those
  we closed are removed; ``spent`` is recomputed from the runs; ``last_tier2_start`` is the later
  one; credit settings take our value only if we changed them. The budget is written by the
  promote workflow, which is serialized by its concurrency group (and by the reaper's orphan
  records), so real conflicts are rare; the result is validated with the budget's own reader and a
  merge that would break it stops the commit with an error instead of pushing.
* anything else (program.md): ``git merge-file``; on a real conflict our version wins (it is the
  fresher injection) and a warning says so.

Trust: the working copy must be a checkout of the branch it pushes to (HEAD in that branch's
history; a stale one is fine). A pull-request checkout is refused: its files, and any file the
PR's code could have rewritten while it ran, never reach the default branch. Trusted writers
(``pgolf experiment local-report``, research, promotion) append rows they computed themselves to a
fresh checkout of the default branch, and name what they computed with ``only`` (``--only``).
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot import clock
from bot.config import Settings, github_api_base
from bot.errors import BudgetError, LedgerError
from bot.forge.github import app_env
from bot.git import failure
from bot.git import run as run_git

SKIP_CI = "[skip ci]"
# A push lost a race (someone else updated the branch first, or at the same instant): fetch, merge
# again and retry. Anything else (a protected branch, no permission) is an error at once.
RETRYABLE_PUSH_ERRORS = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "[rejected]",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)
DEFAULT_BOT_NAME = "pgolf-bot[bot]"


@dataclass
class CommitResult:
    committed: bool
    pushed: bool
    sha: str = ""
    branch: str = ""
    attempts: int = 0
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- git plumbing
def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


class _Git:
    """git in ``cwd``; ``config_env`` is extra environment for every call (the push credentials
    travel as ``GIT_CONFIG_*`` variables, never on the command line where other local processes
    could read them); ``secrets`` are scrubbed from every error message."""

    def __init__(self, cwd: Path, config_env: Mapping[str, str], secrets: list[str]):
        self.cwd = cwd
        self.config_env = dict(config_env)
        self.secrets = secrets

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        proc = run_git(cwd or self.cwd, *args, input=input, env={**self.config_env, **(env or {})})
        if check and proc.returncode != 0:
            # the ledger commit failed: its own error (and exit code), git's words without secrets
            raise LedgerError(failure(args, proc, lambda text: _scrub(text, self.secrets)))
        return proc

    def out(self, *args: str, cwd: Path | None = None) -> str:
        return self.run(*args, cwd=cwd).stdout.decode("utf-8", "replace").strip()

    def show(self, rev: str, path: str) -> bytes | None:
        proc = self.run("cat-file", "blob", f"{rev}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def tree_files(self, rev: str, prefix: str) -> set[str]:
        proc = self.run("ls-tree", "-r", "--name-only", rev, "--", prefix, check=False)
        return set(proc.stdout.decode().split("\n")) - {""} if proc.returncode == 0 else set()


def _auth_config(
    env: Mapping[str, str], remote_url: str, settings: Settings
) -> tuple[dict[str, str], list[str]]:
    """``http.<server>/.extraheader`` for pushing with the App's token (or ``GITHUB_TOKEN``) over
    HTTPS, as actions/checkout does, but passed to git as ``GIT_CONFIG_COUNT`` /
    ``GIT_CONFIG_KEY_0`` / ``GIT_CONFIG_VALUE_0`` environment variables: no token is written to
    .git/config, appears in a URL, or shows on git's command line (``ps``, /proc/*/cmdline).
    Sent only to ``GITHUB_SERVER_URL`` (https, or exactly that server)."""
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    if not (remote_url.startswith("https://") or remote_url.startswith(server + "/")):
        return {}, []
    token = _push_token(env, settings)
    if not token:
        return {}, []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    # Keep any GIT_CONFIG_* entries the environment already carries; ours goes after them.
    have = os.environ.get("GIT_CONFIG_COUNT", "")
    n = int(have) if have.isdigit() else 0
    config = {
        "GIT_CONFIG_COUNT": str(n + 1),
        f"GIT_CONFIG_KEY_{n}": f"http.{server}/.extraheader",
        f"GIT_CONFIG_VALUE_{n}": f"AUTHORIZATION: basic {basic}",
    }
    return config, [token, basic]


def _push_token(env: Mapping[str, str], settings: Settings) -> str:
    """The App's installation token when the App is configured (the commit is pushed as the App),
    else ``GITHUB_TOKEN``."""
    if app_env(env, "ID"):
        from bot.forge.github import InstallationTokens, read_private_key

        key = read_private_key(env)
        if key:
            inst = app_env(env, "INSTALLATION_ID")
            tokens = InstallationTokens(
                app_env(env, "ID"),
                key,
                base_url=github_api_base(settings, env),
                installation_id=int(inst) if inst.isdigit() else None,
                repo=env.get("GITHUB_REPOSITORY", ""),
            )
            return tokens.token()
    return env.get("GITHUB_TOKEN") or ""


def commit_identity(env: Mapping[str, str]) -> tuple[str, str]:
    """The App's bot identity: ``<slug>[bot]`` and ``<id>+<slug>[bot]@users.noreply.github.com``."""
    slug = app_env(env, "SLUG")
    name = f"{slug}[bot]" if slug else DEFAULT_BOT_NAME
    bot_id = app_env(env, "BOT_ID")
    email = f"{bot_id}+{name}@users.noreply.github.com" if bot_id else f"{name}@users.noreply.github.com"
    return name, email


# --------------------------------------------------------------------------- merges
def _lines(data: bytes | None) -> list[str]:
    if not data:
        return []
    return [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]


def _row_key(line: str) -> tuple[str, ...]:
    cols = line.split("\t")
    return (cols[0], cols[1] if len(cols) > 1 else "", cols[-1] if len(cols) > 2 else "")


def merge_rows(base: bytes | None, ours: bytes | None, theirs: bytes | None, *, header: bool) -> bytes:
    """Three-way row merge: union of added rows, in-place rewrites, deletions."""
    b, o, t = _lines(base), _lines(ours), _lines(theirs)
    head: list[str] = []
    if header:
        first = o[:1] or t[:1] or b[:1]
        head = first if first and first[0].startswith("commit\t") else []
        b, o, t = (x[1:] if x[:1] == head and head else x for x in (b, o, t))
        if head:
            t = [ln for ln in t if ln != head[0]]
    added = [ln for ln in o if ln not in b]
    removed = [ln for ln in b if ln not in o]
    result = list(t)
    for old in removed:
        if old not in result:
            continue
        idx = result.index(old)
        key = _row_key(old) if header else None
        replacement = next((a for a in added if header and _row_key(a) == key), None)
        if replacement is not None:
            result[idx] = replacement
            added.remove(replacement)
        else:
            result.pop(idx)
    seen = set(result)
    for ln in added:
        if ln not in seen:
            result.append(ln)
            seen.add(ln)
    text = "\n".join(head + result)
    return (text + "\n").encode("utf-8") if text else b""


def merge_budget(
    base: bytes | None,
    ours: bytes | None,
    theirs: bytes | None,
    where: str = "budget.json",
    settings: Settings | None = None,
) -> bytes:
    """Re-apply our budget changes (relative to base) on top of theirs; validated.

    A reservation this side opened (new since base, unknown to theirs) was admitted against
    our checkout only; it is admitted again against the default branch (:func:`_readmit`), so
    two runners racing for the last dollars never both reach it, and a pause committed
    meanwhile wins. Settlements and other changes always merge."""

    def load(data: bytes | None) -> dict[str, Any]:
        if not data:
            return {}
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LedgerError(f"cannot merge: not valid JSON ({exc})", path=where) from None
        if not isinstance(obj, dict):
            raise LedgerError("cannot merge: top level is not an object", path=where)
        return obj

    b, o, t = load(base), load(ours), load(theirs)
    if not t:
        return ours or b""
    merged: dict[str, Any] = dict(t)
    for key in ("total_credits", "reserve_floor", "version", "paused"):
        if key in o and o.get(key) != b.get(key):
            merged[key] = o[key]

    def by_id(items: Any) -> dict[str, dict[str, Any]]:
        return {str(x.get("run_id")): x for x in items or [] if isinstance(x, dict)}

    bruns, oruns = by_id(b.get("runs")), by_id(o.get("runs"))
    runs = [dict(x) for x in t.get("runs") or []]
    index = {str(x.get("run_id")): i for i, x in enumerate(runs)}
    for rid, run in oruns.items():
        if bruns.get(rid) == run:
            continue  # unchanged by us
        if rid in index:
            runs[index[rid]] = run
        else:
            index[rid] = len(runs)
            runs.append(run)
    merged["runs"] = runs
    bres, ores = by_id(b.get("reservations")), by_id(o.get("reservations"))
    settled = {str(r.get("run_id")) for r in runs}
    # A reservation closes when we closed it or when its run is booked (by us or by them: a
    # reservation committed early and settled later, or settled by the reaper meanwhile).
    reservations = [
        dict(x)
        for x in t.get("reservations") or []
        if not (str(x.get("run_id")) in bres and str(x.get("run_id")) not in ores)
        and str(x.get("run_id")) not in settled
    ]
    have = {str(x.get("run_id")): i for i, x in enumerate(reservations)}
    for rid, res in ores.items():
        if rid in settled:
            continue
        if rid in have:
            if bres.get(rid) != res:  # we changed it (e.g. its pod id became known)
                reservations[have[rid]] = res
        elif rid not in bres:
            reservations.append(res)
    merged["reservations"] = reservations
    merged["spent"] = round(sum(float(r.get("cost_usd") or 0.0) for r in runs), 6)
    starts = [s for s in (t.get("last_tier2_start"), o.get("last_tier2_start")) if s]
    merged["last_tier2_start"] = max(starts) if starts else None
    try:
        merged_budget = budget_mod.from_json(merged, where)
        theirs_budget = budget_mod.from_json(t, where)
    except BudgetError as exc:
        raise LedgerError(f"the merged budget would be invalid ({exc}); not pushing", path=where) from None
    known = {str(x.get("run_id")) for x in t.get("reservations") or []} | set(index)
    new = [
        r
        for r in merged_budget.reservations
        if r.run_id in ores and r.run_id not in bres and r.run_id not in known
    ]
    _readmit(new, merged_budget, theirs_budget, where, settings)
    return (json.dumps(merged, indent=2) + "\n").encode("utf-8")


def _readmit(
    new: list[budget_mod.Reservation],
    merged: budget_mod.Budget,
    theirs: budget_mod.Budget,
    where: str,
    settings: Settings | None,
) -> None:
    """LedgerError when a reservation opened on a stale checkout no longer fits the default
    branch: the kill switch is on there, the merged reservations would eat into the reserve
    floor, or another Tier 2 start landed within the rate-limit interval."""
    for res in new:
        if theirs.paused:
            raise LedgerError(
                f"reservation {res.run_id} refused: paused on the default branch by "
                f"{theirs.paused.get('by') or 'a maintainer'}",
                path=where,
            )
        if not res.rate_limited or res.max_usd <= 0:
            continue  # a free (local) run holds nothing back
        free = merged.remaining - merged.reserved
        if free < merged.reserve_floor - 1e-9:
            raise LedgerError(
                f"reservation {res.run_id} of ${res.max_usd:.2f} no longer fits: with the default "
                f"branch's reservations ${free:.2f} would be left, below the reserve floor "
                f"${merged.reserve_floor:.2f} (another promotion reserved meanwhile)",
                path=where,
            )
        interval = settings.tier2_min_interval_seconds if settings is not None else 0
        if interval > 0:
            mine = budget_mod.parse_iso(res.created)
            others = [budget_mod.parse_iso(r.created) for r in theirs.reservations if r.rate_limited]
            if theirs.last_tier2_start:
                others.append(budget_mod.parse_iso(theirs.last_tier2_start))
            close = [o for o in others if abs((mine - o).total_seconds()) < interval]
            if close:
                raise LedgerError(
                    f"reservation {res.run_id} refused: rate limited, another Tier 2 start "
                    f"({clock.stamp(max(close))}) reached the default branch within "
                    f"{interval // 60} min",
                    path=where,
                )


def merge_text(
    base: bytes | None, ours: bytes | None, theirs: bytes | None, path: str, warn: list[str]
) -> bytes | None:
    with tempfile.TemporaryDirectory(prefix="pgolf-merge-") as d:
        files = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = Path(d) / name
            p.write_bytes(data or b"")
            files.append(str(p))
        proc = run_git(d, "merge-file", "-p", *files)
        if proc.returncode == 0:
            return proc.stdout
    warn.append(f"{path}: changed on both sides; kept this run's version")
    return ours


def merge_file(
    path: str,
    base: bytes | None,
    ours: bytes | None,
    theirs: bytes | None,
    settings: Settings,
    warn: list[str],
) -> bytes | None:
    """The three-way merge of one ledger file (None = the file is absent)."""
    if ours == base:
        return theirs
    if theirs in (base, ours):
        return ours
    if ours is None:  # we deleted a file they changed: keep theirs
        warn.append(f"{path}: deleted here but changed upstream; kept upstream's version")
        return theirs
    name = Path(path).name
    if path == settings.results_path or name.endswith(".tsv"):
        return merge_rows(base, ours, theirs, header=True)
    if name.endswith(".jsonl"):
        return merge_rows(base, ours, theirs, header=False)
    if path == settings.budget_path:
        return merge_budget(base, ours, theirs, path, settings)
    return merge_text(base, ours, theirs, path, warn)


# --------------------------------------------------------------------------- the command
# Never ledger files, whatever the repository's .gitignore says: the sibling lock files of
# bot.fileio.file_lock and the temporary files of atomic_write_bytes (``.<name>.<random>.tmp``).
SCRATCH_SUFFIXES = (".lock", ".tmp")


def _is_scratch(rel: str) -> bool:
    return rel.endswith(SCRATCH_SUFFIXES)


def _ignored(git: _Git, paths: list[str]) -> set[str]:
    """The paths git's ignore rules exclude (``git check-ignore``; tracked files never are)."""
    if not paths:
        return set()
    proc = git.run("check-ignore", "--stdin", "-z", check=False, input="\0".join(paths).encode() + b"\0")
    if proc.returncode not in (0, 1):  # 1 = none ignored; anything else: no answer, ignore nothing
        return set()
    return set(proc.stdout.decode("utf-8", "replace").split("\0")) - {""}


def ledger_paths(root: Path, settings: Settings, git: _Git, extra: tuple[str, ...] = ()) -> list[str]:
    """Ledger files (relative paths) present in the working copy or in HEAD.

    Files of the research-state folder that are lock or temporary files, or that the repository's
    ignore rules exclude, are left out (``git add`` refuses ignored paths, and lock files must
    never be committed); files named explicitly (the ledger files and ``extra``) always count.
    """
    singles = [settings.results_path, settings.budget_path, settings.program_path, *extra]
    out: set[str] = set()
    for rel in singles:
        if (root / rel).is_file() or git.show("HEAD", rel) is not None:
            out.add(rel)
    state = settings.state_dir.strip("/")
    if state:
        tracked = {rel for rel in git.tree_files("HEAD", state) if not _is_scratch(rel)}
        found: set[str] = set()
        folder = root / state
        if folder.is_dir():
            found = {
                p.relative_to(root).as_posix()
                for p in folder.rglob("*")
                if p.is_file() and ".git" not in p.parts
            }
        untracked = sorted(rel for rel in found - tracked if not _is_scratch(rel))
        out |= tracked | (set(untracked) - _ignored(git, untracked))
    return sorted(out)


def generated_message(git: _Git, root: Path, base_rev: str, paths: list[str], settings: Settings) -> str:
    """The commit message when none is given: what changed in program.md (items, tiers, SOTA,
    competitors; :mod:`bot.program_changes`), the research-state rows added, the research cycles
    recorded (``Pgolf-Research-Cycle:`` trailers) and, in review mode, the research PR."""
    from bot import program_changes as pc
    from bot import program_git
    from bot.program_git import read_review_state

    def ours(rel: str) -> bytes | None:
        return (root / rel).read_bytes() if (root / rel).is_file() else None

    prog = settings.program_path
    before = git.show(base_rev, prog)
    after = ours(prog) if prog in paths else before
    state_dir = settings.state_dir.strip("/") + "/"
    state = [p for p in paths if p.startswith(state_dir) and p.endswith(".jsonl")]
    rows = pc.state_changes({p: git.show(base_rev, p) for p in state}, {p: ours(p) for p in state})
    changes = pc.compare(
        None if before is None else before.decode("utf-8", "replace"),
        None if after is None else after.decode("utf-8", "replace"),
        rows,
    )
    raw = state_dir + "raw_cache.jsonl"
    cycles = program_git.new_cycles(git.show(base_rev, raw), ours(raw)) if raw in state else []
    review = read_review_state(root, settings) if prog not in paths else {}
    pr = review.get("pr") if isinstance(review.get("pr"), int) else None
    merged = pr is not None and review.get("action") == "merged"
    if review.get("action") in ("closed", "none", "off"):
        pr = None  # that PR is finished: program.md changes do not wait in it
    others = [p for p in paths if p != prog and p not in state and git.show(base_rev, p) != ours(p)]
    prefix = "research:" if changes.changed or rows or prog not in paths else "ledger:"
    lines = [pc.body(changes)]
    if merged:
        lines.append(f"program.md changes were merged in the research pull request #{pr}, not here.")
    elif pr is not None:
        lines.append(f"program.md changes are proposed in the research pull request #{pr}, not here.")
    if others:
        lines.append("Also changed: " + ", ".join(others))
    lines.append(SKIP_CI)  # in the body, so that the subject keeps its 72 characters
    trailers = pc.trailers(cycle=cycles[-1] if cycles else "", pr=pr)
    head = pc.subject(changes, prefix=prefix)
    if prog not in paths and ours(prog) not in (None, before):
        where = f"PR #{pr}" if pr is not None else "the research PR"
        what = f"program.md merged in {where}" if merged else f"program.md changes go to {where}"
        head = pc.fit(
            "research:",
            [f"state only, {what}", pc.state_note(rows)],
            pc.SUBJECT_LIMIT,
        )
    return "\n\n".join([head, "\n".join(lines)] + (["\n".join(trailers)] if trailers else []))


def ledger_commit(
    root: Path | str,
    message: str | None,
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    remote: str = "origin",
    branch: str | None = None,
    extra_paths: tuple[str, ...] = (),
    only: tuple[str, ...] = (),
    exclude_paths: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> CommitResult:
    """Commit the ledger files of ``root`` to ``remote``/``branch``. ``message=None`` →
    :func:`generated_message`; ``only`` restricts the commit to these ledger files (a trusted
    writer names the files it computed); ``exclude_paths`` are never committed (review mode keeps
    program.md off the default branch)."""
    env = os.environ if env is None else env
    root = Path(root).resolve()
    if message is not None and not message.strip():
        raise LedgerError("a commit message is required (-m), or leave -m out for a generated one")
    probe = _Git(root, {}, [])
    if probe.run("rev-parse", "--git-dir", check=False).returncode != 0:
        raise LedgerError(f"{root} is not a git repository")
    remote_url = probe.run("remote", "get-url", remote, check=False).stdout.decode().strip()
    if not remote_url:
        raise LedgerError(f"no git remote named {remote!r} in {root}")
    config_env, secrets = _auth_config(env, remote_url, settings)
    git = _Git(root, config_env, secrets)
    if branch is None:
        attached = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.decode().strip()
        branch = attached or _remote_default(git, remote)
    base_rev = git.out("rev-parse", "HEAD")
    paths = [p for p in ledger_paths(root, settings, git, extra_paths) if p not in exclude_paths]
    if only:
        unknown = sorted(set(only) - set(paths))
        if unknown:
            raise LedgerError(f"--only {', '.join(unknown)}: not a ledger file of this checkout")
        paths = sorted(set(only))
    if message is None:
        message = generated_message(git, root, base_rev, paths, settings)
    name, email = commit_identity(env)
    title = message.strip()
    if SKIP_CI not in title:
        title = f"{title} {SKIP_CI}"
    warnings: list[str] = []
    attempts = max(1, settings.ledger_push_attempts)
    for attempt in range(1, attempts + 1):
        git.run("fetch", "--quiet", remote, f"refs/heads/{branch}")
        tip = git.out("rev-parse", "FETCH_HEAD")
        _require_branch_checkout(git, base_rev, tip, remote, branch)
        with tempfile.TemporaryDirectory(prefix="pgolf-ledger-") as tmp:
            wt = Path(tmp) / "wt"
            git.run("worktree", "add", "--quiet", "--detach", str(wt), tip)
            try:
                warn: list[str] = []
                changed: list[str] = []
                for rel in paths:
                    ours_path = root / rel
                    ours = ours_path.read_bytes() if ours_path.is_file() else None
                    base = git.show(base_rev, rel)
                    theirs = git.show(tip, rel)
                    merged = merge_file(rel, base, ours, theirs, settings, warn)
                    target = wt / rel
                    if merged is None:
                        if target.exists():
                            target.unlink()
                            changed.append(rel)
                    elif theirs != merged:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(merged)
                        changed.append(rel)
                if not changed:
                    return CommitResult(
                        False,
                        False,
                        tip,
                        branch,
                        attempt,
                        [],
                        warn,
                        "nothing to commit: the ledger on the remote already has these changes",
                    )
                git.run("add", "-A", "--", *changed, cwd=wt)
                git.run(
                    "-c",
                    f"user.name={name}",
                    "-c",
                    f"user.email={email}",
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "-m",
                    title,
                    cwd=wt,
                    env={
                        "GIT_AUTHOR_NAME": name,
                        "GIT_AUTHOR_EMAIL": email,
                        "GIT_COMMITTER_NAME": name,
                        "GIT_COMMITTER_EMAIL": email,
                    },
                )
                sha = git.out("rev-parse", "HEAD", cwd=wt)
                push = git.run(
                    "push", "--quiet", "--porcelain", remote, f"HEAD:refs/heads/{branch}", cwd=wt, check=False
                )
                if push.returncode == 0:
                    warnings = warn
                    _sync_local(git, root, branch, base_rev, sha, paths)
                    return CommitResult(True, True, sha, branch, attempt, changed, warnings, title)
                err = _scrub((push.stderr + push.stdout).decode("utf-8", "replace"), secrets)
                if not any(s in err for s in RETRYABLE_PUSH_ERRORS):
                    raise LedgerError(f"push to {remote}/{branch} refused: {err.strip()}")
            finally:
                git.run("worktree", "remove", "--force", str(wt), check=False)
                git.run("worktree", "prune", check=False)
        sleep(min(8.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random()))
    raise LedgerError(
        f"push to {remote}/{branch} still rejected after {attempts} attempts (the branch keeps moving)"
    )


def _require_branch_checkout(git: _Git, base_rev: str, tip: str, remote: str, branch: str) -> None:
    """Refuse a working copy whose HEAD is not in ``remote/branch``'s history (a PR checkout)."""
    if git.run("merge-base", "--is-ancestor", base_rev, tip, check=False).returncode == 0:
        return
    raise LedgerError(
        f"the working copy (HEAD {base_rev[:12]}) is not a checkout of {remote}/{branch}: a "
        "pull-request checkout never writes the ledger. Append the rows you computed to a fresh "
        f"checkout of {branch} and commit from there."
    )


def _remote_default(git: _Git, remote: str) -> str:
    ref = (
        git.run("symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD", check=False)
        .stdout.decode()
        .strip()
    )
    if ref.startswith(f"{remote}/"):
        return ref[len(remote) + 1 :]
    proc = git.run("ls-remote", "--symref", remote, "HEAD", check=False).stdout.decode()
    for line in proc.splitlines():
        if line.startswith("ref: refs/heads/"):
            return line.split()[1][len("refs/heads/") :]
    return "main"


def _sync_local(git: _Git, root: Path, branch: str, base_rev: str, new_sha: str, paths: list[str]) -> None:
    """Move a checked-out ``branch`` to the pushed commit when only ledger files differ locally."""
    current = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.decode().strip()
    if current != branch:
        return
    dirty = git.run("status", "--porcelain", "--untracked-files=no", check=False).stdout.decode().splitlines()
    if any(line[3:] not in paths for line in dirty if len(line) > 3):
        return
    if git.run("cat-file", "-e", f"{new_sha}^{{commit}}", check=False).returncode == 0:
        git.run("reset", "--quiet", "--hard", new_sha, check=False)
