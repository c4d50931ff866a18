"""The candidate sources of retrieval, one module each: ``als``, ``cowatch``, ``content``, ``trending``,
``fresh``. Each turns a ``models.retrieval.history.History`` (and the ALS model, index or co-watch matrix
it needs) into (user_id, video_id, score) rows (``models.retrieval.fusion.source_frame``);
``models.retrieval.candidates`` fuses them.

May import: the rest of ``models.retrieval`` below candidates (history, matrix, similarity, fusion,
params), ``models.io``, and the vidrec core. Never ``models.retrieval.candidates`` (it imports these).
"""
