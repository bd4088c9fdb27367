"""The words a decision is made of, defined once (SPEC §5, §7; docs/TRACE.md).

A fact's outcome in one pack is one of PACK_OUTCOMES; a stored decision is one of DECISIONS
(`lost`: a candidate that arbitration gave to another pack or that a full channel dropped).
A run row's status is SUCCEEDED or FAILED. A content file's approval history
(engine.store.approval, engine.content.approvals) records ACTIONS on CONTENT_KINDS.
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

# What an approval row can record about one content hash (engine.store.approval).
SUBMITTED = "submitted"
APPROVED = "approved"
REVOKED = "revoked"
ACTIONS = (SUBMITTED, APPROVED, REVOKED)

# Kinds of content that go through the draft → review → approved lifecycle.
CONTENT_KINDS = ("pack", "contact_policy", "segments", "services", "strategy", "sensitivity", "value_stability")
