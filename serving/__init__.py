"""The API stage: reads published lists from Redis, applies the real-time overlay, takes events in.

``app`` (the Starlette app and its lifespan) -> ``feeds`` / ``events`` (the handlers) -> ``context``
(``Services``: what handlers share) -> ``overlay`` (Feast real-time state), ``event_log`` (landing files),
``schemas`` (request parsing, OpenAPI). May import the ``vidrec`` core (settings, recstore, feast_config),
starlette, redis, feast and pandas; never spark_jobs, models, vidrec.ops, vidrec.sources, pyspark, implicit,
xgboost, scann or great_expectations (import-linter contract in setup.cfg).
"""
