"""The GitHub emulator itself, through real PyGithub: search, forks, check runs, contents, faults."""

from __future__ import annotations

import base64

import pytest
from github import Auth, Github, GithubException

from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import REPO, AppKey


def client(gh: GitHubEmulator, login: str = "writer") -> Github:
    return Github(
        auth=Auth.Token(gh.add_token(login)),
        base_url=gh.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_search_code_and_issues(github_emu: GitHubEmulator, seeded: Repo) -> None:
    gh = github_emu
    other = gh.add_repo(
        "rival/golf",
        files={
            "records/run/train_gpt.py": b"print('val_bpb 1.05')\n",
            "README.md": b"val_bpb but not python\n",
        },
    )
    gh.add_pr(other, title="Record: 1.05 val_bpb with int6", body="QAT + sliding window", author="rival")
    g = client(gh)
    code = list(g.search_code('"val_bpb" language:python'))
    assert [(c.repository.full_name, c.path) for c in code] == [("rival/golf", "records/run/train_gpt.py")]
    assert b"1.05" in code[0].decoded_content
    prs = list(g.search_issues("int6 repo:rival/golf is:pr is:open"))
    assert [p.title for p in prs] == ["Record: 1.05 val_bpb with int6"]
    assert list(g.search_issues("int6 repo:openai/parameter-golf is:pr")) == []
    assert g.get_rate_limit().resources.search.remaining < 30


def test_fork_pr_and_contents_put(github_emu: GitHubEmulator, seeded: Repo) -> None:
    gh = github_emu
    pr = gh.add_pr(
        seeded,
        head_repo="mallory/parameter-golf",
        head_ref="exp/evil",
        files={"training/train_gpt.py": b"import os\n"},
        author="mallory",
    )
    g = client(gh)
    p = g.get_repo(REPO).get_pull(pr.number)
    assert p.head.repo.full_name == "mallory/parameter-golf" and p.base.repo.full_name == REPO
    assert p.raw_data["author_association"] == "FIRST_TIME_CONTRIBUTOR"
    r = g.get_repo(REPO)
    created = r.create_file("notes/x.md", "add", b"hello")
    assert gh.file_at(seeded, "main", "notes/x.md") == b"hello"
    r.update_file("notes/x.md", "edit", b"bye", created["content"].sha)
    content = r.get_contents("notes/x.md")
    assert not isinstance(content, list) and base64.b64decode(content.content) == b"bye"
    with pytest.raises(GithubException) as err:
        client(gh, "reader").get_repo(REPO).create_file("y.md", "no", b"x")
    assert err.value.status == 403


def test_check_runs_need_an_app(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey) -> None:
    gh = github_emu
    head = seeded.issues[7].head_sha
    with pytest.raises(GithubException) as err:
        client(gh).get_repo(REPO).create_check_run("pgolf", head)
    assert err.value.status == 403
    app = Github(
        auth=Auth.AppAuth(4242, app_key.private_pem).get_installation_auth(77), base_url=gh.url, retry=None
    )
    run = app.get_repo(REPO).create_check_run(
        "pgolf", head, status="completed", conclusion="success", output={"title": "ok", "summary": "1.2"}
    )
    assert run.conclusion == "success"
    assert [c.name for c in app.get_repo(REPO).get_commit(head).get_check_runs()] == ["pgolf"]


def test_faults_and_auth(github_emu: GitHubEmulator, seeded: Repo) -> None:
    gh = github_emu
    g = client(gh)
    gh.fail_next("500", path_regex="/pulls/7$")
    with pytest.raises(GithubException) as err:
        g.get_repo(REPO).get_pull(7)
    assert err.value.status == 500
    assert g.get_repo(REPO).get_pull(7).number == 7
    anon = Github(base_url=gh.url, retry=None)
    with pytest.raises(GithubException) as err:
        anon.get_repo(REPO).get_issue(7).create_comment("x")
    assert err.value.status == 401
    expired = Github(auth=Auth.Token(gh.add_token("writer", ttl=-1)), base_url=gh.url, retry=None)
    with pytest.raises(GithubException) as err:
        expired.get_repo(REPO)
    assert err.value.status == 401 and err.value.data["message"] == "Bad credentials"
    with pytest.raises(GithubException) as err:
        g.get_repo(REPO).get_issue(7).create_comment("x" * 65_537)
    assert err.value.status == 422


def test_pr_commits_and_backdated_closed_prs(github_emu: GitHubEmulator, seeded: Repo) -> None:
    gh = github_emu
    gh.move_head(seeded, 7, {"b.txt": b"2"}, message="second")
    old = gh.add_pr(seeded, head_ref="exp/old", files={"c.txt": b"3"}, created_at=1_600_000_000, merged=True)
    g = client(gh)
    r = g.get_repo(REPO)
    assert [c.commit.message for c in r.get_pull(7).get_commits()] == ["Experiment", "second"]
    closed = list(r.get_pulls(state="closed"))
    assert [p.number for p in closed] == [old.number] and closed[0].merged
    assert closed[0].created_at.year == 2020
