"""Features: interactions -> user_features, video_features and trending partitions, their gate, and Feast.

``windows`` (the as-of time and the 1/7/30-day windows every job shares), ``user_features``,
``video_features``, ``trending`` (one Delta table each, one ``ds`` partition per run), ``gate``
(``validate_features``: Great Expectations before anything reads a partition) and ``feast_jobs``
(``feast_apply``, ``materialize``), in the order the ``features_hourly`` DAG runs them. May import
``spark_jobs.lake``, ``spark_jobs.session``, ``spark_jobs.quality`` and the core; never ``spark_jobs.ingest``.
"""
