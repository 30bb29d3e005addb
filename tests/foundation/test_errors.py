"""The exit codes: one per error class, each documented in the README, and one way for a gate
to say no (GateFailed and its subclasses)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot import errors
from bot.cli import PgolfGroup

README = Path(__file__).resolve().parents[2] / "README.md"
CLASSES = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.PgolfError)]


def documented_codes() -> dict[int, str]:
    """`N` what it means, from the README's "Exit codes" paragraph (ranges `a`–`b` expanded)."""
    text = README.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    out: dict[int, str] = {}
    for part in " ".join(text.split()).split(" · "):
        m = re.match(r"`(\d+)`(?:–`(\d+)`)? (.*)", part.strip())
        if m:
            for code in range(int(m[1]), int(m[2] or m[1]) + 1):
                out[code] = m[3]
    return out


def test_every_exit_code_is_documented_and_its_own() -> None:
    docs = documented_codes()
    codes = [c.exit_code for c in CLASSES]
    assert len(codes) == len(set(codes)), sorted(codes)
    missing = {c.__name__: c.exit_code for c in CLASSES if c.exit_code not in docs}
    assert missing == {}
    # a gate's refusal is documented as one: "a gate said no" or "(a gate…"
    gates = [c for c in CLASSES if issubclass(c, errors.GateFailed)]
    assert {c.__name__ for c in gates} >= {"GateFailed", "BudgetBlocked", "ParityError", "TrustError"}
    for c in gates:
        assert "a gate" in docs[c.exit_code], (c.__name__, docs[c.exit_code])
    # over the limit is a gate's "no" (1); 7 is an artifact that cannot be measured
    assert (
        "over the limit" in docs[errors.GateFailed.exit_code]
        and "cannot" in docs[errors.ArtifactError.exit_code]
    )


@pytest.mark.parametrize(
    "exc,code",
    [
        (errors.ParityError("parity gate failed at abc: first diverging layer blocks.0"), 13),
        (errors.BudgetBlocked("Rate limited: next Tier 2 run in 10 min"), 6),
        (errors.TrustError("promotion not approved: untrusted actor"), 19),
        (errors.GateFailed("artifact over the limit"), 1),
    ],
)
def test_a_gate_says_no_one_way(exc: errors.GateFailed, code: int) -> None:
    """Every gate refusal exits with its class's code and prints its message as the report,
    without the `error:` of a malfunction."""

    @click.group(cls=PgolfGroup)
    def root() -> None:
        pass

    @root.command("gate")
    def gate() -> None:
        raise exc

    r = CliRunner().invoke(root, ["gate"])
    assert r.exit_code == code and r.output == f"{exc}\n"
    assert isinstance(exc, errors.GateFailed)


def test_gate_refusals_stay_in_their_families() -> None:
    assert issubclass(errors.ParityError, errors.TrainingError)
    assert issubclass(errors.BudgetBlocked, errors.BudgetError)
    assert issubclass(errors.TrustError, errors.ForgeError)
