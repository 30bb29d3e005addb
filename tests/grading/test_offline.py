"""The offline grader: deterministic, rubric-shaped, sensitive to the ledger and taxonomy."""

from __future__ import annotations

from pathlib import Path

from bot.grading import frontier, offline_grader, taxonomy
from bot.grading.prompt import build_prompt, load_context
from bot.ledger import Ledger
from bot.state import ResearchItem
from tests.grading.conftest import add_competitors, add_row, make_items, settings_for


def _grade(root: Path, item: ResearchItem):  # type: ignore[no-untyped-def]
    s = settings_for(root)
    ctx = load_context(root, s)
    fr = frontier.compute(Ledger.load(root / "results.tsv"), [])
    return offline_grader.grade_item(
        item, ctx, fr, context_version=build_prompt(ctx, s.grader_model).version, graded_at="t"
    )


def _item(title: str, summary: str = "") -> ResearchItem:
    return ResearchItem(
        source="rss", id="rss:" + "-".join(title.lower().split()), title=title, summary=summary
    )


def test_deterministic_and_labelled(repo: Path) -> None:
    for item in make_items():
        a, b = _grade(repo, item), _grade(repo, item)
        assert a == b
        assert a.grader == "offline" and a.total == sum(a.scores.values()) and a.max_total == 15
        assert all(
            0 <= a.scores[k] <= m for k, m in load_context(repo, settings_for(repo)).rubric.maxima.items()
        )
        assert a.tier == ("A" if a.total >= 10 else "B" if a.total >= 7 else "C")


def test_size_and_time_cues(repo: Path) -> None:
    big = _grade(repo, make_items()[3])  # 70B MoE, 30 days
    assert big.scores["size_compatibility"] <= 1 and big.scores["time_compatibility"] == 0
    qat = _grade(repo, make_items()[0])  # int6 QAT + zstd, code available
    assert qat.scores["size_compatibility"] == 3 and qat.scores["implementability"] >= 3
    assert qat.category == "quantization" and big.total < qat.total
    dep = _grade(repo, make_items()[6])  # custom kernels, new library
    assert dep.scores["implementability"] <= 1 and dep.category == "systems"


def test_novelty_penalises_proven_and_failed(repo: Path) -> None:
    muon = _item("Muon optimizer variants", "Muon with Newton-Schulz for small transformers")
    assert _grade(repo, muon).scores["novelty"] == 0  # Muon is in the baseline
    swiglu = _item("SwiGLU gated MLP for small models", "Gated SwiGLU feed-forward layers")
    before = _grade(repo, swiglu).scores["novelty"]
    add_row(repo, commit="bad1234", status="discard", val_bpb=1.3, description="SwiGLU gated MLP")
    after = _grade(repo, swiglu)
    assert before >= 2 and after.scores["novelty"] == 0 and "re-attempt of failed bad1234" in after.rationale


def test_competitor_dimension_only_with_competitor_data(repo: Path) -> None:
    item = make_items()[0]
    assert "competitor_validated" not in _grade(repo, item).scores
    add_competitors(repo)
    g = _grade(repo, item)
    assert g.scores["competitor_validated"] == 2 and g.max_total == 17  # int6/QAT/zstd in the top record
    other = _grade(repo, _item("Curriculum over document length", "A data curriculum"))
    assert other.scores["competitor_validated"] == 0


def test_taxonomy_classifies_items_and_experiments() -> None:
    assert taxonomy.classify("int8 quantization of weights") == "quantization"
    assert taxonomy.classify("Muon optimizer momentum warmup") == "optimizer"
    assert taxonomy.classify("test-time training on the eval context") == "evaluation"
    assert taxonomy.classify("SentencePiece vocabulary 4096") == "tokenizer"
    assert taxonomy.classify("torch.compile and fused CUDA kernels") == "systems"
    assert taxonomy.classify("lr warmdown 40% cosine") == "schedule"
    assert taxonomy.classify("hello world") == taxonomy.OTHER
    assert len(taxonomy.NAMES) == 9
