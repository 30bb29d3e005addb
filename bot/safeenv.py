"""Environments for code pgolf did not write (PR scripts, model-written candidates, training).

Such code never sees a credential: :func:`clean_env` drops every variable whose name says it
holds one (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*CREDENTIAL*``,
``*PRIVATE*``, ``*AUTH*``) and every ``PGOLF_*`` setting (settings reach scripts only as the
explicit knobs the caller passes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# Whole name parts only, so training knobs such as TOKENIZER_PATH or TRAIN_BATCH_TOKENS survive.
SECRET_NAME_RE = re.compile(
    r"(^|_)(KEY|KEYS|APIKEY|TOKEN|SECRET|SECRETS|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE|AUTH|PAT)(_|$)",
    re.I,
)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME_RE.search(name))


def clean_env(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default ``os.environ``) without credentials or PGOLF_* settings, plus ``extra``."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not is_secret_name(k) and not k.startswith("PGOLF_")}
    env.update(extra or {})
    return env
