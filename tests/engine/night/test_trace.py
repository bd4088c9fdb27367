"""Trace payload text: the fragments spliced into a payload give exactly the canonical JSON of the
whole payload (the chain hashes that text, and explain/replay parse it back)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.jsonfile import canonical
from engine.night.trace import Fragments

# JSON values as the trace holds them: text (Chinese, quotes, backslashes, NUL and other control
# characters included), numbers without NaN, booleans, null, lists and objects.
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False) | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=20)
NAMES = ("segment", "fact", "packs")


@settings(max_examples=300, deadline=None)
@given(parts=st.fixed_dictionaries({name: values for name in NAMES}),
       rest=st.dictionaries(text.filter(lambda k: k not in NAMES), values, max_size=6))
def test_splice_gives_exactly_the_canonical_payload(parts, rest):
    fragments = Fragments(NAMES)
    with_marks = {**rest, **fragments.marks}
    spliced = fragments.splice(canonical(with_marks), {name: canonical(parts[name]) for name in NAMES})
    assert spliced == canonical({**rest, **parts})
