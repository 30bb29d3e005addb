"""Holes found by breaking the per-section settings refactor (r17), each failing first."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.budget import init as budget_init
from bot.budget import reserve
from bot.cli import cli
from bot.config import Settings
from bot.ledger import Ledger


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


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"PGOLF_POD_START_COMMAND": "bash -c 'sleep 1'"}, "pod_start_command"),
        ({"PGOLF_POD_START_COMMAND": "/start.sh\nrm -rf /"}, "pod_start_command"),
        ({"PGOLF_GPU_TYPE": 'H100"){ x }'}, "gpu_type"),
        ({"PGOLF_POD_IMAGE": "img\\:latest"}, "pod_image"),
        ({"PGOLF_POD_CLOUD_TYPE": 'SECURE"'}, "pod_cloud_type"),
    ],
)
def test_config_show_reports_pod_values_runpod_would_refuse(
    tmp_path: Path, env: dict[str, str], field: str
) -> None:
    """The pod's GraphQL-bound values (quotes, backslashes, newlines) and the start command's single
    quotes were refused only when a pod was created, after the reservation: `config show` passed
    them and the promotion failed with money reserved."""
    r = CliRunner().invoke(cli, ["--repo", str(tmp_path), "config", "show"], env=env)
    assert r.exit_code == 3, r.output
    assert f"field '{field}'" in r.output
    ok = CliRunner().invoke(cli, ["--repo", str(tmp_path), "config", "show"], env={})
    assert ok.exit_code == 0, ok.output  # the defaults (an image tag with ':' and '.') pass


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


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def test_ledger_commit_fails_the_same_way_on_a_bad_pod_setting_race_or_not(tmp_path: Path) -> None:
    """`pgolf ledger commit` declared paths/program/forge, but merging budget.json with a
    reservation another job pushed meanwhile reads ``tier2_min_interval_seconds`` ([pod]). With a
    bad [pod] setting it pushed when nobody raced it and died mid-merge (exit 3) when someone did:
    the declaration must name every section it reads, so the answer is the same up front."""
    s = Settings(tier2_min_interval_seconds=0)
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    Ledger.init(seed / "results.tsv")
    budget_init(seed / "budget.json", s)
    _git(seed, "add", "-A")
    _git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed")
    _git(seed, "push", "-q", "origin", "main")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for clone in (ours, theirs):
        subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    reserve(theirs / "budget.json", s, "pr2-theirs", 10.0, pr=2, sha="b" * 40, now=when)
    reserve(ours / "budget.json", s, "pr1-ours", 10.0, pr=1, sha="a" * 40, now=when + timedelta(hours=3))
    bad_pod = {"PGOLF_GPU_COUNT": "many"}

    def commit(clone: Path) -> Result:
        return CliRunner().invoke(cli, ["--repo", str(clone), "ledger", "commit", "-m", "x"], env=bad_pod)

    tip = _git(bare, "rev-parse", "main")
    plain = commit(theirs)  # nobody raced it
    assert plain.exit_code == 3, plain.output
    assert "field 'gpu_count'" in plain.output and _git(bare, "rev-parse", "main") == tip
    _git(theirs, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "theirs")
    _git(theirs, "push", "-q", "origin", "main")
    tip = _git(bare, "rev-parse", "main")
    raced = commit(ours)  # its reservation must be merged with theirs
    assert raced.exit_code == 3, raced.output
    assert "field 'gpu_count'" in raced.output and _git(bare, "rev-parse", "main") == tip


def test_pause_check_is_not_stopped_by_a_forge_setting_it_never_reads(tmp_path: Path) -> None:
    """reaper.yml reads any failure of `pgolf pause --check` as "paused"; --check never opens the
    forge (only --commit pushes), yet a bad forge setting made it exit 3: a false kill switch."""
    env = {"PGOLF_GITHUB_SECONDS_BETWEEN_WRITES": "soon"}
    r = CliRunner().invoke(cli, ["--repo", str(tmp_path), "pause", "--check"], env=env)
    assert r.exit_code == 0 and r.output == "not paused\n", r.output
    r = CliRunner().invoke(cli, ["--repo", str(tmp_path), "pause", "--commit"], env=env)
    assert r.exit_code == 3 and "field 'github_seconds_between_writes'" in r.output, r.output
    assert not (tmp_path / "budget.json").exists()  # refused before pausing anything


@pytest.mark.parametrize("value", ["SECURE, minVcpuCount: 64", "SECURE minMemoryInGb: 9", "secure", ""])
def test_config_show_reports_a_cloud_type_runpod_reads_as_graphql(tmp_path: Path, value: str) -> None:
    """RunPod's SDK writes pod_cloud_type into its mutation unquoted (`cloudType: SECURE`, an enum),
    so quotes are not what guards it: any other text adds GraphQL fields to the pod (no quote,
    backslash or newline needed) or fails at creation, after the reservation."""
    r = CliRunner().invoke(
        cli, ["--repo", str(tmp_path), "config", "show"], env={"PGOLF_POD_CLOUD_TYPE": value}
    )
    assert r.exit_code == 3, r.output
    assert "field 'pod_cloud_type'" in r.output
    for ok in ("SECURE", "COMMUNITY", "ALL"):
        res = CliRunner().invoke(
            cli, ["--repo", str(tmp_path), "config", "show"], env={"PGOLF_POD_CLOUD_TYPE": ok}
        )
        assert res.exit_code == 0, res.output


def test_runpod_create_refuses_a_cloud_type_outside_runpods_enum() -> None:
    """The provider's own guard (a PodSpec built without the settings' rules) checked the image, the
    GPU type, the env and the start command, never the cloud type."""
    import time
    from types import SimpleNamespace

    from bot.compute.provider import PodSpec
    from bot.compute.runpod import RunPodProvider
    from bot.errors import PgolfError

    calls: list[dict[str, object]] = []
    prov = RunPodProvider("k", retries=1, retry_wait=0.0)

    def create_pod(**kw: object) -> dict[str, str]:
        calls.append(kw)
        raise KeyError("the SDK was called")

    prov._rp = SimpleNamespace(error=prov._rp.error, create_pod=create_pod)
    spec = PodSpec(
        run_id="r1", gpu_count=1, gpu_type="NVIDIA H100 80GB HBM3", image="img:1",
        cloud_type="SECURE, minVcpuCount: 64", deadline=time.time() + 600,
    )  # fmt: skip
    with pytest.raises(PgolfError, match="cloud"):
        prov.create(spec)
    assert calls == []


def test_config_show_reports_a_negative_pod_volume(tmp_path: Path) -> None:
    """pod_volume_gb goes into RunPod's mutation (volumeInGb: -5) like the pod's other values, but
    had no rule: a negative size passed config show and failed at creation, after the reservation."""
    r = CliRunner().invoke(
        cli, ["--repo", str(tmp_path), "config", "show"], env={"PGOLF_POD_VOLUME_GB": "-5"}
    )
    assert r.exit_code == 3, r.output
    assert "field 'pod_volume_gb'" in r.output
    ok = CliRunner().invoke(
        cli, ["--repo", str(tmp_path), "config", "show"], env={"PGOLF_POD_VOLUME_GB": "0"}
    )
    assert ok.exit_code == 0, ok.output  # no volume is a pod RunPod creates
