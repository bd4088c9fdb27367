"""The database: engine and sessions (`database`), tables (`tables`, `approval`), the hash chain
(`chain`), the run's write side (`write`: lock, one-transaction commit) and its read side (`read`,
reading SQLite with the standard library through `lite`).

May import: engine.base.
"""
