"""Retrieval: from the interaction history to each user's candidate videos and each video's related ones.

Owns: ``history`` (confidence, positives, the as-of ``History``, ``excluded_rows``), ``matrix`` (IdMap,
the users x videos CSR, integer-sort helpers), ``similarity`` (co-watch cosine, EASE), ``als`` and
``ann_index`` (the ``train_als`` and ``build_index`` jobs), ``sources/`` (one module per candidate source:
als, cowatch, content, trending, fresh), ``fusion`` (reciprocal-rank fusion), ``params``
(CandidateParams), ``pair_features`` (seeds and the ranker's pair features) and ``candidates`` (the
``build_candidates`` job, related videos, retrieval as of a past day).

May import: ``models.io``, ``models.parameters``, ``models.manifest``, ``models.metrics`` and the vidrec core
only (never ranking, evaluation or publish).
"""
