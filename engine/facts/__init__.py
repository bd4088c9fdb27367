"""Stage 2, facts: one fact per (subscriber, subscribed service). The field catalogue (`fields`),
the one join index over msisdn/service/month (`keys`) and the vectorised fact builder — for the
whole base or a partition of its subscribers — with the one row → record convention the rules
see (`build`).

May import: engine.base, engine.store, engine.snapshot.
"""
