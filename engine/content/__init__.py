"""Stage 4, the planners' content: YAML documents with positions (`documents`), JSON Schemas and
semantic checks (`checks_schema`, `checks_conditions`, `checks`), the field catalogue text
(`catalogue`), message templates (`messages`), the strategy knowledge base (`strategies`,
`strategies_csv`), lifecycle and approvals (`lifecycle`, `approvals`) and stored versions
(`history`).

May import: engine.base, engine.store, engine.snapshot, engine.facts.
"""
