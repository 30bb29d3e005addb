"""``pgolf init``: scaffold a research repository that runs the whole loop on GitHub.

Everything comes from one source: the workflows and the App manifest are package data under
``bot/templates/`` (the pgolf repository's own ``.github/workflows`` are identical copies, checked by
a test), program.md comes from ``bot/templates/program.md``, and the training scripts are copied
from this installation's package data (:mod:`bot.training.scripts`). Existing files are kept unless ``force``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot import budget as budget_mod
from bot.config import Settings
from bot.errors import GitError, InputError
from bot.fileio import atomic_write_bytes
from bot.git import git
from bot.ledger import Ledger
from bot.training.scripts import SCRIPT_FILES

MANIFEST_NAME = "github-app-manifest.json"
# Copies of the templates as written, the base of `pgolf init --upgrade`'s three-way merges.
BASE_DIR = ".github/pgolf-base"
GITIGNORE = """# pgolf
.venv/
.pgolf/
data/
logs/
*.ptz
*.npz
*.lock
__pycache__/
"""
LABELS = {
    "promote": "train this PR on RunPod H100s (maintainers only)",
    "promote-candidate": "the local tier found it ≥ 3 % better",
    "retrain": "re-run the local tier",
}


@dataclass
class ScaffoldResult:
    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    pgolf_spec: str = ""  # what requirements-bot.txt installs ("" = a placeholder to fill in)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "created": self.created,
            "kept": self.kept,
            "warnings": self.warnings,
            "steps": self.steps,
            "pgolf_spec": self.pgolf_spec,
        }


def templates() -> Any:
    return resources.files("bot") / "templates"


def workflow_templates() -> dict[str, bytes]:
    folder = templates() / "workflows"
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".yml")
    }


def manifest_bytes() -> bytes:
    return (templates() / MANIFEST_NAME).read_bytes()


# --------------------------------------------------------------------------- requirements-bot.txt
# pgolf is not published on PyPI: the workflows install it from where it actually lives, as a pip
# direct reference (PEP 508 ``name @ url``).
SPEC_PLACEHOLDER_STEP = (
    "Edit requirements-bot.txt: pgolf is not on PyPI, so put the pip spec of the pgolf you use "
    "there (e.g. `pgolf @ git+https://github.com/OWNER/pgolf@COMMIT` or a wheel URL); every "
    "workflow installs it from that file and stops with an error until it is set."
)
_SSH_GITHUB = re.compile(r"^(?:ssh://)?git@github\.com[:/](?P<path>[\w.-]+/[\w.-]+?)(?:\.git)?/?$")


def _https_url(url: str) -> str | None:
    """An https URL for ``url`` without credentials (GitHub ssh remotes are converted), or None."""
    url = url.strip()
    m = _SSH_GITHUB.match(url)
    if m:
        return f"https://github.com/{m.group('path')}.git"
    if not url.startswith("https://"):
        return None
    rest = url[len("https://") :]
    host, sep, path = rest.partition("/")
    host = host.rpartition("@")[2]  # never copy a token embedded in the remote URL
    return f"https://{host}{sep}{path}" if host and path else None


def _git_out(cwd: Path, *args: str) -> str | None:
    try:
        return git(cwd, *args, timeout=20).strip()
    except GitError:
        return None


def spec_from_checkout(source: Path) -> tuple[str | None, list[str]]:
    """``pgolf @ git+<https remote>@<commit>`` when ``source`` is the top of a git checkout of
    pgolf with an https (or GitHub ssh) remote; warnings say when the commit may not be pushed."""
    source = source.resolve()
    top = _git_out(source, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != source or not (source / "pyproject.toml").is_file():
        return None, []
    remotes = (_git_out(source, "remote") or "").split()
    if not remotes:
        return None, []
    name = "origin" if "origin" in remotes else remotes[0]
    url = _https_url(_git_out(source, "remote", "get-url", name) or "")
    commit = _git_out(source, "rev-parse", "HEAD")
    if not url or not commit:
        return None, []
    warnings: list[str] = []
    if not _git_out(source, "branch", "-r", "--contains", commit):
        warnings.append(
            f"requirements-bot.txt pins pgolf to commit {commit[:12]}, which no branch of "
            f"{name} contains yet: push it before the workflows run"
        )
    if _git_out(source, "status", "--porcelain", "--untracked-files=no"):
        warnings.append(
            f"this pgolf checkout has uncommitted changes; requirements-bot.txt installs commit {commit[:12]} without them"
        )
    return f"pgolf @ git+{url}@{commit}", warnings


def spec_from_install() -> str | None:
    """The spec pip recorded (PEP 610 ``direct_url.json``) when pgolf was installed from git."""
    try:
        from importlib import metadata

        raw = metadata.distribution("pgolf").read_text("direct_url.json")
        info = json.loads(raw) if raw else {}
    except Exception:
        return None
    vcs = info.get("vcs_info") or {}
    url = _https_url(str(info.get("url", "")))
    if vcs.get("vcs") == "git" and url and vcs.get("commit_id"):
        return f"pgolf @ git+{url}@{vcs['commit_id']}"
    return None


def resolve_pgolf_spec(explicit: str | None, source: Path | None = None) -> tuple[str | None, list[str]]:
    """The pip spec requirements-bot.txt installs: ``explicit`` (``--pgolf-spec``), else derived
    from the git checkout pgolf runs from, else from pip's install record; None = unknown."""
    if explicit is not None:
        spec = explicit.strip()
        if not spec or "\n" in spec or "\r" in spec or spec.startswith(("#", "-")):
            raise InputError(
                "must be one pip requirement, e.g. 'pgolf @ git+https://github.com/OWNER/pgolf@COMMIT'",
                field="--pgolf-spec",
            )
        return spec, []
    if source is None:
        source = Path(str(resources.files("bot"))).resolve().parent
    derived, warnings = spec_from_checkout(source)
    if derived:
        return derived, warnings
    return spec_from_install(), []


def requirements_text(spec: str | None) -> str:
    head = (
        "# What the pgolf workflows install (pip install -r requirements-bot.txt).\n"
        "# pgolf is not on PyPI: this is a pip direct reference to where it lives.\n"
    )
    if spec:
        return head + spec + "\n"
    return (
        head
        + "# TODO: replace the commented line below with the pgolf you use (a git URL pinned to a\n"
        + "# commit, or a wheel URL) and uncomment it. Until then every workflow stops with an error.\n"
        + "# pgolf @ git+https://github.com/OWNER/pgolf@COMMIT\n"
    )


def manual_steps(repo_hint: str = "<owner>/<repo>") -> list[str]:
    return [
        f"Create the GitHub repository and push this folder to it ({repo_hint}).",
        "Create the GitHub App from .github/pgolf-app-manifest.json (Settings → Developer settings → "
        "GitHub Apps → New GitHub App, with exactly the permissions listed there; webhooks off), "
        "generate a private key, and install the App on the repository.",
        "Repository variables: PGOLF_APP_ID (the App id) and PGOLF_APP_SLUG (its slug).",
        "Create the environment `pgolf` (Settings → Environments) with Deployment branches = the default "
        "branch only, and put the secrets THERE, not in repository secrets: PGOLF_APP_PRIVATE_KEY (the "
        ".pem), ANTHROPIC_API_KEY, TAVILY_API_KEY, RUNPOD_API_KEY (for /abort). Only workflows that run "
        "the default branch's files can then reach them (see docs/security.md).",
        "Create a second environment `pgolf-runpod` with the same deployment-branch rule holding "
        "RUNPOD_API_KEY only: the paid jobs (promote.yml's paid job, reaper.yml's reap job) rent and "
        "terminate pods with it and hold no App key and no write token.",
        "FORKS: a fork's pull request brings its own workflow files, and no condition in them keeps it off "
        "your self-hosted runner. Set Settings → Actions → General → 'Require approval for all outside "
        "collaborators' (or keep the repository private), and review a fork's diff before approving its run.",
        "Register the self-hosted runner on an Apple Silicon Mac with the labels self-hosted, macOS, ARM64 as "
        "an EPHEMERAL runner under a dedicated macOS user: `pgolf runner --repo "
        + repo_hint
        + "` prints the exact commands (--ephemeral, a fresh work folder per job, the data folder read-only).",
        "Create the labels: " + ", ".join(f"`{k}` ({v})" for k, v in LABELS.items()) + ".",
        "On the runner, put the data shards and tokenizer OUTSIDE the checkout, read-only to the runner's user "
        "(`pgolf runner` shows how): `python training/prepare_data.py --out ~/pgolf-data` (the workflows read "
        "PGOLF_DATA_DIR, default ~/pgolf-data; set the repository variable PGOLF_DATA_DIR to use another "
        "folder), then measure the baseline: run the baseline workflow (Actions → baseline → Run workflow).",
        "Protect the default branch and add the GitHub App to the bypass list (ruleset 'Bypass list' or "
        "'Allow specified actors to bypass required pull requests'): every ledger commit is pushed by the "
        "App (`<slug>[bot]`, [skip ci]); without the App configured they are pushed with the workflow's "
        "GITHUB_TOKEN as github-actions[bot], which then needs the same exemption.",
    ]


def _write(root: Path, rel: str, data: bytes, force: bool, out: ScaffoldResult) -> None:
    target = root / rel
    if target.exists() and not force:
        out.kept.append(rel)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    out.created.append(rel)


def _merge_gitignore(root: Path, out: ScaffoldResult) -> None:
    """Write .gitignore, or add the lines pgolf needs (lock files, local forge state, …) to an
    existing one, so that ``git add -A`` never picks up a ``*.lock`` or ``.pgolf/`` file."""
    target = root / ".gitignore"
    if not target.exists():
        _write(root, ".gitignore", GITIGNORE.encode(), False, out)
        return
    text = target.read_text(encoding="utf-8", errors="replace")
    have = {ln.strip() for ln in text.splitlines()}
    missing = [
        ln for ln in GITIGNORE.splitlines() if ln.strip() and not ln.startswith("#") and ln not in have
    ]
    if not missing:
        out.kept.append(".gitignore")
        return
    sep = "" if not text or text.endswith("\n") else "\n"
    atomic_write_bytes(target, (text + sep + "# pgolf\n" + "\n".join(missing) + "\n").encode())
    out.created.append(".gitignore (added " + " ".join(missing) + ")")


def scaffold(
    root: Path | str,
    settings: Settings | None = None,
    *,
    force: bool = False,
    git_init: bool = True,
    pgolf_spec: str | None = None,
) -> ScaffoldResult:
    """Scaffold ``root``; ``pgolf_spec`` is what requirements-bot.txt installs (default: derived
    from this pgolf's git checkout or install record, else a placeholder and a manual step)."""
    root = Path(root).expanduser().resolve()
    try:
        return _scaffold(root, settings or Settings(), force, git_init, pgolf_spec)
    except OSError as exc:
        where = exc.filename or root
        raise InputError(
            f"cannot write the research repository: {exc.strerror or exc}", path=str(where)
        ) from None


def _scaffold(root: Path, s: Settings, force: bool, git_init: bool, pgolf_spec: str | None) -> ScaffoldResult:
    if root.exists() and not root.is_dir():
        raise InputError("not a folder", path=str(root))
    spec, spec_warnings = resolve_pgolf_spec(pgolf_spec)
    root.mkdir(parents=True, exist_ok=True)
    out = ScaffoldResult(root, pgolf_spec=spec or "")
    out.warnings.extend(spec_warnings)

    # Validate every source before writing anything.
    flows = workflow_templates()
    if not flows:
        raise InputError(
            "no workflow templates in the pgolf installation", path=str(templates() / "workflows")
        )
    manifest = manifest_bytes()
    program = (templates() / "program.md").read_bytes()

    for name, data in flows.items():
        _write(root, f".github/workflows/{name}", data, force, out)
        if f".github/workflows/{name}" in out.created:
            _write(root, f"{BASE_DIR}/workflows/{name}", data, True, out)
    _write(root, ".github/pgolf-app-manifest.json", manifest, force, out)
    if ".github/pgolf-app-manifest.json" in out.created:
        _write(root, f"{BASE_DIR}/pgolf-app-manifest.json", manifest, True, out)
    _write(root, s.program_path, program, force, out)
    for src in SCRIPT_FILES:
        _write(root, f"training/{src.name}", src.read_bytes(), force, out)
    _write(root, "requirements-bot.txt", requirements_text(spec).encode(), force, out)
    _merge_gitignore(root, out)

    results = root / s.results_path
    if results.exists() and not force:
        out.kept.append(s.results_path)
    else:
        if results.exists():
            results.unlink()
        Ledger.init(results)
        out.created.append(s.results_path)
    budget_path = root / s.budget_path
    if budget_path.exists():
        budget_mod.load(budget_path, s)  # a corrupt budget is an error, never reset
        out.kept.append(s.budget_path)
    else:
        budget_mod.init(budget_path, s)
        out.created.append(s.budget_path)
    state = root / s.state_dir
    state.mkdir(parents=True, exist_ok=True)
    schema = state / "schema.json"  # the research state's schema version (see bot/forge/upgrade.py)
    if not schema.exists():
        schema.write_bytes(b'{"schema": 1}\n')
        out.created.append(f"{s.state_dir.rstrip('/')}/schema.json")

    if git_init and not (root / ".git").exists():
        try:
            git(root, "init", "--quiet", "-b", "main")
            out.created.append(".git (git init -b main)")
        except GitError as exc:
            out.warnings.append(str(exc))
    out.steps = manual_steps(s.github_repository or "<owner>/<repo>")
    if not spec and "requirements-bot.txt" in out.created:
        out.steps.insert(0, SPEC_PLACEHOLDER_STEP)
        out.warnings.append("pgolf's install location is unknown: requirements-bot.txt holds a placeholder")
    return out
