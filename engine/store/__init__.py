"""The database: engine and sessions (`database`), tables (`tables`, `approval`), the hash chain
(`chain`), the run's write side (`write`: lock, one-transaction commit) and its read side (`read`).

May import: engine.base.
"""
