"""Holes found by breaking the per-section settings refactor (r17), each failing first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli


@pytest.mark.parametrize(
    ("env", "field"),
    [({"PGOLF_FORGE": "gitlab"}, "forge"), ({"PGOLF_POD_PROVIDER": "aws"}, "pod_provider")],
)
def test_config_show_reports_a_bad_forge_or_pod_provider(
    tmp_path: Path, env: dict[str, str], field: str
) -> None:
    """Their allowed values were checked only where a forge or a provider is opened, so `pgolf
    config show` (which promises every problem) passed them (exit 0)."""
    r = CliRunner().invoke(cli, ["--repo", str(tmp_path), "config", "show"], env=env)
    assert r.exit_code == 3, r.output
    assert f"field '{field}'" in r.output


def test_alerts_raise_never_drops_an_alert_into_a_file_on_a_bad_forge_setting(tmp_path: Path) -> None:
    """`pgolf alerts raise` (the reaper's last step) caught the forge's ConfigError like missing
    credentials and wrote the alert to .pgolf/alerts.md of a checkout CI throws away, exit 0: a
    typo in ``forge`` silenced every alert. It must fail, naming the setting."""
    r = CliRunner().invoke(
        cli,
        ["--repo", str(tmp_path), "alerts", "raise", "--kind", "reaper-failure", "--message", "m"],
        env={"PGOLF_FORGE": "gihub"},
    )
    assert r.exit_code == 3, r.output
    assert "field 'forge'" in r.output
    assert not (tmp_path / ".pgolf" / "alerts.md").exists()
