"""Personal lists for the users who first appeared after the nightly run (the hourly layer's ``folded`` lists).

Their positive events since the nightly's day are folded into the nightly's ALS space
(``models.retrieval.als.fold_in_users``: ALS's own user step with the item factors fixed, no retraining),
the nearest videos come from the nightly's ScaNN index, and ``rerank`` makes them a list like every other:
what the user watched or rejected left out, creator limits, the reason "because you watched <their latest
video>", source ``als``. Users the ALS model knows, or who were active before the nightly's day, keep the
nightly's list; a user whose videos are all unknown to the model (uploaded since) gets none.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.ranking.rank import HOME, catalog_columns
from models.ranking.rerank import RerankParams, explain, rerank
from models.retrieval.als import fold_in_users, load_als
from models.retrieval.ann_index import load_index
from models.retrieval.history import History, exclusion_sets
from models.retrieval.matrix import CONFIDENCE
from vidrec.tables import USER_ID, VIDEO_ID


def new_users(hist: History, since: str, known: np.ndarray) -> np.ndarray:
    """The users (sorted) whose first event in ``hist`` is after day ``since`` and whose row in ``known`` (the
    ALS user rows of ``hist``'s users, -1 when unknown) is -1."""
    first = hist.interactions.groupby(USER_ID, sort=True)["ds"].min()
    return first.index.to_numpy()[(first.to_numpy() > since) & (known < 0)]


def new_user_lists(hist: History, run_dir: Path, since: str, rp: RerankParams) -> pd.DataFrame:
    """(user_id, rank, video_id, score, reason, source) for the users new since day ``since``, from the ALS
    model and index of the nightly run in ``run_dir``."""
    model, idmap = load_als(run_dir / "als")
    users = np.sort(hist.interactions[USER_ID].unique())
    users = new_users(hist, since, idmap.user_rows(users))
    pos = hist.positives[hist.positives[USER_ID].isin(users)]
    cols = idmap.video_rows(pos[VIDEO_ID])
    pos, cols = pos[cols >= 0], cols[cols >= 0]
    if not len(pos):
        return pd.DataFrame(columns=HOME)
    users, row = np.unique(pos[USER_ID].to_numpy(), return_inverse=True)
    matrix = sp.csr_matrix((pos[CONFIDENCE].to_numpy(np.float32), (row, cols)),
                           shape=(len(users), model.item_factors.shape[0]))
    index = load_index(run_dir / "index")
    k = min(index.n_items, 2 * (rp.topn + rp.spare))
    found, scores = index.search(fold_in_users(model, matrix), k)
    ok = found >= 0
    latest = pos.sort_values("last_ts").groupby(USER_ID)[VIDEO_ID].last()
    rows = pd.DataFrame({USER_ID: np.repeat(users, k).reshape(found.shape)[ok], VIDEO_ID: idmap.videos[found[ok]],
                         "score": scores[ok], "source": "als"})
    rows["seed_video_id"] = rows[USER_ID].map(latest).to_numpy()
    rows = catalog_columns(rows[hist.video_codes(rows[VIDEO_ID]) >= 0], hist, seed="seed_video_id")
    excluded, blocked = exclusion_sets(hist, users)
    out = rerank(rows, replace(rp, exploration_share=0.0), excluded=excluded, blocked=blocked)
    out["reason"] = explain(out)
    return out[HOME]
