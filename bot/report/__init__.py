"""Static dashboard and PNG plots of a research repository (``pgolf report``)."""

from bot.report.site import ReportResult, build_report, default_pages_url, plot_urls, summary_markdown

__all__ = ["ReportResult", "build_report", "default_pages_url", "plot_urls", "summary_markdown"]
