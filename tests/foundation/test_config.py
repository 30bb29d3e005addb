from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, UnknownSetting, load_settings, parse_overrides
from bot.errors import ConfigError


def test_defaults_match_the_seed() -> None:
    s = load_settings("/nonexistent-root", env={})
    assert s.total_compute_credits == 500
    assert s.runpod_min_reserve == 50
    assert s.gpu_count == 8 and s.hourly_rate_usd == 20
    assert s.tier2_min_interval_seconds == 3600
    assert s.artifact_limit_bytes == 16_000_000
    assert s.local_gate_pct == 3.0
    assert s.research_interval_hours == 6
    assert s.program_max_items == 12 and s.program_max_chars == 12000
    assert s.history_rows == 8


def test_cascade_order(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pgolf]\ntotal_compute_credits = 300\nrunpod_min_reserve = 40\nhourly_rate_usd = 18.5\n"
    )
    s = load_settings(tmp_path, env={})
    assert (s.total_compute_credits, s.runpod_min_reserve, s.hourly_rate_usd) == (300, 40, 18.5)
    env = {"PGOLF_TOTAL_COMPUTE_CREDITS": "250", "PGOLF_TIER2_MIN_INTERVAL_SECONDS": "0"}
    s = load_settings(tmp_path, env=env)
    assert s.total_compute_credits == 250 and s.runpod_min_reserve == 40
    assert s.tier2_min_interval_seconds == 0
    s = load_settings(tmp_path, env=env, overrides={"total_compute_credits": "100"})
    assert s.total_compute_credits == 100


def test_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.total_compute_credits = 1  # type: ignore[misc]


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pgolf]\ntotal_credits = 300\n")
    with pytest.raises(ConfigError, match="unknown setting 'total_credits'"):
        load_settings(tmp_path, env={})
    with pytest.raises(ConfigError, match="PGOLF_NOPE"):
        load_settings("/nonexistent", env={"PGOLF_NOPE": "1"})
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        parse_overrides(["nope=1"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hourly_rate_usd"):
        load_settings("/x", env={"PGOLF_HOURLY_RATE_USD": "twenty"})
    with pytest.raises(ConfigError, match="runpod_min_reserve.*negative"):
        load_settings("/x", env={"PGOLF_RUNPOD_MIN_RESERVE": "-5"})
    with pytest.raises(ConfigError, match="gpu_count"):
        load_settings("/x", env={"PGOLF_GPU_COUNT": "2.5"})
    (tmp_path / "pyproject.toml").write_text("[tool.pgolf\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path, env={})


def test_lists_and_bools_from_env() -> None:
    s = load_settings("/x", env={"PGOLF_WATCHED_REPOS": "a/b, c/d", "PGOLF_AUTO_PROMOTE": "yes"})
    assert s.watched_repos == ["a/b", "c/d"]
    assert s.auto_promote is True


def test_every_setting_has_exactly_one_section() -> None:
    from bot.config import KEYS, SECTION_OF, SECTIONS, section_errors

    assert section_errors(KEYS, SECTIONS) == []
    assert set(SECTION_OF) == set(KEYS)
    assert {"pod", "research", "grading", "forge", "training", "report"} <= set(SECTIONS)
    # the check can fail: a field in no section, one in two, a listed name that is no field
    table = {"pod": ("gpu_count", "ghost"), "training": ("gpu_count",)}
    problems = section_errors(["gpu_count", "gpu_type"], table)
    assert "gpu_type: in no section" in problems
    assert "gpu_count: in 2 sections (pod, training)" in problems
    assert "ghost: listed in pod but not a setting" in problems


def test_a_bad_section_blocks_only_what_reads_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pgolf]\ngrading_max_usd = -1\ngpu_count = 4\n")
    env = {"PGOLF_SOURCES": "arxiv", "PGOLF_RELEVANCE_THRESHOLD": "high"}
    where = r"pyproject.toml \[tool.pgolf\]: field 'grading_max_usd': must not be negative"
    with pytest.raises(ConfigError, match="relevance_threshold"):
        load_settings(tmp_path, env=env)  # every section: the first problem
    s = load_settings(tmp_path, env=env, sections=("pod", "paths"))
    assert s.gpu_count == 4 and s.path("budget_path", tmp_path) == tmp_path / "budget.json"
    # a setting of a bad section is never handed out as a default: reading it raises its problem
    with pytest.raises(ConfigError, match=where):
        _ = s.grading_daily_max_usd
    with pytest.raises(ConfigError, match="env PGOLF_RELEVANCE_THRESHOLD: field 'relevance_threshold'"):
        _ = s.sources  # same section (research) as the bad value: blocked too
    with pytest.raises(ConfigError, match="relevance_threshold"):
        s.to_dict()  # the research section comes first
    # a problem in a section the caller reads, or one of no section, still raises at once
    with pytest.raises(ConfigError, match="relevance_threshold"):
        load_settings(tmp_path, env=env, sections=("pod", "research"))
    with pytest.raises(ConfigError, match="PGOLF_NOPE"):
        load_settings(tmp_path, env={"PGOLF_NOPE": "1"})  # close to no setting: blocks "every section"
    with pytest.raises(ValueError, match="no such settings section: podd"):
        load_settings(tmp_path, env={}, sections=("podd",))
    # a later layer's bad value does not fall back to an earlier layer's good one (gpu_count = 4)
    s = load_settings(
        tmp_path, env={"PGOLF_GPU_COUNT": "many", "PGOLF_GRADING_MAX_USD": "1"}, sections=("paths",)
    )
    assert s.grading_max_usd == 1
    with pytest.raises(ConfigError, match="env PGOLF_GPU_COUNT: field 'gpu_count'"):
        _ = s.gpu_count


def test_an_unknown_name_stops_what_may_spend_and_never_the_reaper(tmp_path: Path) -> None:
    """A typo or a key an older/newer version knew used to stop every command, the reaper too
    (a leaked pod keeps billing while the user finds the line). Now it stops every command that
    reads every section (all that can start spending), with a guess of what was meant; the
    commands that declare their sections (the reaper workflow's) carry it in ``unknown_names``
    (the CLI warns) and run — a second review found the reaper stopped by a misspelt kill switch
    when a guessed name blocked its section."""
    pp = tmp_path / "pyproject.toml"
    pp.write_text("[tool.pgolf]\npod_deadline = 900\ngrading_max_usd = 2\n")
    with pytest.raises(
        UnknownSetting, match="unknown setting 'pod_deadline'; did you mean 'pod_deadline_seconds'"
    ):
        load_settings(tmp_path, env={})
    s = load_settings(tmp_path, env={}, sections=("pod", "paths"))
    assert s.pod_deadline_seconds == Settings().pod_deadline_seconds and s.grading_max_usd == 2
    assert [n for n in s.unknown_names if "did you mean 'pod_deadline_seconds'" in n]
    # an environment variable: the guess is spelled as a variable
    pp.unlink()
    with pytest.raises(ConfigError, match="did you mean 'PGOLF_GRADING_MAX_USD'"):
        load_settings(tmp_path, env={"PGOLF_GRADING_MAX_UDS": "1"})
    # close to no setting: the same, with no guess
    pp.write_text("[tool.pgolf]\nzz_from_another_tool = 1\n")
    s = load_settings(tmp_path, env={"PGOLF_QQQ": "x"}, sections=("pod", "paths"))
    assert s.gpu_count == Settings().gpu_count
    assert len(s.unknown_names) == 2
    assert any("zz_from_another_tool" in n and "pyproject.toml" in n for n in s.unknown_names)
    assert any("PGOLF_QQQ" in n for n in s.unknown_names)
    with pytest.raises(UnknownSetting, match="zz_from_another_tool") as err:
        load_settings(tmp_path, env={})  # every section (most commands, config show): an error
    assert err.value.guess is None and err.value.exit_code == 3
    # on the command line the user is right there: always an error, with the guess
    with pytest.raises(UnknownSetting, match="did you mean 'gpu_count'"):
        parse_overrides(["gpu_cont=2"])


def test_the_guess_forgives_case_prefix_parts_and_tables(tmp_path: Path) -> None:
    """Break-it review: `PAUSED = true`, `PGOLF_PAUSED = true` in pyproject.toml or a
    `[tool.pgolf.pod]` table (the shape `config show` prints) got no guess, so the reaper warned
    and ran as "not paused"; `tool = "x"` crashed with a traceback; a lower-case
    `pgolf_paused=true` was ignored without a word; PGOLF_ARTIFACT_URL (read by the sticky
    comment) stopped every command as an unknown setting."""
    from bot.config import guess_setting

    assert guess_setting("PAUSED") == "paused" and guess_setting("PGOLF_PAUSED") == "paused"
    assert guess_setting("Pod-Deadline-Seconds") == "pod_deadline_seconds"
    assert guess_setting("deadline") == "pod_deadline_seconds"  # the only setting holding the word
    assert guess_setting("kill_switch") is None
    pp = tmp_path / "pyproject.toml"
    for text in ("[tool.pgolf]\nPAUSED = true\n", "[tool.pgolf]\nPGOLF_PAUSED = true\n"):
        pp.write_text(text)
        with pytest.raises(UnknownSetting, match="did you mean 'paused'"):
            load_settings(tmp_path, env={})  # what may spend stops
        s = load_settings(tmp_path, env={}, sections=("pod", "paths"))  # the reaper warns and runs
        assert [n for n in s.unknown_names if "did you mean 'paused'" in n]
    # a section table is read as the flat names it holds
    pp.write_text(
        "[tool.pgolf.pod]\npaused = true\npod_deadline_seconds = 600\n[tool.pgolf.grading]\ngrading_max_usd = 2\n"
    )
    s = load_settings(tmp_path, env={})
    assert s.paused is True and s.pod_deadline_seconds == 600 and s.grading_max_usd == 2
    pp.write_text("[tool.pgolf.grading]\npod_deadline_seconds = 600\n")  # the wrong section's table
    with pytest.raises(
        ConfigError, match=r"\[tool.pgolf.grading\]: field 'pod_deadline_seconds': a setting of \[pod\]"
    ):
        load_settings(tmp_path, env={})
    pp.write_text("[tool.pgolf.pods]\npaused = true\n")  # a table under a name that is no section
    with pytest.raises(UnknownSetting, match="unknown setting 'pods'; did you mean 'paused'"):
        load_settings(tmp_path, env={})
    # given twice (flat and in its table): which one wins is no guess, it is an error
    pp.write_text("[tool.pgolf]\ntotal_compute_credits = 20\n[tool.pgolf.pod]\ntotal_compute_credits = 300\n")
    with pytest.raises(ConfigError, match="field 'total_compute_credits': given twice"):
        load_settings(tmp_path, env={})
    pp.write_text('tool = "x"\n')
    with pytest.raises(ConfigError, match=r"\[tool\] must be a table"):
        load_settings(tmp_path, env={}, sections=("pod",))
    pp.unlink()
    with pytest.raises(UnknownSetting, match="did you mean 'PGOLF_PAUSED'"):
        load_settings(tmp_path, env={"pgolf_paused": "true"})
    assert load_settings(
        tmp_path, env={"pgolf_repo": "x", "pgolf_home": "y"}
    ).gpu_count  # not settings: ignored
    assert load_settings(tmp_path, env={"PGOLF_ARTIFACT_URL": "https://x.invalid/a/1"}).paused is False


def test_every_pgolf_variable_pgolf_reads_or_a_workflow_sets_is_known() -> None:
    """A PGOLF_* name that is neither a setting nor listed as read elsewhere stops every command."""
    import re

    from bot.config import _ENV_NOT_SETTINGS, KEYS

    root = Path(__file__).resolve().parents[2]
    names: set[str] = set()
    for p in (root / "bot").rglob("*.py"):
        names |= set(
            re.findall(
                r"""(?:get|environ\[|getenv\()\(?\s*["'](PGOLF_[A-Z0-9_]+)["']""", p.read_text("utf-8")
            )
        )
    for p in (root / ".github" / "workflows").glob("*.yml"):
        names |= set(re.findall(r"^\s+(PGOLF_[A-Z0-9_]+):", p.read_text("utf-8"), re.M))
    assert "PGOLF_ARTIFACT_URL" in names and "PGOLF_PAUSED" in names  # the scan finds both kinds
    unknown = sorted(
        n for n in names if n not in _ENV_NOT_SETTINGS and n.removeprefix("PGOLF_").lower() not in KEYS
    )
    assert unknown == []
