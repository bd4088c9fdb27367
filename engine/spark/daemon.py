"""The executors' Python daemon: PySpark's own (pyspark.daemon), with the engine imported first.

Spark starts one Python daemon per executor and forks a Python worker from it for each task
slot (`spark.python.worker.reuse`: a worker then serves task after task). Each fresh worker
used to import pandas, pyarrow, scikit-learn, skops, durable_rules and the engine on its first
task — seconds per worker, paid by every night's first tasks on every executor. Importing them
once in the daemon, before it forks, hands every worker a process that has them already
(copy-on-write pages, shared). session.py sets `spark.python.daemon.module` to this module; it
changes no result, only when the imports happen. The engine is fork-safe here for the reason
the local night's forked workers are: nothing it imports starts threads or opens connections
at import time.
"""

from __future__ import annotations

import engine.night.slicerun  # noqa: F401  (facts, segments, durable_rules through Partition)
import engine.rules.rete  # noqa: F401
import engine.scoring.artefacts  # noqa: F401  (skops)
import engine.scoring.response  # noqa: F401  (scikit-learn: the response model's classes)
import engine.spark.executor  # noqa: F401
import engine.spark.reading  # noqa: F401
from pyspark.daemon import manager

if __name__ == "__main__":
    manager()
