"""Issue 14 item 3: the snapshot of a Spark night read by Spark (here through a `file://` URI in
local mode; HDFS and S3 are not on this machine): the same typed tables and fingerprint as the
local loader's, and a broken snapshot fails with the local loader's diagnostics — the same
codes, lines, columns and messages, naming the URI — and leaves no run."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from sqlalchemy import text

from engine.base.diagnostics import DiagnosticError
from engine.night.run import RunOptions, run_night, snapshot_fingerprint
from engine.snapshot.loader import load_snapshot
from engine.spark.reading import read_snapshot
from engine.store.database import get_engine
from nightly_inputs import RULES, STRATEGIES


def test_spark_reads_the_same_tables_as_the_local_loader(night_inputs, spark):
    snapshot, fingerprint = read_snapshot(spark, f"file://{night_inputs.data}")
    local = load_snapshot(night_inputs.data)
    assert list(snapshot.tables) == list(local.tables)
    for name, frame in local.tables.items():
        pd.testing.assert_frame_equal(snapshot.tables[name], frame, check_exact=True)
    assert fingerprint == snapshot_fingerprint(night_inputs.data)


def _break(folder):
    """Three problems the local loader finds at known places: a bad number (usage_monthly line 5),
    an msisdn that is not a subscriber's (subscriptions line 10: checked against the subscribers
    table, which another task read), a required table missing."""
    usage = folder / "usage_monthly.csv"
    lines = usage.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").replace('"', "").split(",")
    cells = lines[4].rstrip("\n").split(",")
    cells[header.index("uses")] = "many"
    lines[4] = ",".join(cells) + "\n"
    usage.write_text("".join(lines), encoding="utf-8")
    subscriptions = folder / "subscriptions.csv"
    lines = subscriptions.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[9].split(",", 1)  # msisdn is the first column
    lines[9] = "13999999999," + cells[1]
    subscriptions.write_text("".join(lines), encoding="utf-8")
    (folder / "handset_changes.csv").unlink()


def _where(error: DiagnosticError, folder: str) -> list[tuple]:
    return [(d.code, d.file.replace(folder, "<snapshot>"), d.line, d.column, d.path,
             d.message.replace(folder, "<snapshot>"), d.hint.replace(folder, "<snapshot>"))
            for d in error.diagnostics]


def test_a_broken_snapshot_fails_as_in_a_local_run_and_leaves_no_run(night_inputs, spark, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "broken"
    shutil.copytree(night_inputs.data, folder)
    _break(folder)
    with pytest.raises(DiagnosticError) as local:
        load_snapshot(folder)
    uri = f"file://{folder}"
    options = RunOptions(data=uri, as_of=night_inputs.as_of, db_url=f"sqlite:///{tmp_path / 'x.db'}",
                         out=tmp_path / "out", rules_dir=RULES, strategies_dir=STRATEGIES,
                         models_dir=night_inputs.models, engine="spark", spark_master="local[2]", workers=2)
    with pytest.raises(DiagnosticError) as spark_run:
        run_night(options)
    found = _where(spark_run.value, uri)
    assert found == _where(local.value, str(folder))
    codes = {d[0] for d in found}
    assert {"DC002", "DC012"} <= codes and len(found) >= 3, found
    assert any(d[1] == "<snapshot>/usage_monthly.csv" and d[2] == 5 for d in found), found
    assert any(d[0] == "DC012" and d[1] == "<snapshot>/subscriptions.csv" and d[2] == 10 for d in found), found
    with get_engine(options.db_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM run")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM run_lock")).scalar() == 0
    assert not options.out.exists()


def test_a_folder_spark_cannot_find_is_named(spark, tmp_path):
    with pytest.raises(DiagnosticError, match="DC000.*snapshot folder 'file:///no/such/folder' does not exist"):
        read_snapshot(spark, "file:///no/such/folder")
