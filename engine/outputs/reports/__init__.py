"""Reports an analyst reads (SPEC §8): the silent / low-use analysis 沉默与低使用 (`silent_lowuse`)
and the account of one run (`run_report`)."""

from engine.outputs.reports.silent_lowuse import silent_lowuse, to_csv, to_html, to_rich, totals

__all__ = ["silent_lowuse", "to_csv", "to_html", "to_rich", "totals"]
