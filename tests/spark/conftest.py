"""One SparkSession (local[2]) for the session's Spark tests; stopped at the end."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    import engine.spark  # noqa: F401  (registers the "spark" engine with engine.night.run)
    from engine.spark.session import session, stop

    built = session("local[2]")
    yield built
    stop()
