"""The baseline recommenders of the offline harness and of the nightly gate: ``Popularity``, ``ItemKNN``
and ``ALS`` behind one interface.

``fit(train)`` then ``recommend(users, k[, exclude])`` -> (user_id, video_id, rank from 1), never an item
the user has in train nor, with ``exclude``, one of those (user_id, video_id) pairs. ``fit`` weighs each
train row by its ``confidence`` column when there is one (the gate fits popularity on the history's
positives), else each distinct (user, item) pair counts 1 (the harness's ratings). Users unknown at fit
time have no train items (cold) and get the popularity list from every baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.retrieval.als import AlsParams, fit_als
from models.retrieval.matrix import CONFIDENCE, build_user_items, isin_pairs
from models.retrieval.similarity import build_cowatch
from vidrec.tables import USER_ID, VIDEO_ID

BATCH_USERS = 2048
DENSE_CELLS = 1 << 22  # rows x items a tie fallback of ``top_popular`` scores at once


def top_k(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of each row's ``k`` best columns of dense ``scores`` in rank order, skipping the
    nonzeros of ``seen`` (same shape); rows with fewer unseen columns get fewer."""
    scores = scores.astype(np.float64, copy=True)
    r, c = seen.nonzero()
    scores[r, c] = -np.inf
    kk = min(k, scores.shape[1])
    if kk == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)  # score desc, then column asc
    cols = np.take_along_axis(part, order, axis=1)
    ok = np.isfinite(np.take_along_axis(part_scores, order, axis=1))
    rows = np.broadcast_to(np.arange(scores.shape[0])[:, None], cols.shape)
    return rows[ok], cols[ok]


def top_popular(popularity: np.ndarray, blocked: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``top_k`` gives for every row scoring ``popularity`` (rows x items blocked by the nonzeros of
    ``blocked``), without the dense rows x items matrix: only the global best k + (most blocked of a row)
    + 1 columns (score desc, column asc) are looked at. Where a row's k-th and (k+1)-th remaining columns
    tie, which of the tied columns ``top_k``'s partition keeps is no simple rule: such rows alone are
    scored densely by ``top_k`` (``DENSE_CELLS`` at a time), so the answer is the same."""
    n_rows, n_items = blocked.shape
    kk = min(k, n_items)
    if kk <= 0 or n_rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pop = np.asarray(popularity, np.float64)
    br, bc = blocked.nonzero()
    most = int(np.bincount(br, minlength=n_rows).max()) if len(br) else 0
    window = np.lexsort((np.arange(n_items), -pop))[:kk + most + 1]
    at = np.full(n_items, -1, np.int64)
    at[window] = np.arange(len(window))
    hit = at[bc] >= 0
    allowed = np.ones((n_rows, len(window)), bool)
    allowed[br[hit], at[bc[hit]]] = False
    place = np.cumsum(allowed, axis=1)
    last = (allowed & (place == kk)).argmax(axis=1)  # the k-th remaining column (any row with k of them)
    after = (allowed & (place == kk + 1)).argmax(axis=1)
    tied = np.flatnonzero((place[:, -1] > kk) & (pop[window[last]] == pop[window[after]]))
    r, j = np.nonzero(allowed & (place <= kk) & ~np.isin(np.arange(n_rows), tied)[:, None])
    rows, cols = [r], [window[j]]
    step = max(1, DENSE_CELLS // n_items)
    for start in range(0, len(tied), step):
        part = tied[start:start + step]
        tr, tc = top_k(np.broadcast_to(pop, (len(part), n_items)), blocked[part], kk)
        rows.append(part[tr])
        cols.append(tc)
    r, c = np.concatenate(rows), np.concatenate(cols)
    order = np.argsort(r, kind="stable")  # rows in order, each row's ranks kept
    return r[order], c[order]


class Recommender:
    """Base: ``fit`` builds the users x items train matrix and its IdMap (``models.retrieval.matrix``) and
    the items' popularity (summed weights); subclasses score users in ``_scores``."""

    name = "base"

    def fit(self, train: pd.DataFrame) -> "Recommender":
        self._numeric = {col: pd.api.types.is_numeric_dtype(train[col]) for col in (USER_ID, VIDEO_ID)}
        if CONFIDENCE in train.columns:
            pairs = train[[USER_ID, VIDEO_ID, CONFIDENCE]]
            self.user_items, self.idmap = build_user_items(pairs)
            weights = pairs.groupby(VIDEO_ID)[CONFIDENCE].sum()
            self.popularity = weights.reindex(self.idmap.videos).to_numpy(np.float64)
        else:
            pairs = train[[USER_ID, VIDEO_ID]].drop_duplicates().assign(**{CONFIDENCE: 1.0})
            self.user_items, self.idmap = build_user_items(pairs)
            self.popularity = np.asarray(self.user_items.sum(axis=0)).ravel()
        self._fit()
        return self

    def _fit(self) -> None:
        pass

    def _scores(self, rows: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def _seen(self, rows: np.ndarray) -> sp.csr_matrix:
        known = np.where(rows >= 0, rows, 0)
        seen = self.user_items[known].tocsr()
        return sp.diags((rows >= 0).astype(np.float32)) @ seen

    def _blocked(self, batch: np.ndarray, seen: sp.csr_matrix, exclude: pd.DataFrame | None) -> sp.csr_matrix:
        """``seen`` plus the ``exclude`` pairs of the batch's users (items unknown at fit time are left out)."""
        if exclude is None or exclude.empty:
            return seen
        u = pd.Index(batch).get_indexer(np.asarray(exclude[USER_ID], dtype=object))
        v = self.idmap.video_rows(exclude[VIDEO_ID])
        ok = (u >= 0) & (v >= 0)
        extra = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (u[ok], v[ok])), shape=seen.shape)
        return (seen + extra).tocsr()

    def recommend(self, users, k: int, exclude: pd.DataFrame | None = None) -> pd.DataFrame:
        """Top ``k`` (user_id, video_id, rank from 1) per user, excluding the user's train items and, with
        ``exclude``, its (user_id, video_id) pairs."""
        users = pd.unique(np.asarray(users, dtype=object))
        out = []
        for start in range(0, len(users), BATCH_USERS):
            batch = users[start:start + BATCH_USERS]
            rows = self.idmap.user_rows(batch)
            seen = self._seen(rows).tocsr()
            r, c = self._top_k(rows, seen, self._blocked(batch, seen, exclude), k)
            frame = pd.DataFrame({USER_ID: batch[r], VIDEO_ID: self.idmap.videos[c]})
            out.append(frame.assign(rank=frame.groupby(USER_ID, sort=False).cumcount() + 1))
        if not out:
            return pd.DataFrame({USER_ID: [], VIDEO_ID: [], "rank": []})
        return self._restore_dtypes(pd.concat(out, ignore_index=True))

    def _top_k(self, rows, seen, blocked, k):
        return top_k(self._scores(rows, seen), blocked, k)

    def _restore_dtypes(self, recs: pd.DataFrame) -> pd.DataFrame:
        """IdMap holds object arrays; give the id columns back a numeric dtype when train's ids were numbers."""
        for col in (USER_ID, VIDEO_ID):
            if not self._numeric[col]:
                continue
            try:
                recs[col] = pd.to_numeric(recs[col]) if len(recs) else recs[col]
            except (ValueError, TypeError):
                pass
        recs["rank"] = recs["rank"].astype(np.int64)
        return recs


class Popularity(Recommender):
    """The most-interacted (or most-weighted) train items the user has not seen, by ``top_popular`` (no dense
    users x items matrix). Ties rank the lower column (smaller id) first; which of several videos tied at
    the k-th place make the list is ``top_k``'s choice, as before the move."""

    name = "popularity"

    def _top_k(self, rows, seen, blocked, k):
        return top_popular(self.popularity, blocked, k)


@dataclass
class ItemKNN(Recommender):
    """Item-item cosine co-occurrence: score(u, j) = sum over the user's train items i of sim(i, j),
    each item keeping its ``neighbours`` most similar items (``models.retrieval.similarity.build_cowatch``).
    Ties and users without neighbour scores fall back to popularity (a 1e-9 tie-break)."""

    neighbours: int = 100
    name = "itemknn"

    def _fit(self):
        self.similarity = build_cowatch(self.user_items, self.neighbours).tocsr()

    def _scores(self, rows, seen):
        knn = np.asarray((seen @ self.similarity).todense(), dtype=np.float64)
        tie = self.popularity / max(self.popularity.max(), 1.0) * 1e-9
        return knn + tie


@dataclass
class ALS(Recommender):
    """implicit's ALS through ``models.retrieval.als.fit_als`` (CPU, seeded) on the binary train matrix; batch
    ``recommend`` with ``filter_already_liked_items=True`` (with ``exclude``: ``k`` + the most blocked items of
    a user are asked for and the excluded ones dropped). Users unknown at fit time (no factors) get the
    popularity list, as they do from ``Popularity`` and ``ItemKNN``."""

    params: AlsParams | None = None  # None: AlsParams() defaults
    seed: int = 42
    name = "als"

    def _fit(self):
        self.model = fit_als(self.user_items, self.params or AlsParams(), use_gpu=False, seed=self.seed)

    def _top_k(self, rows, seen, blocked, k):
        known, cold = np.flatnonzero(rows >= 0), np.flatnonzero(rows < 0)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        out_r, out_c = [], []
        if len(known):
            r, c = self._known_top_k(rows, known, blocked, k, extra=blocked is not seen)
            out_r.append(r)
            out_c.append(c)
        if len(cold):  # no factors for users unseen at fit time: popularity, as the other baselines do
            r, c = top_popular(self.popularity, blocked[cold], k)
            out_r.append(cold[r])
            out_c.append(c)
        r, c = np.concatenate(out_r), np.concatenate(out_c)
        order = np.argsort(r, kind="stable")  # users back in input order, ranks kept within each user
        return r[order], c[order]

    def _known_top_k(self, rows, known, blocked, k: int, *, extra: bool):
        """implicit's top ``k`` of the known users; with ``extra`` exclusions, enough more to drop them."""
        n = min(k + int(np.diff(blocked[known].indptr).max()), len(self.idmap.videos)) if extra else k
        ids, scores = self.model.recommend(rows[known], self.user_items[rows[known]], N=n,
                                           filter_already_liked_items=True)
        ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
        ok = (ids >= 0) & np.isfinite(scores) & (scores > -1e30)
        user = np.broadcast_to(np.arange(len(known))[:, None], ids.shape)
        if extra:
            br, bc = blocked[known].nonzero()
            ok &= ~isin_pairs(user.ravel(), ids.ravel(), br, bc).reshape(ids.shape)
            ok &= np.cumsum(ok, axis=1) <= k
        return known[user[ok]], ids[ok]
