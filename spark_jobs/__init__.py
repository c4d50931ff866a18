"""Spark jobs: the batch stages that read and write the lake with PySpark (they run unchanged on a cluster).

Owns: ``session`` (the only SparkSession builder), ``lake``/``lake_base``/``native_lake`` (Delta tables:
the delta-rs bridge, or delta-spark where its jars exist), ``quality`` (Great Expectations rules shared by
the ingest gate and the feature gate), and the stages ``ingest/`` and ``features/``.

May import: the core (``vidrec.settings``, ``vidrec.tables``, ``vidrec.dates``, ``vidrec.feast_config``),
pyspark, deltalake, great_expectations, feast. Never ``models``, ``serving``, ``vidrec.ops`` or
``vidrec.sources`` (import-linter's layers contract in setup.cfg).
"""
