"""The composition root: the `vidrec` command (cli), the local services, Airflow's environment, set-up checks
and `make demo` (demo, demo_api).

Owns starting and wiring processes: ``services`` holds what every child process needs (spawn, pidfiles,
``vidrec_command``, ``child_env``, ``wait_until``). May import everything: the core (vidrec.settings,
tables, dates, recstore, feast_config), vidrec.sources, spark_jobs, models and serving; nothing imports
it except tests, bench/ and dags/. Heavy stages (spark_jobs, models, pyspark...) are imported inside the
cli's subcommand functions, so `vidrec --help` stays instant.
"""
