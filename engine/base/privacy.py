"""Masking subscriber numbers for reports that leave the team (`--mask`).

`mask_msisdn("13912345678")` → ``139****5678``: the operator's usual display form keeps the
3-digit network prefix and the last four digits and hides the rest, so a reader can still tell
examples apart and a call-centre agent can confirm a caller, but a leaked report is no contact
list. Values too short to keep anything hidden are masked whole.
"""

from __future__ import annotations

KEEP_START, KEEP_END = 3, 4


def mask_msisdn(value: str | None) -> str | None:
    """`value` with all but its first 3 and last 4 characters replaced by `*` (None stays None)."""
    if value is None:
        return None
    text = str(value)
    hidden = len(text) - KEEP_START - KEEP_END
    if hidden < 1:
        return "*" * len(text)
    return text[:KEEP_START] + "*" * hidden + text[-KEEP_END:]
