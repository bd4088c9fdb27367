"""The campaign report 营销评估 in the console — shown only when its module exists.

`rekindle report campaign` (SPEC §8, issue 13) is built in `engine.outputs.reports.campaign`,
not here. The console links to it when that module can be imported and shows what its
`campaign_report(run, db_url)` returns: rows of numbers (a list of dicts, or a dict holding
such a list under `rows`) as one escaped table, columns in the order of `COLUMNS` first. If
the module is absent, the navigation has no link and the page answers 404.
"""

from __future__ import annotations

import importlib
import importlib.util

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


def campaign_table(run: str | None, db_url: str | None) -> tuple[list[str], list[dict]]:
    """(columns, rows) of the campaign report, or raises LookupError when it cannot be read."""
    module = importlib.import_module(MODULE)
    build = getattr(module, "campaign_report", None)
    if not callable(build):
        raise LookupError(f"{MODULE} has no campaign_report(); run `rekindle report campaign` on the terminal")
    result = build(run, db_url)
    rows = result.get("rows") if isinstance(result, dict) else result
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise LookupError("the campaign report did not return rows; run `rekindle report campaign` on the terminal")
    keys = {k for r in rows for k in r}
    columns = [c for c in COLUMNS if c in keys] + sorted(keys - set(COLUMNS))
    return columns, rows
