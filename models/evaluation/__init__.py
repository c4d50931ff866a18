"""Evaluation: the nightly gate and the offline harness behind ``vidrec eval``.

Owns: ``gate`` (the ``evaluate`` job: holdout metrics and the publish gate), ``baselines`` (Popularity,
ItemKNN, ALS: the gate's and the harness's baselines), ``harness`` (splits by protocol, the comparison
table), ``two_stage`` (the nightly retrieval and ranker behind the harness's interface), ``splits``,
``datasets`` (MovieLens and CSV loaders) and ``tuning`` (the parameter search; ``models/tuned/``).

May import: ``models.ranking``, ``models.retrieval``, ``models.io``, ``models.manifest``,
``models.metrics`` and the vidrec core (never publish).
"""
