"""The training stack's bot side (issue 3).

* :mod:`bot.training.logparse` — ``parse_log(text) -> TrainResult`` for every tier's logs;
* :mod:`bot.training.parity` — ``run_parity(torch_path, mlx_path) -> ParityResult``;
* :mod:`bot.training.local` — ``decide(...)``, ``run_local(...)``, ``run_baseline(...)`` (Tier 1);
* :mod:`bot.training.shards` — shard reader/writer and ``make_tiny_dataset``;
* :mod:`bot.training.scripts` — where the shipped training scripts are (package data).

The training scripts themselves are self-contained single files (``training/`` in the pgolf
repository, ``bot/training-scripts/`` in an installed package).
"""
