"""Sticky comment: one per PR, edited in place, sections independent, always under the size limit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ForgeError
from bot.forge import sticky
from bot.forge.github import GitHubForge
from bot.forge.local import LocalForge
from tests.emulators.github import GitHubEmulator, Repo
from tests.forge.conftest import REPO, AppKey, app_env

FAST = Settings(github_seconds_between_requests=0, github_seconds_between_writes=0)


def local_result(**kw: object) -> sticky.LocalResult:
    base: dict[str, object] = {
        "sha": "a" * 40,
        "val_bpb": 1.2,
        "baseline_bpb": 1.25,
        "noise_floor": 0.003,
        "artifact_bytes": 15_900_000,
        "decision": "qualifies",
        "log_url": "https://example.invalid/run/1",
    }
    base.update(kw)
    return sticky.LocalResult(**base)  # type: ignore[arg-type]


def test_render_local_has_every_figure() -> None:
    md = sticky.render_local(local_result())
    for text in (
        "`aaaaaaaaaaaa`",
        "1.2000",
        "-0.0500 (-4.00 %)",
        "0.30 %",
        "15,900,000 B of 16,000,000 B (headroom 100,000 B)",
        "**qualifies**",
        "[run log](https://example.invalid/run/1)",
    ):
        assert text in md


def test_sticky_is_created_once_and_edited_in_place(
    github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey
) -> None:
    forge = GitHubForge.from_env(FAST, app_env(github_emu, app_key))
    github_emu.add_comment(REPO, 7, f"quoting the bot: {sticky.MARKER}", user="alice")  # not ours
    first = sticky.upsert_sticky(forge, 7, "local", sticky.render_local(local_result()))
    again = sticky.upsert_sticky(forge, 7, "local", sticky.render_local(local_result()))
    assert again.id == first.id
    assert len(github_emu.requests_to("PATCH", "/issues/comments/")) == 0  # identical: not even edited
    sticky.upsert_sticky(
        forge,
        7,
        "promotion",
        sticky.render_promotion(
            sticky.PromotionStatus(
                "running", sha="b" * 40, pod_id="pod-1", gpus=8, elapsed_seconds=125, spend_usd=1.5
            )
        ),
    )
    sticky.upsert_sticky(forge, 7, "local", sticky.render_local(local_result(val_bpb=1.1)))
    ours = [c for c in github_emu.comments_on(REPO, 7) if c.user == "pgolf-bot[bot]"]
    assert len(ours) == 1 and ours[0].id == first.id
    body = ours[0].body
    assert "1.1000" in body and "1.2000" not in body  # local section replaced
    assert "pod-1" in body and "2 min 05 s" in body and "$1.50" in body  # promotion section kept
    assert sticky.PLACEHOLDER["final"] in body
    assert len(github_emu.requests_to("PATCH", "/issues/comments/")) == 2


def test_huge_log_stays_under_the_limit(github_emu: GitHubEmulator, seeded: Repo, app_key: AppKey) -> None:
    forge = GitHubForge.from_env(FAST, app_env(github_emu, app_key))
    log = "".join(
        f"step:{i}/20000 train_loss:{i * 0.001:.4f} <!-- pgolf:local:end --> & <b>\n" for i in range(40_000)
    )
    assert len(log) > 2_000_000
    for section in sticky.SECTIONS:
        md = sticky.render_local(local_result(log_tail=log, decision="crash " * 5000))
        sticky.upsert_sticky(forge, 7, section, md)
    (ours,) = [c for c in github_emu.comments_on(REPO, 7) if c.user == "pgolf-bot[bot]"]
    assert len(ours.body) < sticky.GITHUB_COMMENT_LIMIT
    assert ours.body.count("<!-- pgolf:local:end -->") == 1  # the log could not forge a marker
    assert "step:39999/20000" in ours.body  # the tail is kept, the head dropped
    assert set(sticky.parse_sections(ours.body)) == set(sticky.SECTIONS)


def test_untrusted_text_cannot_break_markers() -> None:
    md = sticky.render_promotion(
        sticky.PromotionStatus(
            "running", approved_by="x<!-- pgolf:sticky -->", message="--> <!-- pgolf:final:start -->"
        )
    )
    body = sticky.compose({"promotion": md})
    assert body.count(sticky.MARKER) == 1 and body.count("<!-- pgolf:final:start -->") == 1


def test_step_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    assert sticky.write_step_summary("# hi", {}) is False
    assert sticky.write_step_summary("# one", {"GITHUB_STEP_SUMMARY": str(out)})
    assert sticky.write_step_summary("# two", {"GITHUB_STEP_SUMMARY": str(out)})
    assert out.read_text() == "# one\n\n# two\n\n"


@pytest.fixture
def local_repo(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    root.mkdir()
    git = ["git", "-C", str(root)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    (root / "train.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    subprocess.run([*git, "checkout", "-qb", "exp/rope"], check=True)
    (root / "train.py").write_text("x = 2\n")
    (root / "new.py").write_text("y = 1\n")
    subprocess.run([*git, "commit", "-qam", "rope"], check=True)
    subprocess.run([*git, "add", "new.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "add new"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    return root


def test_local_forge_is_the_same_interface(local_repo: Path) -> None:
    forge = LocalForge(local_repo)
    pr = forge.open_pr("exp/rope", "main", "RoPE", "Hypothesis", labels=["architecture"])
    assert pr.number == 1 and pr.labels == ("architecture",) and not pr.is_fork
    assert forge.list_open_prs("exp/") == [pr] and forge.list_open_prs("other/") == []
    assert sorted((f.path, f.status) for f in forge.changed_files(1)) == [
        ("new.py", "added"),
        ("train.py", "modified"),
    ]
    assert forge.read_file("train.py", pr.head_sha) == b"x = 2\n" and forge.read_file("nope", "main") is None
    sticky.upsert_sticky(forge, 1, "local", "first")
    sticky.upsert_sticky(forge, 1, "final", "done")
    (c,) = forge.list_comments(1)
    assert c.author == "pgolf[bot]" and "first" in c.body and "done" in c.body
    forge.add_label(1, "promote")
    assert forge.remove_label(1, "promote") and not forge.remove_label(1, "promote")
    assert forge.permission(forge.owner) == "admin" and forge.permission("stranger") == "none"
    forge.set_permission("stranger", "write")
    assert forge.permission("stranger") == "write"
    # A new commit on the branch moves the PR head, exactly like a push.
    subprocess.run(["git", "-C", str(local_repo), "checkout", "-q", "exp/rope"], check=True)
    subprocess.run(["git", "-C", str(local_repo), "commit", "-q", "--allow-empty", "-m", "more"], check=True)
    subprocess.run(["git", "-C", str(local_repo), "checkout", "-q", "main"], check=True)
    moved = forge.get_pr(1).head_sha
    assert moved != pr.head_sha
    with pytest.raises(ForgeError, match="head moved"):
        forge.merge_pr(1, pr.head_sha)
    merge = forge.merge_pr(1, moved)
    assert forge.get_pr(1).merged and forge.read_file("new.py", "main") == b"y = 1\n"
    assert (
        subprocess.run(
            ["git", "-C", str(local_repo), "rev-parse", "main"], capture_output=True, text=True
        ).stdout.strip()
        == merge
    )
    with pytest.raises(ForgeError, match="does not exist"):
        forge.open_pr("exp/missing", "main", "t", "b")
    (local_repo / ".pgolf" / "forge.json").write_text("{broken")
    with pytest.raises(ForgeError, match="forge.json"):
        forge.get_pr(1)
