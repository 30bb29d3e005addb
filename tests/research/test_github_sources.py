"""github_prs and github_code through the real PyGithub against the GitHub emulator."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.errors import SourceError
from bot.research.http import DEFAULT_USER_AGENT
from bot.state import ResearchState
from tests.emulators.github import GitHubEmulator
from tests.fixture_paths import OWN, modded_table
from tests.research.helpers import cycle, fetch_one, settings_for

FIXTURES = OWN / "parameter-golf" / "records"  # the project's own (tests/fixtures)
PG = "openai/parameter-golf"
RECORD = "2026-04-14_MultiPhaseGlobalSGD_PhasedTTT"
README_ONLY = "2026-03-20_11L_XSA4_EMA_Int6_MLP3x_WD04_1.1271"


def _now(gh: GitHubEmulator) -> datetime:
    return datetime.fromtimestamp(gh.now(), UTC)


def _files(name: str, *, readme: bool = True, submission: bool = True) -> dict[str, bytes]:
    folder = FIXTURES / name
    out = {}
    base = f"records/track_10min_16mb/{name}"
    if submission:
        out[f"{base}/submission.json"] = (folder / "submission.json").read_bytes()
    if readme:
        out[f"{base}/README.md"] = (folder / "README.md").read_bytes()
    out[f"{base}/train_gpt.py"] = b"print('hello')\n"
    return out


@pytest.fixture
def seeded() -> Iterator[GitHubEmulator]:
    gh = GitHubEmulator().start()
    gh.add_repo(PG, files={"README.md": b"# Parameter Golf\n"})
    gh.add_repo("KellerJordan/modded-nanogpt", files={"README.md": b"# speedrun\n"})
    gh.add_repo(
        "karpathy/autoresearch",
        files={"README.md": b"# autoresearch\n", "train.py": b"# val_bpb train_gpt.py\n"},
    )
    gh.add_pr(
        PG,
        title="Old record attempt",
        files={"records/old/README.md": b"**val_bpb: 1.3000**"},
        author="olduser",
    )
    gh.advance(12 * 3600)  # everything above is now 12 h old
    gh.add_pr(
        PG,
        title=f"Record: {RECORD}",
        files=_files(RECORD),
        author="dexhunter",
        head_repo="dexhunter/parameter-golf",
    )
    gh.add_pr(PG, title="Record: README only", files=_files(README_ONLY, submission=False), author="jfprincz")
    gh.add_pr(PG, title="Docs: typo", files={"README.md": b"# Parameter Golf!\n"}, author="someone")
    gh.add_pr(
        "KellerJordan/modded-nanogpt", title="New record: 2.20 minutes with muon tweaks", author="varunneal"
    )
    yield gh
    gh.stop()


def test_prs_of_watched_repos_with_record_scores(seeded, tmp_path):
    settings = settings_for({"github_prs": seeded})
    report = cycle(settings, tmp_path, sources=["github_prs"], now=_now(seeded), since_hours=6)
    assert not report.errors, report.errors
    ids = {i.id for i in ResearchState(tmp_path).raw_items()} | {i.id for i in report.new_items}
    assert "github_prs:openai/parameter-golf#1" not in ids  # 12 h old: outside the window
    rec = next(i for i in report.new_items if RECORD in i.title)
    (score,) = rec.extra["competitor_scores"]
    assert score["val_bpb"] == pytest.approx(1.07193) and score["pr"] == rec.raw["number"]
    assert score["author"] == "dexhunter" and score["url"].endswith(f"/pull/{rec.raw['number']}")
    assert rec.relevance == 1.0 and rec.relevance_kind == "competitor"
    stored = {c.key: c for c in ResearchState(tmp_path).competitors()}
    assert report.competitor_scores == 2
    readme_only = next(c for c in stored.values() if README_ONLY in c.key)
    assert readme_only.val_bpb == pytest.approx(1.1271) and readme_only.extra["parsed_as"].startswith("bold")
    assert readme_only.author == "jfprincz"  # from the PR when the README names nobody
    # contents were read at the PR head, base64-decoded by PyGithub
    content_reqs = [r for r in seeded.requests if "/contents/" in r.path]
    assert content_reqs and all(r.q("ref") for r in content_reqs)
    assert all(r.header("user-agent") == DEFAULT_USER_AGENT for r in seeded.requests)
    # the list answer is enough: no per-PR GET (PyGithub's lazy completion) and no repo GET
    assert not [r.path for r in seeded.requests if re.fullmatch(r".*/pulls/\d+", r.path)]
    assert not [r.path for r in seeded.requests if re.fullmatch(r"/repos/[^/]+/[^/]+", r.path)]
    # the docs PR has no record and a low keyword score: dropped, not stored
    assert not any("typo" in i.title for i in report.new_items)
    mng = next(i for i in report.new_items if "muon" in i.title.lower())
    assert "competitor_scores" not in mng.extra


def test_prs_follow_link_pagination(seeded):
    for n in range(35):
        seeded.add_pr("karpathy/autoresearch", title=f"Try quantization idea {n}", author="karpathy")
    settings = settings_for({"github_prs": seeded}, watched_repos=["karpathy/autoresearch"])
    items, _ = fetch_one("github_prs", settings, now=_now(seeded), env={})
    assert len(items) == 35
    pages = [r.q("page") for r in seeded.requests if r.path.endswith("/pulls")]
    assert pages == [None, "2"]


def test_prs_token_and_rate_limit(seeded):
    token = seeded.add_token("alice")
    settings = settings_for(
        {"github_prs": seeded}, watched_repos=["KellerJordan/modded-nanogpt"], source_timeout_seconds=5.0
    )
    fetch_one("github_prs", settings, now=_now(seeded), env={"GITHUB_TOKEN": token})
    assert seeded.requests[-1].header("authorization") == f"token {token}"
    seeded.set_rate_limit(0, reset_in=3600)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="rate limit|403"):
        fetch_one("github_prs", settings, now=_now(seeded), env={"GITHUB_TOKEN": token})
    assert time.monotonic() - t0 < 60  # hang ceiling: no hour-long wait for the reset


def test_prs_server_errors(seeded):
    settings = settings_for(
        {"github_prs": seeded}, watched_repos=["KellerJordan/modded-nanogpt"], source_retries=1
    )
    seeded.fail_next("500")
    items, _ = fetch_one("github_prs", settings, now=_now(seeded), env={})
    assert len(items) == 1  # retried
    seeded.fail_next("500", times=10)
    with pytest.raises(SourceError):
        fetch_one("github_prs", settings, now=_now(seeded), env={})
    seeded.clear_faults()
    seeded.fail_next("html", times=10)
    with pytest.raises(SourceError):
        fetch_one("github_prs", settings, now=_now(seeded), env={})
    seeded.clear_faults()
    seeded.fail_next("malformed", times=10)
    with pytest.raises(SourceError, match="bad response|JSON|Expecting"):
        fetch_one("github_prs", settings, now=_now(seeded), env={})
    seeded.clear_faults()


def test_prs_hang_is_cut_off(seeded, tmp_path):
    seeded.fail_next("hang", times=10)
    settings = settings_for({"github_prs": seeded})
    t0 = time.monotonic()
    report = cycle(settings, tmp_path, sources=["github_prs"], now=_now(seeded), timeout=0.5)
    assert time.monotonic() - t0 < 10  # hang ceiling (20x the timeout); "timed out" proves the cut
    assert "timed out" in report.errors["github_prs"]


def test_code_search_needs_a_token(seeded):
    settings = settings_for({"github_code": seeded}, github_code_query="val_bpb")
    items, ctx = fetch_one("github_code", settings, now=_now(seeded), env={})
    assert items == [] and "GITHUB_TOKEN" in ctx.warnings["github_code"][0]
    assert not seeded.requests_to("GET", "/search/code")


def test_code_search_with_token(seeded):
    token = seeded.add_token("alice")
    seeded.push("karpathy/autoresearch", "main", {"train.py": b"# val_bpb train_gpt.py quantization muon\n"})
    settings = settings_for({"github_code": seeded}, github_code_query='"val_bpb"')
    items, _ = fetch_one("github_code", settings, now=_now(seeded), env={"GITHUB_TOKEN": token})
    assert [i.title for i in items] == ["karpathy/autoresearch: train.py"]
    assert "quantization muon" in items[0].summary
    # with a window that ends before the repo's latest commit... and one that starts after it
    later = datetime.fromtimestamp(seeded.now() + 24 * 3600, UTC)
    old, _ = fetch_one("github_code", settings, now=later, env={"GITHUB_TOKEN": token})
    assert old == []
    seeded.set_rate_limit(0, reset_in=3600, resource="search")
    with pytest.raises(SourceError, match="rate limit|403"):
        fetch_one("github_code", settings, now=_now(seeded), env={"GITHUB_TOKEN": token})


def test_state_json_is_valid(seeded, tmp_path):
    settings = settings_for({"github_prs": seeded})
    report = cycle(settings, tmp_path, sources=["github_prs"], now=_now(seeded))
    lines = ResearchState(tmp_path).competitors_path.read_text().splitlines()
    assert len(lines) == report.competitor_scores == 2  # the record PR and the README-only one
    rows = [json.loads(line) for line in lines]
    assert all(r["source"] == "parameter-golf" for r in rows)
    assert sorted(round(r["val_bpb"], 4) for r in rows) == [1.0719, 1.1271]


def test_competitors_refresh_from_github(seeded, tmp_path):
    from click.testing import CliRunner

    from bot.cli import cli

    files = {}
    for name in (RECORD, README_ONLY, "2026-03-17_NaiveBaseline"):
        files.update(_files(name, submission=name != README_ONLY))
    modded = modded_table(OWN).read_bytes()
    seeded.push(PG, "main", files)
    seeded.push("KellerJordan/modded-nanogpt", "main", {"README.md": modded})
    env = {"PGOLF_GITHUB_API_URL": seeded.url}
    runner = CliRunner()
    res = runner.invoke(
        cli, ["--repo", str(tmp_path), "competitors", "refresh", "--max-new", "2", "--json"], env=env
    )
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    assert first["records_seen"] == 3 and first["records_read"] == 2 and first["skipped"] == 1
    assert first["modded_rows"] == 13  # the rows of tests/fixtures' table
    res = runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "refresh", "--json"], env=env)
    second = json.loads(res.stdout)
    assert second["records_read"] == 1 and second["stored"] == 1  # only the folder left last time
    board = json.loads(
        runner.invoke(cli, ["--repo", str(tmp_path), "competitors", "list", "--json"], env=env).stdout
    )
    pg = board["parameter-golf"]
    assert [round(s["val_bpb"], 4) for s in pg] == [1.0719, 1.1271, 1.2244]
    assert pg[0]["key"] == f"parameter-golf:records/track_10min_16mb/{RECORD}"
    seeded.fail_next("500", times=20)
    res = runner.invoke(
        cli, ["--repo", str(tmp_path), "-c", "source_retries=0", "competitors", "refresh"], env=env
    )
    assert res.exit_code == 16 and "500" in res.stderr


# ----------------------------------------------------------------- fault switches (both sources)
#
# PyGithub's retry policy (GithubRetry, set up in github_common.make_github) retries 5xx and
# rate-limit 403s, and honours Retry-After. A 429 *without* Retry-After is, per GitHub's docs,
# a secondary rate limit to wait "at least one minute" on — longer than a source's timeout —
# so the source gives up at once with a SourceError that says 429 (one request, no hammering).
# Broken bodies (non-UTF-8, cut short) are a SourceError naming the source, never a raw error.

GH_SOURCES = {
    "github_prs": {"watched_repos": ["KellerJordan/modded-nanogpt"]},
    "github_code": {"github_code_query": '"val_bpb"'},
}


def _gh_fetch(gh: GitHubEmulator, source: str, token: str) -> list:
    settings = settings_for({source: gh}, **GH_SOURCES[source])
    items, _ = fetch_one(source, settings, now=_now(gh), since_hours=24, env={"GITHUB_TOKEN": token})
    return items


@pytest.fixture
def gh_token(seeded: GitHubEmulator) -> str:
    token = seeded.add_token("alice")
    seeded.push("KellerJordan/modded-nanogpt", "main", {"train.py": b"# val_bpb muon quantization\n"})
    return token


@pytest.mark.parametrize("source", sorted(GH_SOURCES))
def test_github_sources_answer_without_faults(seeded, gh_token, source):
    assert _gh_fetch(seeded, source, gh_token)


@pytest.mark.parametrize("source", sorted(GH_SOURCES))
@pytest.mark.parametrize("times", [1, 20])
def test_github_429_without_retry_after_is_a_clear_source_error(seeded, gh_token, source, times):
    seeded.requests.clear()
    seeded.fail_next("429", times=times)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="429") as err:
        _gh_fetch(seeded, source, gh_token)
    assert err.value.path == source
    assert len(seeded.requests) == 1  # no retry storm against a rate limit
    assert time.monotonic() - t0 < 30  # hang ceiling: no minute-long wait for the secondary limit
    seeded.clear_faults()
    assert _gh_fetch(seeded, source, gh_token)  # the next cycle reads normally


@pytest.mark.parametrize("source", sorted(GH_SOURCES))
def test_github_429_with_retry_after_is_retried(seeded, gh_token, source):
    seeded.requests.clear()
    seeded.fail_next("429", retry_after="0")
    assert _gh_fetch(seeded, source, gh_token)
    assert len(seeded.requests) >= 2


@pytest.mark.parametrize("source", sorted(GH_SOURCES))
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", r"ChunkedEncodingError|IncompleteRead|cut short|incomplete"),
        ("non_utf8", r"UTF-8|bad response|TypeError"),
    ],
)
@pytest.mark.parametrize("times", [1, 20])
def test_github_broken_bodies_are_a_clear_source_error(seeded, gh_token, source, kind, message, times):
    seeded.requests.clear()
    seeded.fail_next(kind, times=times)
    with pytest.raises(SourceError, match=message) as err:
        _gh_fetch(seeded, source, gh_token)
    assert err.value.path == source
    assert str(err.value).startswith(f"{source}: ")
    seeded.clear_faults()
    assert _gh_fetch(seeded, source, gh_token)


@pytest.mark.parametrize("kind", ["429", "truncated", "non_utf8"])
def test_github_fault_in_a_cycle_is_reported_and_the_cycle_survives(seeded, gh_token, tmp_path, kind):
    seeded.fail_next(kind, times=20)
    settings = settings_for({"github_prs": seeded, "github_code": seeded}, **GH_SOURCES["github_code"])
    report = cycle(
        settings,
        tmp_path,
        sources=["github_prs", "github_code"],
        now=_now(seeded),
        env={"GITHUB_TOKEN": gh_token},
    )
    assert set(report.errors) == {"github_prs", "github_code"}
    assert all(report.errors.values())
    assert not report.new_items
