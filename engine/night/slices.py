"""The partition function of a night: contiguous ranges of the msisdn-sorted subscribers.

A night processes the base a slice at a time, so a worker's memory depends on the slice size
and not on the size of the base. Slice k holds the subscribers of ranks [k·size, (k+1)·size) in
msisdn order, and the facts of slice k are built from their rows of every table only
(`engine.facts.build.build_facts(subscribers=…)`, through the snapshot's join index, which the
parent builds once before the workers are forked so they share it). Facts, segments, scopes and
rule outcomes are per subscriber, so deciding a slice needs only its own rows; what is base-wide
(the scores' percentile ranks and quantile tiers, channel capacities) is computed once over the
whole base (scores) or done by the parent on compact candidates (arbitration). Because the
slices are ranges of the sort order, the rows of slice k all sort before those of slice k+1: the
run's hash chain (rows in msisdn, service order) is the slices' rows one after the other, with
no merge.
"""

from __future__ import annotations

from dataclasses import dataclass

# Subscribers per slice. A worker holds one slice's facts and rows at a time: at 1M subscribers
# slices of 12,500 kept the decide and rows stages at 1,784 and 1,584 MB (tree PSS, 2 workers)
# where slices of 50,000 took 2,029 and 2,097 MB, for about the same CPU (docs/SCALE.md).
DEFAULT_SIZE = 12_500


@dataclass(frozen=True)
class Slices:
    """`count` ranges of subscriber ranks of at most `size` each, covering 0..subscribers."""

    subscribers: int
    size: int
    count: int

    def ranks(self, k: int) -> slice:
        """Slice k's subscriber ranks (msisdn order), for build_facts(subscribers=…)."""
        return slice(k * self.size, min((k + 1) * self.size, self.subscribers))


def plan_slices(snapshot, size: int = DEFAULT_SIZE, at_least: int = 1) -> Slices:
    """Slices of at most `size` subscribers, and at least `at_least` of them while there are
    subscribers enough (so every worker has one). Builds the snapshot's join index (kept in its
    cache) and groups every table's rows by subscriber, so forked workers share both."""
    from engine.facts.keys import join_index

    join = join_index(snapshot)
    for name, frame in snapshot.tables.items():
        if "msisdn" in frame.columns:
            join.rows(name, join.select(slice(0, 0)))  # groups the table's rows now, in the parent
    return slices_of(join.size, size, at_least)


def slices_of(subscribers: int, size: int = DEFAULT_SIZE, at_least: int = 1) -> Slices:
    """The slice plan of a base of `subscribers` (`plan_slices`, without a snapshot in hand)."""
    n = int(subscribers)
    size = max(1, min(int(size), -(-n // max(int(at_least), 1)) if n else 1))
    return Slices(n, size, max(1, -(-n // size)))
