"""Research: sources, the fetch pipeline (gather, dedup, filter, store) and competitor records.

* :mod:`bot.research.sources` — one module per source, each exposing ``SOURCE`` (a
  :class:`~bot.research.sources.base.Source`);
* :mod:`bot.research.pipeline` — one research cycle: every source at once, dedup, relevance
  threshold, atomic append to ``raw_cache.jsonl``;
* :mod:`bot.research.competitors` — parameter-golf records and the modded-nanogpt table.
"""
