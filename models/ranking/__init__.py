"""Ranking: the ranker's labeled rows, the ranker, the business rules, and the lists serving reads.

Owns: ``training_set`` (the ``build_training_set`` job, labels, ``fetch_features``), ``features`` (Feast's
point-in-time ranker features), ``ranker`` (the ``train_ranker`` job, XGBoost LambdaMART), ``rerank``
(filters, creator diversity, exploration, reasons) and ``rank`` (the ``rank`` job: home, related,
trending and cold-start lists).

May import: ``models.retrieval``, ``models.io``, ``models.parameters``, ``models.manifest``, ``models.metrics``
and the vidrec core (never evaluation or publish).
"""
