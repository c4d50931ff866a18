"""The ``cowatch`` source: the user's recent positive videos (the seeds, weighted by recency) x the co-watch
similarity of the history's positives, in one sparse product. The seed and co-watch matrices are also
what explains a candidate (``models.retrieval.pair_features.attach_seeds``) and related videos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.retrieval.fusion import source_frame
from models.retrieval.history import History, within_users
from models.retrieval.matrix import IdMap, build_user_items, top_of_product
from models.retrieval.params import CandidateParams
from models.retrieval.similarity import item_similarity
from vidrec.tables import USER_ID, VIDEO_ID


def seed_matrix(history: History, idmap: IdMap, params: CandidateParams, users) -> sp.csr_matrix:
    """Users x videos weights of each user's recent positive videos (decay ** recency); row i = users[i]."""
    recent = within_users(history.recent_videos(params.recent_videos), users)
    u = pd.Index(users).get_indexer(recent[USER_ID])
    v = idmap.video_rows(recent[VIDEO_ID])
    ok = (u >= 0) & (v >= 0)
    w = params.recency_decay ** recent["recency"].to_numpy(float)[ok]
    return sp.csr_matrix((w, (u[ok], v[ok])), shape=(len(users), len(idmap.videos)), dtype=np.float32)


def cowatch_matrix(history: History, idmap: IdMap, params: CandidateParams, neighbours: int) -> sp.csr_matrix:
    """Videos x videos co-watch weights over the history's positives (``params.cowatch_method``)."""
    user_items = build_user_items(history.positives, idmap)[0]
    return item_similarity(user_items, neighbours, params.cowatch_method, params.ease_l2)


def cowatch_source(seeds: sp.csr_matrix, cowatch: sp.csr_matrix, codes: np.ndarray, k: int) -> pd.DataFrame:
    """Per user (row of ``seeds``): sum over recent seeds s of weight(s) * cowatch(s, v); top ``k`` videos
    (``codes``: the catalog code of each ALS video, the columns of both matrices)."""
    scores = top_of_product(seeds, cowatch, k).tocoo()
    return source_frame(scores.row, codes[scores.col], scores.data)
