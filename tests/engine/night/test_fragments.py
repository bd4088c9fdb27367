"""Fact texts built from per-column fragments are byte for byte the canonical JSON of the records.

`engine.night.fragments.fact_texts` writes every decision's fact into its trace without building
the record; the chain seals those bytes, so they must equal `canonical(fact_records(frame)[i])`
for every kind of column a fact frame holds: floats (with -0.0, tiny and huge values, missing),
whole numbers, INT catalogue fields held as floats, booleans, text with missing cells, SET
fields, and the nested per-strategy maps (propensity, uplift).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.jsonfile import canonical
from engine.facts.build import fact_records
from engine.night.fragments import fact_texts, field_value_texts
from engine.rules.conditions import lookup, normalise_fact

FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1e-05, 1e16, 0.1, 2.5]))
TEXTS = st.one_of(st.none(), st.sampled_from(["a", "b", "上海", 'q"uote', "back\\slash", ""]))


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=30))
    floats = draw(st.lists(FLOATS, min_size=n, max_size=n))
    gaps = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    frame = pd.DataFrame({
        "arpu": floats,  # a FLOAT field, no missing cells
        "value": [np.nan if g else f for g, f in zip(gaps, floats)],  # a FLOAT field with missing cells
        "uses_m1": draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)),  # INT as int64
        "contract_months_left": [np.nan if g else float(i) for g, i in  # INT field held as float
                                 zip(gaps, draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)))],
        "bundled": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "city": pd.Series(draw(st.lists(TEXTS, min_size=n, max_size=n)), dtype=object),
        "plan": pd.Series(draw(st.lists(TEXTS, min_size=n, max_size=n)), dtype="str"),  # Arrow-backed text
        "preferences": pd.Series(draw(st.lists(st.sampled_from(["", "news|video", "games", None]),
                                               min_size=n, max_size=n)), dtype=object),  # a SET field
        "propensity.sms_a": [np.nan if g else abs(f) % 1 for g, f in zip(gaps, floats)],
        "propensity.sms_b": draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)),
        "uplift.sms_a": [np.nan] * n,
    })
    return frame


@settings(max_examples=60, deadline=None)
@given(frames())
def test_fact_texts_are_the_canonical_records(frame):
    assert fact_texts(frame) == [canonical(record) for record in fact_records(frame)]


@settings(max_examples=40, deadline=None)
@given(frames(), st.sampled_from(["arpu", "value", "uses_m1", "contract_months_left", "bundled", "city", "plan", "missing_field"]))
def test_tested_value_texts_are_the_normalised_values(frame, name):
    expected = [canonical(lookup(normalise_fact(record), name)) for record in fact_records(frame)]
    assert field_value_texts(frame, name) == expected
