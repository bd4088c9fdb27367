"""CSV import/export of the knowledge base: all-or-nothing import with exact lines and columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from engine.content import strategies_csv as kbcsv
from engine.content import strategies as kb
from engine.base.diagnostics import DiagnosticError

HEADER = "strategy,title,reasons,services,measure,channel,message,cost,maintainer,maintained_on\n"
GOOD = "s_good,好,silent_3_months|no_use,reading|video,短信指南,sms,您的{service_name},0.05,张伟,2026-11-01\n"


def write_csv(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def problems(error) -> list[tuple[int | None, int | None, str]]:
    return [(d.line, d.column, d.code) for d in error.value.diagnostics]


def test_import_creates_draft_files_in_the_stable_format(tmp_path):
    source = write_csv(tmp_path / "kb.csv", GOOD)
    result = kbcsv.import_csv(source, tmp_path / "strategies")
    assert result.created == ["s_good"]
    text = (tmp_path / "strategies" / "s_good.yaml").read_text(encoding="utf-8")
    assert text == kb.render({
        "strategy": "s_good", "title": "好", "reasons": ["silent_3_months", "no_use"],
        "services": ["reading", "video"], "measure": "短信指南", "channel": "sms",
        "message": "您的{service_name}", "cost": 0.05, "maintainer": "张伟",
        "maintained_on": kb.coerce("maintained_on", "2026-11-01"), "status": "draft",
    })


def test_every_bad_row_is_reported_at_its_line_and_column_and_nothing_is_imported(tmp_path):
    source = write_csv(
        tmp_path / "kb.csv",
        GOOD,                                                                              # line 2
        's_fax,"two\nlines",a,,m,fax,,,张伟,2026-11-01\n',                                    # lines 3-4: bad channel
        "s_nomeasure,,a,,,sms,,,张伟,2026-11-01\n",                                          # line 5: measure empty
        "s_date,,a,,m,sms,,,张伟,2026-02-30\n",                                              # line 6: not a real date
        "s_field,,a,,m,sms,您好{name},,张伟,2026-11-01\n",                                   # line 7: unknown field
        "\n",                                                                              # line 8: blank, skipped
        "s_good,,a,,m,mms,,,张伟,2026-11-01\n",                                              # line 9: duplicate id
        "s_cost,,a,,m,sms,,cheap,张伟,2026-11-01\n",                                         # line 10: not a number
    )
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(source, tmp_path / "strategies")
    assert problems(error) == [
        (3, 6, "RP014"),
        (5, 5, "ST204"),
        (6, 10, "ST002"),
        (7, 7, "ST001"),
        (9, 1, "ST303"),
        (10, 8, "RP013"),
    ]
    by_line = {d.line: d for d in error.value.diagnostics}
    assert by_line[3].file == str(source) and by_line[3].path == "channel"
    assert "first on line 2" in by_line[9].hint
    assert "{name}" in by_line[7].message
    assert not (tmp_path / "strategies").exists() or list((tmp_path / "strategies").iterdir()) == []


def test_header_problems_are_reported_on_line_1(tmp_path):
    source = write_csv(tmp_path / "kb.csv", "s,a,m,sms,me,2026-11-01\n",
                       header="strategy,reasons,measur,channel,maintainer,maintained_on\n")
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(source, tmp_path / "strategies")
    assert problems(error) == [(1, None, "ST302"), (1, 3, "ST301")]
    assert "measure" in error.value.diagnostics[1].hint


def test_existing_ids_need_update_which_keeps_comments_and_demotes_to_draft(tmp_path):
    directory = tmp_path / "strategies"
    directory.mkdir()
    existing = directory / "s_good.yaml"
    existing.write_text(
        "# keep me\n" + kb.render({"strategy": "s_good", "reasons": ["a"], "measure": "old", "channel": "sms",
                                    "maintainer": "张伟", "maintained_on": kb.coerce("maintained_on", "2026-10-01"),
                                    "status": "approved"}),
        encoding="utf-8",
    )
    source = write_csv(tmp_path / "kb.csv", GOOD)
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(source, directory)
    assert problems(error) == [(2, 1, "ST202")] and "--update" in error.value.diagnostics[0].hint
    result = kbcsv.import_csv(source, directory, update=True)
    assert result.updated == ["s_good"]
    text = existing.read_text(encoding="utf-8")
    assert text.startswith("# keep me\n") and "measure: 短信指南" in text and "status: draft" in text
    again = kbcsv.import_csv(source, directory, update=True)
    assert again.unchanged == ["s_good"]


def test_reimporting_an_export_changes_nothing_even_with_empty_lists(tmp_path):
    directory = tmp_path / "strategies"
    directory.mkdir()
    hand = ("strategy: s_empty\nreasons: [a]\nmeasure: m\nchannel: sms\nregions: []   # all cities\n"
            "maintainer: 张伟\nmaintained_on: 2026-11-01\nstatus: approved\n")
    (directory / "s_empty.yaml").write_text(hand, encoding="utf-8")
    kbcsv.export_csv(directory, tmp_path / "kb.csv")
    result = kbcsv.import_csv(tmp_path / "kb.csv", directory, update=True)
    assert result.unchanged == ["s_empty"]
    assert (directory / "s_empty.yaml").read_text(encoding="utf-8") == hand  # still approved


def test_export_then_import_reproduces_the_files(tmp_path):
    first = tmp_path / "a"
    first.mkdir()
    (first / "hand.yaml").write_text(
        "# a comment export drops\nstrategy: hand\ntitle: 'yes'\nreasons: [x, y]\nmeasure: 指南, 热门\n"
        "channel: wap_push\nmessage: \"第一行,\\n第二行 {city}\"\ncost: 1\nbase_response: 0.03\n"
        "regions: [西安, 宝鸡]\nmaintainer: 李娜\nmaintained_on: 2026-11-01\nstatus: approved\n",
        encoding="utf-8",
    )
    kbcsv.import_csv(write_csv(tmp_path / "in.csv", GOOD), first)
    exported = kbcsv.export_csv(first, tmp_path / "out.csv")
    assert exported.splitlines()[0] == ",".join(kb.FIELDS)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["strategy"] for r in rows] == ["hand", "s_good"]  # sorted by id
    assert rows[0]["regions"] == "西安|宝鸡" and rows[0]["message"] == "第一行,\n第二行 {city}"
    second = tmp_path / "b"
    kbcsv.import_csv(tmp_path / "out.csv", second)
    assert kbcsv.export_csv(second) == exported
    assert (second / "s_good.yaml").read_bytes() == (first / "s_good.yaml").read_bytes()
    copy = kb.get_strategy(second, "hand").data
    original = kb.get_strategy(first, "hand").data
    assert copy == original  # same values, status included; only the comment is not carried


def test_export_refuses_broken_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("strategy: bad\nchannel: [\n", encoding="utf-8")
    with pytest.raises(DiagnosticError) as error:
        kbcsv.export_csv(tmp_path, tmp_path / "out.csv")
    assert error.value.diagnostics[0].code == "RP001"
    assert not (tmp_path / "out.csv").exists()


def test_unreadable_files_and_ragged_rows_are_reported(tmp_path):
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(tmp_path / "missing.csv", tmp_path / "strategies")
    assert problems(error) == [(None, None, "ST306")]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(latin, tmp_path / "strategies")
    assert problems(error) == [(None, None, "ST306")]
    ragged = write_csv(tmp_path / "ragged.csv", GOOD, "s_short,a,m\n",
                       header="strategy,reasons,reasons,measure,channel,maintainer,maintained_on\n")
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(ragged, tmp_path / "strategies")
    assert problems(error) == [(1, 3, "ST305"), (2, None, "ST304"), (3, None, "ST304")]
    ragged = write_csv(tmp_path / "ragged.csv", GOOD, "s_short,a,m\n")
    with pytest.raises(DiagnosticError) as error:
        kbcsv.import_csv(ragged, tmp_path / "strategies")
    assert problems(error) == [(3, None, "ST304")]
