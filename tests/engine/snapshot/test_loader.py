"""Snapshot loading: typed tables, and errors that name file, line, column and the bad value."""

from __future__ import annotations

import copy
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.snapshot.contract import SERVICE_IDS, TABLES
from engine.base.diagnostics import DiagnosticError
from engine.snapshot.loader import MAX_PER_FILE, check_snapshot, load_snapshot
from snapshots import HANDMADE, write_handmade, write_snapshot, write_table


def _errors(directory) -> list:
    with pytest.raises(DiagnosticError) as info:
        load_snapshot(directory)
    return info.value.diagnostics


def _tables(**changes):
    tables = copy.deepcopy(HANDMADE)
    for name, rows in changes.items():
        tables[name] = rows
    return tables


def test_handmade_snapshot_loads_with_contract_dtypes(handmade_dir):
    snap = load_snapshot(handmade_dir)
    subs = snap.tables["subscribers"]
    assert list(subs.columns) == list(TABLES["subscribers"].column_names)
    # compact dtypes (ARCHITECTURE §1, engine/snapshot/compact.py): no column holds Python objects
    assert all(str(t) != "object" for frame in snap.tables.values() for t in frame.dtypes)
    assert isinstance(subs["msisdn"].dtype, pd.CategoricalDtype) and subs["msisdn"].tolist()[0] == "13800000001"
    assert list(subs["msisdn"].cat.categories) == sorted(subs["msisdn"])  # sorted: codes are msisdn ranks
    assert str(subs["join_date"].dtype) == "datetime64[s]"
    assert subs["contract_end"].isna().tolist() == [False, False, True]
    assert subs["account_manager"].dtype == "str" and subs["account_manager"].isna().tolist() == [False, True, True]
    assert subs["account_manager"].tolist()[0] == "Li Na"
    assert subs["preferences"].tolist() == ["sports|news|sports", "", "music"]
    assert snap.tables["subscriptions"]["bundled"].tolist() == [True, False, False, True, False, False]
    assert snap.tables["subscriptions"]["bundled"].dtype == bool
    service = snap.tables["subscriptions"]["service"]
    assert list(service.cat.categories) == sorted(SERVICE_IDS)  # every allowed value, same codes in every table
    usage = snap.tables["usage_monthly"]
    assert usage["uses"].dtype == np.int32 and usage["traffic_mb"].dtype == np.float64
    assert usage["month"].tolist()[0] == "2026-11" and isinstance(usage["month"].dtype, pd.CategoricalDtype)
    contacts = snap.tables["contact_history"]
    assert str(contacts["responded"].dtype) == "boolean"
    assert contacts["responded"].tolist() == [pd.NA, True, pd.NA, False]
    assert contacts["service"].dtype == "str"
    assert contacts["service"].astype(object).where(contacts["service"].notna(), None).tolist() == [
        "reading", None, "reading", None]
    assert "churn_labels" not in snap.tables  # optional and absent
    assert check_snapshot(handmade_dir)["usage_monthly"] == len(HANDMADE["usage_monthly"])


def test_extra_columns_are_ignored(tmp_path):
    write_snapshot(tmp_path, HANDMADE)
    cols = ["note", *TABLES["lists"].column_names]
    write_table(tmp_path, "lists", [dict(r, note="x") for r in HANDMADE["lists"]], columns=cols)
    assert list(load_snapshot(tmp_path).tables["lists"].columns) == ["msisdn", "list", "since"]


def test_removed_required_column(tmp_path):
    write_snapshot(tmp_path, HANDMADE)
    cols = [c for c in TABLES["subscriptions"].column_names if c != "billing"]
    write_table(tmp_path, "subscriptions", HANDMADE["subscriptions"], columns=cols)
    [d] = _errors(tmp_path)
    assert (d.file.endswith("subscriptions.csv"), d.line, d.path, d.code) == (True, 1, "billing", "DC003")
    assert "required column 'billing' is missing" in d.message


@pytest.mark.parametrize(
    "table, row, column, value, code, line, col, words",
    [
        ("subscriptions", 1, "status", "paused", "DC021", 3, 4, ["'paused'"]),  # bad enum
        ("subscribers", 0, "join_date", "2026-02-30", "DC022", 2, 5, ["'2026-02-30'", "valid date"]),
        ("usage_monthly", 2, "uses", "three", "DC024", 4, 4, ["'three'", "whole number"]),
        ("usage_monthly", 0, "traffic_mb", "1,5", "DC025", 2, 6, ["'1,5'", "a number"]),
        ("subscribers", 2, "city", "", "DC020", 4, 2, ["empty cell"]),
        ("subscriptions", 0, "bundled", "yes", "DC026", 2, 6, ["'yes'", "true/false"]),
        ("usage_monthly", 1, "month", "2026-13", "DC023", 3, 3, ["'2026-13'", "YYYY-MM"]),
    ],
)
def test_bad_cell_names_file_line_column_and_value(tmp_path, table, row, column, value, code, line, col, words):
    tables = _tables()
    tables[table][row][column] = value
    write_snapshot(tmp_path, tables)
    [d] = _errors(tmp_path)
    assert d.file.endswith(f"{table}.csv")
    assert (d.code, d.line, d.column, d.path) == (code, line, col, column)
    for word in words:
        assert word in d.message
    assert d.hint


def test_duplicate_key_names_both_lines(tmp_path):
    rows = copy.deepcopy(HANDMADE["lists"]) + [dict(HANDMADE["lists"][0], since="2026-02-02")]
    write_snapshot(tmp_path, _tables(lists=rows))
    [d] = _errors(tmp_path)
    assert (d.code, d.line, d.column, d.path) == ("DC011", 6, 1, "msisdn,list")
    assert "lines 2 and 6" in d.message and "'dnd'" in d.message


def test_non_utf8_bytes_name_the_line(tmp_path):
    write_snapshot(tmp_path, HANDMADE)
    path = tmp_path / "handset_changes.csv"
    path.write_bytes(path.read_bytes() + "13800000002,2026-01-05,android,ios\n".encode("gbk") + "13800000002,2026-01-06,安卓,ios\n".encode("gbk"))
    [d] = _errors(tmp_path)
    assert (d.code, d.line, d.file) == ("DC004", 6, str(path))
    assert "UTF-8" in d.message


def test_missing_table_and_unknown_msisdn(tmp_path):
    tables = _tables()
    del tables["lists"]
    tables["usage_monthly"][3]["msisdn"] = "13899999999"
    write_snapshot(tmp_path, tables)
    found = {(d.code, d.file.rsplit("/", 1)[-1], d.line) for d in _errors(tmp_path)}
    assert found == {("DC002", "lists.csv", None), ("DC012", "usage_monthly.csv", 5)}


def test_both_csv_and_parquet_is_an_error(tmp_path):
    write_snapshot(tmp_path, HANDMADE)
    write_table(tmp_path, "lists", HANDMADE["lists"], fmt="parquet")
    assert [d.code for d in _errors(tmp_path)] == ["DC001"]


def test_problems_are_capped_per_file(tmp_path):
    rows = [dict(HANDMADE["usage_monthly"][0], month=f"2026-{m:02d}", uses="x") for m in range(1, 13)]
    rows += [dict(HANDMADE["usage_monthly"][0], service=s, month="2026-01", uses="x")
             for s in ("fetion", "video", "game", "wlan", "sms", "mms", "gprs", "mailbox139", "reading", "music_club")]
    rows = [dict(r, msisdn=f"1380000000{i % 3 + 1}") for i, r in enumerate(rows * 3)]
    for i, r in enumerate(rows):
        r["active_days"] = "y"
    write_snapshot(tmp_path, _tables(usage_monthly=rows))
    diags = _errors(tmp_path)
    assert len(diags) == MAX_PER_FILE + 1
    assert diags[-1].message == f"… {2 * len(rows) - MAX_PER_FILE} more problems in this file"


def test_parquet_typed_and_string_columns_load_like_csv(tmp_path):
    write_handmade(tmp_path / "csv")
    write_snapshot(tmp_path / "pq", HANDMADE, fmt="parquet")
    # typed Parquet columns: a date32 date, a bool, numbers
    subs = pq.read_table(tmp_path / "pq" / "subscriptions.parquet").to_pandas()
    pq.write_table(pa.table({
        **{c: pa.array(subs[c].astype(str)) for c in subs.columns if c not in ("ordered_on", "bundled")},
        "ordered_on": pa.array(pd.to_datetime(subs["ordered_on"]).dt.date, pa.date32()),
        "bundled": pa.array(subs["bundled"].str.lower().isin(["true", "1"])),
    }), tmp_path / "pq" / "subscriptions.parquet")
    a, b = load_snapshot(tmp_path / "csv").tables, load_snapshot(tmp_path / "pq").tables
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_like=False)


def test_parquet_errors_say_row(tmp_path):
    tables = _tables()
    tables["lists"][2]["list"] = "grey"
    write_snapshot(tmp_path, tables, fmt="parquet")
    [d] = _errors(tmp_path)
    assert (d.code, d.line, d.column, d.file.endswith("lists.parquet")) == ("DC021", 4, 2, True)
    assert d.message.startswith("row 3: 'grey'")


_cells = {
    "month": st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(lambda d: d.strftime("%Y-%m")),
    "uses": st.integers(0, 10**9).map(str),
    "active_days": st.integers(0, 31).map(str),  # counts and amounts are non-negative (input rule DC034)
    "traffic_mb": st.floats(0, 1e6, allow_nan=False).map(repr),
    "paid_amount": st.decimals("0", "999.99", places=2).map(str),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries(_cells), max_size=8, unique_by=lambda r: r["month"]),
       bundled=st.lists(st.sampled_from(["true", "FALSE", "1", "0", "True"]), min_size=1, max_size=1))
def test_csv_and_parquet_agree(tmp_path_factory, rows, bundled):
    base = tmp_path_factory.mktemp("prop")
    tables = _tables()
    tables["usage_monthly"] = [dict(r, msisdn="13800000001", service="reading") for r in rows]
    tables["subscriptions"][0]["bundled"] = bundled[0]
    write_snapshot(base / "csv", tables)
    write_snapshot(base / "pq", tables, fmt="parquet")
    a, b = load_snapshot(base / "csv").tables, load_snapshot(base / "pq").tables
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert a["usage_monthly"]["uses"].tolist() == [int(r["uses"]) for r in rows]
    assert a["usage_monthly"]["traffic_mb"].tolist() == [float(r["traffic_mb"]) for r in rows]


def test_wrong_number_of_fields_names_the_line(tmp_path):
    write_snapshot(tmp_path, HANDMADE)
    with (tmp_path / "lists.csv").open("a", encoding="utf-8") as handle:
        handle.write("13800000001,dnd\n13800000002,red,2026-01-01,extra\n")
    assert [(d.code, d.line) for d in _errors(tmp_path)] == [("DC006", 6), ("DC006", 7)]


def test_missing_folder_is_one_clear_error(tmp_path):
    [d] = _errors(tmp_path / "nowhere")
    assert d.code == "DC000" and "does not exist" in d.message


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    tables = _tables()
    tables["lists"][3]["list"] = "grey"
    write_snapshot(tmp_path, tables)
    path = tmp_path / "lists.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:2] + ["", ""] + lines[2:]) + "\n", encoding="utf-8")
    [d] = _errors(tmp_path)
    assert (d.code, d.line) == ("DC021", 7)


def test_byte_order_mark_is_tolerated_and_lines_still_count(tmp_path):
    """Spreadsheet tools write a UTF-8 BOM; Arrow reads the file from its path and skips it."""
    write_handmade(tmp_path)
    for name in ("subscribers", "usage_monthly"):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    plain = load_snapshot(write_handmade(tmp_path / "plain"))
    marked = load_snapshot(tmp_path)
    for name in ("subscribers", "usage_monthly"):
        pd.testing.assert_frame_equal(marked.tables[name], plain.tables[name])
    usage = tmp_path / "usage_monthly.csv"
    lines = usage.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"2026-", b"2026/", 1)  # line 3: a bad month
    usage.write_bytes(b"\n".join(lines))
    problems = _errors(tmp_path)
    assert [(d.code, d.line) for d in problems] == [("DC023", 3)]
