"""Stage 2, facts: one fact per (subscriber, subscribed service). The field catalogue (`fields`),
the join index over msisdn/service/month (`keys`) and the vectorised fact builder with the one
row → record convention the rules see (`build`).

May import: engine.base, engine.store, engine.snapshot.
"""
