"""Everything that writes landing files: the seeded synthetic catalog and event stream
(synthetic_catalog, synthetic_events, with KuaiRand catalog statistics from kuairand) and MovieLens (movielens),
all written through landing_files (Arrow tables with the core's schemas, parquet or JSON lines, atomically).

May import only the core: vidrec.settings, vidrec.tables, vidrec.dates. Never vidrec.ops, spark_jobs,
models or serving. Stdlib-only at import time (numpy, pandas and pyarrow are imported inside functions).
"""
