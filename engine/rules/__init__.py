"""Stage 5, evaluating the packs: condition reading (`conditions`, and `vector` for whole frames),
the compiler onto durable_rules data (`compiler`), the engine boundary (`rete`, the only module
that imports durable_rules), per-fact decisions with a trace (`decide`) and rule-test cases
(`cases`).

May import: engine.base, engine.store, engine.snapshot, engine.facts, engine.scoring, engine.content.
"""
