"""One GitHub API address for every caller: GITHUB_API_URL (Actions sets it; GHES, the emulator)
wins, else the ``github_api_url`` setting. Before, the ledger's App token ignored the setting and
the research sources ignored GITHUB_API_URL, so on GitHub Enterprise (or with only the setting)
three callers talked to two different servers."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings, github_api_base, upstream_api_base
from bot.forge.ledger_commit import _push_token
from bot.research.sources.base import FetchContext
from bot.research.sources.github_common import make_github

from .conftest import REPO, AppKey, app_env

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_environment_wins_and_the_setting_stands_in() -> None:
    s = Settings(github_api_url="https://ghe.example.com/api/v3/")
    assert github_api_base(s, {}) == "https://ghe.example.com/api/v3"
    assert github_api_base(s, {"GITHUB_API_URL": "http://127.0.0.1:9/"}) == "http://127.0.0.1:9"
    assert github_api_base(Settings(), {"GITHUB_API_URL": ""}) == "https://api.github.com"


def test_the_ledger_push_token_comes_from_the_configured_api(github_emu, seeded, app_key: AppKey) -> None:
    """Only the setting names the server (no GITHUB_API_URL): the App's token still comes from it."""
    env = app_env(github_emu, app_key)
    del env["GITHUB_API_URL"]
    token = _push_token(env, Settings(github_api_url=github_emu.url))
    assert token and token.startswith("ghs_")


def test_research_reads_upstream_where_it_lives_and_keeps_a_ghes_token_home(github_emu, seeded) -> None:
    """On a GitHub Enterprise runner GITHUB_API_URL names the GHES server, but openai/parameter-golf
    lives on github.com (the ``github_api_url`` setting; here the emulator): research asks there,
    and the runner's GITHUB_TOKEN, a GHES token, is not sent to another server."""
    ghes = "http://127.0.0.1:9"  # the runner's own server; nothing listens there
    s = Settings(github_api_url=github_emu.url)
    ctx = FetchContext(s, NOW, 6.0, env={"GITHUB_API_URL": ghes, "GITHUB_TOKEN": "ghes_token"})
    gh, authed = make_github(ctx)
    assert not authed
    assert gh.get_repo(REPO).full_name == REPO  # a real request, answered by the emulator
    home = FetchContext(s, NOW, 6.0, env={"GITHUB_API_URL": github_emu.url + "/", "GITHUB_TOKEN": "t"})
    assert make_github(home)[1] is True  # the same server: the token goes along (rate limits)
    assert upstream_api_base(Settings(github_api_url=" ")) == "https://api.github.com"


def test_no_module_reads_GITHUB_API_URL_but_the_resolver() -> None:
    bot = Path(__file__).resolve().parents[2] / "bot"
    readers = sorted(
        str(p.relative_to(bot)) for p in bot.rglob("*.py") if _names_the_variable(p.read_text("utf-8"))
    )
    assert readers == ["config.py"]


def _names_the_variable(source: str) -> bool:
    """Does the code hold the name as a string of its own — any way of reading it:
    ``os.environ[…]``, ``os.getenv(…)``, ``env.get(…)``, ``os.environb``, a constant, an f-string,
    implicitly joined pieces, a shell/``expandvars`` reference (``$GITHUB_API_URL``)? Prose in
    docstrings and comments does not count. (A guard against regressions, not against a
    determined author: ``"GITHUB_" + "API_URL"`` passes it.)"""
    pieces: list[str] = []

    def names(text: str) -> bool:
        return text.strip() == "GITHUB_API_URL" or bool(re.search(r"\$\{?GITHUB_API_URL\b", text))

    # Python 3.12+ splits an f-string into FSTRING_START, FSTRING_MIDDLE (its text), FSTRING_END
    f_parts = {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_END") if hasattr(tokenize, n)}
    f_text = getattr(tokenize, "FSTRING_MIDDLE", None)
    for tok in [*tokenize.generate_tokens(io.StringIO(source).readline), None]:
        if tok is not None and tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            except (ValueError, SyntaxError):  # an f-string (3.11): its literal text
                text = re.sub(r"^[A-Za-z]*(['\"]{1,3})|(['\"]{1,3})$", "", tok.string)
            pieces.append(text)
            continue
        if tok is not None and (tok.type in f_parts or tok.type == f_text):
            pieces.append(tok.string if tok.type == f_text else "")
            continue
        if tok is not None and tok.type in (tokenize.NL, tokenize.COMMENT) and pieces:
            continue  # implicit joining across lines
        if pieces and (names("".join(pieces)) or any(names(p) for p in pieces)):
            return True
        pieces = []
    return False


def test_the_guard_sees_every_way_of_reading_the_variable() -> None:
    for code in (
        'import os\nx = os.getenv("GITHUB_API_URL")\n',
        "import os\nx = os.environ['GITHUB_API_URL']\n",
        'NAME = "GITHUB_API_URL"\n',
        'def f(env):\n    return env.get("GITHUB_API_URL", "")\n',
        'import os\nx = os.getenv(f"GITHUB_API_URL")\n',
        'import os\nx = os.environb.get(b"GITHUB_API_URL")\n',
        'import os\nx = os.getenv("GITHUB_" "API_URL")\n',
        'import os\nx = os.path.expandvars("${GITHUB_API_URL}/repos")\n',
        'CMD = ["sh", "-c", "echo $GITHUB_API_URL"]\n',
    ):
        assert _names_the_variable(code), code
    assert not _names_the_variable('"""GITHUB_API_URL wins."""\n# GITHUB_API_URL\nx = 1\n')
    assert not _names_the_variable('x = "the GITHUB_API_URL variable, Actions sets it"\n')


def test_an_empty_or_blank_address_is_no_address() -> None:
    """PGOLF_GITHUB_API_URL="" (a workflow's unset variable) or a blank GITHUB_API_URL: the forge
    fell back to api.github.com before github_api_base; an empty base URL is no server at all, and
    stray whitespace around a pasted URL is no part of it."""
    assert github_api_base(Settings(github_api_url=""), {}) == "https://api.github.com"
    assert github_api_base(Settings(github_api_url="  "), {"GITHUB_API_URL": " "}) == "https://api.github.com"
    s = Settings(github_api_url=" https://ghe.example.com/api/v3/ ")
    assert github_api_base(s, {"GITHUB_API_URL": "\t"}) == "https://ghe.example.com/api/v3"
    assert github_api_base(Settings(), {"GITHUB_API_URL": " http://127.0.0.1:9/\n"}) == "http://127.0.0.1:9"
