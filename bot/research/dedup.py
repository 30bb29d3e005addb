"""Duplicate detection across sources and cycles (keys defined in :mod:`bot.research.canonical`).

:class:`DedupIndex` maps every identity key of every known item — ``id``, canonical URL,
arXiv id, DOI, title key — to the id of the item that owns it, plus a block index (first title
words) for near-identical titles. ``find`` is O(1) for exact keys and looks at a bounded number
of same-block titles for the fuzzy match, so 100,000 items index and check in about a second.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator

from bot.research.canonical import canonical_url, similar_titles, title_block, title_key
from bot.state import ResearchItem


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """For bulk allocation of many small objects without reference cycles (indexing, dedup,
    serialising a batch): the cyclic GC would otherwise rescan the growing heap again and again,
    a large share of the time at 100,000 items."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


MAX_BLOCK_CANDIDATES = 16
MIN_TITLE = 12  # shorter title keys ("Notes", "Update") never identify an item


class Keys:
    """The identity keys of one item. The fuzzy-match block is computed on first use: most
    duplicates are caught by an exact key and never need it."""

    __slots__ = ("_block", "exact", "title")

    def __init__(self, exact: list[str], title: str, block: str | None = None) -> None:
        self.exact = exact  # id:…, url:…, arxiv:…, doi:…, then title:… (last) when there is one
        self.title = title  # the title key ("" when too short)
        self._block = block

    @property
    def block(self) -> str:
        """The fuzzy-match block of the title key ("" without one)."""
        if self._block is None:
            self._block = title_block(self.title) if self.title else ""
        return self._block

    @property
    def words(self) -> frozenset[str]:
        return frozenset(self.title.split())


def keys_of(item: ResearchItem) -> Keys:
    return keys_from(item.id, item.title, item.url, item.arxiv_id, item.doi)


def keys_from(iid: str, title: str, url: str, aid: str, doi: str) -> Keys:
    exact = ["id:" + iid]
    if url:
        if aid and (url == "https://arxiv.org/abs/" + aid or url == "http://arxiv.org/abs/" + aid):
            exact.append("url:arxiv.org/abs/" + aid)  # what canonical_url gives, without the parsing
        else:
            canon = canonical_url(url)
            if canon:
                exact.append("url:" + canon)
    if aid:
        exact.append("arxiv:" + aid)
    if doi:
        exact.append("doi:" + doi.lower())
    tk = title_key(title)
    if len(tk) < MIN_TITLE:
        return Keys(exact, "", "")
    exact.append("title:" + tk)
    return Keys(exact, tk)


def identity_keys(item: ResearchItem) -> Iterator[str]:
    """Exact keys: any one shared means "the same item"."""
    yield from keys_of(item).exact


class DedupIndex:
    """Exact keys (``title:<key>`` included) → owner id, and fuzzy-match blocks of title keys.

    Blocks are filled lazily (``_pending``), in insertion order, the first time a fuzzy match
    is needed: loading a large cache whose items are then all caught by exact keys never pays
    for them."""

    def __init__(self, items: Iterable[ResearchItem] = ()) -> None:
        self._owner: dict[str, str] = {}
        self._blocks: dict[str, list[str]] = {}  # block → title keys
        self._titles = 0
        self._pending: list[tuple[str, str | None]] = []  # (title key, block if known)
        # cached id → the sources its cached lines list (filled by the cache loader), and
        # cached id → sources reported now that the cache does not list yet (filled by dedup)
        self.cached: dict[str, list[str]] = {}
        self.source_updates: dict[str, list[str]] = {}
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        """How many distinct title keys are known."""
        return self._titles

    def _to_block(self, tk: str, block_key: str) -> None:
        block = self._blocks.get(block_key)
        if block is None:
            self._blocks[block_key] = [tk]
            return
        block.append(tk)
        if len(block) > 4 * MAX_BLOCK_CANDIDATES:
            del block[: len(block) - MAX_BLOCK_CANDIDATES]

    def _flush(self) -> None:
        for tk, block_key in self._pending:
            self._to_block(tk, block_key or title_block(tk))
        self._pending.clear()

    def add(self, item: ResearchItem, owner: str | None = None, keys: Keys | None = None) -> None:
        self.add_with_keys(owner or item.id, keys or keys_of(item))

    def add_with_keys(self, owner: str, keys: Keys) -> None:
        owners = self._owner
        new_title = bool(keys.title) and keys.exact[-1] not in owners  # "title:<key>" comes last
        for key in keys.exact:
            owners.setdefault(key, owner)
        if new_title:
            self._titles += 1
            if keys._block is None or self._pending:
                self._pending.append((keys.title, keys._block))
            else:
                self._to_block(keys.title, keys._block)

    def add_keys(self, owner: str, keys: Iterable[str]) -> None:
        """Remember keys of an item no longer held in full (compacted away)."""
        owners = self._owner
        for key in keys:
            if key.startswith("title:") and key not in owners:
                self._titles += 1
                self._pending.append((key[6:], None))
            owners.setdefault(key, owner)

    def find(self, item: ResearchItem, keys: Keys | None = None) -> str | None:
        """The id of a known item that ``item`` duplicates, else None."""
        return self._find(keys or keys_of(item))

    def find_or_add(self, owner: str, keys: Keys) -> str | None:
        """:meth:`find`; when nothing is found, :meth:`add_with_keys` under ``owner``."""
        found = self._find(keys)
        if found is None:  # then none of its keys is known: no setdefault needed
            self._owner.update(dict.fromkeys(keys.exact, owner))
            if keys.title:
                self._titles += 1
                if keys._block is None or self._pending:
                    self._pending.append((keys.title, keys._block))
                else:
                    self._to_block(keys.title, keys._block)
        return found

    def _find(self, keys: Keys) -> str | None:
        owners = self._owner
        if not owners.keys().isdisjoint(keys.exact):  # one C-level pass when none is known
            for key in keys.exact:
                owner = owners.get(key)
                if owner is not None:
                    return owner
        if not keys.title:
            return None
        if self._pending:
            self._flush()
        candidates = self._blocks.get(keys.block)
        if not candidates:
            return None
        words = keys.words
        for other in reversed(candidates[-MAX_BLOCK_CANDIDATES:]):
            # cheap word-overlap filter before the character-level comparison
            other_words = set(other.split())
            union = len(words | other_words)
            if union and len(words & other_words) / union < 0.6:
                continue
            if similar_titles(keys.title, other):
                return owners["title:" + other]
        return None

    def note_sources(self, owner: str, dup: ResearchItem) -> bool:
        """A duplicate of the cached item ``owner`` was reported: remember the sources the cache
        does not list yet (see :attr:`source_updates`). Returns whether there were any."""
        known = self.cached.get(owner)
        if known is None:  # compacted away, or not a cached item
            return False
        added = False
        for name in dup.sources or [dup.source]:
            if name not in known:
                known.append(name)
                self.source_updates.setdefault(owner, []).append(name)
                added = True
        return added


def merge_into(kept: ResearchItem, dup: ResearchItem) -> bool:
    """Fold a duplicate into the kept item: sources, missing ids/fields, best relevance.
    Returns whether the kept item's identity (arXiv id, DOI, URL) grew."""
    before = (kept.arxiv_id, kept.doi, kept.url)
    for name in dup.sources or [dup.source]:
        if name not in kept.sources:
            kept.sources.append(name)
    kept.arxiv_id = kept.arxiv_id or dup.arxiv_id
    kept.doi = kept.doi or dup.doi
    kept.url = kept.url or dup.url
    kept.published = kept.published or dup.published
    if len(dup.summary) > len(kept.summary):
        kept.summary = dup.summary
    if not kept.authors:
        kept.authors = list(dup.authors)
    if dup.relevance is not None and (kept.relevance is None or dup.relevance > kept.relevance):
        kept.relevance = dup.relevance
        kept.relevance_kind = dup.relevance_kind
    if dup.id != kept.id:
        also = kept.extra.setdefault("also", [])
        if isinstance(also, list) and dup.id not in also:
            also.append(dup.id)
    return (kept.arxiv_id, kept.doi, kept.url) != before
