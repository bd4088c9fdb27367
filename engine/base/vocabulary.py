"""The words a decision is made of, defined once (SPEC §5, §7; docs/TRACE.md).

A fact's outcome in one pack is one of PACK_OUTCOMES; a stored decision is one of DECISIONS
(`lost`: a candidate that arbitration gave to another pack or that a full channel dropped).
A run row's status is SUCCEEDED or FAILED.
"""

TREAT = "treat"
EXCLUDED = "excluded"
HELD_OUT = "held_out"
NOT_SELECTED = "not_selected"
OUT_OF_SCOPE = "out_of_scope"
LOST = "lost"

PACK_OUTCOMES = (TREAT, EXCLUDED, HELD_OUT, NOT_SELECTED, OUT_OF_SCOPE)
DECISIONS = (TREAT, EXCLUDED, HELD_OUT, NOT_SELECTED, LOST)

SUCCEEDED = "succeeded"
FAILED = "failed"
