"""The documented keyword relevance score, for sources that give no score of their own.

Each term of :data:`TERMS` has a weight in (0, 1): how strongly its presence alone says that an
item matters to the Parameter Golf challenge (a small language model, ≤ 16,000,000 bytes of code
plus compressed weights, ≤ 10 minutes on 8×H100, scored in val_bpb on FineWeb). The score of an
item is::

    score = 1 - Π (1 - w_t)        over the distinct terms t found in title + summary

with a term found in the *title* counting at ``min(0.95, 1.5 × w_t)``. So one strong term
(``parameter golf``: 0.8) passes the default threshold of 0.4 alone, one weak term
(``transformer``: 0.1) does not, and several medium ones (``quantization`` 0.3 + ``language
model`` 0.2) pass together: 1 - 0.7 × 0.8 = 0.44. Matching is case-insensitive on whole
words (a plural ``s`` is ignored); the score is in [0, 1] and deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TERMS: dict[str, float] = {
    # the challenge itself
    "parameter golf": 0.8,
    "parameter-golf": 0.8,
    "val_bpb": 0.6,
    "bits per byte": 0.5,
    "bits-per-byte": 0.5,
    "bpb": 0.4,
    "modded-nanogpt": 0.6,
    "nanogpt": 0.45,
    "speedrun": 0.35,
    "fineweb": 0.45,
    "16mb": 0.4,
    # compression of the artifact
    "quantization": 0.3,
    "quantized": 0.25,
    "gptq": 0.45,
    "int6": 0.4,
    "int4": 0.3,
    "int8": 0.25,
    "low-bit": 0.3,
    "weight sharing": 0.35,
    "depth recurrence": 0.45,
    "parameter sharing": 0.35,
    "model compression": 0.3,
    "compression": 0.15,
    "pruning": 0.2,
    "distillation": 0.15,
    "tokenizer": 0.2,
    # training speed and optimisers
    "muon": 0.45,
    "optimizer": 0.2,
    "learning rate": 0.15,
    "weight decay": 0.15,
    "warmup": 0.1,
    "test-time training": 0.4,
    "ttt": 0.3,
    "sample efficiency": 0.25,
    "scaling law": 0.2,
    "training efficiency": 0.25,
    "compute-optimal": 0.25,
    # small language models
    "language model": 0.2,
    "language modeling": 0.25,
    "small language model": 0.35,
    "transformer": 0.1,
    "attention": 0.08,
    "perplexity": 0.2,
    "embedding": 0.08,
    "rope": 0.15,
    "mlp": 0.08,
}

_WORD = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_BY_FIRST: dict[str, list[str]] = {}
for _t in TERMS:
    _first = _t.split()[0]
    for _w in (_first, _first + "s"):
        _BY_FIRST.setdefault(_w, []).append(_t)
_FIRST = frozenset(_BY_FIRST)


def _found(text: str) -> set[str]:
    """Every term in ``text``, on whole words (a plural ``s`` on the last word is ignored, so
    "language models" counts as "language model")."""
    words = _WORD.findall(text)
    starts = _FIRST.intersection(words)
    if not starts:
        return set()
    joined = " " + " ".join(words) + " "
    hits: set[str] = set()
    for w in starts:
        for term in _BY_FIRST[w]:
            if " " not in term:
                if w in (term, term + "s"):
                    hits.add(term)
            elif f" {term} " in joined or f" {term}s " in joined:
                hits.add(term)
    return hits


def keyword_score(title: str, summary: str = "", extra: Iterable[str] = ()) -> float:
    """The keyword relevance of an item, in [0, 1] (see the module docstring)."""
    in_title = _found((title or "").lower())
    in_body = _found(" ".join([summary or "", *extra]).lower()) - in_title
    keep = 1.0
    for term in in_title:
        keep *= 1 - min(0.95, 1.5 * TERMS[term])
    for term in in_body:
        keep *= 1 - TERMS[term]
    return round(1 - keep, 4)


def matched_terms(text: str) -> list[str]:
    return sorted(_found((text or "").lower()))
