"""Reports an analyst reads (SPEC §8): `silent_lowuse` (沉默与低使用) so far."""

from engine.outputs.reports.silent_lowuse import silent_lowuse, to_csv, to_html, to_rich, totals

__all__ = ["silent_lowuse", "to_csv", "to_html", "to_rich", "totals"]
