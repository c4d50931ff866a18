"""Ingest: landing files -> validated Delta tables (events, videos, users, interactions, quarantine).

``landing`` finds and checks landing files and stages a batch, ``batch`` validates and commits it
(``vidrec ingest --step land|validate|commit``, the ``ingest_hourly`` DAG), ``interactions`` derives the
interactions table from accepted events. May import ``spark_jobs.lake``, ``spark_jobs.session``,
``spark_jobs.quality`` and the core; never ``spark_jobs.features``.
"""
