"""Evaluation: the nightly gate and the offline harness behind ``vidrec eval``.

Owns: ``gate`` (the ``evaluate`` job: holdout metrics and the publish gate), ``baselines`` (Popularity,
ItemKNN, ALS: the gate's and the harness's baselines), ``harness`` (splits by protocol, the comparison
table), ``two_stage`` (the nightly retrieval and ranker behind the harness's interface), ``splits``,
``datasets`` (MovieLens and CSV loaders), ``tuning`` (the parameter search; ``models/tuned/``) and
``lake_tuning`` (the weekly ``tune_params`` job: the parameters file re-tuned on the lake).

May import: ``models.ranking``, ``models.retrieval``, ``models.io``, ``models.parameters``, ``models.manifest``,
``models.metrics`` and the vidrec core (never publish).
"""
