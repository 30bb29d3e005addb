"""The training scripts pgolf ships, as package data of ``bot``.

``training/`` at the top of the pgolf repository is their one source: it is what experiment PRs
on the pgolf repository itself change, and ``bot/training-scripts`` is a link to it, which
setuptools follows, so a wheel (or an editable install) carries the same bytes under
``bot/training-scripts/``. ``pgolf init`` copies them from here into a research repository, where
they become that repository's own files; the demo and the tests find them here too.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# "training-scripts" is not a valid module name on purpose: the scripts are data of the package,
# never imported as bot modules (nor type-checked or linted as such).
SCRIPTS_DIR = Path(str(resources.files("bot") / "training-scripts"))
TORCH_SCRIPT = SCRIPTS_DIR / "train_gpt.py"
MLX_SCRIPT = SCRIPTS_DIR / "train_gpt_mlx.py"
PREPARE_SCRIPT = SCRIPTS_DIR / "prepare_data.py"
# What `pgolf init` copies into a research repository's training/ folder.
SCRIPT_FILES = (TORCH_SCRIPT, MLX_SCRIPT, PREPARE_SCRIPT)
