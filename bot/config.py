"""Settings: built-in defaults → ``[tool.pgolf]`` in the research repo's pyproject.toml →
``PGOLF_*`` environment variables → command-line overrides; frozen after load.

Every key is a field of :class:`Settings`. In pyproject.toml keys are written in lower case
(``total_compute_credits = 500``); in the environment in upper case with the ``PGOLF_`` prefix
(``PGOLF_TOTAL_COMPUTE_CREDITS=500``); on the command line as ``-c key=value``. Unknown keys in
pyproject.toml or on the command line are errors; unknown ``PGOLF_*`` variables are errors too,
except the few that pgolf reads for other purposes (listed in ``_ENV_NOT_SETTINGS``).
Lists are written as TOML arrays, or comma-separated in the environment and on the command line.
Secrets are never settings: they are read from the environment by the parts that need them.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bot.errors import ConfigError

ENV_PREFIX = "PGOLF_"
# The names of bot/training/presets.py's presets (config sits below training: a test keeps them equal).
LOCAL_PRESET_NAMES = ("smoke", "ci-linux", "mac-8gb", "mac-32gb", "full")
# PGOLF_* variables that are not settings (e.g. paths used by tests and the CLI itself).
# NOW: bot.clock; ARTIFACT_URL: bot.forge.sticky (a link a workflow step may hand over)
_ENV_NOT_SETTINGS = frozenset(
    {"PGOLF_REPO", "PGOLF_HOME", "PGOLF_LOG_LEVEL", "PGOLF_NOW", "PGOLF_ARTIFACT_URL"}
)
GITHUB_API_DEFAULT = "https://api.github.com"  # github_api_url's default and github_api_base's fallback
# RunPod's cloudType enum (pod_cloud_type; bot.compute.runpod checks it again at pod creation)
POD_CLOUD_TYPES = ("SECURE", "COMMUNITY", "ALL")


class StrayName(ConfigError):
    """A name the cascade cannot place: unknown (:class:`UnknownSetting`), in another section's
    table, or given twice in the file. It stops every command that reads every section; the
    reaper workflow's commands warn and run on the defaults (see :func:`load_settings`)."""

    @property
    def meant(self) -> str | None:
        """The setting this name is, or was probably meant to be (None: no guess)."""
        return self.field


class UnknownSetting(StrayName):
    """A name that is no setting; ``guess`` is the setting it is closest to (None: none is close).

    The guess forgives what people get wrong about the names: case (``PAUSED``), the ``PGOLF_``
    prefix in pyproject.toml, ``-`` for ``_``, typos (difflib), a part of the name
    (``deadline`` → ``pod_deadline_seconds`` when every setting holding those words is of one
    section), and a table of settings under a wrong name (its first setting)."""

    def __init__(self, key: str, origin: str, *, variable: str | None = None, value: Any = None) -> None:
        self.key = key
        # a table: what it holds says more than its name
        inner = (
            next((g for g in map(guess_setting, map(str, value)) if g), None)
            if isinstance(value, dict)
            else None
        )
        self.guess: str | None = inner or guess_setting(key)
        said = f"unknown setting '{key}'" + (f" (from environment variable {variable})" if variable else "")
        if self.guess:
            name = f"{ENV_PREFIX}{self.guess.upper()}" if variable else self.guess
            said += f"; did you mean '{name}'?"
        super().__init__(said, path=origin)

    @property
    def meant(self) -> str | None:
        return self.guess


def guess_setting(key: str) -> str | None:
    """The setting ``key`` was probably meant to be, or None (see :class:`UnknownSetting`)."""
    norm = key.strip().lower().replace("-", "_").replace(" ", "_")
    norm = norm.removeprefix(ENV_PREFIX.lower())
    if norm in KEYS:
        return norm
    close = difflib.get_close_matches(norm, list(KEYS), n=1, cutoff=0.7)
    if close:
        return close[0]
    words = {w for w in norm.split("_") if w}
    holding = [k for k in KEYS if words and words <= set(k.split("_"))]
    if holding and len({SECTION_OF[k] for k in holding}) == 1:
        return holding[0]
    return None


@dataclass(frozen=True)
class Settings:
    # --- budget and Tier 2 (RunPod) ---------------------------------------------------------
    total_compute_credits: float = 500.0
    runpod_min_reserve: float = 50.0
    gpu_count: int = 8
    gpu_type: str = "NVIDIA H100 80GB HBM3"
    hourly_rate_usd: float = 20.0  # for gpu_count=8; cost = s/3600 × gpus × rate / 8
    tier2_min_interval_seconds: int = 3600  # 0 turns the rate limit off
    max_wallclock_seconds: int = 600  # training cap, as the challenge
    # hard pod lifetime for one seed (boot + ship + train + eval + slack); each further seed
    # adds max_wallclock_seconds + pod_eval_slack_seconds
    pod_deadline_seconds: int = 2700
    # torch >= 2.5 is needed (scaled_dot_product_attention(enable_gqa=...)); this image ships
    # torch 2.8 on CUDA 12.8 (needs a host driver >= 570). Not yet run on real RunPod.
    pod_image: str = "runpod/pytorch:2.8.0-py3.11-cuda12.8.1-cudnn-devel-ubuntu22.04"
    pod_cloud_type: str = "SECURE"
    pod_ready_timeout_seconds: int = 600
    pod_volume_gb: int = 50
    record_min_improvement_nats: float = 0.005
    record_p_value: float = 0.01
    pod_provider: str = "runpod"  # runpod | local
    pod_ssh_user: str = "root"
    pod_workdir: str = "/workspace"  # runs ship to <pod_workdir>/pgolf-<run-id>
    pod_start_command: str = "/start.sh"  # the image's own entrypoint (starts sshd)
    # run once on the pod before training (in the shipped commit's folder): install what the
    # scripts import beyond the image's torch, then fetch the data ({train_shards} is replaced
    # by pod_train_shards)
    pod_setup_command: str = (
        "python3 -m pip install --quiet --disable-pip-version-check 'numpy>=1.26,<3' "
        "'sentencepiece>=0.2,<0.3' 'zstandard>=0.22,<1' 'huggingface_hub>=0.24,<3' && "
        "if [ -f training/prepare_data.py ]; then "
        "python3 training/prepare_data.py --out ./data --train-shards {train_shards}; fi"
    )
    # 100M-token sp1024 training shards fetched on the pod. A 600 s run reads about 7.2 B tokens
    # (524,288 tokens/step x ~13,800 steps, i.e. ~73 shards); the dataset prepare_data.py reads
    # has 25, all of which the upstream baseline trained on (its log: train_shards:25), so the
    # loader cycles through them ~3 times, as upstream's did.
    pod_train_shards: int = 25
    pod_setup_timeout_seconds: int = 1200
    pod_train_command: str = "torchrun --standalone --nproc_per_node={gpus} {script}"
    pod_train_env: list[str] = field(default_factory=list)  # extra KEY=VALUE for training
    pod_eval_slack_seconds: int = 900  # hard kill at max_wallclock_seconds + this, per seed
    pod_ssh_timeout_seconds: int = 300  # retry SSH this long once the port is published
    pod_artifact_globs: list[str] = field(default_factory=lambda: ["*.ptz"])
    pods_state_path: str = ".pgolf/pods.json"
    runs_dir: str = ".pgolf/runs"
    # Commit budget.json to the default branch (ledger commit, pull-rebase-retry) right after a
    # reservation and again once its pod id is known, before anything is rented: a runner that
    # dies cannot lose the money (the reaper settles committed reservations). promote.yml sets it.
    ledger_commit_reservations: bool = False
    # The kill switch as a setting: workflows pass the repository variable PGOLF_PAUSED in, so a
    # maintainer stops every paid or scheduled run with one variable (see `pgolf pause`).
    paused: bool = False
    # The reaper settles a committed reservation whose pod is gone only this long after the
    # pod's deadline (the promotion itself settles first when its runner is alive).
    reaper_settle_grace_seconds: int = 900
    submission_author: str = ""
    submission_github_id: str = ""

    # --- artifact ---------------------------------------------------------------------------
    artifact_limit_bytes: int = 16_000_000
    artifact_zstd_level: int = 19

    # --- local tier -------------------------------------------------------------------------
    local_gate_pct: float = 3.0
    local_iterations: int = 500
    local_backend: str = "auto"  # auto | mlx | torch
    baseline_window: int = 5  # recent baseline rows the running local baseline uses
    local_train_batch_tokens: int = 65536  # tokens per step in Tier 1 runs (upstream: 524288)
    local_val_max_tokens: int = 0  # 0 = the whole validation split (as the challenge)
    local_timeout_seconds: int = 7200  # a local run is killed (crash row) after this long
    local_env: list[str] = field(default_factory=list)  # extra KEY=VALUE knobs for Tier 1 runs
    # a named run size (bot/training/presets.py: smoke, ci-linux, mac-8gb, mac-32gb, full); "" = none
    local_preset: str = ""

    # --- untrusted code (bot.sandbox) ------------------------------------------------------
    # required: PR/model-written scripts run only behind the wall (namespaces, own uid, no
    # network); best-effort: without it where the platform cannot (logged, mode "unisolated: …");
    # auto: required on Linux, best-effort elsewhere (macOS)
    sandbox: str = "auto"
    sandbox_uid: int = 64999  # the uid sandboxed code runs as (needs no account)
    # the static rule on what a candidate adds (bot.agent.astrule); a second wall only
    candidate_ast_rule: bool = True

    # --- paths (relative to the research repository root) ----------------------------------
    results_path: str = "results.tsv"
    budget_path: str = "budget.json"
    program_path: str = "program.md"
    state_dir: str = "research"
    training_script: str = "training/train_gpt.py"
    mlx_script: str = "training/train_gpt_mlx.py"
    data_dir: str = "data"

    # --- research ---------------------------------------------------------------------------
    research_interval_hours: int = 6
    since_hours: int = 6
    relevance_threshold: float = 0.4
    source_timeout_seconds: float = 30.0
    sources: list[str] = field(
        default_factory=lambda: [
            "arxiv",
            "openreview",
            "semantic_scholar",
            "github_prs",
            "github_leaderboard",
            "rss",
            "tavily",
            "github_code",
        ]
    )
    arxiv_categories: list[str] = field(default_factory=lambda: ["cs.LG", "cs.CL"])
    arxiv_query_terms: list[str] = field(
        default_factory=lambda: [
            "language model",
            "quantization",
            "optimizer",
            "compression",
            "small transformer",
        ]
    )
    watched_repos: list[str] = field(
        default_factory=lambda: [
            "openai/parameter-golf",
            "KellerJordan/modded-nanogpt",
            "karpathy/autoresearch",
        ]
    )
    rss_feeds: list[str] = field(
        default_factory=lambda: [
            "https://huggingface.co/blog/feed.xml",
            "https://openai.com/news/rss.xml",
        ]
    )
    raw_cache_max_items: int = 20000
    research_user_agent: str = ""  # empty: "pgolf/<version> (parameter-golf research bot; +URL)"
    source_retries: int = 3  # extra attempts on 429/5xx
    source_backoff_seconds: float = 2.0  # first backoff without Retry-After; doubles
    source_max_items: int = 50  # per source (per query/mode/repo where a source has several)
    arxiv_base_url: str = "https://export.arxiv.org/api/query"
    arxiv_delay_seconds: float = 3.0  # arXiv's politeness gap between calls
    arxiv_max_pages: int = 3
    openreview_base_url: str = "https://api2.openreview.net"
    semantic_scholar_base_url: str = "https://api.semanticscholar.org/graph/v1"
    challenge_repo: str = "openai/parameter-golf"  # PRs here are read for record scores
    modded_nanogpt_repo: str = "KellerJordan/modded-nanogpt"  # its README holds the record table
    github_code_query: str = '"val_bpb" "train_gpt.py"'
    tavily_base_url: str = "https://api.tavily.com"
    tavily_modes: list[str] = field(default_factory=lambda: ["techniques", "competition", "papers"])
    tavily_news_query: str = "Parameter Golf OR small language model training record OR LLM compression"
    research_snapshot_path: str = ""  # empty: the bundled snapshot (bot/research/data)

    # --- program.md -------------------------------------------------------------------------
    program_max_items: int = 12
    program_max_chars: int = 12000
    history_rows: int = 8
    verified_rows: int = 5
    # review mode: "commit" puts program.md on the default branch; "pr" proposes it on one
    # standing branch with one "research" pull request, merged after the quiet period unless a
    # maintainer requests changes or adds the hold label (the research state still goes to the
    # default branch either way)
    research_review: str = "commit"
    research_review_branch: str = "pgolf/research"
    research_review_quiet_hours: float = 24.0
    research_hold_label: str = "hold"

    # --- grading ----------------------------------------------------------------------------
    grader_model: str = "claude-sonnet-4-6"  # claude-sonnet-4-5 reaches end-of-life 2026-11-30
    grader_max_tokens: int = 4096
    grading_max_usd: float = 2.0  # per run
    grading_daily_max_usd: float = 6.0  # per UTC day, every grading run together
    grading_items_per_request: int = 10
    grading_use_cache: bool = True
    grading_use_batches: bool = True
    grading_skip_unchanged: bool = True
    grading_batch_poll_seconds: float = 30.0  # Message Batches: seconds between polls
    grading_batch_timeout_seconds: float = 3600.0  # then the batch is canceled, the rest re-sent
    grading_verify_top: int = 5  # tier-A items verified per run
    grading_max_items_per_run: int = 500  # new items first, then changed, then context-stale; 0 = all
    anthropic_base_url: str = ""  # ANTHROPIC_BASE_URL wins; empty → the SDK's default
    llm_max_retries: int = 4  # retries of 429/529/5xx/connection errors, honouring retry-after
    llm_retry_max_wait_seconds: float = 60.0
    llm_timeout_seconds: float = 120.0
    arxiv_abs_base_url: str = "https://arxiv.org"  # verification fetches /abs/<id> and /pdf/<id>
    # (Tavily base URL: the research section's tavily_base_url serves grading/verification too.)

    # --- experimenter and policies ----------------------------------------------------------
    experimenter_model: str = "claude-sonnet-4-6"
    experimenter_max_usd: float = 1.0
    experimenter_daily_usd: float = 5.0
    experimenter_max_open_prs: int = 3
    experimenter_max_tokens: int = 8192  # per model turn
    experimenter_max_turns: int = 40  # tool-use turns per attempt
    experimenter_smoke_iterations: int = 3  # steps of the toy CPU smoke run
    experimenter_smoke_data: str = ""  # folder with datasets/ + tokenizers/; "" = build the tiny one
    experimenter_base_branch: str = ""  # branch experiments start from; "" = the current HEAD
    auto_promote: bool = False
    auto_promote_max_per_day: int = 2  # auto-applied promote labels per UTC day
    auto_merge_winners: bool = False
    # merge-winner: one-sided Welch p-value a PR's ≥ 3 Tier 2 seeds must reach against the Tier 2
    # baseline of the same configuration (bot.compute.winners)
    winner_p_value: float = 0.05

    # --- forge ------------------------------------------------------------------------------
    github_repository: str = ""  # owner/name; GITHUB_REPOSITORY is used when empty
    # the GitHub API where upstream lives (research: upstream_api_base), and the forge's and the
    # ledger's App token outside Actions (in Actions GITHUB_API_URL wins: github_api_base)
    github_api_url: str = GITHUB_API_DEFAULT
    pages_url: str = ""  # the dashboard's GitHub Pages URL (PGOLF_PAGES_URL; report.yml sets it)
    promote_label: str = "promote"
    candidate_label: str = "promote-candidate"
    forge: str = "auto"  # auto (GitHub inside Actions or with credentials, else local) | github | local
    local_forge_path: str = ".pgolf/forge.json"  # the local forge's PRs, comments and labels
    experiment_branch_prefix: str = "exp/"
    github_token_refresh_margin_seconds: float = 300.0  # refresh App tokens this long before expiry
    github_max_rate_limit_wait_seconds: float = 900.0  # longest wait for a rate-limit reset
    github_secondary_rate_wait_seconds: float = 60.0  # wait after a secondary limit without Retry-After
    github_seconds_between_requests: float = 0.25  # client-side pacing (GitHub's best practice)
    github_seconds_between_writes: float = 1.0  # pacing of POST/PATCH/PUT/DELETE
    ledger_push_attempts: int = 5  # pgolf ledger commit: pull-rebase-push tries

    # The sections whose values failed to load (``load_settings(sections=...)``): reading one of
    # their settings raises the section's ConfigError instead of handing out a default.
    _invalid_sections: ClassVar[Mapping[str, ConfigError]] = types.MappingProxyType({})
    # Stray names (unknown, misplaced, given twice) this command tolerated (``load_settings``).
    strays: ClassVar[tuple[StrayName, ...]] = ()

    if not TYPE_CHECKING:  # mypy keeps checking attribute names

        def __getattribute__(self, name: str) -> Any:
            invalid = object.__getattribute__(self, "_invalid_sections")
            if invalid and name in SECTION_OF and SECTION_OF[name] in invalid:
                raise invalid[SECTION_OF[name]]
            return object.__getattribute__(self, name)

    @property
    def unknown_names(self) -> tuple[str, ...]:
        """The tolerated stray names' messages (the CLI prints them as warnings)."""
        return tuple(map(str, self.strays))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def require(self, *sections: str) -> None:
        """Raise the problem of the first of ``sections`` that failed to load (a command that reads
        a section only on some paths, e.g. ``pods reap --alerts`` the forge, checks it up front)."""
        for section in sections:
            if section in self._invalid_sections:
                raise self._invalid_sections[section]

    def path(self, name: str, root: Path | str) -> Path:
        """Resolve a ``*_path``/``*_dir``/``*_script`` setting against the repo root (``~`` expands)."""
        value = getattr(self, name)
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(root) / p


KEYS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in fields(Settings)}

# Every setting belongs to exactly one section: what it configures (``pgolf config show`` prints
# them so). The names stay flat — ``[tool.pgolf]`` keys, ``PGOLF_*`` and ``-c`` are unchanged.
SECTIONS: dict[str, tuple[str, ...]] = {
    "pod": (
        "total_compute_credits",
        "runpod_min_reserve",
        "gpu_count",
        "gpu_type",
        "hourly_rate_usd",
        "tier2_min_interval_seconds",
        "max_wallclock_seconds",
        "pod_deadline_seconds",
        "pod_image",
        "pod_cloud_type",
        "pod_ready_timeout_seconds",
        "pod_volume_gb",
        "record_min_improvement_nats",
        "record_p_value",
        "pod_provider",
        "pod_ssh_user",
        "pod_workdir",
        "pod_start_command",
        "pod_setup_command",
        "pod_train_shards",
        "pod_setup_timeout_seconds",
        "pod_train_command",
        "pod_train_env",
        "pod_eval_slack_seconds",
        "pod_ssh_timeout_seconds",
        "pod_artifact_globs",
        "pods_state_path",
        "runs_dir",
        "ledger_commit_reservations",
        "paused",
        "reaper_settle_grace_seconds",
    ),
    "training": (
        "artifact_limit_bytes",
        "artifact_zstd_level",
        "local_gate_pct",
        "local_iterations",
        "local_backend",
        "baseline_window",
        "local_train_batch_tokens",
        "local_val_max_tokens",
        "local_timeout_seconds",
        "local_env",
        "local_preset",
    ),
    "sandbox": (
        "sandbox",
        "sandbox_uid",
        "candidate_ast_rule",
    ),
    "paths": (
        "results_path",
        "budget_path",
        "program_path",
        "state_dir",
        "training_script",
        "mlx_script",
        "data_dir",
    ),
    "research": (
        "research_interval_hours",
        "since_hours",
        "relevance_threshold",
        "source_timeout_seconds",
        "sources",
        "arxiv_categories",
        "arxiv_query_terms",
        "watched_repos",
        "rss_feeds",
        "raw_cache_max_items",
        "research_user_agent",
        "source_retries",
        "source_backoff_seconds",
        "source_max_items",
        "arxiv_base_url",
        "arxiv_delay_seconds",
        "arxiv_max_pages",
        "openreview_base_url",
        "semantic_scholar_base_url",
        "challenge_repo",
        "modded_nanogpt_repo",
        "github_code_query",
        "tavily_base_url",
        "tavily_modes",
        "tavily_news_query",
        "research_snapshot_path",
    ),
    "program": (
        "program_max_items",
        "program_max_chars",
        "history_rows",
        "verified_rows",
        "research_review",
        "research_review_branch",
        "research_review_quiet_hours",
        "research_hold_label",
    ),
    "grading": (
        "grader_model",
        "grader_max_tokens",
        "grading_max_usd",
        "grading_daily_max_usd",
        "grading_items_per_request",
        "grading_use_cache",
        "grading_use_batches",
        "grading_skip_unchanged",
        "grading_batch_poll_seconds",
        "grading_batch_timeout_seconds",
        "grading_verify_top",
        "grading_max_items_per_run",
        "anthropic_base_url",
        "llm_max_retries",
        "llm_retry_max_wait_seconds",
        "llm_timeout_seconds",
        "arxiv_abs_base_url",
    ),
    "experimenter": (
        "experimenter_model",
        "experimenter_max_usd",
        "experimenter_daily_usd",
        "experimenter_max_open_prs",
        "experimenter_max_tokens",
        "experimenter_max_turns",
        "experimenter_smoke_iterations",
        "experimenter_smoke_data",
        "experimenter_base_branch",
        "auto_promote",
        "auto_promote_max_per_day",
        "auto_merge_winners",
        "winner_p_value",
    ),
    "forge": (
        "github_repository",
        "github_api_url",
        "promote_label",
        "candidate_label",
        "forge",
        "local_forge_path",
        "experiment_branch_prefix",
        "github_token_refresh_margin_seconds",
        "github_max_rate_limit_wait_seconds",
        "github_secondary_rate_wait_seconds",
        "github_seconds_between_requests",
        "github_seconds_between_writes",
        "ledger_push_attempts",
    ),
    "report": (
        "submission_author",
        "submission_github_id",
        "pages_url",
    ),
}
SECTION_OF: dict[str, str] = {key: section for section, keys in SECTIONS.items() for key in keys}


def section_errors(keys: Iterable[str], sections: Mapping[str, tuple[str, ...]]) -> list[str]:
    """What is wrong with a section table: a setting in no section or in two, or a listed name
    that is no setting (empty: every setting has exactly one section)."""
    seen: dict[str, list[str]] = {}
    for section, names in sections.items():
        for name in names:
            seen.setdefault(name, []).append(section)
    known = set(keys)
    out = [f"{k}: in no section" for k in keys if k not in seen]
    out += [f"{k}: in {len(s)} sections ({', '.join(s)})" for k, s in seen.items() if len(s) > 1]
    out += [f"{k}: listed in {', '.join(s)} but not a setting" for k, s in seen.items() if k not in known]
    return out


def by_section(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings' values grouped by :data:`SECTIONS` (section order, then field order)."""
    data = settings.to_dict()
    return {section: {k: data[k] for k in keys} for section, keys in SECTIONS.items()}


_problems = section_errors(KEYS, SECTIONS)
if _problems:  # a new field without a section fails at import, not in a user's config show
    raise ConfigError("Settings sections: " + "; ".join(_problems), path=__file__)


def _base_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp


_HINTS = typing.get_type_hints(Settings)


def coerce(key: str, value: Any, origin: str) -> Any:
    """Convert ``value`` to the type of setting ``key``; ConfigError names origin and key."""
    if key not in KEYS:
        raise UnknownSetting(key, origin)
    tp = _base_type(_HINTS[key])
    try:
        if typing.get_origin(tp) is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError("expected a list of strings")
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
                return True
            if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected a boolean (true/false)")
        if tp is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            return int(str(value).strip().replace("_", "")) if isinstance(value, str) else int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            out = float(value)
            if out != out or out in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
            return out
        if tp is str:
            if not isinstance(value, str):
                raise ValueError("expected a string")
            return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value {value!r}: {exc}", path=origin, field=key) from None
    raise ConfigError(f"unsupported setting type {tp}", path=origin, field=key)


def validate(s: Settings) -> None:
    """Every rule on the values of the settings (the one place: ``load_settings`` runs it, and so
    does whatever was handed a ``Settings`` built directly); ConfigError names the field."""
    for key, message in rule_problems(s):
        raise ConfigError(message, path="settings", field=key)


def rule_problems(s: Settings) -> list[tuple[str, str]]:
    """``(setting, what is wrong)`` for every rule the values break (empty: all hold)."""
    out: list[tuple[str, str]] = []
    nonneg = [
        "total_compute_credits",
        "runpod_min_reserve",
        "hourly_rate_usd",
        "tier2_min_interval_seconds",
        "pod_volume_gb",  # volumeInGb of RunPod's mutation (0: no volume)
        "grading_max_usd",
        "grading_daily_max_usd",
        "experimenter_max_usd",
        "experimenter_daily_usd",
    ]
    for key in nonneg:
        if getattr(s, key) < 0:
            out.append((key, "must not be negative"))
    positive = [
        "gpu_count",
        "artifact_limit_bytes",
        "max_wallclock_seconds",
        "history_rows",
        "source_timeout_seconds",
        "pod_deadline_seconds",
        "pod_ready_timeout_seconds",
        "local_iterations",
        "baseline_window",
        "program_max_items",
        "program_max_chars",
    ]
    for key in positive:
        if getattr(s, key) <= 0:
            out.append((key, "must be positive"))
    for key in ("experimenter_max_tokens", "experimenter_max_turns", "experimenter_smoke_iterations"):
        if getattr(s, key) < 1:
            out.append((key, "must be at least 1"))
    if s.auto_promote_max_per_day < 0:
        out.append(("auto_promote_max_per_day", "must not be negative"))
    if s.local_backend not in {"auto", "mlx", "torch"}:
        out.append(("local_backend", "must be auto, mlx or torch"))
    if s.forge not in {"auto", "github", "local"}:  # open_forge and make_provider check them too
        out.append(("forge", "must be auto, github or local"))
    if s.pod_provider not in {"runpod", "local"}:
        out.append(("pod_provider", "must be runpod or local"))
    if s.pod_cloud_type not in POD_CLOUD_TYPES:  # RunPod's SDK writes it unquoted: a GraphQL enum
        out.append(
            ("pod_cloud_type", "must be " + ", ".join(POD_CLOUD_TYPES[:-1]) + " or " + POD_CLOUD_TYPES[-1])
        )
    for key in ("gpu_type", "pod_image", "pod_cloud_type", "pod_start_command"):
        # they travel inside the GraphQL document RunPod's SDK builds (bot.compute.provider.check_safe)
        if any(c in getattr(s, key) for c in '"\\\n\r'):
            out.append((key, "must not contain double quotes, backslashes or newlines"))
    if "'" in s.pod_start_command:  # it runs inside bash -c '…' after the deadline watchdog
        out.append(("pod_start_command", "must not contain single quotes"))
    if s.sandbox not in {"auto", "required", "best-effort"}:
        out.append(("sandbox", "must be auto, required or best-effort"))
    if not 0 < s.sandbox_uid < 2**31:
        out.append(("sandbox_uid", "must be a uid other than root (1 … 2^31-1)"))

    if s.local_preset and s.local_preset not in LOCAL_PRESET_NAMES:
        out.append(("local_preset", f"must be one of {', '.join(LOCAL_PRESET_NAMES)} (or empty)"))
    if not 0 <= s.relevance_threshold <= 1:
        out.append(("relevance_threshold", "must be within 0..1"))
    if s.research_review not in {"commit", "pr"}:
        out.append(("research_review", "must be commit or pr"))
    if s.research_review_quiet_hours < 0:
        out.append(("research_review_quiet_hours", "must not be negative"))
    if s.research_review_quiet_hours > 24 * 366 * 100:  # later dates overflow; hold with the label
        out.append(
            (
                "research_review_quiet_hours",
                "must be at most 100 years (878,400 h); to stop the merge, use the hold label",
            )
        )
    if not s.research_review_branch.strip() or s.research_review_branch.startswith(("-", "/")):
        out.append(("research_review_branch", "must be a branch name"))
    return out


def upstream_api_base(settings: Settings) -> str:
    """The GitHub REST base URL where the challenge's repositories live (openai/parameter-golf,
    modded-nanogpt): the ``github_api_url`` setting, api.github.com unless set (tests: the
    emulator). The research sources read there whatever server the workflow runs on."""
    return (settings.github_api_url.strip() or GITHUB_API_DEFAULT).rstrip("/")


def github_api_base(settings: Settings, env: Mapping[str, str]) -> str:
    """The GitHub REST base URL of the repository pgolf runs in (the forge, the ledger's App
    token): ``GITHUB_API_URL`` (Actions sets it to the server the workflow runs on: github.com,
    GitHub Enterprise, the emulator in tests) wins, else :func:`upstream_api_base`. A blank value
    of either is unset (an empty base URL is no server), and whitespace around it is no part of it."""
    chosen = (env.get("GITHUB_API_URL") or "").strip().rstrip("/")
    return chosen or upstream_api_base(settings)


def read_pyproject(root: Path) -> dict[str, Any]:
    """The ``[tool.pgolf]`` table of ``root/pyproject.toml`` ({} when absent)."""
    pp = root / "pyproject.toml"
    if not pp.is_file():
        return {}
    try:
        data = tomllib.loads(pp.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(pp)) from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError("[tool] must be a table", path=str(pp))
    table = tool.get("pgolf", {})
    if not isinstance(table, dict):
        raise ConfigError("[tool.pgolf] must be a table", path=str(pp))
    return table


def load_settings(
    root: Path | str = ".",
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sections: Iterable[str] | None = None,
) -> Settings:
    """Apply the cascade and return frozen settings.

    ``sections`` names the sections the caller reads (default: every one). A problem in one of
    them, or one that belongs to no section (a file that is no TOML), raises its
    ConfigError. A problem in another section does not: that section's settings keep their
    defaults and reading any of them raises the problem, so a command that never reads the
    grading settings (the reaper) is never blocked by a bad one, and none silently uses a default.

    An unknown name (with :class:`UnknownSetting`'s guess of what was meant) stops a command
    that reads every section — every command that can start spending. A command that declares
    its sections (the reaper workflow's: they only stop spending and book it) runs and finds it
    in ``settings.unknown_names`` (the CLI warns): a misspelt line, even a misspelt kill switch,
    must never keep a leaked pod billing, and the reaper on a default deadline at worst stops a
    pod early or late, while a stopped reaper never stops it.
    """
    settings, problems = _cascade(Path(root), os.environ if env is None else env, overrides or {})
    wanted = set(SECTIONS) if sections is None else set(sections)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise ValueError(f"no such settings section: {', '.join(sorted(unknown))}")
    invalid: dict[str, ConfigError] = {}
    strays: list[StrayName] = []
    for problem in problems:
        if isinstance(problem, StrayName) and sections is not None:
            strays.append(problem)
            continue
        section = SECTION_OF.get(problem.field or "")
        if section is None or section in wanted:
            raise problem
        invalid.setdefault(section, problem)
    if invalid:
        object.__setattr__(settings, "_invalid_sections", types.MappingProxyType(invalid))
    if strays:
        object.__setattr__(settings, "strays", tuple(strays))
    return settings


def settings_problems(
    root: Path | str = ".", env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> list[ConfigError]:
    """Every problem of the cascade, in every section (``pgolf config show`` reports them all)."""
    return _cascade(Path(root), os.environ if env is None else env, overrides or {})[1]


def _cascade(
    root: Path, env: Mapping[str, str], overrides: Mapping[str, Any]
) -> tuple[Settings, list[ConfigError]]:
    """The settings the cascade gives, and its problems. A value that cannot be read as its
    setting's type stays at the default; a broken rule names where the value came from."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[ConfigError] = []
    given: list[tuple[str, Any, str]] = []
    pp_origin = str(root / "pyproject.toml") + " [tool.pgolf]"
    try:
        for key, value in read_pyproject(root).items():
            if key in SECTIONS and isinstance(value, dict):  # [tool.pgolf.pod], as config show groups them
                where = f"{root / 'pyproject.toml'} [tool.pgolf.{key}]"
                for inner, v in value.items():
                    if inner in SECTIONS[key]:
                        given.append((inner, v, where))
                    elif inner in KEYS:
                        problems.append(
                            StrayName(
                                f"a setting of [{SECTION_OF[inner]}], not [{key}]", path=where, field=inner
                            )
                        )
                    else:
                        problems.append(UnknownSetting(str(inner), where, value=v))
            elif key not in KEYS:
                problems.append(UnknownSetting(key, pp_origin, value=value))
            else:
                given.append((key, value, pp_origin))
        # so far ``given`` holds the file alone: a name twice is flat and in its section's table
        twice = [k for k, n in collections.Counter(g[0] for g in given).items() if n > 1]
        for k in twice:
            problems.append(
                StrayName("given twice: in [tool.pgolf] and in its section's table", path=pp_origin, field=k)
            )
            given = [g for g in given if g[0] != k]
    except ConfigError as exc:
        problems.append(exc)
    for name, value in env.items():
        if name.upper().startswith(ENV_PREFIX) and not name.startswith(ENV_PREFIX):
            # "pgolf_paused=true": not PGOLF_PAUSED (names are case-sensitive), so never read
            if name[len(ENV_PREFIX) :].lower() in KEYS:
                problems.append(UnknownSetting(name, "env", variable=name))
            continue
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in KEYS:
            problems.append(UnknownSetting(key, "env", variable=name))
            continue
        given.append((key, value, f"env {name}"))
    given += [(key, value, "command line") for key, value in overrides.items()]
    for key, value, origin in given:
        try:
            values[key] = coerce(key, value, origin)
            origins[key] = origin
        except ConfigError as exc:
            values.pop(key, None)  # a later layer's bad value does not fall back to an earlier one
            origins.pop(key, None)
            problems.append(exc)
    settings = Settings(**values)
    problems += [
        ConfigError(message, path=origins.get(key, "settings"), field=key)
        for key, message in rule_problems(settings)
    ]
    return settings, problems


def parse_overrides(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["key=value", ...]`` → dict; malformed pairs are ConfigErrors."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"expected key=value, got {pair!r}", path="command line")
        key, value = pair.split("=", 1)
        key = key.strip().lower().replace("-", "_")
        if key not in KEYS:
            raise UnknownSetting(key, "command line")
        out[key] = value
    return out
