"""Stage 6, the nightly run (SPEC §7): prepare the fact frame (`prepare`), partitions decided in
worker processes (`partition`, `decider`, `workers`), holdouts (`holdout`), arbitration under caps
and capacities (`arbitrate`), the funnel (`funnel`), trace payloads (`trace`), channel files
(`channels`) and the run itself (`run`).

May import: every stage before it (base, store, snapshot, facts, scoring, content, rules).
"""
