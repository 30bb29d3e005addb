"""`pgolf init --upgrade` on a repository made by an older `pgolf init`: unedited files replaced,
local edits merged, clashes left as conflicts, the diff shown, state files migrated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.errors import BudgetError
from bot.forge.scaffold import BASE_DIR, templates, workflow_templates

OLD = "90944db"  # the templates an earlier pgolf init wrote (bot/templates/history/)


def old_repo(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    flows = root / ".github" / "workflows"
    flows.mkdir(parents=True)
    hist = Path(str(templates() / "history" / OLD))
    for f in (hist / "workflows").iterdir():
        shutil.copy(f, flows / f.name)
    shutil.copy(hist / "github-app-manifest.json", root / ".github" / "pgolf-app-manifest.json")
    budget = {
        "total_credits": 500.0,
        "reserve_floor": 50.0,
        "spent": 0.0,
        "last_tier2_start": None,
        "runs": [],
        "reservations": [],
    }
    (root / "budget.json").write_text(json.dumps(budget))
    (root / "research").mkdir()
    return root


def test_upgrade_an_older_init(tmp_path: Path) -> None:
    root = old_repo(tmp_path)
    flows = root / ".github" / "workflows"
    research = flows / "research.yml"
    research.write_text(research.read_text().replace('cron: "17 */6 * * *"', 'cron: "5 */3 * * *"'))
    exp = flows / "experiment.yml"
    exp.write_text(
        exp.read_text().replace(
            "runs-on: [self-hosted, macOS, ARM64]", "runs-on: [self-hosted, macOS, ARM64, m4]"
        )
    )
    before = {p.name: p.read_bytes() for p in flows.iterdir()}

    dry = CliRunner().invoke(cli, ["init", str(root), "--upgrade", "--dry-run"])
    assert dry.exit_code == 1 and "(dry run: nothing was written)" in dry.output
    assert {p.name: p.read_bytes() for p in flows.iterdir()} == before and not (root / BASE_DIR).exists()

    res = CliRunner().invoke(cli, ["init", str(root), "--upgrade", "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(
        res.output.split("\n", 1)[0]
        if res.output.startswith("{") and "\n{" in res.output
        else res.output[: res.output.rindex("}") + 1]
    )
    actions = {f["path"].rsplit("/", 1)[-1]: f["action"] for f in data["files"]}
    new = workflow_templates()
    # unedited old files are replaced by the new templates; new templates are added
    assert actions["promote.yml"] == "replaced" and (flows / "promote.yml").read_bytes() == new["promote.yml"]
    assert (
        actions["experiment-report.yml"] == "added"
        and (flows / "experiment-report.yml").read_bytes() == new["experiment-report.yml"]
    )
    # a local edit the template did not touch is merged: both the edit and the upgrade are there
    assert actions["research.yml"] == "merged"
    text = research.read_text()
    assert 'cron: "5 */3 * * *"' in text and "environment: pgolf" in text
    # a clash is a conflict to resolve, with both sides shown
    assert actions["experiment.yml"] == "conflict" and data["conflicts"] == [
        ".github/workflows/experiment.yml"
    ]
    text = exp.read_text()
    assert "<<<<<<< yours" in text and "ARM64, m4]" in text and ">>>>>>> pgolf (new)" in text
    # the diff is shown, the bases recorded, the state migrated
    research_change = next(f for f in data["files"] if f["path"].endswith("research.yml"))
    assert "+    environment: pgolf" in research_change["diff"] and OLD in research_change["base"]
    assert (root / BASE_DIR / "workflows" / "promote.yml").read_bytes() == new["promote.yml"]
    assert json.loads((root / "budget.json").read_text())["version"] == 1
    assert json.loads((root / "research" / "schema.json").read_text()) == {"schema": 1}
    assert any("budget.json" in m for m in data["migrations"])

    # Resolve the conflict by taking the new template: the next upgrade has nothing to do.
    exp.write_bytes(new["experiment.yml"])
    again = CliRunner().invoke(cli, ["init", str(root), "--upgrade"])
    assert again.exit_code == 0 and "already up to date" in again.output


def test_fresh_init_is_up_to_date_and_a_newer_budget_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    assert CliRunner().invoke(cli, ["init", str(root), "--no-git"]).exit_code == 0
    assert (root / BASE_DIR / "workflows" / "experiment.yml").is_file()
    res = CliRunner().invoke(cli, ["init", str(root), "--upgrade"])
    assert res.exit_code == 0 and "already up to date" in res.output, res.output
    budget = json.loads((root / "budget.json").read_text())
    budget["version"] = 99
    (root / "budget.json").write_text(json.dumps(budget))
    res = CliRunner().invoke(cli, ["init", str(root), "--upgrade"])
    assert res.exit_code == BudgetError.exit_code and "newer than this pgolf" in res.output
    assert json.loads((root / "budget.json").read_text())["version"] == 99
