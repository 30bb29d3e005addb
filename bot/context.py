"""Moved to :mod:`bot.commands.context` (the CLI's helpers live with the commands).

Kept only for ``bot/commands/pods.py``, which another change owns this round; once it imports
``bot.commands.context`` this file goes (tests/foundation/test_layers.py holds the list)."""

from bot.commands.context import AppContext, emit_json, pass_app

__all__ = ["AppContext", "emit_json", "pass_app"]
