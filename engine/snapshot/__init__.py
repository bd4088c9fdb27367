"""Stage 1, the input snapshot (SPEC §2): the data contract (`contract`), reading CSV (`csvfile`)
and Parquet (`parquetfile`) into raw Arrow tables (`raw`), cell typing (`cells`), the compact
in-memory dtypes (`compact`) and the validating loader (`loader`) that turns a folder of
CSV/Parquet tables into typed frames without Python objects.

May import: engine.base, engine.store.
"""
