"""Holdouts 对照组: which subscribers a pack keeps as its control group this period.

Membership is a pure function of (msisdn, pack, period): the first 8 bytes of
sha256("<msisdn>\\x1f<pack>\\x1f<period>") read as a fraction in [0, 1); a subscriber is held
out when that fraction is below the pack's share. The period is the as-of month (YYYY-MM), so
every nightly run of one month keeps the same subscribers in (or out of) the control group,
and the group is drawn afresh each month. The universal control group (contact policy
`holdout.universal`) uses the salt UNIVERSAL instead of a pack name and holds a subscriber out
of every pack.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Iterable

import numpy as np

UNIVERSAL = "*universal*"  # cannot collide with a pack id (ids are [a-z][a-z0-9_]*)
_SCALE = float(2**64)


def period_of(as_of: date) -> str:
    """The holdout period of a run: its as-of month, YYYY-MM."""
    return f"{as_of.year:04d}-{as_of.month:02d}"


def fraction(msisdn: str, salt: str, period: str) -> float:
    """Where a subscriber falls in [0, 1) for one pack (or UNIVERSAL) and period."""
    digest = hashlib.sha256(f"{msisdn}\x1f{salt}\x1f{period}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def held_out(msisdns: Iterable[str], salt: str, period: str, share: float | None) -> np.ndarray:
    """Boolean array: which of `msisdns` are in the control group of `salt` (a pack or UNIVERSAL)."""
    values = list(msisdns)
    if not share or share <= 0:
        return np.zeros(len(values), dtype=bool)
    fractions = np.fromiter((fraction(m, salt, period) for m in values), dtype=np.float64, count=len(values))
    return fractions < float(share)
