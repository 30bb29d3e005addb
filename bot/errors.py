"""The one exception tree of pgolf.

Every error a user can cause or meet derives from :class:`PgolfError`. Each class carries
its own process exit code; the CLI edge (``bot.cli``) turns any ``PgolfError`` into a single
line ``error: <message>`` on stderr and exits with that code, never a traceback.

Gate *outcomes* (an artifact over the limit, a budget check that says no, a parity or trust
refusal) are not malfunctions: a command prints its report and raises :class:`GateFailed` or one
of its subclasses, which the CLI turns into that class's exit code without an ``error:`` line.
Exit code 2 is shared with click's own usage errors: both mean "the input you gave is wrong".
"""

from __future__ import annotations


class PgolfError(Exception):
    """Root of every pgolf error. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 10

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path = path
        self.field = field
        parts = []
        if path:
            parts.append(str(path))
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class InputError(PgolfError):
    """Bad user input: a missing file, a value that does not validate."""

    exit_code = 2


class GateFailed(PgolfError):
    """A gate said no: the artifact is over the limit, the budget, parity or trust refused.

    Not a malfunction: the command ran and the answer is "no". Every gate that stops a command
    raises this or a subclass (the one way a gate says no); the CLI edge prints the message
    without an ``error:`` prefix and exits with the class's code: 1 here, and a code of its own
    where the refusal has a family (BudgetBlocked 6, ParityError 13, TrustError 19)."""

    exit_code = 1


class ConfigError(PgolfError):
    """Unknown or ill-typed setting in defaults/pyproject/environment/flags."""

    exit_code = 3


class LedgerError(PgolfError):
    """results.tsv cannot be read or written."""

    exit_code = 4


class BudgetError(PgolfError):
    """budget.json is corrupt, or an operation on it is invalid."""

    exit_code = 5


class BudgetBlocked(GateFailed, BudgetError):
    """The budget (reserve floor, rate limit, open reservations) refuses a spend."""

    exit_code = 6


class ArtifactError(PgolfError):
    """The artifact cannot be measured."""

    exit_code = 7


class ProgramError(PgolfError):
    """program.md markers missing, duplicated or out of order."""

    exit_code = 8


class StateError(PgolfError):
    """A research state file (JSONL) is corrupt."""

    exit_code = 9


class TrainingError(PgolfError):
    """A training run, data preparation or the training scripts failed."""

    exit_code = 11


class LogParseError(TrainingError):
    """A training log has no final metric or is unreadable."""

    exit_code = 12


class ParityError(GateFailed, TrainingError):
    """The parity gate refused: the MLX and PyTorch scripts disagree, or cannot be compared
    (it fails closed)."""

    exit_code = 13


class DataError(TrainingError):
    """A data shard or tokenizer is malformed."""

    exit_code = 14


class ResearchError(PgolfError):
    """The research pipeline failed as a whole (single-source failures are reported, not raised)."""

    exit_code = 15


class SourceError(ResearchError):
    """One research source failed (HTTP error, bad payload, timeout)."""

    exit_code = 16


class GradingError(PgolfError):
    """Grading failed (API unusable, budget exhausted before any item)."""

    exit_code = 17


class ForgeError(PgolfError):
    """GitHub or the local forge refused or failed an operation."""

    exit_code = 18


class TrustError(GateFailed, ForgeError):
    """The trust gate refused: an actor may not run a command, or an approval no longer holds."""

    exit_code = 19


class ComputeError(PgolfError):
    """A pod, a remote command or a promotion failed."""

    exit_code = 20


class PodError(ComputeError):
    """The pod provider failed (create, wait, terminate)."""

    exit_code = 21


class RemoteError(ComputeError):
    """SSH/rsync to a pod failed."""

    exit_code = 22


class ExperimentError(PgolfError):
    """The experimenter could not produce a valid experiment."""

    exit_code = 23


class ReportError(PgolfError):
    """The dashboard could not be generated."""

    exit_code = 24


class SandboxError(PgolfError):
    """Untrusted code cannot be run behind the wall (or what it left behind is refused)."""

    exit_code = 25


class GitError(PgolfError):
    """A git command failed (bot.git names the command and git's own message)."""

    exit_code = 26
