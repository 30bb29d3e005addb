"""Where the tests' fixtures live: the project's own (``tests/fixtures/``, the default run) and
the real upstream corpus (an extra suite behind the ``corpus`` marker, ``make test-corpus``).

The corpus folder is ``$FIXTURES_CORPUS`` or ``../shared/fixtures`` beside the repository. A test
marked ``corpus`` fails (never skips) when it is absent: see ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
OWN = REPO / "tests" / "fixtures"
CORPUS_ENV = "FIXTURES_CORPUS"


def corpus_root() -> Path:
    env = os.environ.get(CORPUS_ENV, "").strip()
    return Path(env).resolve() if env else (REPO.parent / "shared" / "fixtures").resolve()


def roots() -> list[Any]:
    """Both fixture roots as pytest params: ``own`` (default run) and ``corpus`` (marked)."""
    return [pytest.param(OWN, id="own"), pytest.param(corpus_root(), id="corpus", marks=pytest.mark.corpus)]


def record_dirs(root: Path) -> list[Path]:
    folder = root / "parameter-golf" / "records"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def record_params() -> list[Any]:
    """Every record folder of both roots as pytest params (a missing corpus: one failing param)."""
    own = [pytest.param(p, id=p.name) for p in record_dirs(OWN)]
    corpus = record_dirs(corpus_root()) or [corpus_root() / "parameter-golf" / "records" / "(absent)"]
    return own + [pytest.param(p, id=f"corpus/{p.name}", marks=pytest.mark.corpus) for p in corpus]


def modded_table(root: Path) -> Path:
    """The modded-nanogpt record table of a root (our file name, or the corpus's excerpt)."""
    own = root / "modded-nanogpt" / "README_record_history.md"
    return own if own.exists() else root / "modded-nanogpt" / "README_record_history_excerpt.md"
