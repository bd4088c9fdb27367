"""The night on Apache Spark (`rekindle run --engine spark`; docs/SPARK.md).

Importing this package registers the "spark" snapshot reader (READERS: the snapshot read by
Spark from a path or URI, engine/spark/reading.py) and decide-stage pool (POOLS) with
engine.night.run: run.py's stages stay the local engine's, the snapshot is read and validated
by Spark executors with the local loader's code, and the slices of the base are decided by Spark
executors running the same Python code (engine/spark/pool.py, executor.py, shipping.py).
Only this package imports pyspark, lazily: without the extra, `--engine spark` stops with
"install the spark extra: pip install -e '.[spark]'" (engine/spark/session.py).
"""

from __future__ import annotations

from engine.night.run import POOLS, READERS


def require() -> None:
    """Raise a DiagnosticError saying how to install PySpark when it is missing."""
    from engine.spark.session import pyspark_module

    pyspark_module()


def spark_pool(options, owner, snapshot, slices, scores, ctx, content, compiled):
    """The decide-stage pool run.py uses for `--engine spark` (engine.spark.pool.SparkPool)."""
    require()  # a clear diagnostic before anything imports pyspark
    from engine.spark.pool import SparkPool

    return SparkPool(options, owner, snapshot, slices, scores, ctx, content, compiled)


def spark_snapshot(options):
    """The snapshot reader run.py uses for `--engine spark`: (Snapshot, fingerprint), read by
    Spark from `--data` (a path or any URI the cluster reads: engine/spark/reading.py)."""
    require()
    from engine.spark.chunked import chunk_bytes
    from engine.spark.reading import read_snapshot
    from engine.spark.session import session
    from engine.spark.watchdog import stall_seconds, watched

    chunk = chunk_bytes()  # REKINDLE_SPARK_CHUNK_BYTES checked before a JVM starts
    stall = stall_seconds()  # and REKINDLE_SPARK_STALL_SECONDS
    spark = session(options.spark_master)
    with watched(spark, "snapshot", stall):  # a dead or stalled JVM fails the stage (engine/spark/watchdog.py)
        return read_snapshot(spark, options.data, chunk)


POOLS["spark"] = spark_pool
READERS["spark"] = spark_snapshot
