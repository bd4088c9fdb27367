"""The driver's SparkSession: one per process, created on first use (pyspark imported lazily).

PySpark is an optional extra: without it `--engine spark` stops with a diagnostic saying how to
install it. The session reads its master from `--spark-master` (default `local[*]`); anything
else a cluster needs (executor memory and count, queues, the Python of the executors, S3/HDFS
connectors) comes from Spark's own configuration — `spark-defaults.conf` in `$SPARK_CONF_DIR`
or `PYSPARK_SUBMIT_ARGS` — as for any PySpark job (docs/SPARK.md). Settings made here:
- the executors' Python is the driver's (`PYSPARK_PYTHON`, unless set): in local mode the
  executors then see the same installed engine;
- the executors' Python daemon is engine.spark.daemon (PySpark's, with the engine imported
  before it forks the workers: a fresh worker's first task no longer imports it);
- `spark.ui.enabled=false` and no console progress bars (a batch job), few shuffle partitions (a night has a
  few hundred slices at most), Arrow batches of one record (a record is a whole slice);
- the driver JVM's launch settings (engine/spark/driver.py): its heap — REKINDLE_SPARK_DRIVER_MEMORY,
  PYSPARK_SUBMIT_ARGS or spark-defaults.conf, else 4g in local mode — checked before the JVM
  starts, and `-XX:+ExitOnOutOfMemoryError`, so a driver OOM fails the job instead of hanging it.
  On a cluster the driver's JVM holds one slice's rows and the next one's: give it about 1 GB
  per 50,000 subscribers of `--slice-size` (docs/SPARK.md).
"""

from __future__ import annotations

import os
import sys

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.spark.driver import launch_settings

NO_PYSPARK = "SP001"
INSTALL_HINT = "install the spark extra: pip install -e '.[spark]'"

# The executors' Python daemon imports the engine once, before forking its workers (engine/spark/daemon.py).
DAEMON = "engine.spark.daemon"

_SESSION: dict = {}


def pyspark_module():
    """The pyspark module, or a DiagnosticError saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise DiagnosticError([Diagnostic(NO_PYSPARK, "--engine spark needs PySpark, which is not installed",
                                          hint=INSTALL_HINT)]) from None
    return pyspark


def session(master: str = "local[*]", conf: dict[str, str] | None = None):
    """The process's SparkSession on `master` (created once; a later call with another master
    stops the first). `conf`: more Spark settings for the session when it is created (the
    tests' JVM flags: tests/spark/conftest.py)."""
    pyspark_module()
    from pyspark.sql import SparkSession

    found = _SESSION.get("session")
    if found is not None and _ended(found):
        _forget(found)  # its JVM ended (a failed night: engine/spark/watchdog.py); a new one is launched
        found = None
    if found is not None and _SESSION.get("master") == master and found.sparkContext._jsc is not None:
        return found
    if found is not None:
        found.stop()
    launch = launch_settings(master, conf)  # checked before a JVM starts (SP003)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in {**(conf or {}), **launch}.items():
        builder = builder.config(key, value)
    built = (builder.master(master).appName("rekindle-night")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1")
             .config("spark.driver.maxResultSize", "0")
             .config("spark.python.daemon.module", DAEMON)
             .getOrCreate())
    built.sparkContext.setLogLevel("ERROR")
    _SESSION.update(session=built, master=master)
    return built


def _ended(found) -> bool:
    """Whether the JVM of `found` (launched by this process) has ended."""
    from engine.spark.watchdog import jvm_process

    process = jvm_process(found)
    return process is not None and process.poll() is not None


def _forget(found) -> None:
    """Drop PySpark's process-wide state of a session whose JVM has ended: `stop()` would call
    into the dead JVM, and `getOrCreate` would hand the dead session back."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    server = getattr(found.sparkContext, "_accumulatorServer", None)
    if server is not None:
        server.shutdown()  # the Python side's accumulator server thread
    SparkContext._active_spark_context = None
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    _SESSION.clear()


def stop() -> None:
    """Stop the process's session (tests and benchmarks; a CLI run ends with its process)."""
    found = _SESSION.pop("session", None)
    _SESSION.pop("master", None)
    if found is not None:
        found.stop()
