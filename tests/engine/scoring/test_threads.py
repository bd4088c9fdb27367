"""engine/scoring/threads.py: the models' fits and predictions run on one native thread."""

from __future__ import annotations

import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime HistGradientBoosting uses, before the limit)
from threadpoolctl import threadpool_info

from engine.scoring.threads import single_threaded


def _pools() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


def test_a_wrapped_method_sees_one_thread_per_pool_and_its_result_and_name_are_kept():
    class Model:
        @single_threaded
        def fit(self, x, *, scale=1):
            """Doc."""
            return _pools(), x * scale

    pools, result = Model().fit(3, scale=2)
    assert pools and set(pools) == {1} and result == 6
    assert Model.fit.__name__ == "fit" and Model.fit.__doc__ == "Doc."
