"""One SparkSession (local[2]) for the session's Spark tests; stopped at the end.

All Spark tests live in one module (tests/spark/test_spark_night.py), so `make test`'s
--dist loadscope keeps them on one xdist worker and the suite starts one JVM. The JVM runs
with the C1 JIT only (-XX:TieredStopAtLevel=1): a test session's JVM lives a minute or two
and moves bytes between Python processes, so a fast warm-up matters more than peak speed
(the usual setting for Spark's own test suites; a night's session keeps Spark's defaults).
"""

from __future__ import annotations

import pytest

TEST_JVM = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


@pytest.fixture(scope="session")
def spark():
    import engine.spark  # noqa: F401  (registers the "spark" engine with engine.night.run)
    from engine.spark.session import session, stop

    built = session("local[2]", TEST_JVM)
    yield built
    stop()
