"""The offline menu on the real training scripts, the PR body, slugs and the proposal archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent import menu_proposer
from bot.agent.pr import labels_for, render_body, slugify, unique_slug
from bot.agent.record import Proposal, ProposalArchive
from bot.agent.tools import TRAINING_SCRIPTS, Workspace
from bot.errors import StateError
from tests.agent.conftest import PROJECT, graded, make_repo

A, B = TRAINING_SCRIPTS


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", {rel: (PROJECT / rel).read_text() for rel in TRAINING_SCRIPTS})


def test_every_menu_knob_is_found_once_in_both_real_scripts(ws: Workspace) -> None:
    for entry in menu_proposer.MENU:
        sites = [menu_proposer.find_knob(ws.read(rel), rel, entry.knob) for rel in TRAINING_SCRIPTS]
        assert all(s is not None for s in sites), entry.knob
        assert sites[0].value == sites[1].value, entry.knob  # type: ignore[union-attr]


def test_plan_follows_the_category_and_stays_in_bounds(ws: Workspace) -> None:
    item = graded("x:1", "Muon momentum schedules", 11, "optimizer")
    change = menu_proposer.plan_change(ws, item)
    assert change is not None and change.entry.key == "matrix-lr-up" and change.category == "optimizer"
    assert float(change.old_value) == 0.04 and float(change.new_value) == pytest.approx(0.05)
    # deterministic: same inputs, same change
    again = menu_proposer.plan_change(ws, item)
    assert again is not None and (again.entry.key, again.new_value) == (change.entry.key, change.new_value)
    # a tried entry is skipped; the next one of the category follows
    nxt = menu_proposer.plan_change(ws, item, {"matrix-lr-up"})
    assert nxt is not None and nxt.entry.key == "muon-momentum-up" and nxt.new_value == "0.97"


def test_category_from_title_when_the_grade_has_none(ws: Workspace) -> None:
    item = graded("x:2", "Attention with a larger RoPE base for rotary positions", 9, "")
    change = menu_proposer.plan_change(ws, item)
    assert (
        change is not None
        and change.category == "attention"
        and change.entry.knob in {"QK_GAIN_INIT", "ROPE_BASE"}
    )


def test_exporter_entry_applies_while_int8_is_the_default(ws: Workspace) -> None:
    item = graded("x:3", "int6 quantization with zstd", 12, "quantization")
    change = menu_proposer.plan_change(ws, item)
    # EXPORTER defaults to upstream's int8_zlib (benchmarks/exporter.py), so int6+zstd is a real change.
    assert change is not None and change.entry.key == "exporter-int6-zstd" and change.new_value == "int6_zstd"
    # with that entry already tried, the quantization list moves on
    nxt = menu_proposer.plan_change(ws, item, {"exporter-int6-zstd"})
    assert nxt is not None and nxt.entry.key == "warmdown-longer"


def test_apply_edits_both_scripts_identically(ws: Workspace) -> None:
    item = graded("x:4", "Cooldown", 12, "schedule")
    change = menu_proposer.plan_change(ws, item)
    assert change is not None
    menu_proposer.apply_change(ws, change)
    changed = ws.changed()
    assert set(changed) == {A, B}
    for rel in TRAINING_SCRIPTS:
        assert f'"WARMDOWN_ITERS", {change.new_value}' in changed[rel]
    assert len(ws.edits) == 2


def test_menu_exhausted_returns_none(ws: Workspace) -> None:
    item = graded("x:5", "Anything", 12, "optimizer")
    assert menu_proposer.plan_change(ws, item, {e.key for e in menu_proposer.MENU}) is None


def proposal(**kw: object) -> Proposal:
    base = dict(
        slug="longer-warmdown",
        status="opened",
        item_id="arxiv:2401.00001",
        item_title="Longer cooldown",
        item_grade="A 12/15",
        title="Longer warmdown",
        category="schedule",
        proposer="offline",
        hypothesis="A longer cooldown helps.",
        change="WARMDOWN_ITERS 1200 → 1800",
        expected_bytes="+0 B",
        expected_step_time="unchanged",
        expected_val_bpb="-0.003",
        checks=[{"name": "parity", "ok": True, "detail": "max |Δlogit| 1e-6"}],
        patch_path="research/proposals/longer-warmdown.patch",
    )
    base.update(kw)
    return Proposal(**base)  # type: ignore[arg-type]


def test_body_has_three_sections_in_order_and_the_trailer() -> None:
    body = render_body(proposal(), item_url="https://arxiv.org/abs/2401.00001", diffstat=" 2 files changed")
    sections = [line for line in body.splitlines() if line.startswith("## ")]
    assert sections == ["## Hypothesis", "## Change", "## Results"]
    assert body.rstrip().splitlines()[-1] == "Research-Item: arxiv:2401.00001"
    assert "grade A 12/15" in body and "<https://arxiv.org/abs/2401.00001>" in body
    assert "| val_bpb | -0.003 |" in body and "✓ `parity`" in body
    assert "research/proposals/longer-warmdown.patch" in body and "MLX-only:** no" in body


def test_body_sanitises_model_text_and_marks_mlx_only() -> None:
    body = render_body(
        proposal(hypothesis="<!-- PGOLF_STICKY --> sneaky", mlx_only=True, mlx_only_reason="Metal kernel")
    )
    assert "<!--" not in body
    assert "MLX-only:** yes — Metal kernel" in body
    assert labels_for(proposal(mlx_only=True)) == ["experiment", "technique:schedule", "mlx-only"]


def test_slugs_are_safe_and_unique(tmp_path: Path) -> None:
    assert slugify("Int6 QAT + zstd-22: 3× fewer bytes!") == "int6-qat-zstd-22-3-fewer-bytes"
    assert len(slugify("word " * 40)) <= 48
    repo = make_repo(tmp_path / "r")
    import subprocess

    subprocess.run(["git", "branch", "exp/cooldown"], cwd=repo, check=True)
    assert unique_slug("Cooldown", set(), repo) == "cooldown-2"
    assert unique_slug("Cooldown", {"cooldown-2"}, repo) == "cooldown-3"


def test_archive_roundtrip_latest_and_daily_spend(tmp_path: Path) -> None:
    arch = ProposalArchive(tmp_path / "research", tmp_path)
    p = arch.save(proposal(status="crash", cost_usd=0.25, reason="parity"), diff="diff --git a/x b/x\n")
    assert p.patch_path == "research/proposals/longer-warmdown.patch"
    assert (tmp_path / p.patch_path).read_text().startswith("diff --git")
    arch.save(proposal(slug="other", cost_usd=0.5))
    arch.update("longer-warmdown", status="merged")
    assert [(x.slug, x.status) for x in arch.latest()] == [("other", "opened"), ("longer-warmdown", "merged")]
    assert arch.get("longer-warmdown").status == "merged"  # type: ignore[union-attr]
    day = arch.all()[0].created_date
    assert day is not None
    assert arch.spend_on(day) == pytest.approx(0.75)  # an update line does not count the cost twice
    assert arch.tried_items() == {"arxiv:2401.00001"}


def test_corrupt_archive_names_file_and_line(tmp_path: Path) -> None:
    arch = ProposalArchive(tmp_path)
    arch.path.write_text('{"slug": "a", "status": "opened"}\nnot json\n')
    with pytest.raises(StateError, match=r"proposals.jsonl.*line 2"):
        arch.all()
    arch.path.write_text('{"slug": "a", "status": "opened", "cost_usd": "lots"}\n')
    with pytest.raises(StateError, match="cost_usd"):
        arch.all()
    with pytest.raises(StateError, match="status"):
        arch.save(proposal(status="weird"))


class _RecordingForge:
    """The publishing seam (ExperimentForge): records the pull request instead of opening one."""

    def __init__(self) -> None:
        self.pulls: list[dict[str, object]] = []

    def publish_branch(self, repo: Path, branch: str) -> None:
        assert (repo / ".git").exists()

    def open_pull(self, *, branch: str, base: str, title: str, body: str, labels: object) -> object:
        from bot.agent.pr import OpenedPR

        self.pulls.append({"branch": branch, "title": title, "body": body})
        return OpenedPR(7, "local://pr/7")


def test_experiment_commit_message_ends_with_the_research_item_trailer(tmp_path: Path) -> None:
    from bot.agent.pr import publish
    from bot.grading.calibration import item_refs
    from tests.agent.conftest import git

    repo = make_repo(tmp_path / "r")
    base = git(repo, "rev-parse", "HEAD").strip()
    script = (repo / A).read_text(encoding="utf-8")
    p = proposal(base_sha=base)
    out = publish(repo, _RecordingForge(), p, {A: script + "\n# tweak\n"}, base_branch="main")
    message = git(repo, "log", "-1", "--format=%B", out.head_sha).strip()
    assert message.splitlines()[0] == "exp: Longer warmdown"
    assert message.splitlines()[-1] == "Research-Item: arxiv:2401.00001"
    assert item_refs(message) == ["arxiv:2401.00001"]
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Research-Item,valueonly)", out.head_sha)
    assert trailers.strip() == "arxiv:2401.00001"  # a real git trailer, not just a last line
