"""Interactions in model form: confidence weights, the users x videos CSR with its IdMap, and History.

ALS learns from **positive** signal only: a watch weighs ``min(watch_fraction, WATCH_WEIGHT_CAP)``, a like
and a share their ``EVENT_WEIGHTS``; a (user, video) pair sums its events. Negative events (skip,
dislike, not_interested) are left out of the matrix on purpose: implicit's ALS reads a missing entry as
"preference 0 with confidence 1", which is already what a skip says, while a negative confidence would
push a video away harder than one skip deserves. Negatives act later instead: seen/not-interested
filtering (``History.excluded``, ``rerank``) and the ranker's labels. Impressions and clicks carry no
weight here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.io import day_end, shift_ds, window
from vidrec.tables import EVENT_TYPE, EVENT_WEIGHTS, TS, USER_ID, VIDEO_ID, WATCH_FRACTION, WATCH_WEIGHT_CAP

POSITIVE_EVENTS = ("watch", "like", "share")
NEGATIVE_EVENTS = ("skip", "dislike", "not_interested")
EXCLUDED_EVENTS = ("watch", "like", "share", "skip", "dislike", "not_interested")  # never recommended again
CONFIDENCE = "confidence"
INTERACTION_COLUMNS = [USER_ID, VIDEO_ID, EVENT_TYPE, TS, WATCH_FRACTION, "region", "ds"]
VIDEO_COLUMNS = [VIDEO_ID, "title", "creator_id", "category", "upload_ts"]


def confidence(interactions: pd.DataFrame) -> np.ndarray:
    """Per event: its ALS confidence (0 for everything but watch, like and share)."""
    kind = interactions[EVENT_TYPE].to_numpy()
    watch = np.clip(interactions[WATCH_FRACTION].fillna(0.0).to_numpy(float), 0.0, WATCH_WEIGHT_CAP)
    return np.select([kind == "watch", kind == "like", kind == "share"],
                     [watch, EVENT_WEIGHTS["like"], EVENT_WEIGHTS["share"]], 0.0)


def positives(interactions: pd.DataFrame) -> pd.DataFrame:
    """(user_id, video_id, confidence, last_ts): positive events summed per pair, sorted by pair."""
    frame = interactions[[USER_ID, VIDEO_ID, TS]].assign(**{CONFIDENCE: confidence(interactions)})
    frame = frame[frame[CONFIDENCE] > 0]
    return (frame.groupby([USER_ID, VIDEO_ID], sort=True)
            .agg(**{CONFIDENCE: (CONFIDENCE, "sum"), "last_ts": (TS, "max")}).reset_index())


@dataclass(frozen=True)
class IdMap:
    """External ids <-> matrix rows/columns: ``users[row]`` and ``videos[col]`` are the external ids."""

    users: np.ndarray
    videos: np.ndarray

    @cached_property
    def _user_index(self) -> pd.Index:
        return pd.Index(self.users)

    @cached_property
    def _video_index(self) -> pd.Index:
        return pd.Index(self.videos)

    def user_rows(self, ids) -> np.ndarray:
        """Row of each user id; -1 for ids the model has not seen."""
        return self._user_index.get_indexer(np.asarray(ids, dtype=object))

    def video_rows(self, ids) -> np.ndarray:
        return self._video_index.get_indexer(np.asarray(ids, dtype=object))

    def save(self, path: Path) -> None:
        np.savez(path, users=self.users.astype(str), videos=self.videos.astype(str))

    @classmethod
    def load(cls, path: Path) -> "IdMap":
        with np.load(path, allow_pickle=False) as data:
            return cls(users=data["users"].astype(object), videos=data["videos"].astype(object))


def build_user_items(pairs: pd.DataFrame, idmap: IdMap | None = None) -> tuple[sp.csr_matrix, IdMap]:
    """(user_id, video_id, confidence) rows -> users x videos CSR (float32, duplicates summed) + IdMap.

    Without ``idmap`` the ids are the sorted distinct ids of ``pairs``; with one, pairs whose user or
    video it does not know are dropped.
    """
    if idmap is None:
        idmap = IdMap(users=np.sort(pairs[USER_ID].unique()).astype(object),
                      videos=np.sort(pairs[VIDEO_ID].unique()).astype(object))
    rows, cols = idmap.user_rows(pairs[USER_ID]), idmap.video_rows(pairs[VIDEO_ID])
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix((pairs[CONFIDENCE].to_numpy(np.float32)[keep], (rows[keep], cols[keep])),
                           shape=(len(idmap.users), len(idmap.videos)), dtype=np.float32)
    matrix.sum_duplicates()
    return matrix, idmap


@dataclass
class History:
    """The interaction window of one as-of day, and the per-user aggregates retrieval and re-ranking read.

    ``interactions`` holds INTERACTION_COLUMNS for ``ds`` in the window (nothing after ``ds``);
    ``videos`` the catalog uploaded before the end of ``ds`` (VIDEO_COLUMNS); ``users`` user_id, region;
    ``exclusions`` (user_id, video_id, event_type) rows of EXCLUDED_EVENTS over a horizon that may be
    longer than the window (None: the window's own rows).
    """

    ds: str
    interactions: pd.DataFrame
    videos: pd.DataFrame
    users: pd.DataFrame
    active_days: int = 30
    exclusions: pd.DataFrame | None = None

    @cached_property
    def positives(self) -> pd.DataFrame:
        return positives(self.interactions)

    @cached_property
    def active_users(self) -> np.ndarray:
        """Users with any event in the last ``active_days`` days up to ``ds`` (sorted)."""
        recent = self.interactions[self.interactions["ds"] >= shift_ds(self.ds, -(self.active_days - 1))]
        return np.sort(recent[USER_ID].unique())

    def _excluding_rows(self) -> pd.DataFrame:
        rows = self.interactions if self.exclusions is None else self.exclusions
        return rows[rows[EVENT_TYPE].isin(EXCLUDED_EVENTS)]

    @cached_property
    def excluded(self) -> pd.DataFrame:
        """(user_id, video_id) never to recommend again: watched, liked, shared, skipped, disliked, not
        interested (a skip means the user saw it and passed; impressions and clicks alone do not count)."""
        return self._excluding_rows()[[USER_ID, VIDEO_ID]].drop_duplicates().reset_index(drop=True)

    @cached_property
    def blocked_creators(self) -> pd.DataFrame:
        """(user_id, creator_id) of every video the user marked not interested."""
        rows = self._excluding_rows()
        rows = rows[rows[EVENT_TYPE] == "not_interested"][[USER_ID, VIDEO_ID]]
        rows = rows.merge(self.videos[[VIDEO_ID, "creator_id"]], on=VIDEO_ID)
        return rows[[USER_ID, "creator_id"]].drop_duplicates().reset_index(drop=True)

    def recent_videos(self, n: int) -> pd.DataFrame:
        """(user_id, video_id, confidence, recency): each user's ``n`` latest positive videos, recency 0 = latest."""
        pos = self.positives.sort_values([USER_ID, "last_ts", VIDEO_ID], ascending=[True, False, True])
        pos = pos.assign(recency=pos.groupby(USER_ID).cumcount())
        return pos[pos["recency"] < n][[USER_ID, VIDEO_ID, CONFIDENCE, "recency"]].reset_index(drop=True)

    def affinity(self, column: str) -> pd.DataFrame:
        """(user_id, <column>, share): the user's share of positive confidence per catalog ``column``."""
        pos = self.positives.merge(self.videos[[VIDEO_ID, column]], on=VIDEO_ID)
        per = pos.groupby([USER_ID, column], sort=True)[CONFIDENCE].sum().rename("share").reset_index()
        per["share"] /= per.groupby(USER_ID)["share"].transform("sum")
        return per

    @cached_property
    def user_region(self) -> pd.Series:
        """user_id -> region: the users table, else the region of the user's latest event."""
        latest = self.interactions.sort_values(TS).drop_duplicates(USER_ID, keep="last").set_index(USER_ID)["region"]
        table = self.users.dropna(subset=["region"]).set_index(USER_ID)["region"]
        return table.combine_first(latest)

    def exposure(self, days: int) -> pd.Series:
        """video_id -> impressions in the last ``days`` days (videos never shown are absent)."""
        rows = self.interactions[(self.interactions["ds"] >= shift_ds(self.ds, -(days - 1)))
                                 & (self.interactions[EVENT_TYPE] == "impression")]
        return rows.groupby(VIDEO_ID).size()


def load_history(snapshot, ds: str, *, lookback_days: int, active_days: int,
                 exclusion_days: int | None = None) -> History:
    """History as of the end of ``ds`` from the lake (``snapshot`` is a models.io.LakeSnapshot); exclusions
    reach back ``exclusion_days`` (at least the window)."""
    inter = snapshot.read("interactions", INTERACTION_COLUMNS, window(ds, lookback_days))
    exclusions = None
    if exclusion_days is not None and exclusion_days > lookback_days:
        exclusions = snapshot.read("interactions", [USER_ID, VIDEO_ID, EVENT_TYPE], window(ds, exclusion_days),
                                   filters=[(EVENT_TYPE, "in", list(EXCLUDED_EVENTS))])
    videos = snapshot.read("videos", VIDEO_COLUMNS)
    videos = videos[videos["upload_ts"].isna() | (videos["upload_ts"] < day_end(ds))].reset_index(drop=True)
    users = snapshot.read("users", [USER_ID, "region"])
    return History(ds, inter.reset_index(drop=True), videos, users, active_days, exclusions)


def isin_pairs(a1, b1, a2, b2) -> np.ndarray:
    """For each pair (a1[i], b1[i]): is it one of the pairs (a2[j], b2[j]). Vectorized on integer codes."""
    n = len(a1)
    a, _ = pd.factorize(np.concatenate([np.asarray(a1, dtype=object), np.asarray(a2, dtype=object)]))
    b, levels = pd.factorize(np.concatenate([np.asarray(b1, dtype=object), np.asarray(b2, dtype=object)]))
    code = a.astype(np.int64) * max(len(levels), 1) + b
    return np.isin(code[:n], code[n:])


def group_order(group, score) -> np.ndarray:
    """Permutation sorting rows by integer ``group`` ascending, then ``score`` descending; ties keep the
    input order. Two stable integer argsorts instead of a multi-key lexsort."""
    n = len(score)
    by_score = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    rank = np.empty(n, np.int64)
    rank[by_score] = np.arange(n)
    return np.argsort(np.asarray(group, dtype=np.int64) * max(n, 1) + rank, kind="stable")


def rank_in_groups(sorted_groups: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal values (``sorted_groups`` is sorted)."""
    n = len(sorted_groups)
    starts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]] if n else np.zeros(0, bool)
    return np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0)) + 1


def top_per_row(matrix: sp.csr_matrix, m: int) -> sp.csr_matrix:
    """Keep the ``m`` largest entries of every row of a CSR matrix (ties: lower column first)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = group_order(rows, matrix.data)
    keep = np.sort(order[rank_in_groups(rows[order]) <= m])
    return sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)


def build_cowatch(user_items: sp.csr_matrix, neighbours: int, *, block: int = 4096) -> sp.csr_matrix:
    """Videos x videos co-watch similarity: ``n_ij / sqrt(n_i * n_j)`` over users with a positive on both.

    ``n_ij`` counts users with positives on both i and j (binary, whatever the confidence), ``n_i`` on i.
    The diagonal is dropped and each row keeps its ``neighbours`` best entries. Computed as the sparse
    product ``B^T B`` in row blocks of ``block`` videos, so memory stays bounded for large catalogs.
    """
    binary = user_items.tocsr().astype(bool).astype(np.float32)
    item_users = binary.T.tocsr()
    counts = np.asarray(binary.sum(axis=0)).ravel()
    norm = np.sqrt(np.maximum(counts, 1.0)).astype(np.float32)
    parts = []
    for start in range(0, item_users.shape[0], block):
        co = (item_users[start:start + block] @ binary).tocoo()
        off = co.row + start != co.col
        data = co.data[off] / (norm[co.row[off] + start] * norm[co.col[off]])
        part = sp.csr_matrix((data, (co.row[off], co.col[off])), shape=(co.shape[0], binary.shape[1]))
        parts.append(top_per_row(part, neighbours))
    if not parts:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.vstack(parts, format="csr").astype(np.float32)


def build_ease(user_items: sp.csr_matrix, neighbours: int, l2: float = 500.0) -> sp.csr_matrix:
    """Videos x videos EASE weights (Steck 2019): ``B = I - P diagMat(1 / diag(P))`` with
    ``P = (X^T X + l2 I)^-1`` over the binary matrix X, zero diagonal; each row keeps its ``neighbours``
    largest weights. Row i says how much watching video i adds to each other video.

    Dense in the catalog (items x items float64 and one inverse): for catalogs up to a few tens of
    thousands of videos; ``item_similarity`` falls back to ``build_cowatch`` above ``max_items``.
    """
    binary = user_items.tocsr().astype(bool).astype(np.float64)
    gram = (binary.T @ binary).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    weights = inverse / -np.diag(inverse)  # column j divided by -P_jj
    np.fill_diagonal(weights, 0.0)
    return top_per_row(sp.csr_matrix(weights.astype(np.float32)), neighbours)


def item_similarity(user_items: sp.csr_matrix, neighbours: int, method: str = "cosine", l2: float = 500.0,
                    max_items: int = 20_000) -> sp.csr_matrix:
    """The co-watch matrix retrieval uses: ``"ease"`` (``build_ease``) when the catalog has at most
    ``max_items`` videos, else (and for ``"cosine"``) ``build_cowatch``."""
    if method not in ("cosine", "ease"):
        raise ValueError(f"unknown co-watch method {method!r}: cosine or ease")
    if method == "ease" and 0 < user_items.shape[1] <= max_items:
        return build_ease(user_items, neighbours, l2)
    return build_cowatch(user_items, neighbours)
