"""The offline experimenter: a deterministic proposer from a menu, for the demo and for users without an API key.

It turns a graded research item into one small, valid change taken from a documented menu
(:data:`MENU`): the default of one environment knob of the training scripts, moved within safe
bounds, made identically in ``train_gpt.py`` and ``train_gpt_mlx.py`` through the same editing
tools the LLM uses, then validated and published through the same path.

The menu
========

=====================  ==================  ======================  =================================
entry                  knob                change                  categories
=====================  ==================  ======================  =================================
exporter-int6-zstd     EXPORTER            → ``int6_zstd``         quantization
warmdown-longer        WARMDOWN_ITERS      × 1.5 (≤ 6000)          schedule, quantization, data
warmup-longer          WARMUP_STEPS        × 2 (5…200)             schedule
matrix-lr-up           MATRIX_LR           × 1.25 (≤ 0.12)         optimizer
muon-momentum-up       MUON_MOMENTUM       → 0.97                  optimizer
tied-embed-lr-down     TIED_EMBED_LR       × 0.8 (≥ 0.005)         optimizer, tokenizer
scalar-lr-down         SCALAR_LR           × 0.8 (≥ 0.005)         optimizer
qk-gain-up             QK_GAIN_INIT        × 1.33 (≤ 3.0)          attention, architecture
rope-base-up           ROPE_BASE           × 2 (≤ 200000)          attention, architecture
softcap-down           LOGIT_SOFTCAP       × 0.8 (≥ 10)            architecture, evaluation, systems
=====================  ==================  ======================  =================================

Selection: the item's category (its graded ``category``, else keywords of its title and summary)
chooses the entries to try, in menu order; an entry already proposed (any earlier proposal with the
same ``menu_key``) or whose knob is missing, differs between the two scripts or is already at the
target is skipped; when the category has nothing left, the rest of the menu is used in order. The
same inputs always give the same proposal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.agent.tools import TRAINING_SCRIPTS, Workspace
from bot.errors import ExperimentError
from bot.grading import taxonomy
from bot.state import GradedItem

CATEGORIES = taxonomy.NAMES


def normalise_category(text: str) -> str:
    """Map a category name or free text onto the taxonomy (:mod:`bot.grading.taxonomy`); "" if none."""
    t = text.lower().strip()
    if not t:
        return ""
    for cat in CATEGORIES:
        if t == cat or t.startswith(cat) or t == taxonomy.label(cat).lower():
            return cat
    found = taxonomy.classify(t)
    return "" if found == taxonomy.OTHER else found


def item_category(item: GradedItem) -> str:
    return (
        normalise_category(item.category) or normalise_category(f"{item.title} {item.summary}") or "optimizer"
    )


@dataclass(frozen=True)
class MenuEntry:
    key: str
    knob: str
    categories: tuple[str, ...]
    new_value: Callable[[float], float | str]
    lo: float | None
    hi: float | None
    title: str
    why: str
    expected_step_time: str = "unchanged (a default value only)"
    expected_val_bpb: str = (
        "a small improvement (about −0.002 to −0.01 bpb), within noise if it does not transfer"
    )
    expected_bytes: str = "a few bytes of code; weights unchanged"


def _times(f: float) -> Callable[[float], float]:
    return lambda v: v * f


MENU: tuple[MenuEntry, ...] = (
    MenuEntry(
        "exporter-int6-zstd",
        "EXPORTER",
        ("quantization",),
        lambda v: "int6_zstd",
        None,
        None,
        "Export with int6 per-row quantization + zstd",
        "Tighter weight packing frees artifact bytes for capacity at a val_bpb cost within noise.",
        expected_bytes="about −20 % of the weight bytes",
        expected_val_bpb="unchanged within noise (the roundtrip loses < 0.002 bpb)",
    ),
    MenuEntry(
        "warmdown-longer",
        "WARMDOWN_ITERS",
        ("schedule", "quantization", "data"),
        _times(1.5),
        50,
        6000,
        "Longer LR warmdown",
        "A longer cooldown ends training in a flatter minimum, which also quantizes better.",
    ),
    MenuEntry(
        "warmup-longer",
        "WARMUP_STEPS",
        ("schedule",),
        lambda v: max(5.0, v * 2),
        5,
        200,
        "Longer warmup",
        "A gentler start stabilises the first steps of Muon at a high learning rate.",
    ),
    MenuEntry(
        "matrix-lr-up",
        "MATRIX_LR",
        ("optimizer",),
        _times(1.25),
        0.005,
        0.12,
        "Higher Muon learning rate for matrices",
        "Short runs are under-trained; a higher matrix LR makes more progress in the same steps.",
    ),
    MenuEntry(
        "muon-momentum-up",
        "MUON_MOMENTUM",
        ("optimizer",),
        lambda v: 0.97,
        0.8,
        0.99,
        "Higher Muon momentum",
        "Speedrun records moved Muon momentum up after warmup for smoother updates.",
    ),
    MenuEntry(
        "tied-embed-lr-down",
        "TIED_EMBED_LR",
        ("optimizer", "tokenizer"),
        _times(0.8),
        0.005,
        1.0,
        "Lower tied-embedding learning rate",
        "The tied embedding serves input and output; a lower LR reduces its noise.",
    ),
    MenuEntry(
        "scalar-lr-down",
        "SCALAR_LR",
        ("optimizer",),
        _times(0.8),
        0.005,
        0.2,
        "Lower scalar-parameter learning rate",
        "Gains and mixing scalars settle faster with a smaller Adam step.",
    ),
    MenuEntry(
        "qk-gain-up",
        "QK_GAIN_INIT",
        ("attention", "architecture"),
        _times(1.33),
        0.5,
        3.0,
        "Higher initial QK gain",
        "With QK norm, a larger initial gain sharpens attention early in training.",
    ),
    MenuEntry(
        "rope-base-up",
        "ROPE_BASE",
        ("attention", "architecture"),
        _times(2.0),
        1000,
        200000,
        "Larger RoPE base",
        "A larger base keeps long-range positions distinguishable over the whole sequence.",
    ),
    MenuEntry(
        "softcap-down",
        "LOGIT_SOFTCAP",
        ("architecture", "evaluation", "systems"),
        _times(0.8),
        10,
        100,
        "Tighter logit softcap",
        "A tighter softcap regularises the output logits of a small model.",
    ),
)
MENU_BY_KEY = {e.key: e for e in MENU}

# A knob read with a default: `g("KNOB", 1200, int)`, `os.environ.get("KNOB", "1200")`, … — the
# quoted knob name, a comma, then the default literal (quoted or not).
_KNOB_RE = r"""(?<![A-Za-z0-9_])["']{knob}["']\s*,\s*(?P<q>["']?)(?P<val>[^"'(),\s]+)(?P=q)\s*[,)]"""


@dataclass
class KnobSite:
    path: str
    line: str  # the whole source line holding the default
    value: str  # the default literal without quotes
    quoted: bool


def find_knob(text: str, path: str, knob: str) -> KnobSite | None:
    """The unique source line that reads ``knob`` from the environment with a default."""
    pattern = re.compile(_KNOB_RE.format(knob=re.escape(knob)))
    hits = [line for line in text.splitlines() if pattern.search(line)]
    if len(hits) != 1:
        return None
    m = pattern.search(hits[0])
    assert m is not None
    return KnobSite(path, hits[0], m.group("val"), bool(m.group("q")))


def _format(value: float | str, like: str) -> str:
    if isinstance(value, str):
        return value
    if re.fullmatch(r"-?\d+", like):
        return str(round(value))
    text = f"{value:.6g}"
    return text if any(c in text for c in ".e") else text + ".0"


@dataclass
class OfflineChange:
    entry: MenuEntry
    old_value: str
    new_value: str
    category: str

    @property
    def title(self) -> str:
        return f"{self.entry.title}: {self.entry.knob} {self.old_value} → {self.new_value}"

    @property
    def change(self) -> str:
        return (
            f"Default of `{self.entry.knob}` changed from {self.old_value} to {self.new_value} in both "
            f"`{TRAINING_SCRIPTS[0]}` and `{TRAINING_SCRIPTS[1]}` (offline menu entry `{self.entry.key}`). "
            f"{self.entry.why}"
        )


def plan_change(ws: Workspace, item: GradedItem, tried_keys: Iterable[str] = ()) -> OfflineChange | None:
    """The first applicable menu entry for ``item`` (see the module docs); None when none is left."""
    tried = set(tried_keys)
    category = item_category(item)
    first = [e for e in MENU if category in e.categories]
    order = first + [e for e in MENU if e not in first]
    texts = {rel: ws.read(rel) for rel in TRAINING_SCRIPTS}
    for entry in order:
        if entry.key in tried:
            continue
        sites = [find_knob(texts[rel], rel, entry.knob) for rel in TRAINING_SCRIPTS]
        if any(s is None for s in sites):
            continue
        values = {s.value for s in sites if s is not None}
        if len(values) != 1:
            continue  # the scripts disagree already: not a safe place for a blind edit
        old = values.pop()
        try:
            current: float | None = float(old)
        except ValueError:
            current = None
        if current is None and not isinstance(entry.new_value(0.0), str):
            continue
        target = entry.new_value(current if current is not None else 0.0)
        if not isinstance(target, str):
            if entry.lo is not None:
                target = max(entry.lo, target)
            if entry.hi is not None:
                target = min(entry.hi, target)
        new = _format(target, old)
        if new == old:
            continue
        return OfflineChange(entry, old, new, category)
    return None


def apply_change(ws: Workspace, change: OfflineChange) -> None:
    """Make the change in both scripts through the editing tools (unique-string replace)."""
    for rel in TRAINING_SCRIPTS:
        site = find_knob(ws.read(rel), rel, change.entry.knob)
        if site is None:
            raise ExperimentError(f"knob {change.entry.knob} not found", path=rel)
        pattern = re.compile(_KNOB_RE.format(knob=re.escape(change.entry.knob)))
        m = pattern.search(site.line)
        assert m is not None
        q = m.group("q")
        new_line = (
            site.line[: m.start("val") - len(q)]
            + f"{q}{change.new_value}{q}"
            + site.line[m.end("val") + len(q) :]
        )
        ws.replace(rel, site.line, new_line)
