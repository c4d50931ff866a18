"""Business rules on scored candidates: filtering, creator diversity, exploration slots, explanations.

Pure functions on pandas frames. Filtering and explanations are vectorized; ordering is a per-user loop
over at most a few hundred items, linear in the items placed (a heap of per-creator queues: each slot
pops at most ``creator_window`` blocked creators).

Rules, per user, on ``items`` (user_id, video_id, score, source, creator_id, ...):

1. drop videos the user watched, liked, shared, disliked or marked not interested (``excluded`` pairs)
   and every video of a creator the user marked not interested (``blocked`` pairs;
   ``models.retrieval.history.excluded_rows``);
2. order by score, greedily: a video may take the next slot only if its creator is not the previous
   slot's creator and has fewer than ``creator_max_per_window`` videos among the previous
   ``creator_window - 1`` slots (so every window of ``creator_window`` consecutive items holds at most
   ``creator_max_per_window`` of one creator). When no remaining video fits, the list ends there;
3. ``round(exploration_share * topn)`` of the first ``topn`` slots, at positions drawn per user from
   ``default_rng([seed, crc32(user_id)])`` (never the first ``explore_after`` slots), go to the best
   remaining video of the user's exploration pool (fresh, under-exposed); such items get source
   ``explore``. Spare items (``topn`` .. ``topn + spare``) follow the same rules without exploration;
4. ``reason``: "because you watched <title>" (als/cowatch with a seed video), "trending in <region>"
   ("trending worldwide" for the global list),
   "new from <creator>" (fresh, explore), "popular in <category>" (content, and als/cowatch without a seed).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.ranking.ordering import order_users
from models.retrieval.history import excluded_rows
from models.retrieval.matrix import PairSet, group_order
from vidrec.settings import Settings
from vidrec.tables import GLOBAL_REGION, USER_ID, VIDEO_ID

EXPLORE = "explore"


@dataclass(frozen=True)
class RerankParams:
    topn: int = 100
    spare: int = 50
    creator_max_per_window: int = 2
    creator_window: int = 10
    exploration_share: float = 0.1
    explore_after: int = 3
    seed: int = 42

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "RerankParams":
        return cls(topn=settings.topn, creator_max_per_window=settings.creator_max_per_window,
                   creator_window=settings.creator_window, exploration_share=settings.exploration_share,
                   seed=settings.seed, **overrides)

    @property
    def explore_slots(self) -> int:
        return int(round(self.exploration_share * self.topn))


def creator_window_ok(creators, max_per_window: int, window: int) -> bool:
    """True when no creator appears twice in a row nor more than ``max_per_window`` times in any
    ``window`` consecutive positions (the rule ``order_user`` enforces)."""
    creators = list(creators)
    if any(a == b for a, b in zip(creators, creators[1:])):
        return False
    return all(max(Counter(creators[i:i + window]).values()) <= max_per_window
               for i in range(max(1, len(creators) - window + 1)) if creators[i:i + window])


def explore_positions(user_id: str, params: RerankParams) -> set[int]:
    """The 0-based slots of ``user_id``'s list reserved for exploration (deterministic per user and seed)."""
    n, lo = params.explore_slots, min(params.explore_after, params.topn)
    if n <= 0 or params.topn - lo <= 0:
        return set()
    rng = np.random.default_rng([params.seed, zlib.crc32(str(user_id).encode())])
    return set((rng.choice(params.topn - lo, size=min(n, params.topn - lo), replace=False) + lo).tolist())


def order_user(ids: list, creators: list, explore_ids: list, explore_creators: list, slots: set[int],
               n_out: int, max_per_window: int, window: int) -> list[tuple[int, bool]]:
    """Order one user's items: [(index, from_explore)] of at most ``n_out`` slots (see module rules).
    ``ids``/``creators`` are the main items best first; ``explore_*`` the exploration pool best first."""
    vids, vlevels = pd.factorize(pd.Series([*ids, *explore_ids], dtype=object), use_na_sentinel=False)
    cre, _ = pd.factorize(pd.Series([*creators, *explore_creators], dtype=object), use_na_sentinel=False)
    n, m = len(ids), len(explore_ids)
    mask = np.zeros((1, n_out), bool)
    mask[0, [p for p in slots if p < n_out]] = True
    _, row, pool, _ = order_users([0], [n], vids[:n], cre[:n], [0], [m], vids[n:], cre[n:], mask, n_out,
                                  max_per_window, window)
    return list(zip(row.tolist(), pool.tolist()))


def _order(frame: pd.DataFrame, excluded, blocked, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the rows of ``frame`` that ``excluded_rows`` keeps, sorted by key, then score descending,
    then video_id; their keys' codes, in key order): integer sorts, no string comparisons, no frame copied."""
    keep = np.flatnonzero(~excluded_rows(frame, excluded, blocked, key))
    pre = keep[np.argsort(pd.factorize(frame[VIDEO_ID].to_numpy()[keep], sort=True)[0], kind="stable")]
    groups = pd.factorize(frame[key].to_numpy()[pre], sort=True)[0]
    order = group_order(groups, frame["score"].to_numpy(float)[pre])
    return pre[order], groups[order]


def _taken(frame: pd.DataFrame, positions: np.ndarray, **columns) -> pd.DataFrame:
    """Rows ``positions`` of ``frame`` (one copy), indexed from 0, with ``columns`` set."""
    out = frame.take(positions)
    out.index = pd.RangeIndex(len(out))
    for name, values in columns.items():
        out[name] = values
    return out


def _pool_bounds(keys: np.ndarray, pool_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, stop) of each of ``keys``' rows in ``pool_keys`` (sorted by key); empty ranges where absent."""
    if not len(pool_keys):
        return np.zeros(len(keys), np.int64), np.zeros(len(keys), np.int64)
    return np.searchsorted(pool_keys, keys, "left"), np.searchsorted(pool_keys, keys, "right")


def rerank(items: pd.DataFrame, params: RerankParams, *, excluded: pd.DataFrame | PairSet | None = None,
           blocked: pd.DataFrame | PairSet | None = None, explore: pd.DataFrame | None = None,
           key: str = USER_ID) -> pd.DataFrame:
    """Per ``key``: filtered, diversified list of at most ``topn + spare`` rows with ``rank`` from 1.

    ``items`` and ``explore`` need key, video_id, score, creator_id (items also ``source``); all their
    other columns are carried through. Exploration items get ``source`` = "explore".
    """
    main, codes = _order(items, excluded, blocked, key)
    explore = items.iloc[:0] if explore is None else explore
    pool = _order(explore, excluded, blocked, key)[0] if len(explore) else np.zeros(0, np.int64)
    n_main, n_out = len(main), params.topn + params.spare
    vids, _ = pd.factorize(np.concatenate([items[VIDEO_ID].to_numpy()[main], explore[VIDEO_ID].to_numpy()[pool]]),
                           use_na_sentinel=False)
    cre, _ = pd.factorize(np.concatenate([items["creator_id"].to_numpy()[main],
                                          explore["creator_id"].to_numpy()[pool]]), use_na_sentinel=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if n_main else np.zeros(0, np.int64)
    stops = np.append(starts[1:], n_main).astype(np.int64)
    keys = items[key].to_numpy()[main[starts]]
    pstarts, pstops = _pool_bounds(keys, explore[key].to_numpy()[pool])
    slots = np.zeros((len(keys), n_out), bool)
    for u in np.flatnonzero(pstops > pstarts):
        slots[u, [p for p in explore_positions(keys[u], params) if p < n_out]] = True
    _, row, from_pool, rank = order_users(starts, stops, vids[:n_main], cre[:n_main], pstarts, pstops,
                                          vids[n_main:], cre[n_main:], slots, n_out,
                                          params.creator_max_per_window, params.creator_window)
    # order_users places each key's items slot by slot, keys in order: its output is already (key, rank)
    out = _taken(items, main[row[~from_pool]])
    if from_pool.any():
        extra = _taken(explore, pool[row[from_pool]], source=EXPLORE)
        at = np.where(from_pool, len(out) + np.cumsum(from_pool) - 1, np.cumsum(~from_pool) - 1)
        out = _taken(pd.concat([out, extra], ignore_index=True), at)
    out["rank"] = rank
    return out


def explain(frame: pd.DataFrame) -> pd.Series:
    """The reason shown with each item, from ``source`` and ``seed_title``, ``trend_region``,
    ``creator_id``, ``category`` (missing columns read as empty)."""
    col = {c: frame[c] if c in frame.columns else pd.Series(None, index=frame.index, dtype=object)
           for c in ("source", "seed_title", "trend_region", "creator_id", "category")}
    src = col["source"].astype(object)
    region = col["trend_region"].where(col["trend_region"] != GLOBAL_REGION)
    kind = np.select(
        [src.isin(["als", "cowatch", "text"]).to_numpy() & col["seed_title"].notna().to_numpy(),
         (src == "trending").to_numpy() & region.notna().to_numpy(),
         (src == "trending").to_numpy(),
         src.isin(["fresh", EXPLORE]).to_numpy() & col["creator_id"].notna().to_numpy()], [0, 1, 2, 3], default=4)
    texts = [lambda at: "because you watched " + col["seed_title"][at].astype(str),
             lambda at: "trending in " + region[at].astype(str),
             lambda at: "trending worldwide",
             lambda at: "new from " + col["creator_id"][at].astype(str),
             lambda at: "popular in " + col["category"][at].fillna("your feed").astype(str)]
    reason = np.empty(len(frame), dtype=object)
    for k, text in enumerate(texts):  # each reason built for its own rows only
        at = kind == k
        if at.any():
            made = text(at)
            reason[at] = made if isinstance(made, str) else made.to_numpy()
    return pd.Series(reason, index=frame.index, dtype=object)
