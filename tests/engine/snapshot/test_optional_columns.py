"""The optional value × stability columns of `subscribers` (issue 10 §3): a snapshot without them
loads and runs as before; with them they are typed and checked like every other column."""

from __future__ import annotations

import pandas as pd

import math

import numpy as np
import pytest

from engine.base.diagnostics import DiagnosticError
from engine.snapshot.contract import SUBSCRIBER_OPTIONAL, TABLES
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, SUBSCRIBERS, write_snapshot, write_table

OPTIONAL = [c.name for c in SUBSCRIBER_OPTIONAL]
CORE = [c for c in TABLES["subscribers"].column_names if c not in OPTIONAL]
FILLED = dict(circle_size="12", circle_size_6m_ago="20", calls_monthly="150.5", on_net_share="0.8",
              suspensions_6m="1", arrears_6m="0", payments_6m="6", handset_brand="华为")


def _snapshot(tmp_path, subscribers, columns=None, fmt="csv"):
    write_snapshot(tmp_path, {k: v for k, v in HANDMADE.items() if k != "subscribers"}, fmt)
    write_table(tmp_path, "subscribers", subscribers, fmt, columns=columns)
    return tmp_path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_snapshot_without_the_optional_columns_loads(tmp_path, fmt):
    subs = load_snapshot(_snapshot(tmp_path, SUBSCRIBERS, CORE, fmt)).tables["subscribers"]
    assert list(subs.columns) == CORE


def test_some_optional_columns_may_be_given_without_the_others(tmp_path):
    rows = [dict(r, circle_size="7") for r in SUBSCRIBERS]
    subs = load_snapshot(_snapshot(tmp_path, rows, CORE + ["circle_size"])).tables["subscribers"]
    assert list(subs.columns) == CORE + ["circle_size"]
    assert subs["circle_size"].tolist() == [7, 7, 7]


def test_optional_columns_are_typed_and_empty_cells_are_unknown(tmp_path):
    rows = [dict(SUBSCRIBERS[0], **FILLED), dict(SUBSCRIBERS[1]), dict(SUBSCRIBERS[2], **FILLED)]
    subs = load_snapshot(_snapshot(tmp_path, rows)).tables["subscribers"]
    assert subs["circle_size"].iloc[0] == 12 and math.isnan(subs["circle_size"].iloc[1])
    assert subs["calls_monthly"].iloc[0] == pytest.approx(150.5)
    assert subs["on_net_share"].iloc[2] == pytest.approx(0.8)
    brands = subs["handset_brand"].tolist()  # nullable text loads as Arrow strings: missing is NaN (compact.py)
    assert brands[0] == brands[2] == "华为" and pd.isna(brands[1])
    assert np.isnan(subs["payments_6m"].iloc[1])


@pytest.mark.parametrize("column,value,code", [
    ("suspensions_6m", "-1", "DC034"),   # a count cannot be negative
    ("on_net_share", "35", "DC035"),     # a share is at most 1
    ("circle_size", "many", "DC024"),    # not a whole number
])
def test_bad_optional_cells_name_file_line_and_column(tmp_path, column, value, code):
    rows = [dict(r, **FILLED) for r in SUBSCRIBERS]
    rows[1][column] = value
    with pytest.raises(DiagnosticError) as caught:
        load_snapshot(_snapshot(tmp_path, rows))
    [diag] = [d for d in caught.value.diagnostics if d.code == code]
    assert diag.file.endswith("subscribers.csv") and diag.line == 3
    assert diag.column == TABLES["subscribers"].column_names.index(column) + 1
    assert diag.hint
