"""pgolf: a Git-native research bot for OpenAI's Parameter Golf challenge."""

__version__ = "0.1.0"
