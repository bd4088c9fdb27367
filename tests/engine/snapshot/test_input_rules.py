"""Input rules of issue 11 (engine/snapshot/rules.py): each hostile value of the issue's probe is
refused at load with file:line:column, and no file makes the loader raise anything but
DiagnosticError (a hypothesis fuzz test).
"""

from __future__ import annotations

import copy
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.base.diagnostics import DiagnosticError
from engine.snapshot import rules
from engine.snapshot.contract import TABLES
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, write_snapshot, write_table


def _tables():
    return copy.deepcopy(HANDMADE)


def _errors(directory, **kwargs) -> list:
    with pytest.raises(DiagnosticError) as info:
        load_snapshot(directory, **kwargs)
    return info.value.diagnostics


def _column(table: str, name: str) -> int:
    return TABLES[table].column_names.index(name) + 1


@pytest.mark.parametrize("bad", ["13O0ABC'; DROP", " 138000000001234567 ", "1380000000", "23800000001", "+8613800000001"])
def test_msisdn_format_is_checked_with_line_and_column(tmp_path, bad):
    # Issue 11 reproduction: these reached wap_push.csv.
    tables = _tables()
    tables["subscribers"][1]["msisdn"] = bad
    write_snapshot(tmp_path, tables)
    found = [d for d in _errors(tmp_path, tables=["subscribers"])]
    [d] = found
    assert (d.code, d.line, d.column, d.path) == ("DC030", 3, 1, "msisdn")
    assert d.file.endswith("subscribers.csv") and "msisdn" in d.hint


def test_msisdns_are_checked_in_every_table(tmp_path):
    tables = _tables()
    tables["usage_monthly"][2]["msisdn"] = "1380000000x"
    write_snapshot(tmp_path, tables)
    codes = [(d.code, d.file.rsplit("/", 1)[-1], d.line) for d in _errors(tmp_path)]
    assert ("DC030", "usage_monthly.csv", 4) in codes


def test_the_msisdn_pattern_is_configurable(tmp_path, monkeypatch):
    tables = _tables()
    for table in tables.values():
        for row in table:
            if "msisdn" in row:
                row["msisdn"] = "86" + row["msisdn"]
    write_snapshot(tmp_path, tables)
    assert {d.code for d in _errors(tmp_path)} == {"DC030"}
    monkeypatch.setenv(rules.MSISDN_PATTERN_ENV, "86?1[3-9][0-9]{9}")
    assert load_snapshot(tmp_path).tables["subscribers"]["msisdn"].tolist()[0] == "8613800000001"


def test_an_invalid_msisdn_pattern_names_the_variable(tmp_path, monkeypatch):
    write_snapshot(tmp_path, _tables())
    monkeypatch.setenv(rules.MSISDN_PATTERN_ENV, "1[3-9")
    [d, *_] = _errors(tmp_path)
    assert d.code == "DC039" and rules.MSISDN_PATTERN_ENV in d.message


@pytest.mark.parametrize("cell", ["西\0安", "xi\x1ban", "a\tb", "x\x7f"])
def test_control_characters_are_refused(tmp_path, cell):
    # Issue 11 reproduction: '西\0安' reached outbound_call.csv.
    tables = _tables()
    tables["subscribers"][0]["city"] = cell
    write_snapshot(tmp_path, tables)
    [d] = _errors(tmp_path, tables=["subscribers"])
    assert (d.code, d.line, d.column, d.path) == ("DC031", 2, _column("subscribers", "city"), "city")


@pytest.mark.parametrize("table,column,value", [
    ("usage_monthly", "uses", "-3"), ("usage_monthly", "active_days", "-1"),
    ("usage_monthly", "traffic_mb", "-0.5"), ("usage_monthly", "paid_amount", "-2"),
    ("subscribers", "arpu", "-80"), ("subscribers", "arpu_6m_ago", "-1e3"),
])
def test_negative_counts_and_amounts_are_refused(tmp_path, table, column, value):
    tables = _tables()
    tables[table][0][column] = value
    write_snapshot(tmp_path, tables)
    [d] = [d for d in _errors(tmp_path) if d.code == "DC034"]
    assert (d.line, d.column, d.path) == (2, _column(table, column), column)
    assert repr(value) in d.message


def test_negative_numbers_in_parquet_are_refused_too(tmp_path):
    write_snapshot(tmp_path, _tables())
    (tmp_path / "usage_monthly.csv").unlink()
    frame = pa.table({c: pa.array([r[c] for r in HANDMADE["usage_monthly"]]) for c in TABLES["usage_monthly"].column_names})
    uses = pa.array([-1] + [int(r["uses"]) for r in HANDMADE["usage_monthly"][1:]], pa.int64())
    pq.write_table(frame.set_column(3, "uses", uses), tmp_path / "usage_monthly.parquet")
    [d] = _errors(tmp_path)
    assert (d.code, d.line, d.column) == ("DC034", 2, 4) and d.message.startswith("row 1: ")


def test_a_500_kb_brand_is_refused_with_a_short_message(tmp_path):
    # Issue 11 reproduction: it became a 500,042-character call script.
    tables = _tables()
    tables["subscribers"][2]["brand"] = "促" * 500_000
    write_snapshot(tmp_path, tables)
    [d] = _errors(tmp_path, tables=["subscribers"])
    assert (d.code, d.line, d.column) == ("DC032", 4, _column("subscribers", "brand"))
    assert "500,000 characters" in d.message and len(d.format()) < 400


def test_a_10_mb_cell_is_a_diagnostic_with_its_line(tmp_path):
    # Issue 11 reproduction: Arrow's "straddling object" error, with no line.
    tables = _tables()
    tables["subscribers"][1]["plan"] = "p" * 10_000_000
    write_snapshot(tmp_path, tables)
    [d] = _errors(tmp_path, tables=["subscribers"])
    assert (d.code, d.line) == ("DC033", 3) and d.file.endswith("subscribers.csv")
    assert "straddl" not in d.message


def test_a_duplicate_header_is_refused(tmp_path):
    # Issue 11 reproduction: a second `city` column was accepted silently.
    write_snapshot(tmp_path, _tables())
    columns = [*TABLES["subscribers"].column_names, "city"]
    write_table(tmp_path, "subscribers", [dict(r) for r in HANDMADE["subscribers"]], columns=columns)
    [d] = _errors(tmp_path, tables=["subscribers"])
    assert (d.code, d.line, d.column, d.path) == ("DC008", 1, len(columns), "city")
    assert f"columns {_column('subscribers', 'city')} and {len(columns)}" in d.message


def test_a_duplicate_parquet_column_is_refused(tmp_path):
    names = [*TABLES["lists"].column_names, "list"]
    arrays = [pa.array([r[c] for r in HANDMADE["lists"]]) for c in TABLES["lists"].column_names]
    pq.write_table(pa.Table.from_arrays([*arrays, arrays[1]], names=names), tmp_path / "lists.parquet")
    [d] = _errors(tmp_path, tables=["lists"])
    assert (d.code, d.column) == ("DC008", 4)


@pytest.mark.parametrize("table", ["subscribers", "usage_monthly"])
def test_an_int64_msisdn_column_in_parquet_is_a_diagnostic(tmp_path, table):
    # Issue 11 reproduction: ArrowTypeError traceback.
    write_snapshot(tmp_path, _tables())
    (tmp_path / f"{table}.csv").unlink()
    columns = {c: pa.array([r[c] for r in HANDMADE[table]]) for c in TABLES[table].required_names}
    columns["msisdn"] = pa.array([int(r["msisdn"]) for r in HANDMADE[table]], pa.int64())
    pq.write_table(pa.table(columns), tmp_path / f"{table}.parquet")
    found = _errors(tmp_path)
    assert [(d.code, d.line, d.column) for d in found if d.file.endswith(".parquet")] == [("DC027", 1, 1)]
    assert "int64" in found[0].message or any("int64" in d.message for d in found)


def test_ordinary_snapshots_still_load(tmp_path):
    write_snapshot(tmp_path, _tables())
    assert len(load_snapshot(tmp_path).tables["subscribers"]) == 3


# --- fuzz: any bytes as a table file --------------------------------------------------------

_HEADER = ",".join(TABLES["subscribers"].required_names).encode()
_ROW = b"13800000001,xian,gotone,p58,2020-11-15,80,100,2027-02-14,android,Li Na,sports\n"


def _parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({c: pa.array([r[c] for r in HANDMADE["subscribers"]])
                             for c in TABLES["subscribers"].required_names}), sink)
    return sink.getvalue()


_PARQUET = _parquet_bytes()

_bodies = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda rows: _HEADER + b"\n" + rows, st.binary(max_size=400)),
    st.builds(lambda cut, junk: _HEADER + b"\n" + _ROW[:cut] + junk + _ROW[cut:],
              st.integers(0, len(_ROW)), st.binary(max_size=40)),
    st.builds(lambda text: _HEADER + b"\n" + text.encode("utf-8", "surrogatepass"),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=300)),
)


def _loads_or_diagnoses(directory) -> None:
    try:
        load_snapshot(directory, tables=["subscribers"])
    except DiagnosticError as error:
        assert error.diagnostics and all(d.file for d in error.diagnostics)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_any_bytes_as_a_csv_table_load_or_give_diagnostics(tmp_path_factory, body):
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "subscribers.csv").write_bytes(body)
    _loads_or_diagnoses(directory)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.integers(0, len(_PARQUET) - 1), junk=st.binary(min_size=1, max_size=16), cut=st.booleans())
def test_any_damaged_parquet_table_loads_or_gives_diagnostics(tmp_path_factory, at, junk, cut):
    directory = tmp_path_factory.mktemp("fuzzpq")
    body = _PARQUET[:at] if cut else _PARQUET[:at] + junk + _PARQUET[at + len(junk):]
    (directory / "subscribers.parquet").write_bytes(body)
    _loads_or_diagnoses(directory)
