"""How a promotion is reported: a Markdown summary (CLI output, result.json) and the PR's
sticky comment sections (promotion status, final H100 result) through a Forge."""

from __future__ import annotations

from typing import Any

from bot.compute.outcome import PromoteResult
from bot.ledger import Ledger


def render_comment(result: PromoteResult, ledger: Ledger) -> str:
    """The sticky PR comment for a promotion (no secrets: only figures and the log tail)."""
    where = "RunPod" if result.provider == "runpod" else result.provider
    lines = [f"### Tier 2 ({where}) — `{result.sha[:7]}` · run `{result.run_id}`", ""]
    if result.status == "crash":
        lines += [
            f"**Crashed** on {result.provider}: {result.error or 'unknown error'}",
            "",
            f"Pod {'terminated' if result.terminated else '**NOT confirmed terminated** (the reaper will retry)'}; "
            f"cost ${result.cost_usd:.2f} for {result.pod_seconds:.0f} s.",
        ]
        if result.budget_warning:
            lines += ["", f"**{result.budget_warning}**"]
        if result.log_tail:
            lines += [
                "",
                "<details><summary>log tail</summary>",
                "",
                "```",
                result.log_tail,
                "```",
                "</details>",
            ]
        return "\n".join(lines) + "\n"
    sig = result.significance
    best = result.sota_bpb
    delta = "" if best is None or result.val_bpb is None else f" (Δ vs SOTA {result.val_bpb - best:+.4f})"
    lines += [
        "| metric | value |",
        "|---|---|",
        f"| val_bpb | **{result.val_bpb:.4f}**{delta} |",
        f"| seeds | {len(result.seeds)}"
        + (f" (std {sig.std_bpb:.5f})" if sig and sig.std_bpb is not None else "")
        + " |",
        f"| artifact | {result.artifact_bytes if result.artifact_bytes is not None else 'n/a'} bytes |",
        f"| cost | ${result.cost_usd:.2f} ({result.pod_seconds:.0f} s pod time) |",
        f"| status | {result.status} |",
        "",
    ]
    if result.budget_warning:
        lines += [f"**{result.budget_warning}**", ""]
    if sig is not None:
        lines += [sig.summary(), ""]
    lines.append(ledger.tier_correlation().summary())
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- abort


class ForgeReporter:
    """Writes the promotion and final sections of the PR's sticky comment through a Forge."""

    def __init__(self, forge: Any, pr: int, approved_by: str = "", log_url: str = "", artifact_url: str = ""):
        from bot.compute.logstream import run_links

        links = run_links()
        self.forge = forge
        self.pr = pr
        self.approved_by = approved_by
        self.log_url = log_url or links.run_url
        self.artifact_url = artifact_url or links.artifact_url

    def progress(self, result: PromoteResult, state: str, message: str = "") -> None:
        from bot.forge.comments import PromotionStatus, render_promotion, upsert_sticky

        status = PromotionStatus(
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
        upsert_sticky(self.forge, self.pr, "promotion", render_promotion(status))

    def final(self, result: PromoteResult, ledger: Ledger) -> None:
        from bot.forge.comments import FinalResult, render_final, upsert_sticky

        sig = result.significance
        self.progress(
            result,
            "finished" if result.status != "crash" else "failed",
            f"run `{result.run_id}`: {result.status}"
            + (f" — {result.error}" if result.error else "")
            + ("" if result.terminated else " — pod NOT confirmed terminated; the reaper will retry")
            + (f" — {result.budget_warning}" if result.budget_warning else ""),
        )
        final = FinalResult(
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
        upsert_sticky(self.forge, self.pr, "final", render_final(final))
        if result.overrun:
            from pathlib import Path

            from bot.alerts import Alert

            post_alerts(
                self.forge,
                [Alert("overrun", f"PR #{self.pr}, run {result.run_id}: {result.budget_warning}")],
                Path(result.run_dir).parent if result.run_dir else Path(".pgolf"),
                run_url=self.log_url,
            )


def tell_prs(forge: Any, report: Any) -> list[int]:
    """Put each promotion the reaper settled into its PR's sticky comment (overruns in bold)."""
    if forge is None or getattr(report, "dry_run", False):
        return []
    from bot.errors import ForgeError
    from bot.forge import comments as sticky

    told: list[int] = []
    for a in getattr(report, "actions", []):
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


def post_alerts(forge: Any, alerts: list[Any], fallback_dir: Any, run_url: str = "") -> Any:
    """:func:`bot.alerts.raise_alerts` with pgolf's identities from the forge layer."""
    from bot.alerts import raise_alerts
    from bot.forge.comments import pgolf_identities

    ids = pgolf_identities(forge) if forge is not None else None
    return raise_alerts(forge, alerts, fallback_dir, identities=ids, run_url=run_url)
