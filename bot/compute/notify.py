"""Who hears of a promotion: the PR's sticky comment sections (promotion status, final H100
result) through a Forge, the PRs whose promotions the reaper settled, and the alerts issue.

The sticky comment itself (its sections, their rendering, finding and updating it) is
:mod:`bot.forge.sticky`; the Markdown summary of a result is :func:`bot.compute.outcome.render_summary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.alerts import Alert, AlertOutcome, raise_alerts
from bot.compute.outcome import PromoteResult
from bot.errors import ForgeError
from bot.forge import sticky
from bot.forge.base import Forge
from bot.ledger import Ledger

if TYPE_CHECKING:
    from bot.compute.reaper import ReapReport


class ForgeReporter:
    """Writes the promotion and final sections of the PR's sticky comment through a Forge."""

    def __init__(
        self, forge: Forge, pr: int, approved_by: str = "", log_url: str = "", artifact_url: str = ""
    ):
        links = sticky.run_links()
        self.forge = forge
        self.pr = pr
        self.approved_by = approved_by
        self.log_url = log_url or links.run_url
        self.artifact_url = artifact_url or links.artifact_url

    def progress(self, result: PromoteResult, state: str, message: str = "") -> None:
        status = sticky.PromotionStatus(
            state=state,
            sha=result.sha,
            approved_by=self.approved_by,
            pod_id=result.pod_id,
            seeds=len(result.seeds) or None,
            spend_usd=result.cost_usd if state != "running" else None,
            elapsed_seconds=result.pod_seconds or None,
            message=message,
            log_url=self.log_url,
        )
        sticky.upsert_sticky(self.forge, self.pr, "promotion", sticky.render_promotion(status))

    def final(self, result: PromoteResult, ledger: Ledger) -> None:
        sig = result.significance
        self.progress(
            result,
            "finished" if result.status != "crash" else "failed",
            f"run `{result.run_id}`: {result.status}"
            + (f" — {result.error}" if result.error else "")
            + ("" if result.terminated else " — pod NOT confirmed terminated; the reaper will retry")
            + (f" — {result.budget_warning}" if result.budget_warning else ""),
        )
        final = sticky.FinalResult(
            sha=result.sha,
            val_bpb=result.val_bpb,
            sota_bpb=result.sota_bpb,
            cost_usd=result.cost_usd,
            artifact_bytes=result.artifact_bytes,
            seeds=len(result.seeds) or None,
            std=sig.std_bpb if sig else None,
            record_grade=sig.record_grade if sig else None,
            correlation=ledger.tier_correlation().summary(),
            log_url=self.log_url,
            log_tail=result.log_tail,
            artifact_url=self.artifact_url,
            budget_note=result.budget_warning,
            significance=sig.summary() if sig is not None else "",
        )
        sticky.upsert_sticky(self.forge, self.pr, "final", sticky.render_final(final))
        if result.overrun:
            post_alerts(
                self.forge,
                [Alert("overrun", f"PR #{self.pr}, run {result.run_id}: {result.budget_warning}")],
                Path(result.run_dir).parent if result.run_dir else Path(".pgolf"),
                run_url=self.log_url,
            )


def tell_prs(forge: Forge | None, report: ReapReport) -> list[int]:
    """Put each promotion the reaper settled into its PR's sticky comment (overruns in bold)."""
    if forge is None or report.dry_run:
        return []
    told: list[int] = []
    for a in report.actions:
        if not (a.done and a.settled and a.pr):
            continue
        note = (
            f"The promotion's runner died before settling; the reaper terminated what was left and "
            f"booked ${a.cost_usd:.2f} ({a.settled}) for run `{a.run_id}`."
        )
        if a.overrun:
            note = f"**OVERRUN: ${a.cost_usd:.2f} against ${a.reserved_usd:.2f} reserved.** " + note
        status = sticky.PromotionStatus(
            "failed", sha=a.sha, pod_id=a.pod_id, spend_usd=a.cost_usd, message=note
        )
        try:
            sticky.upsert_sticky(forge, int(a.pr), "promotion", sticky.render_promotion(status))
            told.append(int(a.pr))
        except ForgeError:
            continue
    return told


def post_alerts(
    forge: Forge | None, alerts: list[Alert], fallback_dir: Path, run_url: str = ""
) -> AlertOutcome:
    """:func:`bot.alerts.raise_alerts` with pgolf's identities from the forge layer."""
    ids = sticky.pgolf_identities(forge) if forge is not None else None
    return raise_alerts(forge, alerts, fallback_dir, identities=ids, run_url=run_url)
