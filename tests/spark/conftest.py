"""One SparkSession (local[2]) for the session's Spark tests; stopped at the end.

All Spark tests live in one module (tests/spark/test_spark_night.py), so `make test`'s
--dist loadscope keeps them on one xdist worker and the suite starts one JVM. The JVM runs
with the C1 JIT only (-XX:TieredStopAtLevel=1): a test session's JVM lives a minute or two
and moves bytes between Python processes, so a fast warm-up matters more than peak speed
(the usual setting for Spark's own test suites; a night's session keeps Spark's defaults).
Its heap is set as an operator sets it, through REKINDLE_SPARK_DRIVER_MEMORY (TEST_HEAP, below
local mode's 4g default, so reading it back shows the setting reached the JVM).
"""

from __future__ import annotations

import os

import pytest

TEST_JVM = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
TEST_HEAP = "3g"


@pytest.fixture(scope="session")
def spark():
    import engine.spark  # noqa: F401  (registers the "spark" engine with engine.night.run)
    from engine.spark.session import session, stop

    from engine.spark.driver import MEMORY_ENV

    saved = os.environ.get(MEMORY_ENV)
    os.environ[MEMORY_ENV] = TEST_HEAP  # read when the JVM is launched only
    try:
        built = session("local[2]", TEST_JVM)
    finally:
        if saved is None:
            os.environ.pop(MEMORY_ENV)
        else:
            os.environ[MEMORY_ENV] = saved
    yield built
    stop()
