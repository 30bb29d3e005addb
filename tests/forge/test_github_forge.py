"""GitHubForge (real PyGithub) against the GitHub emulator: App auth, refresh, rate limits, operations."""

from __future__ import annotations

import time
from dataclasses import replace

import jwt
import pytest
from github import Auth, Github, GithubException

from bot.config import Settings
from bot.errors import ConfigError, ForgeError
from bot.forge.base import StatusReport
from bot.forge.github import GitHubForge, InstallationTokens
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import REPO, AppKey, app_env, make_key

FAST = Settings(
    github_secondary_rate_wait_seconds=0.2,
    github_max_rate_limit_wait_seconds=3.0,
    github_seconds_between_requests=0,
    github_seconds_between_writes=0,
)


def app_forge(gh: GitHubEmulator, key: AppKey, settings: Settings = FAST) -> GitHubForge:
    return GitHubForge.from_env(settings, app_env(gh, key))


def test_app_auth_mints_installation_token_with_verified_jwt(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    forge = app_forge(github_emu, app_key)
    pr = forge.get_pr(7)
    assert pr.number == 7 and pr.head_ref == "exp/rope" and pr.author == "alice" and not pr.is_fork
    # One JWT-authenticated installation lookup + one token mint; the API call used the ghs_ token.
    mints = github_emu.requests_to("POST", "/app/installations/77/access_tokens")
    assert len(mints) == 1
    bearer = str(mints[0].header("authorization")).split()[1]
    claims = jwt.decode(bearer, app_key.public_pem, algorithms=["RS256"])
    assert claims["iss"] == "4242" and claims["exp"] - claims["iat"] <= 660
    pulls = github_emu.requests_to("GET", "/pulls/7")
    assert str(pulls[-1].header("authorization")).startswith("token ghs_")
    assert forge.info().auth == "app" and forge.bot_login == "pgolf-bot[bot]"


def test_bot_login_from_the_app_when_no_slug_is_given(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    env = app_env(github_emu, app_key)
    del env["GH_APP_SLUG"]
    assert GitHubForge.from_env(FAST, env).bot_login == "pgolf-bot[bot]"
    assert github_emu.requests_to("GET", "/app")


def test_wrong_private_key_is_a_clear_forge_error(github_emu: GitHubEmulator, seeded: Repo) -> None:
    other = make_key()
    forge = GitHubForge.from_env(FAST, app_env(github_emu, other, GH_APP_INSTALLATION_ID="77"))
    with pytest.raises(ForgeError, match="installation token"):
        forge.get_pr(7)
    assert not github_emu.issued_tokens


def test_token_refreshed_before_expiry(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey) -> None:
    github_emu.token_ttl = 6.0  # GitHub's are 1 h; the margin makes us refresh well before
    settings = replace(FAST, github_token_refresh_margin_seconds=3.0)
    forge = app_forge(github_emu, app_key, settings)
    forge.get_pr(7)
    assert len(github_emu.issued_tokens) == 1
    forge.labels(7)
    assert len(github_emu.issued_tokens) == 1  # still fresh: reused
    time.sleep(3.2)  # now within the margin of expiry (expires_at has whole seconds)
    forge.labels(7)
    assert len(github_emu.issued_tokens) == 2
    first, second = github_emu.issued_tokens
    assert first.value != second.value
    assert github_emu.requests[-1].header("authorization") == f"token {second.value}"


def test_token_revoked_during_a_long_run_is_replaced_once(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    forge = app_forge(github_emu, app_key)
    forge.get_pr(7)
    github_emu.expire_tokens()  # the server says 401 although our clock thinks it is fine
    comment = forge.create_comment(7, "after a 40-minute GPU run")
    assert comment.author == "pgolf-bot[bot]" and comment.author_is_bot
    assert len(github_emu.issued_tokens) == 2
    assert [r.path for r in github_emu.requests if r.method == "POST" and r.path.endswith("/comments")] != []


def test_github_token_fallback_and_missing_credentials(github_emu: GitHubEmulator, seeded: Repo) -> None:
    token = github_emu.add_token("github-actions[bot]")
    env = {
        "GITHUB_API_URL": github_emu.url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": token,
        "GITHUB_ACTIONS": "true",
    }
    forge = GitHubForge.from_env(FAST, env)
    assert forge.info().auth == "token" and forge.bot_login == "github-actions[bot]"
    assert forge.get_pr(7).head_sha
    with pytest.raises(ConfigError, match="no GitHub credentials"):
        GitHubForge.from_env(FAST, {"GITHUB_REPOSITORY": REPO})
    with pytest.raises(ConfigError, match="github_repository"):
        GitHubForge.from_env(FAST, {"GITHUB_TOKEN": token})
    with pytest.raises(ConfigError, match="PRIVATE_KEY"):
        GitHubForge.from_env(FAST, {"GITHUB_REPOSITORY": REPO, "GH_APP_ID": "1"})


def test_bad_token_is_reported_without_leaking_it(github_emu: GitHubEmulator, seeded: Repo) -> None:
    env = {"GITHUB_API_URL": github_emu.url, "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": "ghp_secretvalue123"}
    with pytest.raises(ForgeError) as err:
        GitHubForge.from_env(FAST, env).get_pr(7)
    assert "credentials" in str(err.value) and "ghp_secretvalue123" not in str(err.value)


def test_operations_round_trip(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey) -> None:
    gh = github_emu
    for n in range(8, 8 + 120):  # more than one page of 100
        gh.add_pr(seeded, n, head_ref=f"exp/e{n}" if n % 2 else f"other/e{n}", files={f"f{n}.txt": b"x"})
    forge = app_forge(gh, app_key)
    exp = forge.list_open_prs("exp/")
    assert [p.number for p in exp] == [7] + [n for n in range(8, 128) if n % 2]
    assert len([r for r in gh.requests if r.path.endswith("/pulls") and r.method == "GET"]) == 2  # Link: next
    files = forge.changed_files(7)
    assert [(f.path, f.status) for f in files] == [("training/train_gpt.py", "modified")]
    head = forge.get_pr(7).head_sha
    assert forge.read_file("training/train_gpt.py", head) == b"x = 2\n"
    assert forge.read_file("training/train_gpt.py", "main") == b"x = 1\n"
    assert forge.read_file("missing.py", head) is None
    c = forge.create_comment(7, "first")
    forge.update_comment(7, c.id, "edited <!-- m -->")
    assert forge.find_comment(7, "<!-- m -->") == forge.list_comments(7)[0]
    forge.add_label(7, "promote")
    assert forge.labels(7) == ["promote"]
    assert forge.remove_label(7, "promote") is True
    assert forge.remove_label(7, "promote") is False
    assert forge.permission("maintainer") == "maintain"
    assert forge.permission("reader") == "read"
    assert forge.permission("nobody-knows") == "none"
    forge.set_status(
        StatusReport(head, "success", "pgolf/local", "val_bpb 1.2000: qualifies", "https://x/run")
    )
    assert (
        seeded.statuses[head][0]["state"] == "success"
        and seeded.statuses[head][0]["context"] == "pgolf/local"
    )
    with pytest.raises(ForgeError, match="state"):
        forge.set_status(StatusReport(head, "green"))


def test_open_and_merge_pr_bound_to_sha(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey) -> None:
    gh = github_emu
    gh.push(seeded, "exp/new", {"training/train_gpt.py": b"x = 3\n"})
    forge = app_forge(gh, app_key)
    pr = forge.open_pr("exp/new", "main", "Try x=3", "Hypothesis…", labels=["optimizer"])
    assert pr.labels == ("optimizer",) and pr.head_ref == "exp/new"
    with pytest.raises(ForgeError, match="HTTP 422"):
        forge.open_pr("exp/does-not-exist", "main", "t", "b")
    with pytest.raises(ForgeError, match="409"):
        forge.merge_pr(pr.number, "0" * 40)
    merge_sha = forge.merge_pr(pr.number, pr.head_sha, "merge winner")
    assert gh.repos[REPO].branches["main"] == merge_sha
    assert gh.file_at(seeded, "main", "training/train_gpt.py") == b"x = 3\n"
    assert forge.get_pr(pr.number).merged


def test_secondary_rate_limit_waits_retry_after(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    forge = app_forge(github_emu, app_key)
    forge.get_pr(7)
    github_emu.secondary_rate_limit(1, retry_after=1, status=403)
    t0 = time.monotonic()
    assert forge.labels(7) == []
    assert time.monotonic() - t0 >= 0.9
    github_emu.secondary_rate_limit(1, retry_after=1, status=429)
    assert forge.get_pr(7).number == 7


def test_primary_rate_limit_waits_for_reset_then_gives_up(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    forge = app_forge(github_emu, app_key)
    forge.get_pr(7)
    github_emu.set_rate_limit(0, reset_in=1.0)
    assert forge.labels(7) == []  # waited for X-RateLimit-Reset, then succeeded
    github_emu.set_rate_limit(0, reset_in=3600)
    with pytest.raises(ForgeError, match="rate limit"):
        forge.labels(7)


def test_emulator_rate_limit_headers_and_pagination_links(github_emu: GitHubEmulator, seeded: Repo) -> None:
    token = github_emu.add_token("writer")
    g = Github(auth=Auth.Token(token), base_url=github_emu.url, per_page=1, retry=None)
    r = g.get_repo(REPO)
    assert r.get_pulls().totalCount == 1
    last = github_emu.requests[-1]
    assert last.path.endswith("/pulls")
    remaining = g.get_rate_limit().resources.core.remaining
    assert 0 < remaining < 5000
    g.get_repo(REPO)
    assert g.rate_limiting[0] == remaining - 1
    # JWT endpoint with a bad signature → 401
    bad = Github(
        auth=Auth.AppAuth(4242, make_key().private_pem).get_installation_auth(77),
        base_url=github_emu.url,
        retry=None,
    )
    with pytest.raises(GithubException) as err:
        bad.get_repo(REPO)
    assert err.value.status == 401


def test_installation_tokens_lookup_installation_from_repo(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    tokens = InstallationTokens(
        "4242", app_key.private_pem, base_url=github_emu.url, repo=REPO, margin_seconds=10
    )
    assert tokens.installation_id() == 77
    t = tokens.token()
    assert t.startswith("ghs_") and tokens.expires_at > time.time() + 3000
    missing = InstallationTokens("4242", app_key.private_pem, base_url=github_emu.url, repo="someone/else")
    github_emu.add_repo("someone/else")
    with pytest.raises(ForgeError, match="not installed"):
        missing.token()
