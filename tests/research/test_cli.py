"""`pgolf research fetch` / `pgolf research breaking` end to end (CliRunner, emulators)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bot.cli import cli
from bot.state import ResearchState


def _run(tmp_path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--repo", str(tmp_path), "research", *args], env=env or {})


def test_fetch_snapshot_json_then_duplicates(tmp_path):
    res = _run(tmp_path, "fetch", "--source", "snapshot", "--since-hours", "50000", "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    assert first["new"] == 10 and first["duplicates"] == 2 and first["below_threshold"] == 2
    assert first["sources"]["snapshot"]["fetched"] == 14 and first["errors"] == {}
    assert len(ResearchState(tmp_path / "research").raw_items()) == 10
    # the snapshot's PR items carry 2 record scores, its leaderboard item 7 rows
    assert first["competitor_scores"] == 9
    board = CliRunner().invoke(cli, ["--repo", str(tmp_path), "competitors", "list", "--json"], env={})
    boards = json.loads(board.stdout)
    # PRs 1851 and 1736 are on the leaderboard: one accepted row each, not a claim beside it
    assert [s.get("pr") for s in boards["parameter-golf"]] == [1855, 1851, 1787, 1769, 1736, None]
    assert boards["parameter-golf claims"] == []
    assert [s["val_bpb"] for s in boards["parameter-golf non-record"]] == [1.1239]
    res = _run(tmp_path, "fetch", "--source", "snapshot", "--since-hours", "50000")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("research fetch: 0 new, 12 duplicates dropped, 2 below threshold (0.40)")
    assert "snapshot" in res.stdout


def test_fetch_from_emulators_with_settings_from_env(tmp_path, arxiv_emu, feed_emu):
    env = {
        "PGOLF_ARXIV_BASE_URL": arxiv_emu.url + "/api/query",
        "PGOLF_ARXIV_DELAY_SECONDS": "0",
        "PGOLF_RSS_FEEDS": ",".join(feed_emu.url + p for p in feed_emu.feeds),
        "PGOLF_SINCE_HOURS": "24",
    }
    res = _run(tmp_path, "fetch", "--source", "arxiv,rss", "--json", env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data["sources"]) == {"arxiv", "rss"}
    muon = [i for i in data["new_items"] if "Muon" in i["title"]]
    assert len(muon) == 1 and set(muon[0]["sources"]) == {"arxiv", "rss"}


def test_one_failing_source_is_reported_all_failing_is_an_error(tmp_path, arxiv_emu, feed_emu):
    env = {
        "PGOLF_ARXIV_BASE_URL": arxiv_emu.url + "/api/query",
        "PGOLF_ARXIV_DELAY_SECONDS": "0",
        "PGOLF_SOURCE_RETRIES": "0",
        "PGOLF_RSS_FEEDS": feed_emu.url + "/blog/feed.xml",
    }
    arxiv_emu.fail_next("500", times=5)
    res = _run(tmp_path, "fetch", "--source", "arxiv", "--source", "rss", env=env)
    assert res.exit_code == 0, res.output
    assert "error: arxiv: HTTP error 500" in res.stdout and "1 source error" in res.stdout
    arxiv_emu.fail_next("500", times=5)
    res = _run(tmp_path, "fetch", "--source", "arxiv", env=env)
    assert res.exit_code == 15
    assert "every source failed" in res.stderr and "research fetch: 0 new" in res.stdout


def test_unknown_source_is_a_usage_error(tmp_path):
    res = _run(tmp_path, "fetch", "--source", "myspace")
    assert res.exit_code == 2 and "unknown research source 'myspace'" in res.stderr


def test_breaking_news(tmp_path, tavily_emu):
    env = {"PGOLF_TAVILY_BASE_URL": tavily_emu.url, "TAVILY_API_KEY": "tvly-test-key"}
    res = _run(tmp_path, "breaking", "--json", env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert list(data["sources"]) == ["tavily_news"]
    assert [i["title"] for i in data["new_items"]] == ["OpenAI extends Parameter Golf deadline"]
    assert "tvly-test-key" not in res.output  # the key is never printed
