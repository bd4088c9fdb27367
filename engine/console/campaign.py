"""The campaign report 营销评估 in the console — shown only when its module exists.

`rekindle report campaign` (SPEC §8, issue 13) is built in `engine.outputs.reports.campaign`,
not here. The console links to it when that module can be imported and shows what its
`campaign_report(run=…, db_url=…)` returns: its rows as one escaped table (columns in the order
of `COLUMNS` first) and its notes (what the holdout design can and cannot show). If
the module is absent, the navigation has no link and the page answers 404.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

MODULE = "engine.outputs.reports.campaign"
# The fixed CSV columns of SPEC §8, shown first when present.
COLUMNS = ("pack", "strategy", "channel", "treated", "control", "response_rate", "control_response_rate", "uplift",
           "uplift_low", "uplift_high")


def available() -> bool:
    """Can the campaign report module be imported?"""
    try:
        return importlib.util.find_spec(MODULE) is not None
    except ModuleNotFoundError:
        return False


def campaign_table(run: str | None, db_url: str | None, strategies_dir: str | Path = "strategies"
                   ) -> tuple[list[str], list[dict], list[str]]:
    """(columns, rows, notes) of the campaign report, or raises LookupError when it cannot be read."""
    from engine.base.diagnostics import DiagnosticError

    module = importlib.import_module(MODULE)
    try:
        report = module.campaign_report(run=run, db_url=db_url, strategies_dir=strategies_dir)
    except DiagnosticError as error:
        raise LookupError("; ".join(d.message for d in error.diagnostics)) from None
    rows = report.rows.to_dict(orient="records")
    keys = {k for r in rows for k in r}
    columns = [c for c in COLUMNS if c in keys] + sorted(keys - set(COLUMNS))
    return columns, rows, list(report.notes)
