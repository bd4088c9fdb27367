"""Stage 3, scores (SPEC §4): AHP weights, data-service sensitivity, stability (churn risk), value,
the retention grid, and model artefacts that load without executing code.

Import the module you need (`engine.scoring.scoring`, `engine.scoring.training`, …): this package
does not import scikit-learn on its own, so readers of stored runs stay fast.

May import: engine.base, engine.store, engine.snapshot, engine.facts.
"""
