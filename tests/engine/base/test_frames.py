"""append_rows keeps a loaded table's compact dtypes and never loses a value outside its categories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.base.frames import append_rows


def test_new_values_widen_sorted_categories_and_other_dtypes_stay():
    own = pd.DataFrame({"msisdn": pd.Categorical(["139", "138"], categories=["138", "139"]),
                        "note": pd.Series(["a", None], dtype="str"),
                        "n": np.array([1, 2], dtype=np.int32)})
    added = pd.DataFrame({"msisdn": pd.Series(["137", "139"], dtype=object),
                          "note": pd.Series([None, "b"], dtype=object), "n": [3, 4]})
    merged = append_rows(own, added)
    assert merged["msisdn"].tolist() == ["139", "138", "137", "139"]
    assert list(merged["msisdn"].cat.categories) == ["137", "138", "139"]
    assert merged["note"].dtype == "str" and merged["note"].isna().tolist() == [False, True, True, False]
    assert merged["n"].dtype == np.int32 and merged["n"].tolist() == [1, 2, 3, 4]
    assert list(merged.index) == [0, 1, 2, 3]
