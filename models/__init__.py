"""The batch model stages of the nightly run, on pandas/numpy (no Spark), and the offline harness.

Owns: ``io`` (lake reads through delta-rs, the run folder ``runs/<ds>``, atomic artifact writers) and
``parameters`` (the one parameters file the nightly and ``vidrec eval`` read) and ``workers`` (a job's chunks
of users in forked processes, on all cores) at the bottom; ``manifest``
(the run's manifest.json) and ``metrics`` (offline ranking metrics) above them;
``retrieval`` (history, ALS, index, candidate sources, fusion), ``ranking`` (training set, ranker,
re-ranking, the served lists), ``evaluation`` (the nightly gate, the offline harness and its baselines);
``publish`` (the gated lists to Redis).

Layers, each importing only those below it: io/parameters/workers <- manifest/metrics <- retrieval <- ranking <-
evaluation; ``publish`` imports only io/manifest. Every module may import the vidrec core (vidrec.settings,
vidrec.tables, vidrec.dates, vidrec.recstore, vidrec.feast_config); nothing here imports spark_jobs,
serving, vidrec.ops or vidrec.sources.
"""
