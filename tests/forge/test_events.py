"""Slash-command parsing, event payloads and the offline pre-filter (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from bot.errors import InputError
from bot.forge.events import load_event, parse_command, parse_payload, prefilter
from tests.forge.conftest import comment_event, label_event, sync_event, write_event


@pytest.mark.parametrize(
    ("body", "name", "args", "error"),
    [
        ("/promote", "promote", {"seeds": 1}, ""),
        ("/promote seeds=3\nplease", "promote", {"seeds": 3}, ""),
        ("\n  /PROMOTE   seeds=8  ", "promote", {"seeds": 8}, ""),
        ("/promote seeds=0", "promote", {}, "seeds must be"),
        ("/promote seeds=abc", "promote", {}, "seeds must be"),
        ("/promote now", "promote", {}, "does not take"),
        ("/retrain", "retrain", {}, ""),
        ("/status", "status", {}, ""),
        ("/budget", "budget", {}, ""),
        ("/abort", "abort", {}, ""),
        ("/help", "help", {}, ""),
        ("/status extra", "status", {}, "takes no arguments"),
        (
            "/promote ABCDEF1" + "0" * 33 + " seeds=2",
            "promote",
            {"sha": "abcdef1" + "0" * 33, "seeds": 2},
            "",
        ),
        ("/promote abcdef1 seeds=2", "promote", {}, "no abbreviation"),
        ("/promote " + "a" * 40, "promote", {"sha": "a" * 40, "seeds": 1}, ""),
        # Issue 15 item 8: every bad argument is a reply saying what is accepted, never an exception.
        ("/promote seeds=\u00b2", "promote", {}, "seeds must be a whole number from 1 to 8"),
        ("/promote seeds=\u0663", "promote", {}, "accepted: `/promote <head sha> [seeds=N]`"),
        ("/promote seeds=" + "9" * 400, "promote", {}, "seeds must be"),
        ("/promote abc", "promote", {}, "accepted: `/promote <head sha>"),
        ("/promote " + "a" * 40 + " abcdef2", "promote", {}, "does not take 'abcdef2'"),
        ("/promote seeds=", "promote", {}, "seeds must be"),
        ("/promote =3", "promote", {}, "does not take"),
        ("/deploy", "deploy", {}, "unknown command"),
    ],
)
def test_parse_command(body: str, name: str, args: dict[str, int], error: str) -> None:
    cmd = parse_command(body)
    assert cmd is not None and cmd.name == name and cmd.args == args
    assert (error in cmd.error) if error else cmd.error == ""


@pytest.mark.parametrize("body", ["", "LGTM", "looks good\n/promote", "/tmp/x is a path", "/ promote"])
def test_not_a_command(body: str) -> None:
    assert parse_command(body) is None


@pytest.mark.parametrize(
    ("payload", "allowed", "reason"),
    [
        (comment_event("/promote", association="MEMBER"), True, "pre-filter passed"),
        (comment_event("/promote", association="OWNER"), True, "pre-filter passed"),
        (comment_event("/promote", association="COLLABORATOR"), True, "pre-filter passed"),
        (comment_event("/promote", association="NONE"), False, "author_association NONE"),
        (comment_event("/promote", association="CONTRIBUTOR"), False, "author_association CONTRIBUTOR"),
        (comment_event("/promote", association="FIRST_TIME_CONTRIBUTOR"), False, "FIRST_TIME_CONTRIBUTOR"),
        (comment_event("/promote", action="edited"), False, "edits are ignored"),
        (comment_event("/promote", action="deleted"), False, "only newly created"),
        (comment_event("/promote", on_pr=False), False, "not a pull request"),
        (comment_event("/promote", user="pgolf-bot[bot]", user_type="Bot"), False, "bots are ignored"),
        (comment_event("/promote", user="renovate[bot]", user_type="User"), False, "bots are ignored"),
        (comment_event("nice work"), False, "no slash command"),
        (comment_event("/promote seeds=99"), False, "seeds must be"),
        (label_event("promote", "a" * 40), True, "labeler's collaborator permission"),
        (label_event("bug", "a" * 40), False, "not a command"),
        (
            label_event("promote", "a" * 40, sender="pgolf-bot[bot]", sender_type="Bot"),
            False,
            "auto_promote is off",
        ),
        (sync_event("b" * 40, ["promote"]), False, "not a command"),
    ],
)
def test_prefilter(payload: dict[str, object], allowed: bool, reason: str) -> None:
    name = "issue_comment" if "comment" in payload else "pull_request"
    d = prefilter(parse_payload(payload, name))
    assert d.allowed is allowed and reason in d.reason


def test_own_app_label_counts_only_with_auto_promote() -> None:
    ev = parse_payload(
        label_event("promote", "a" * 40, sender="pgolf-bot[bot]", sender_type="Bot"), "pull_request"
    )
    on = Settings(auto_promote=True)
    assert prefilter(ev, on, bot_login="pgolf-bot[bot]").allowed
    assert not prefilter(ev, on, bot_login="other-bot[bot]").allowed
    assert not prefilter(ev, Settings(), bot_login="pgolf-bot[bot]").allowed


def test_custom_promote_label() -> None:
    ev = parse_payload(label_event("tier2", "a" * 40), "pull_request", Settings(promote_label="tier2"))
    assert ev.command is not None and ev.command.name == "promote"
    assert prefilter(ev, Settings(promote_label="tier2")).allowed


def test_workflow_dispatch_payload(tmp_path: Path) -> None:
    payload = {
        "inputs": {"pr": "7", "sha": "abc1234" + "0" * 33, "seeds": "2"},
        "repository": {"full_name": "o/r"},
        "sender": {"login": "maintainer", "type": "User"},
    }
    ev = load_event(write_event(tmp_path / "e.json", payload), "workflow_dispatch", env={})
    assert (
        ev.pr == 7
        and ev.head_sha == "abc1234" + "0" * 33
        and ev.command is not None
        and ev.command.args == {"seeds": 2, "sha": "abc1234" + "0" * 33}
    )
    for inputs, why in (
        ({"pr": "\u00b2"}, "PR number"),
        ({"pr": "7", "seeds": "\u00b2"}, "seeds must be"),
        ({"pr": "7", "sha": "HEAD~1"}, "sha must be"),
    ):
        path = write_event(tmp_path / "odd.json", {**payload, "inputs": inputs})
        try:
            odd = load_event(path, "workflow_dispatch", env={})
        except InputError as exc:
            assert why in str(exc)
        else:
            assert odd.command is not None and why in odd.command.error
    bad = write_event(tmp_path / "bad.json", {**payload, "inputs": {"pr": "7; rm -rf /"}})
    with pytest.raises(InputError, match="bad.json"):
        load_event(bad, "workflow_dispatch", env={})


def test_load_event_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.json"):
        load_event(tmp_path / "nope.json", env={})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match="broken.json"):
        load_event(broken, env={})
    with pytest.raises(InputError, match="comment"):
        load_event(write_event(tmp_path / "c.json", {"issue": {"number": 1}}), "issue_comment", env={})


def test_command_parse_cli_json(tmp_path: Path) -> None:
    runner = CliRunner()
    path = write_event(tmp_path / "event.json", comment_event("/promote seeds=2", association="CONTRIBUTOR"))
    res = runner.invoke(cli, ["--repo", str(tmp_path), "command", "parse", "--event", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {k: data[k] for k in ("event", "command", "args", "pr", "actor", "head_sha", "prefilter")} == {
        "event": "issue_comment",
        "command": "promote",
        "args": {"seeds": 2},
        "pr": 7,
        "actor": "maintainer",
        "head_sha": None,
        "prefilter": "reject",
    }
    assert "CONTRIBUTOR" in data["reason"]
    path = write_event(tmp_path / "label.json", label_event("promote", "c" * 40))
    res = runner.invoke(cli, ["--repo", str(tmp_path), "command", "parse", "--event", str(path), "--json"])
    data = json.loads(res.output)
    assert data["command"] == "promote" and data["head_sha"] == "c" * 40 and data["prefilter"] == "pass"
    res = runner.invoke(
        cli, ["--repo", str(tmp_path), "command", "parse", "--event", str(tmp_path / "missing.json")]
    )
    assert res.exit_code == 2 and "missing.json" in res.output
