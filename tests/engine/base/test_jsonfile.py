"""canonical_strings takes a shortcut for plain letters-and-digits strings: it must give exactly
canonical()'s text for any value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.jsonfile import canonical, canonical_strings

VALUES = st.one_of(st.text(), st.text(alphabet="0123456789", min_size=11, max_size=11),
                   st.sampled_from(["read", "video", "西安", "²", "٣", "a\"b", "a\\b", "\u2028", ""]),
                   st.none(), st.integers(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(values=st.lists(VALUES, max_size=20))
def test_canonical_strings_equal_canonical(values):
    assert canonical_strings(values) == [canonical(v) for v in values]
