"""Every CSV Rekindle writes quotes formula-leading cells (OWASP CSV injection) and is private.

Each writer's file is read back with the csv module, as a spreadsheet import would see it.
"""

from __future__ import annotations

import copy
import csv
import io
import os
import stat
from pathlib import Path

import pytest

from engine.base import csvsafe
from engine.content import strategies as kb
from engine.content import strategies_csv as kbcsv
from engine.night.channels import channel_csv, write_channel_files
from engine.outputs.reports import silent_lowuse, to_csv
from engine.outputs.reports.silent_lowuse import load_segments
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, HANDMADE_AS_OF, write_snapshot

HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("cell", HOSTILE)
def test_formula_leading_cells_get_a_quote(cell):
    assert csvsafe.neutralise(cell) == "'" + cell.replace("\r", "\n")
    assert csvsafe.restore(csvsafe.neutralise(cell)) == cell.replace("\r", "\n")


@pytest.mark.parametrize("cell", ["13800000001", "您好{service_name}", "", "a=b", "'quoted", "x-y", 12, -3.5, None])
def test_other_cells_are_unchanged(cell):
    assert csvsafe.neutralise(cell) == cell
    if isinstance(cell, str):
        assert csvsafe.restore(cell) == cell


def test_channel_files_quote_formula_cells_from_the_snapshot_and_strategies():
    # Issue 11 reproduction: '=', '+', '-', '@' cells reached the call-centre file unescaped.
    rows = [dict(msisdn="13800000001", service="gprs", strategy="s", message=m, city=c)
            for m, c in zip(HOSTILE, ["=1+1", "@x", "-x", "+x", "xian", "baoji"])]
    for i, row in enumerate(rows):
        row["msisdn"] = f"1380000000{i}"
    read = _read(channel_csv("outbound_call", rows))
    assert read[0] == ["msisdn", "service", "strategy", "message", "city"]
    for row, original in zip(read[1:], rows):
        assert row[3] == "'" + original["message"].replace("\r", "\n")  # a bare CR would split the row
        assert row[4] == (original["city"] if original["city"][0].isalpha() else "'" + original["city"])
        assert row[0] == original["msisdn"]


def test_ordinary_channel_files_keep_their_bytes():
    rows = [dict(msisdn="13800000002", service="gprs", strategy="ret_call_loyalty", message="您好，流量-优惠", city="xian")]
    assert channel_csv("outbound_call", rows) == (
        "msisdn,service,strategy,message,city\n13800000002,gprs,ret_call_loyalty,您好，流量-优惠,xian\n")


def test_channel_files_are_created_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        paths = write_channel_files(tmp_path / "out", {"sms": [dict(msisdn="1", service="sms", strategy="s", message="m")]})
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths.values()} == {0o600}


def test_write_private_replaces_atomically_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "list.csv"
    csvsafe.write_private(target, "x\n")
    csvsafe.write_private(target, "y\n")
    assert target.read_text() == "y\n" and sorted(p.name for p in target.parent.iterdir()) == ["list.csv"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


def test_the_strategy_export_quotes_formula_cells_and_imports_back(tmp_path):
    source, out = tmp_path / "strategies", tmp_path / "kb.csv"
    kb.add_strategy(source, {"strategy": "s_formula", "title": "=cmd|' /C calc'!A0", "measure": "@SUM(1)",
                             "channel": "sms", "reasons": ["silent_3_months"], "description": "-2+3"}, user="张伟")
    kbcsv.export_csv(source, out)
    [header, row] = _read(out.read_text(encoding="utf-8"))
    cells = dict(zip(header, row))
    assert (cells["title"], cells["measure"], cells["description"]) == ("'=cmd|' /C calc'!A0", "'@SUM(1)", "'-2+3")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # The export is re-importable: the quote comes off again, so nothing changes.
    result = kbcsv.import_csv(out, source, update=True)
    assert result.unchanged == ["s_formula"]
    assert kb.get_strategy(source, "s_formula").data["title"] == "=cmd|' /C calc'!A0"


def test_a_strategy_csv_import_cannot_smuggle_a_formula_into_the_kb_export(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("strategy,reasons,measure,channel,maintainer,maintained_on\n"
                      "s_evil,silent_3_months,=HYPERLINK(\"http://evil\"),sms,张伟,2026-11-01\n", encoding="utf-8")
    kbcsv.import_csv(source, tmp_path / "strategies")
    [header, row] = _read(kbcsv.export_csv(tmp_path / "strategies"))
    assert dict(zip(header, row))["measure"] == "'=HYPERLINK(\"http://evil\")"


def test_the_silent_lowuse_csv_quotes_formula_cells_from_the_snapshot(tmp_path):
    tables = copy.deepcopy(HANDMADE)
    for row in tables["subscribers"]:
        row["brand"] = "=HYPERLINK(\"http://evil\")"
    write_snapshot(tmp_path, tables)
    segments = load_segments(Path(__file__).resolve().parents[3] / "rules")
    frame = silent_lowuse(load_snapshot(tmp_path), HANDMADE_AS_OF, segments)
    read = _read(to_csv(frame))
    brand = read[0].index("brand")
    assert {r[brand] for r in read[1:]} == {"'=HYPERLINK(\"http://evil\")"}
    numbers = [r[read[0].index("subscribed")] for r in read[1:]]
    assert all(n.isdigit() for n in numbers)  # numbers are not text cells: untouched


def test_safe_frame_leaves_numbers_and_ordinary_text():
    import pandas as pd

    frame = pd.DataFrame({"city": ["xian", "-x", None], "n": [-1, 2, 3]})
    out = csvsafe.safe_frame(frame)
    assert out["city"].tolist()[:2] == ["xian", "'-x"] and pd.isna(out["city"].iloc[2])
    assert out["n"].tolist() == [-1, 2, 3]
