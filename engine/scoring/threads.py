"""One thread for the small scikit-learn fits and predictions of the scoring models.

`single_threaded` wraps a method so that it runs with OpenMP / BLAS thread pools limited to
one thread (threadpoolctl). Why: on the shared 2-core machine, HistGradientBoosting's OpenMP
threads spinning against each other (and against the other processes) made the fits 10-40x
slower — the stability model on 50k rows 7 min 50 s instead of ~45 s, the response model on
the loop's 5.5k decisions 203 s instead of 29 s. The results do not depend on the thread
count. Used by engine/scoring/stability.py (fit; and predict: a 1M base scored in one thread,
in blocks, took 24 s, against 31.5 s with the default threads) and engine/scoring/response.py
(fit and predict, which the night calls per fact and strategy).
"""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def single_threaded(method):
    """`method`, run with every native thread pool limited to one thread (module docstring)."""

    @functools.wraps(method)
    def run(*args, **kwargs):
        with threadpool_limits(limits=1):
            return method(*args, **kwargs)

    return run
