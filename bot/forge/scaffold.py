"""``pgolf init``: scaffold a research repository that runs the whole loop on GitHub.

Everything comes from one source: the workflows and the App manifest are package data under
``bot/templates/`` (the pgolf repository's own ``.github/workflows`` are identical copies, checked by
a test), program.md comes from ``bot/templates/program.md``, and the training scripts are copied
from this installation's ``training/`` folder. Existing files are kept unless ``force``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot import __version__
from bot import budget as budget_mod
from bot.config import Settings
from bot.errors import InputError
from bot.fileio import atomic_write_bytes
from bot.ledger import Ledger

MANIFEST_NAME = "github-app-manifest.json"
TRAINING_FILES = ("train_gpt.py", "train_gpt_mlx.py", "prepare_data.py")
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "created": self.created,
            "kept": self.kept,
            "warnings": self.warnings,
            "steps": self.steps,
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


def training_source() -> Path | None:
    """This checkout's ``training/`` folder (next to the ``bot`` package)."""
    here = Path(str(resources.files("bot"))).resolve().parent / "training"
    return here if (here / "train_gpt.py").is_file() else None


def manual_steps(repo_hint: str = "<owner>/<repo>") -> list[str]:
    return [
        f"Create the GitHub repository and push this folder to it ({repo_hint}).",
        "Create the GitHub App from .github/pgolf-app-manifest.json (Settings → Developer settings → "
        "GitHub Apps → New GitHub App, with exactly the permissions listed there; webhooks off), "
        "generate a private key, and install the App on the repository.",
        "Repository variables: PGOLF_APP_ID (the App id) and PGOLF_APP_SLUG (its slug).",
        "Repository secrets: PGOLF_APP_PRIVATE_KEY (the .pem), ANTHROPIC_API_KEY, TAVILY_API_KEY, "
        "RUNPOD_API_KEY.",
        "Register a self-hosted runner on an Apple Silicon Mac with the labels self-hosted, macOS, ARM64 "
        "(Settings → Actions → Runners); only branches of this repository ever reach it.",
        "Create the labels: " + ", ".join(f"`{k}` ({v})" for k, v in LABELS.items()) + ".",
        "Put the data shards and tokenizer in data/ on the runner (python training/prepare_data.py), "
        "then run `pgolf train baseline --seeds 3` there and commit results.tsv.",
        "Optional: protect the default branch but let the App push (the ledger commits are [skip ci]).",
    ]


def _write(root: Path, rel: str, data: bytes, force: bool, out: ScaffoldResult) -> None:
    target = root / rel
    if target.exists() and not force:
        out.kept.append(rel)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    out.created.append(rel)


def scaffold(
    root: Path | str, settings: Settings | None = None, *, force: bool = False, git_init: bool = True
) -> ScaffoldResult:
    s = settings or Settings()
    root = Path(root).resolve()
    if root.exists() and not root.is_dir():
        raise InputError("not a folder", path=str(root))
    root.mkdir(parents=True, exist_ok=True)
    out = ScaffoldResult(root)

    # Validate every source before writing anything.
    flows = workflow_templates()
    if not flows:
        raise InputError(
            "no workflow templates in the pgolf installation", path=str(templates() / "workflows")
        )
    manifest = manifest_bytes()
    program = (templates() / "program.md").read_bytes()
    training = training_source()

    for name, data in flows.items():
        _write(root, f".github/workflows/{name}", data, force, out)
    _write(root, ".github/pgolf-app-manifest.json", manifest, force, out)
    _write(root, s.program_path, program, force, out)
    if training is None:
        out.warnings.append(
            "no training/ folder next to this pgolf installation: copy train_gpt.py and train_gpt_mlx.py yourself"
        )
    else:
        for name in TRAINING_FILES:
            src = training / name
            if src.is_file():
                _write(root, f"training/{name}", src.read_bytes(), force, out)
    _write(root, "requirements-bot.txt", f"pgolf=={__version__}\n".encode(), force, out)
    _write(root, ".gitignore", GITIGNORE.encode(), False, out)

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
    keep = state / ".gitkeep"
    if not keep.exists():
        keep.write_bytes(b"")
        out.created.append(f"{s.state_dir}/.gitkeep")

    if git_init and not (root / ".git").exists():
        proc = subprocess.run(
            ["git", "init", "--quiet", "-b", "main", str(root)], capture_output=True, text=True
        )
        if proc.returncode == 0:
            out.created.append(".git (git init -b main)")
        else:
            out.warnings.append(f"git init failed: {proc.stderr.strip()}")
    out.steps = manual_steps(s.github_repository or "<owner>/<repo>")
    return out
