"""The night on Spark (local[2]) against the local engine, on the session's shared generated
snapshot: the same decisions, reasons, strategies, channels, messages, trace payloads, channel
files and out-of-scope rows, and both hash chains verify; and a failed Spark job leaves no run.

The snapshot is read by Spark (here through a `file://` URI in local mode; HDFS and S3 are not
on this machine): the same typed tables and fingerprint as the local loader's, and a broken
snapshot fails with the local loader's diagnostics — the same codes, lines, columns and
messages, naming the URI — and leaves no run.

All Spark tests are in this one module: `make test` keeps a module on one xdist worker, so the
suite starts one SparkSession (a JVM and its Python workers), not one per module.

The local run is the session's shared stored run (tests/auditrun.py: the local engine, default
options). The Spark run cuts the base into three slices decided by two "workers" (Spark tasks),
so slices, their order and the per-worker grouping are exercised."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

import tracestore
from engine.base.diagnostics import DiagnosticError
from engine.night.channels import CHANNELS
from engine.night.run import RunOptions, run_night, snapshot_fingerprint
from engine.snapshot.loader import load_snapshot
from engine.spark.reading import read_snapshot
from engine.store.database import get_engine
from engine.store.read import all_out_of_scope
from engine.store.verify import verify_chain
from nightly_inputs import RULES, STRATEGIES


def _rows(db_url, sql, **params):
    with get_engine(db_url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _decisions(db_url, run_id):
    return _rows(db_url, "SELECT seq, msisdn, service, pack, decision, reason, arbitration, strategy, channel, message "
                         "FROM decision WHERE run_id = :r ORDER BY seq", r=run_id)


def _payloads(db_url, run_id):
    return [p.replace(run_id, "<run>") for p in tracestore.stored_payloads(db_url, run_id)]


def _spark_options(local, tmp_path, name="spark", **kw):
    # Spark reads the snapshot through a URI (engine/spark/reading.py), as from HDFS or S3 on a cluster.
    return RunOptions(data=f"file://{local.inputs.data}", as_of=local.inputs.as_of, db_url=f"sqlite:///{tmp_path / name}.db",
                      out=tmp_path / f"{name}-out", rules_dir=local.rules, strategies_dir=local.strategies,
                      models_dir=local.inputs.models, engine="spark", spark_master="local[2]", workers=2,
                      slice_size=1000, **kw)


def test_the_spark_night_decides_exactly_as_the_local_engine(stored_run_sqlite, spark, tmp_path, monkeypatch):
    local = stored_run_sqlite
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    # files over 256 KiB (subscribers, subscriptions, usage_monthly) are read in parts (engine/spark/chunked.py)
    monkeypatch.setenv("REKINDLE_SPARK_CHUNK_BYTES", str(256 << 10))
    parts = _parts_counted(monkeypatch)
    options = _spark_options(local, tmp_path)
    result = run_night(options)
    assert parts["usage_monthly.csv"] >= 8 and parts["subscribers.csv"] >= 2, parts
    mine, theirs = options.db_url, local.db_url

    assert result.facts == local.result.facts and result.decisions == local.result.decisions > 0
    assert result.funnel == local.result.funnel
    assert _decisions(mine, result.run_id) == _decisions(theirs, local.run_id)
    assert _payloads(mine, result.run_id) == _payloads(theirs, local.run_id)
    assert list(all_out_of_scope(result.run_id, mine)) == list(all_out_of_scope(local.run_id, theirs))
    for channel in CHANNELS:
        assert (options.out / f"{channel}.csv").read_bytes() == (local.out / f"{channel}.csv").read_bytes()
    same = ("SELECT status, facts, decisions, chain_count, funnel, model_versions, content_hashes, snapshot_fingerprint "
            "FROM run WHERE id = :r")
    assert _rows(mine, same, r=result.run_id) == _rows(theirs, same, r=local.run_id)
    for db, run_id in ((mine, result.run_id), (theirs, local.run_id)):
        verified = verify_chain(run_id, db)
        assert verified.ok, verified
    (settings,), = _rows(mine, "SELECT settings FROM run WHERE id = :r", r=result.run_id)
    assert json.loads(settings) == {"engine": "spark", "spark_master": "local[2]", "workers": 2, "slice_size": 1000}


@pytest.mark.parametrize("stage", ["snapshot", "decide"])
def test_a_failed_spark_job_leaves_no_run_and_names_its_stage(stored_run_sqlite, spark, tmp_path, monkeypatch, stage):
    from engine.spark.pool import SparkJobFailed

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    options = _spark_options(stored_run_sqlite, tmp_path, "failed")

    def progress(started: str) -> None:
        # From `stage` on, the executors cannot start Python (a cluster whose nodes lack the
        # configured interpreter): the stage's first Spark job fails.
        if started == stage:
            spark.conf.set("spark.sql.execution.pyspark.python", str(tmp_path / "no-such-python"))

    try:
        with pytest.raises(SparkJobFailed, match=f"the Spark job of the {stage} stage failed: .*no-such-python"):
            run_night(options, progress=progress)
    finally:
        spark.conf.unset("spark.sql.execution.pyspark.python")
    db = options.db_url
    assert _rows(db, "SELECT status FROM run") == [("failed",)]
    for table in ("decision", "trace", "out_of_scope", "trace_block", "out_of_scope_block"):
        assert _rows(db, f"SELECT count(*) FROM {table}") == [(0,)]
    assert not options.out.exists()
    assert [p for p in options.out.parent.iterdir() if p.name.startswith(options.out.name)] == []
    assert _rows(db, "SELECT count(*) FROM run_lock") == [(0,)]

def test_the_driver_heap_setting_reaches_the_jvm(spark):
    """The session's JVM was launched with REKINDLE_SPARK_DRIVER_MEMORY=3g (conftest.py), not local
    mode's 4g default: Spark's configuration says so and so does the JVM itself; and the JVM ends at
    an OutOfMemoryError (driver.py) instead of losing a thread and hanging a job."""
    assert spark.sparkContext.getConf().get("spark.driver.memory") == "3g"
    jvm = spark.sparkContext._jvm
    assert jvm.java.lang.Runtime.getRuntime().maxMemory() == 3 * 2**30
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert "-Xmx3g" in arguments and "-XX:+ExitOnOutOfMemoryError" in arguments, arguments


def _parts_counted(monkeypatch) -> dict[str, int]:
    """How many parts each file read in parts was read in (the real merge, observed)."""
    import engine.spark.reading as reading

    counted, merge = {}, reading.merge_parts

    def counting(name, file, parts, known=None):
        counted[file.rsplit("/", 1)[-1]] = len(parts)
        return merge(name, file, parts, known)

    monkeypatch.setattr(reading, "merge_parts", counting)
    return counted


def test_spark_reads_the_same_tables_as_the_local_loader(night_inputs, spark):
    snapshot, fingerprint = read_snapshot(spark, f"file://{night_inputs.data}")
    local = load_snapshot(night_inputs.data)
    assert list(snapshot.tables) == list(local.tables)
    for name, frame in local.tables.items():
        pd.testing.assert_frame_equal(snapshot.tables[name], frame, check_exact=True)
    assert fingerprint == snapshot_fingerprint(night_inputs.data)


def test_files_read_in_parts_give_the_local_loaders_tables(night_inputs, spark, tmp_path, monkeypatch):
    """CSV files cut by Spark's text reader at about 128 KiB (subscribers with CRLF line ends), a
    Parquet table in row groups: the local loader's frames and the local fingerprint."""
    folder = tmp_path / "snap"
    shutil.copytree(night_inputs.data, folder)
    subscribers = folder / "subscribers.csv"
    subscribers.write_bytes(subscribers.read_bytes().replace(b"\n", b"\r\n"))
    usage = pd.read_csv(folder / "usage_monthly.csv", dtype=str, keep_default_na=False)
    (folder / "usage_monthly.csv").unlink()
    table = pa.Table.from_pandas(usage, preserve_index=False)
    table = table.set_column(3, "uses", table.column("uses").cast(pa.int64()))
    pq.write_table(table, folder / "usage_monthly.parquet", row_group_size=10_000)
    parts = _parts_counted(monkeypatch)
    snapshot, fingerprint = read_snapshot(spark, f"file://{folder}", 128 << 10)
    assert parts["subscribers.csv"] >= 3 and parts["subscriptions.csv"] >= 4, parts
    assert parts["usage_monthly.parquet"] == pq.ParquetFile(folder / "usage_monthly.parquet").num_row_groups >= 5
    local = load_snapshot(folder)
    assert list(snapshot.tables) == list(local.tables)
    for name, frame in local.tables.items():
        pd.testing.assert_frame_equal(snapshot.tables[name], frame, check_exact=True)
    assert fingerprint == snapshot_fingerprint(folder)


def _line_at(data: bytes, offset: int) -> int:
    """The 0-based index of the line holding byte `offset`."""
    return data.count(b"\n", 0, offset)


def test_a_broken_file_read_in_parts_names_the_lines_a_local_run_names(night_inputs, spark, tmp_path, monkeypatch):
    """Read in parts of 128 KiB: a bad cell in the second part of usage_monthly, a key repeated in
    subscriptions' last part from its first, a quoted line break across a cut of contact_history
    (that file is read whole again), an msisdn missing from subscribers in a last part: the local
    loader's diagnostics, lines and order."""
    chunk = 128 << 10
    folder = tmp_path / "broken"
    shutil.copytree(night_inputs.data, folder)
    usage = (folder / "usage_monthly.csv").read_bytes().split(b"\n")
    at = _line_at(b"\n".join(usage), chunk + 5000)  # in the second part
    cells = usage[at].split(b",")
    cells[3] = b"many"
    usage[at] = b",".join(cells)
    (folder / "usage_monthly.csv").write_bytes(b"\n".join(usage))
    subscriptions = (folder / "subscriptions.csv").read_bytes().split(b"\n")
    subscriptions[-3] = subscriptions[12]
    (folder / "subscriptions.csv").write_bytes(b"\n".join(subscriptions))
    history = (folder / "contact_history.csv").read_bytes().split(b"\n")
    near = _line_at(b"\n".join(history), chunk - 100)  # its 4th cell starts before the cut at `chunk`
    cells = history[near].split(b",")
    cells[3] = b'"' + cells[3] + b"\n" * 300 + b'"'  # strategy: a quoted cell running over the cut
    history[near] = b",".join(cells)
    (folder / "contact_history.csv").write_bytes(b"\n".join(history))
    with pytest.raises(DiagnosticError) as local:
        load_snapshot(folder)
    parts = _parts_counted(monkeypatch)
    uri = f"file://{folder}"
    with pytest.raises(DiagnosticError) as spark_read:
        read_snapshot(spark, uri, chunk)
    found = _where(spark_read.value, uri)
    assert found == _where(local.value, str(folder))
    assert ("DC024", "<snapshot>/usage_monthly.csv", at + 1) in [d[:3] for d in found], found
    assert ("DC011", "<snapshot>/subscriptions.csv", len(subscriptions) - 2) in [d[:3] for d in found], found
    assert any(d[0] == "DC031" and d[1] == "<snapshot>/contact_history.csv" for d in found), found
    assert parts["usage_monthly.csv"] >= 15 and parts["subscriptions.csv"] >= 4, parts
    assert "contact_history.csv" not in parts  # read whole: its parts could not stand for its lines
    # an msisdn that is not a subscriber's, in the last part (the other tables left out: DC002)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(night_inputs.data / "subscribers.csv", alone)
    subscriptions = (night_inputs.data / "subscriptions.csv").read_bytes().split(b"\n")
    subscriptions[-3] = b"13999999999" + subscriptions[-3][11:]
    (alone / "subscriptions.csv").write_bytes(b"\n".join(subscriptions))
    with pytest.raises(DiagnosticError) as local:
        load_snapshot(alone)
    with pytest.raises(DiagnosticError) as spark_read:
        read_snapshot(spark, f"file://{alone}", chunk)
    found = _where(spark_read.value, f"file://{alone}")
    assert found == _where(local.value, str(alone))
    assert ("DC012", "<snapshot>/subscriptions.csv", len(subscriptions) - 2) in [d[:3] for d in found], found


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
