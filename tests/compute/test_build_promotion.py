"""One promotion builder for the command line and the forge (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.compute.gates import operator_approval
from bot.compute.localpod import LocalPodProvider
from bot.compute.promote import build_promotion
from bot.compute.provider import PodSpec
from bot.compute.runpod import RunPodProvider
from bot.config import Settings
from bot.errors import InputError, ParityError
from bot.forge.events import Approval

LOCAL = Settings(pod_provider="local")


def test_the_operator_gets_the_settings_provider_the_real_gate_and_no_reporter(tmp_path: Path) -> None:
    trust = operator_approval("a" * 40, "alice")
    setup = build_promotion(LOCAL, tmp_path, trust=trust, pr=3)
    assert isinstance(setup.provider, LocalPodProvider) and setup.provider.name == "local"
    # "is it free" and the price are the PodProvider protocol's, not a name or a getattr
    assert setup.provider.free is True
    assert setup.provider.quote(PodSpec("r", 8, "H100", "img:1", "SECURE", deadline=0.0)) is None
    assert RunPodProvider.free is False
    assert setup.trust is trust and setup.reporter is None  # no forge: nothing to comment on
    # the real gate reads both scripts at the commit: in a folder without them it refuses
    with pytest.raises(ParityError, match="does not exist at that commit"):
        setup.parity_gate(tmp_path, "a" * 40)


def test_a_waiver_is_the_logged_gate_and_needs_a_reason(tmp_path: Path) -> None:
    trust = Approval(True, "label", "b" * 40, "bob")
    setup = build_promotion(LOCAL, tmp_path, trust=trust, parity_waiver="--skip-parity by bob")
    assert (
        setup.parity_gate(tmp_path, "b" * 40) == f"parity gate: WAIVED for {'b' * 12} (--skip-parity by bob)"
    )
    with pytest.raises(InputError, match="needs a reason"):
        build_promotion(LOCAL, tmp_path, trust=trust, parity_waiver=" ")


def test_the_trust_check_matches_commits_as_everywhere_else() -> None:
    # bot.git.same_commit: an abbreviation of 7+ hex digits, any case, names its commit; a shorter
    # prefix of the approved commit no longer passes for it
    from bot.compute.gates import check_trust
    from bot.errors import TrustError

    full = "0123456789abcdef0123456789abcdef01234567"
    check_trust(Approval(True, "ok", full.upper()[:7], "a"), full)
    check_trust(Approval(True, "ok", full, "a"), full[:12])
    for approved in ("012345", "1123456789"):
        with pytest.raises(TrustError, match="the head moved"):
            check_trust(Approval(True, "ok", approved, "a"), full)
    with pytest.raises(TrustError, match="no trust decision"):
        check_trust(None, full)
