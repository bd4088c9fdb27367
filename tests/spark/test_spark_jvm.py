"""A Spark night whose driver JVM runs out of memory, or whose job makes no progress, fails
naming its stage and leaves no run — and does not hang.

Each night runs as `rekindle run --engine spark` in its own process (its own JVM: a JVM that
ran out of memory, or a task stuck for good, would take the session's shared one with it),
under a timeout: a regression (a night that hangs again) fails the test instead of hanging the
suite. The process group is killed at the end either way, so no JVM or executor outlives it.

- Out of memory: the driver's heap set to 512m (REKINDLE_SPARK_DRIVER_MEMORY, Spark's
  minimum is 450m) and a usage_monthly.csv of ~600 MB read as one record — a table that cannot
  fit. The JVM must end at its OutOfMemoryError (exit code 3: -XX:+ExitOnOutOfMemoryError, set
  by engine/spark/driver.py) and the night fail as a failed snapshot job.
- No progress: the executors' Python is an interpreter that never answers (a node whose Python
  hangs, e.g. on a stuck network mount), REKINDLE_SPARK_STALL_SECONDS=3: the job's first task
  never starts, the watchdog (engine/spark/watchdog.py) cancels it, the night fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from sqlalchemy import text

from engine.store.database import get_engine
from nightly_inputs import RULES, STRATEGIES

LIMIT = 240  # seconds a failing night may take here (JVM start included) before the test fails
# The tests' JVM: C1 JIT only, as tests/spark/conftest.py's session (a short-lived JVM starts faster).
TEST_JVM = "--conf spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 pyspark-shell"


def _night(night_inputs, tmp_path, data, **env) -> tuple[subprocess.CompletedProcess, float, str, object]:
    """`rekindle run --engine spark` in its own process group under LIMIT; (result, seconds, db, out)."""
    db, out = f"sqlite:///{tmp_path / 'night.db'}", tmp_path / "out"
    command = [sys.executable, "-m", "cli.main", "run", "--data", f"file://{data}",
               "--as-of", night_inputs.as_of.isoformat(), "--db", db, "--out", str(out), "--rules", str(RULES),
               "--strategies", str(STRATEGIES), "--engine", "spark", "--spark-master", "local[2]", "--workers", "2",
               "--slice-size", "1000"]
    shutil.copytree(night_inputs.models, tmp_path / "home" / "models")  # the night's models, as a local run's
    environment = {**os.environ, "REKINDLE_HOME": str(tmp_path / "home"), "PYSPARK_SUBMIT_ARGS": TEST_JVM, **env}
    started = time.monotonic()
    # Output to files, not pipes: the night ends when its process does (the JVM, its child, may
    # take longer to shut down after a stall, holding inherited pipes open; it is killed below).
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(command, env=environment, stdout=stdout, stderr=stderr, text=True,
                                   start_new_session=True)
        try:
            process.wait(timeout=LIMIT)
            ended = ""
        except subprocess.TimeoutExpired:
            ended = f"the night did not end within {LIMIT} s"
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the JVM and the executors' processes, whatever happened
            except ProcessLookupError:
                pass
            process.wait()
    seconds = time.monotonic() - started
    stdout, stderr = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text() + ended
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return result, seconds, db, out


def _rows(db_url, sql):
    with get_engine(db_url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _left_no_run(db, out) -> str:
    """The failed run row's error, after checking nothing else of the night is visible."""
    (status, error), = _rows(db, "SELECT status, error FROM run")
    assert status == "failed"
    for table in ("decision", "trace", "out_of_scope", "trace_block", "out_of_scope_block", "run_lock"):
        assert _rows(db, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert not out.exists()
    assert [p for p in out.parent.iterdir() if p.name.startswith(out.name)] == []
    return error


def test_a_driver_out_of_memory_fails_the_snapshot_stage_instead_of_hanging(night_inputs, tmp_path):
    data = tmp_path / "snap"
    shutil.copytree(night_inputs.data, data)
    usage = (data / "usage_monthly.csv").read_bytes()
    header, body = usage.split(b"\n", 1)
    with open(data / "usage_monthly.csv", "wb") as handle:  # ~600 MB: more than the whole 512m heap
        handle.write(header + b"\n")
        for _ in range(600 * 2**20 // len(body) + 1):
            handle.write(body)
    try:
        result, seconds, db, out = _night(night_inputs, tmp_path, data, REKINDLE_SPARK_DRIVER_MEMORY="512m",
                                          REKINDLE_SPARK_CHUNK_BYTES=str(2**31 - 1))  # the file as one record
    finally:
        (data / "usage_monthly.csv").unlink()  # pytest keeps the last sessions' folders: not 600 MB each
    assert "did not end" not in result.stderr, result.stderr
    assert result.returncode == 4, result.stderr[-3000:]  # environment (engine/base/exitcodes.py), not a bug
    assert "error: the Spark job of the snapshot stage failed: the driver's JVM ended" in result.stderr
    error = _left_no_run(db, out)
    assert error.startswith("SparkJobFailed: the Spark job of the snapshot stage failed: the driver's JVM ended "
                            "with exit code 3 (out of memory: -XX:+ExitOnOutOfMemoryError)"), (error, result.stderr[-3000:])
    assert "spark.driver.memory=512m" in error
    print(f"out of memory: the night failed in {seconds:.1f} s")


def test_a_job_without_progress_fails_its_stage_after_the_stall_time(night_inputs, tmp_path):
    hanging = tmp_path / "hanging-python"
    hanging.write_text("#!/bin/sh\nexec sleep 600\n")  # never answers Spark (the process group is killed after)
    hanging.chmod(0o755)
    result, seconds, db, out = _night(night_inputs, tmp_path, night_inputs.data, PYSPARK_PYTHON=str(hanging),
                                      REKINDLE_SPARK_STALL_SECONDS="3")
    assert "did not end" not in result.stderr, result.stderr
    assert result.returncode == 4, result.stderr[-3000:]
    assert "error: the Spark job of the snapshot stage failed: no progress for 3 s" in result.stderr
    error = _left_no_run(db, out)
    assert error.startswith("SparkJobFailed: the Spark job of the snapshot stage failed: no progress for 3 s "
                            "(REKINDLE_SPARK_STALL_SECONDS"), (error, result.stderr[-3000:])
    print(f"no progress: the night failed in {seconds:.1f} s")


SCRIPT = """
import json, sys
from engine.spark.session import session, stop
from engine.spark.watchdog import SparkJobFailed, watched
spark = session("local[1]")
process = spark.sparkContext._gateway.proc
process.kill()  # the driver's JVM ends under a night (the kernel's OOM killer, a person)
process.wait()
try:
    with watched(spark, "decide"):
        spark.range(5).count()
    failed = None
except SparkJobFailed as error:
    failed = [str(error), getattr(error, "exit_code", None)]
again = session("local[1]")  # the process's next night launches a new JVM instead of reusing the dead one
print(json.dumps({"failed": failed, "new": again is not spark, "count": again.range(7).count()}))
stop()
"""


def test_a_killed_jvm_fails_the_stage_and_the_next_session_starts_a_new_one(tmp_path):
    import json

    with open(tmp_path / "stdout", "w") as stdout:
        process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=stdout, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "PYSPARK_SUBMIT_ARGS": TEST_JVM}, start_new_session=True)
        try:
            process.wait(timeout=LIMIT)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    found = json.loads((tmp_path / "stdout").read_text().strip().splitlines()[-1])
    assert found == {"failed": ["the Spark job of the decide stage failed: the driver's JVM ended with exit code -9 "
                                "(killed (SIGKILL: the kernel's OOM killer, or a person))", 4],
                     "new": True, "count": 7}
