"""Stage 1, the input snapshot (SPEC §2): the data contract (`contract`), cell typing (`cells`) and
the validating loader (`loader`) that turns a folder of CSV/Parquet tables into typed frames.

May import: engine.base, engine.store.
"""
