"""The LLM experimenter against the Anthropic emulator with scripted tool-use conversations, the
real training scripts, real git and the local forge."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.agent.pr import ForgePublisher
from bot.agent.proposer import propose
from bot.agent.record import Proposal, ProposalArchive
from bot.agent.validate import (
    DEFAULT_CHECKS,
    Validator,
    check_artifact,
    check_import,
    check_parity,
    check_patch,
    check_scope,
)
from bot.config import Settings
from bot.errors import BudgetBlocked
from bot.forge.local import LocalForge
from bot.llm import estimate_cost, make_llm
from tests.agent.conftest import git, last_tool_results, read_jsonl
from tests.emulators.anthropic import AnthropicEmulator, text_block, tool_block

A, B = "training/train_gpt.py", "training/train_gpt_mlx.py"
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
WARMDOWN = 'g("WARMDOWN_ITERS", 1200, int)'
SOFTCAP = 'g("LOGIT_SOFTCAP", 30.0, float)'


def replace(path: str, old: str, new: str, n: int) -> dict[str, Any]:
    return tool_block("replace_in_file", {"path": path, "old_string": old, "new_string": new}, f"toolu_r{n}")


def submit(n: int, **extra: Any) -> dict[str, Any]:
    data = {
        "item_id": "arxiv:2401.00001",
        "title": "Longer LR warmdown",
        "category": "schedule",
        "hypothesis": "A longer cooldown ends in a flatter minimum that also quantizes better.",
        "change": "WARMDOWN_ITERS default 1200 -> 1800 in both scripts.",
        "expected_bytes": "+0 B of weights, +0 B of code",
        "expected_step_time": "unchanged",
        "expected_val_bpb": "-0.003 bpb",
        **extra,
    }
    return tool_block("submit_proposal", data, f"toolu_s{n}")


def llm_for(settings: Settings, max_usd: float = 1.0) -> Any:
    llm = make_llm(
        settings, os.environ, model=settings.experimenter_model, max_usd=max_usd, sleep=lambda s: None
    )
    assert llm is not None
    return llm


def exp_branches(repo: Path) -> list[str]:
    return [b for b in git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/exp/").split() if b]


@pytest.mark.slow
def test_good_edit_becomes_a_pr_with_three_sections(
    repo: Path, settings: Settings, anthropic_emu: AnthropicEmulator, tiny_data: Path
) -> None:
    anthropic_emu.answer_with(
        [
            text_block("Let me look at the knobs."),
            tool_block("view_file", {"path": A, "start_line": 70, "end_line": 85}, "toolu_v1"),
        ],
        [
            replace(A, WARMDOWN, 'g("WARMDOWN_ITERS", 1800, int)', 1),
            replace(B, WARMDOWN, 'g("WARMDOWN_ITERS", 1800, int)', 2),
        ],
        [submit(1)],
    )
    forge = LocalForge(repo)
    llm = llm_for(settings)
    result = propose(
        repo,
        settings,
        forge=ForgePublisher(forge),
        llm=llm,
        validator=Validator(repo, settings, smoke_data=tiny_data),
    )
    p = result.proposal
    assert result.ok and result.pushed, p.reason
    assert p.status == "opened" and p.pr is not None
    assert [c["name"] for c in p.checks] == [
        "scope",
        "patch",
        "static",
        "import",
        "artifact",
        "parity",
        "smoke",
    ]
    assert all(c["ok"] for c in p.checks)
    smoke = next(c for c in p.checks if c["name"] == "smoke")
    assert 0 < smoke["data"][A]["val_bpb"] < 20

    # The conversation: 3 requests, the model's view and both edits came back without errors.
    assert len(anthropic_emu.messages) == 3
    second = last_tool_results(anthropic_emu.messages[1]["body"])
    assert len(second) == 1 and not second[0]["is_error"] and "WARMDOWN_ITERS" in second[0]["content"]
    third = last_tool_results(anthropic_emu.messages[2]["body"])
    assert [r["is_error"] for r in third] == [False, False]
    assert p.cost_usd == pytest.approx(llm.meter.usd, abs=1e-6) and p.cost_usd > 0
    # program.md and the rules are a cached prefix: written once, read by the later turns
    usage = [m["usage"] for m in anthropic_emu.messages]
    assert usage[0]["cache_creation_input_tokens"] > 0
    assert all(u["cache_read_input_tokens"] == usage[0]["cache_creation_input_tokens"] for u in usage[1:])
    # Issue 13: program.md (web- and model-written text) is never system text; it is the first,
    # declared-untrusted block of the user turn.
    body = anthropic_emu.messages[0]["body"]
    program = (repo / "program.md").read_text()
    marker_line = next(ln for ln in program.splitlines() if ln.strip())
    assert all(marker_line not in b["text"] for b in body["system"])
    first = body["messages"][0]["content"][0]
    assert first["text"].startswith('<untrusted source="program.md">') and marker_line in first["text"]

    # The PR: branch exp/<slug>, one commit on main, both scripts changed, body in three sections.
    pr = forge.get_pr(p.pr)
    assert pr.head_ref == f"exp/{p.slug}" and pr.base_ref == "main"
    assert git(repo, "rev-list", "--count", f"main..{pr.head_ref}") == "1"
    assert sorted(git(repo, "diff", "--name-only", "main", pr.head_ref).split()) == [A, B]
    assert 'g("WARMDOWN_ITERS", 1800, int)' in git(repo, "show", f"{pr.head_ref}:{B}")
    body = pr.body
    h, c, r = body.index("## Hypothesis"), body.index("## Change"), body.index("## Results")
    assert h < c < r
    assert "arxiv:2401.00001" in body[h:c] and "flatter minimum" in body[h:c]
    assert "-0.003 bpb" in body[c:r] and "unchanged" in body[c:r]
    assert body.rstrip().endswith("Research-Item: arxiv:2401.00001")
    assert set(pr.labels) >= {"experiment", "technique:schedule"}
    assert "[item:arxiv:2401.00001]" in pr.title

    # Nothing touched the user's working tree; the diff is archived and applies to main.
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert 'g("WARMDOWN_ITERS", 1200, int)' in (repo / A).read_text()
    rec = read_jsonl(repo / "research" / "proposals.jsonl")
    assert [x["status"] for x in rec] == ["opened"] and rec[0]["pr"] == p.pr
    patch = repo / rec[0]["patch_path"]
    assert patch.is_file()
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo, check=True)


def _parity_checks(repo: Path, settings: Settings) -> Validator:
    return Validator(
        repo, settings, checks=[check_scope, check_patch, check_import, check_artifact, check_parity]
    )


@pytest.mark.slow
def test_parity_break_goes_back_to_the_model_and_the_fix_passes(
    repo: Path, settings: Settings, anthropic_emu: AnthropicEmulator
) -> None:
    seen: dict[str, Any] = {}

    def fix(body: dict[str, Any]) -> list[dict[str, Any]]:
        results = last_tool_results(body)
        seen["error"] = results
        return [replace(B, 'g("LOGIT_SOFTCAP", 25.0, float)', 'g("LOGIT_SOFTCAP", 20.0, float)', 3)]

    anthropic_emu.answer_with(
        [
            replace(A, SOFTCAP, 'g("LOGIT_SOFTCAP", 20.0, float)', 1),
            replace(B, SOFTCAP, 'g("LOGIT_SOFTCAP", 25.0, float)', 2),
        ],
        [submit(1, item_id="arxiv:2401.00002", title="Tighter softcap", category="architecture")],
        fix,
        [submit(2, item_id="arxiv:2401.00002", title="Tighter softcap", category="architecture")],
    )
    forge = LocalForge(repo)
    result = propose(
        repo,
        settings,
        forge=ForgePublisher(forge),
        llm=llm_for(settings),
        validator=_parity_checks(repo, settings),
        from_item="arxiv:2401.00002",
    )
    err = seen["error"]
    assert len(err) == 1 and err[0]["is_error"] and err[0]["tool_use_id"] == "toolu_s1"
    assert "`parity`" in err[0]["content"] and "one more attempt" in err[0]["content"]
    assert result.proposal.status == "opened" and result.proposal.attempts == 2
    assert len(anthropic_emu.messages) == 4
    pr = forge.get_pr(result.proposal.pr or 0)
    for rel in (A, B):
        assert 'g("LOGIT_SOFTCAP", 20.0, float)' in git(repo, "show", f"{pr.head_ref}:{rel}")


def test_two_failures_are_a_crash_and_nothing_is_pushed(
    repo: Path, settings: Settings, anthropic_emu: AnthropicEmulator
) -> None:
    broken = 'self.warmdown_iters = g("WARMDOWN_ITERS", 1200, int'
    anthropic_emu.answer_with(
        [replace(A, f"{WARMDOWN}\n", 'g("WARMDOWN_ITERS", 1200, int\n', 1)],
        [replace(B, f"{WARMDOWN}\n", 'g("WARMDOWN_ITERS", 1200, int\n', 2)],
        [submit(1)],
        [submit(2)],
        [text_block("this must never be requested")],
    )
    forge = LocalForge(repo)
    validator = Validator(repo, settings, checks=[check_scope, check_patch, check_import])
    result = propose(repo, settings, forge=ForgePublisher(forge), llm=llm_for(settings), validator=validator)
    p = result.proposal
    assert p.status == "crash" and not result.pushed and p.pr is None
    assert "validation failed twice" in p.reason and "`import`" in p.reason and "SyntaxError" in p.reason
    assert len(anthropic_emu.messages) == 4  # the crash ends the conversation
    assert exp_branches(repo) == [] and forge.list_open_prs() == []
    rec = read_jsonl(repo / "research" / "proposals.jsonl")
    assert [x["status"] for x in rec] == ["crash"] and rec[0]["attempts"] == 2
    patch = (repo / rec[0]["patch_path"]).read_text()
    assert broken in patch and f"+++ b/{A}" in patch and f"+++ b/{B}" in patch
    # The failed idea stays reachable: the patch applies to main.
    subprocess.run(["git", "apply", "--check", str(repo / rec[0]["patch_path"])], cwd=repo, check=True)
    # ... and a crashed item counts as tried: the next pick moves on.
    from bot.agent.proposer import Experimenter

    exp = Experimenter(repo, settings, forge=None)
    assert "arxiv:2401.00001" in exp.tried(exp.state.graded())


def test_spend_cap_stops_cleanly(repo: Path, settings: Settings, anthropic_emu: AnthropicEmulator) -> None:
    # Answer 1 views 400 lines, so request 2 is larger than request 1; the budget lets exactly one through.
    anthropic_emu.answer_with(
        [tool_block("view_file", {"path": A, "start_line": 1, "end_line": 400}, "toolu_v1")]
    )
    # Measure the first request's worst-case estimate with the same conversation on a second emulator
    # that declines at once (text only, no edit).
    probe_emu = AnthropicEmulator()
    probe_emu.responder = lambda body: [text_block("Nothing sensible to change.")]
    with probe_emu:
        env = {"ANTHROPIC_API_KEY": probe_emu.api_key, "ANTHROPIC_BASE_URL": probe_emu.url}
        probe_llm = make_llm(settings, env, model=settings.experimenter_model, max_usd=None)
        assert probe_llm is not None
        declined = propose(
            repo,
            settings,
            forge=None,
            llm=probe_llm,
            validator=Validator(repo, settings, checks=[check_scope]),
        )
        first = estimate_cost(probe_emu.messages[0]["body"])
    assert declined.proposal.status == "declined" and "Nothing sensible" in declined.proposal.reason
    # the probe conversation was declined (text only, no edits): forget it
    (repo / "research" / "proposals.jsonl").unlink()

    llm = llm_for(settings, max_usd=first + 0.004)
    forge = LocalForge(repo)
    result = propose(
        repo,
        settings,
        forge=ForgePublisher(forge),
        llm=llm,
        validator=Validator(repo, settings, checks=[check_scope]),
    )
    p = result.proposal
    assert p.status == "stopped" and "spend cap" in p.reason
    assert len(anthropic_emu.messages) == 1  # the second request was never sent
    assert 0 < p.cost_usd <= first + 0.004 and p.cost_usd == pytest.approx(llm.meter.usd, abs=1e-6)
    assert exp_branches(repo) == [] and forge.list_open_prs() == []
    rec = ProposalArchive(repo / "research").latest()
    assert [x.status for x in rec] == ["stopped"]


def test_daily_cap_refuses_before_any_request(
    repo: Path, settings: Settings, anthropic_emu: AnthropicEmulator
) -> None:
    ProposalArchive(repo / "research").save(
        Proposal(slug="earlier", status="crash", cost_usd=settings.experimenter_daily_usd)
    )
    with pytest.raises(BudgetBlocked, match="daily LLM cap"):
        propose(
            repo,
            settings,
            forge=None,
            llm=llm_for(settings),
            validator=Validator(repo, settings, checks=DEFAULT_CHECKS),
        )
    assert anthropic_emu.messages == []


def test_api_failure_after_retries_is_recorded_not_raised(
    repo: Path, settings: Settings, anthropic_emu: AnthropicEmulator
) -> None:
    anthropic_emu.fail_next("529", times=20, retry_after="0")
    llm = llm_for(settings)
    result = propose(
        repo, settings, forge=None, llm=llm, validator=Validator(repo, settings, checks=[check_scope])
    )
    p = result.proposal
    assert p.status == "stopped" and "529" in p.reason and not result.pushed
    assert llm.meter.retries == settings.llm_max_retries  # every retry the service allowed was made
    assert [x.status for x in ProposalArchive(repo / "research").latest()] == ["stopped"]


def test_llm_proposal_opens_the_pr_on_the_github_emulator(
    repo: Path,
    settings: Settings,
    anthropic_emu: AnthropicEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.forge.github import GitHubForge
    from tests.emulators.github import GitHubEmulator

    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")

    with GitHubEmulator() as gh:
        gh.add_repo("golfer/pg", files={rel: (repo / rel).read_bytes() for rel in (A, B)})
        token = gh.add_token("golfer")
        monkeypatch.setenv("GITHUB_TOKEN", token)

        class Publisher(ForgePublisher):
            def publish_branch(self, repo_: Path, branch: str) -> None:
                super().publish_branch(repo_, branch)  # a real `git push origin exp/<slug>`
                # GitHub now holds the pushed branch; the emulator speaks REST, not git, so mirror it.
                files = {
                    rel: subprocess.run(
                        ["git", "show", f"{branch}:{rel}"], cwd=repo_, capture_output=True, check=True
                    ).stdout
                    for rel in (A, B)
                }
                gh.push("golfer/pg", branch, files, base="main", message="exp")

        anthropic_emu.answer_with(
            [
                replace(A, WARMDOWN, 'g("WARMDOWN_ITERS", 1800, int)', 1),
                replace(B, WARMDOWN, 'g("WARMDOWN_ITERS", 1800, int)', 2),
            ],
            [submit(1)],
        )
        forge = GitHubForge("golfer/pg", token=token, base_url=gh.url)
        validator = Validator(repo, settings, checks=[check_scope, check_patch])
        result = propose(repo, settings, forge=Publisher(forge), llm=llm_for(settings), validator=validator)
        p = result.proposal
        assert p.status == "opened" and result.pushed, p.reason
        issue = gh.repos["golfer/pg"].issues[p.pr or 0]
        assert issue.head_ref == f"exp/{p.slug}" and issue.base_ref == "main"
        assert set(issue.labels) >= {"experiment", "technique:schedule"}
        assert [line for line in issue.body.splitlines() if line.startswith("## ")] == [
            "## Hypothesis",
            "## Change",
            "## Results",
        ]
        assert "Research-Item: arxiv:2401.00001" in issue.body
        # the branch reached the remote with exactly the proposal's commit; the token is nowhere on disk
        pushed = subprocess.run(
            ["git", "rev-parse", f"refs/heads/exp/{p.slug}"],
            cwd=origin,
            capture_output=True,
            text=True,
            check=True,
        )
        assert pushed.stdout.strip() == p.head_sha
        assert token not in (repo / ".git" / "config").read_text()
        assert token not in (repo / "research" / "proposals.jsonl").read_text()
