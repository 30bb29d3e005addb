"""The technique taxonomy: nine categories that research items and experiments are sorted into.

Classification is by keyword cues (regular expressions on lower-cased text): each category
scores the number of distinct cues found, and the best score wins; ties go to the category
listed first in :data:`CATEGORIES`. Text with no cue is ``other``. The same function classifies
research items (title + summary) and experiments (ledger description, PR title), so the
frontier can compare what was read with what was tried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OTHER = "other"


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    cues: tuple[str, ...]  # regular expressions
    known_techniques: tuple[str, ...] = ()  # names the offline grader recognises


CATEGORIES: tuple[Category, ...] = (
    Category(
        "quantization",
        "quantization/compression",
        (
            r"quantiz",
            r"\bint[2-8]\b",
            r"\bfp[48]\b",
            r"\bnf4\b",
            r"low[- ]bit",
            r"\bbit[- ]?width",
            r"compress",
            r"\bpruning?\b|\bprune",
            r"\bsparsit",
            r"\bzstd\b|\bzlib\b|\blzma\b|entropy cod",
            r"weight sharing|tied weights|parameter sharing",
            r"low[- ]rank|\blora\b|factoriz",
            r"distill",
            r"\bqat\b|quantization[- ]aware",
            r"\bgptq\b|\bawq\b|\bsmoothquant\b",
        ),
        ("int8", "int6", "int4", "qat", "gptq", "zstd", "low-rank", "pruning", "weight sharing"),
    ),
    Category(
        "optimizer",
        "optimizer",
        (
            r"\bmuon\b",
            r"\badam\w*\b",
            r"\bsgd\b",
            r"optimi[sz]er",
            r"newton[- ]schulz",
            r"\bshampoo\b|\bsoap\b|\blion\b|\bsophia\b",
            r"weight decay",
            r"momentum",
            r"orthogonali",
            r"second[- ]order",
            r"gradient clipping",
        ),
        ("muon", "adamw", "shampoo", "soap", "lion", "weight decay"),
    ),
    Category(
        "architecture",
        "architecture",
        (
            r"architect",
            r"\bmlp\b|feed[- ]?forward",
            r"mixture[- ]of[- ]experts|\bmoe\b",
            r"layer ?norm|rms ?norm",
            r"residual",
            r"\bdepth\b|\bwidth\b|recurren|looped|layer sharing",
            r"swiglu|\bgelu\b|relu",
            r"\bembedding",
            r"u-?net|skip connection",
            r"value embed",
        ),
        ("swiglu", "relu²", "moe", "depth recurrence", "u-net", "value embeddings"),
    ),
    Category(
        "attention",
        "attention",
        (
            r"attention",
            r"\brope\b|rotary",
            r"\bgqa\b|\bmqa\b|grouped[- ]query|multi[- ]query",
            r"\bkv\b|key[- ]value",
            r"flash ?attention|flex ?attention",
            r"sliding window|local attention",
            r"qk[- ]?norm",
            r"softcap",
            r"linear attention|state[- ]space|\bmamba\b",
        ),
        ("rope", "gqa", "sliding window", "qk-norm", "flexattention", "softcap"),
    ),
    Category(
        "tokenizer",
        "tokenizer",
        (
            r"tokeni[sz]",
            r"\bbpe\b|byte[- ]pair",
            r"sentencepiece",
            r"vocab",
            r"byte[- ]level|bytes? per token",
            r"\bunigram\b",
        ),
        ("bpe", "sentencepiece", "vocabulary size", "byte-level"),
    ),
    Category(
        "schedule",
        "schedule",
        (
            r"learning[- ]rate|\blr\b",
            r"warm ?up|warm ?down|cooldown|cool[- ]down",
            r"schedul",
            r"batch[- ]size|sequence[- ]length warm",
            r"cosine|\bwsd\b|trapezoid",
            r"curriculum",
            r"\bema\b|\bswa\b|weight averag",
        ),
        ("warmdown", "wsd", "cosine", "ema", "swa", "batch size warmup"),
    ),
    Category(
        "evaluation",
        "evaluation-time/TTT",
        (
            r"test[- ]time",
            r"\bttt\b",
            r"evaluation[- ]time|eval[- ]time|at inference",
            r"sliding[- ]window eval|longer context at eval",
            r"\bcache model|dynamic evaluation",
            r"\bensembl",
        ),
        ("test-time training", "sliding window eval", "dynamic evaluation"),
    ),
    Category(
        "data",
        "data",
        (
            r"\bdata(set)?\b",
            r"fineweb",
            r"dedup",
            r"data (selection|mixture|filter|quality)",
            r"synthetic data",
            r"shard",
        ),
        ("data selection", "deduplication", "data ordering"),
    ),
    Category(
        "systems",
        "systems",
        (
            r"kernel",
            r"\bcuda\b|triton",
            r"torch\.compile|compil",
            r"throughput|tokens per second|step time|latency",
            r"mixed precision|\bbf16\b|\bfp16\b|\bfp8 training",
            r"distributed|\bfsdp\b|\bddp\b|all[- ]?reduce",
            r"memory[- ]efficient|activation checkpoint",
        ),
        ("torch.compile", "fp8 training", "fused kernels", "overlap comms"),
    ),
)

NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}
_COMPILED: dict[str, list[re.Pattern[str]]] = {c.name: [re.compile(p) for p in c.cues] for c in CATEGORIES}


def scores(text: str) -> dict[str, int]:
    """Distinct cues per category found in ``text``."""
    t = text.lower()
    return {name: sum(1 for p in pats if p.search(t)) for name, pats in _COMPILED.items()}


def classify(text: str) -> str:
    """The best-matching category name, or ``other``."""
    s = scores(text)
    best = max(NAMES, key=lambda n: (s[n], -NAMES.index(n)))
    return best if s[best] > 0 else OTHER


def label(name: str) -> str:
    return BY_NAME[name].label if name in BY_NAME else name


def is_category(name: str) -> bool:
    return name in BY_NAME or name == OTHER
