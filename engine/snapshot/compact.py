"""Compact in-memory columns for a loaded snapshot (ARCHITECTURE §1): no Python objects.

A night forks worker processes that share the parent's loaded snapshot copy-on-write; a column
of Python objects is copied page by page as soon as a child touches the objects' reference
counts, so the loaded tables hold none:

- text that may not be empty (msisdn, service, month, city, brand, plan, enums, pack, …) is a
  pandas `category` whose categories are **sorted** (so sorting by the column sorts by the text,
  and the codes of an msisdn column are its rank in msisdn order). Enum columns carry every
  value the contract allows as categories (same codes in every table; appending a valid value
  never falls outside them); other text carries its distinct values. The codes are int8/16/32,
  chosen by pandas from the number of categories.
- text that may be empty (account_manager, contact_history.service) and tag lists are
  Arrow-backed `str` (pandas' default string dtype; an empty cell is NaN).
- whole numbers are `int32` when every value fits, else `int64`; other numbers stay `float64`
  (float32 would change the values facts and scores are computed from); dates `datetime64[s]`;
  booleans `bool` / pandas `boolean`.

The conversion is columnar (Arrow dictionary encoding, a sort of the distinct values only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.snapshot import contract
from engine.snapshot.contract import Column

TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's `str`
_I32 = np.iinfo(np.int32)


def categorical(codes: pa.DictionaryArray, allowed: tuple[str, ...] = ()) -> pd.Categorical:
    """A pandas Categorical with sorted categories from Arrow dictionary codes (nulls → NaN).

    `allowed` (an enum's values) become the categories; else the distinct values do.
    """
    dictionary = codes.dictionary
    if allowed:
        words = pa.array(sorted(allowed), type=pa.string())
        remap = pc.fill_null(pc.index_in(pc.cast(dictionary, pa.string()), value_set=words), -1)
    else:
        order = pc.array_sort_indices(dictionary)
        words = pc.take(dictionary, order)
        remap = np.empty(len(dictionary), dtype=np.int32)
        remap[order.to_numpy()] = np.arange(len(dictionary), dtype=np.int32)
        remap = pa.array(remap)
    index = pc.fill_null(pc.take(remap, codes.indices), -1).to_numpy(zero_copy_only=False)
    categories = pd.Index(pd.arrays.ArrowStringArray(pc.cast(words, pa.large_string()), dtype=TEXT))
    return pd.Categorical.from_codes(index, dtype=pd.CategoricalDtype(categories), validate=False)


def text(strings: pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow-backed strings (no Python objects); nulls read as NaN."""
    return pd.arrays.ArrowStringArray(pc.cast(strings, pa.large_string()), dtype=TEXT)


def whole_numbers(values: np.ndarray) -> np.ndarray:
    """int32 when every value fits (the usual counts and ranks), else unchanged: int64, or the
    float64 a nullable column's missing cells (NaN) need — NaN has no int32."""
    if values.dtype.kind == "f" and np.isnan(values).any():
        return values
    if len(values) and (values.min() < _I32.min or values.max() > _I32.max):
        return values
    return values.astype(np.int32)


def compact(column: Column, typed, dictionary=None):
    """The compact form of one typed column (module docstring). `typed` is what
    engine.snapshot.cells.parse_column returned; `dictionary()` gives its dictionary codes when
    `typed` holds strings (the loader caches them for the key check)."""
    if isinstance(typed, pa.ChunkedArray):
        if column.nullable or column.kind == contract.TAGS:
            return text(typed)
        codes = dictionary() if dictionary is not None else pc.dictionary_encode(typed.combine_chunks())
        return categorical(codes, column.values if column.kind == contract.ENUM else ())
    if column.kind == contract.INT:
        return whole_numbers(np.asarray(typed))
    return typed
