"""What a user did, as models read it: confidence weights, positives, and ``History`` (one as-of day).

ALS learns from **positive** signal only: a watch weighs ``min(watch_fraction, WATCH_WEIGHT_CAP)``, a like
and a share their ``EVENT_WEIGHTS``; a (user, video) pair sums its events. Negative events (skip,
dislike, not_interested) are left out of the matrix on purpose: implicit's ALS reads a missing entry as
"preference 0 with confidence 1", which is already what a skip says, while a negative confidence would
push a video away harder than one skip deserves. Negatives act later instead: seen/not-interested
filtering (``History.excluded``, ``rerank``) and the ranker's labels. Impressions and clicks carry no
weight here.

``excluded_rows`` is the one filter that marks excluded (key, video) pairs and blocked (key, creator)
pairs in any list (re-ranking of home, related and cold-start lists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from models.retrieval.matrix import CONFIDENCE, PairSet, isin_pairs, top_per_group
from vidrec import dates
from vidrec.tables import EVENT_TYPE, EVENT_WEIGHTS, TS, USER_ID, VIDEO_ID, WATCH_FRACTION, WATCH_WEIGHT_CAP

POSITIVE_EVENTS = ("watch", "like", "share")
NEGATIVE_EVENTS = ("skip", "dislike", "not_interested")
EXCLUDED_EVENTS = ("watch", "like", "share", "skip", "dislike", "not_interested")  # never recommended again
INTERACTION_COLUMNS = [USER_ID, VIDEO_ID, EVENT_TYPE, TS, WATCH_FRACTION, "region", "ds"]
VIDEO_COLUMNS = [VIDEO_ID, "title", "creator_id", "category", "upload_ts", "tags"]


def confidence(interactions: pd.DataFrame) -> np.ndarray:
    """Per event: its ALS confidence (0 for everything but watch, like and share)."""
    codes, kinds = pd.factorize(interactions[EVENT_TYPE].to_numpy())  # code -1 (missing) reads the last entry
    per_kind = [EVENT_WEIGHTS[k] if k in ("like", "share") else 0.0 for k in kinds]
    weight = np.array(per_kind + [0.0])[codes]
    watch = np.append(np.asarray(kinds, dtype=object) == "watch", False)[codes]
    fraction = np.nan_to_num(interactions[WATCH_FRACTION].to_numpy(float)[watch], nan=0.0)
    weight[watch] = np.clip(fraction, 0.0, WATCH_WEIGHT_CAP)
    return weight


def positives(interactions: pd.DataFrame) -> pd.DataFrame:
    """(user_id, video_id, confidence, last_ts): positive events summed per pair, sorted by pair.

    Pairs are grouped on integer codes (the ids factorized in sorted order), not on the id strings."""
    weight = confidence(interactions)
    rows = np.flatnonzero(weight > 0)
    u, users = pd.factorize(interactions[USER_ID].to_numpy()[rows], sort=True)
    v, videos = pd.factorize(interactions[VIDEO_ID].to_numpy()[rows], sort=True)
    pair = u.astype(np.int64) * len(videos) + v
    order = np.argsort(pair, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(pair[order]) != 0])[:len(order)]
    rows, first = rows[order], order[starts]
    ts = interactions[TS]
    if not len(rows):
        return pd.DataFrame({USER_ID: users, VIDEO_ID: videos, CONFIDENCE: np.zeros(0), "last_ts": ts.iloc[:0]})
    return pd.DataFrame({
        USER_ID: np.asarray(users, dtype=object)[u[first]],
        VIDEO_ID: np.asarray(videos, dtype=object)[v[first]],
        CONFIDENCE: np.add.reduceat(weight[rows], starts),
        "last_ts": _datetimes(np.maximum.reduceat(ts.array.asi8[rows], starts), ts.dtype)})


def _datetimes(values: np.ndarray, dtype) -> pd.Series:
    """int64 ``values`` (``asi8`` of a datetime column of ``dtype``) as datetimes of that dtype."""
    unit = np.datetime_data(getattr(dtype, "base", dtype))[0]
    naive = pd.Series(values.view(f"datetime64[{unit}]"))
    return naive.dt.tz_localize(dtype.tz) if getattr(dtype, "tz", None) else naive


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
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _focus: pd.Index | None = field(default=None, init=False, repr=False, compare=False)

    def _memoized(self, key: tuple, make):
        """``make()`` once per key (per-user aggregates are read by every chunk of users; never mutate them)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def focus(self, users) -> "History":
        """From now on compute the per-user aggregates (recent videos, affinities, exclusions, regions,
        activity) for ``users`` only: each user's rows are what they would be unfocused, other users have
        none. What is global (positives, active users, video aggregates) is unchanged. The training set
        samples 10k of ~150k users per label day; it need not aggregate the others. Returns self."""
        self._focus = pd.Index(pd.unique(np.asarray(users, dtype=object)), dtype=object)
        self._memo.clear()
        for name in _PER_USER:
            self.__dict__.pop(name, None)
        return self

    def _of_focus(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s rows of the focused users (all rows when unfocused)."""
        return frame if self._focus is None else frame[frame[USER_ID].isin(self._focus)]

    @cached_property
    def positives(self) -> pd.DataFrame:
        return positives(self.interactions)

    @cached_property
    def active_users(self) -> np.ndarray:
        """Users with any event in the last ``active_days`` days up to ``ds`` (sorted)."""
        recent = self.interactions[self.interactions["ds"] >= dates.shift_ds(self.ds, -(self.active_days - 1))]
        return np.sort(recent[USER_ID].unique())

    def _excluding_rows(self) -> pd.DataFrame:
        rows = self._of_focus(self.interactions if self.exclusions is None else self.exclusions)
        return rows[rows[EVENT_TYPE].isin(EXCLUDED_EVENTS)]

    @cached_property
    def excluded(self) -> pd.DataFrame:
        """(user_id, video_id) never to recommend again: watched, liked, shared, skipped, disliked, not
        interested (a skip means the user saw it and passed; impressions and clicks alone do not count).
        Sorted by user (``within_users``)."""
        pairs = self._excluding_rows()[[USER_ID, VIDEO_ID]].drop_duplicates()
        return pairs.sort_values(USER_ID, kind="stable", ignore_index=True)

    @cached_property
    def blocked_creators(self) -> pd.DataFrame:
        """(user_id, creator_id) of every video the user marked not interested, sorted by user."""
        rows = self._excluding_rows()
        rows = rows[rows[EVENT_TYPE] == "not_interested"][[USER_ID, VIDEO_ID]]
        rows = rows.merge(self.videos[[VIDEO_ID, "creator_id"]], on=VIDEO_ID)
        return rows[[USER_ID, "creator_id"]].drop_duplicates().sort_values(USER_ID, kind="stable", ignore_index=True)

    def recent_videos(self, n: int) -> pd.DataFrame:
        """(user_id, video_id, confidence, recency): each user's ``n`` latest positive videos, recency 0 = latest."""
        return self._memoized(("recent", n), lambda: self._recent_videos(n))

    def _recent_videos(self, n: int) -> pd.DataFrame:
        pos = self._of_focus(self.positives).sort_values([USER_ID, "last_ts", VIDEO_ID], ascending=[True, False, True])
        pos = pos.assign(recency=pos.groupby(USER_ID).cumcount())
        return pos[pos["recency"] < n][[USER_ID, VIDEO_ID, CONFIDENCE, "recency"]].reset_index(drop=True)

    def affinity(self, column: str) -> pd.DataFrame:
        """(user_id, <column>, share): the user's share of positive confidence per catalog ``column``."""
        return self._memoized(("affinity", column), lambda: self._affinity(column))

    def _affinity(self, column: str) -> pd.DataFrame:
        pos = self._of_focus(self.positives).merge(self.videos[[VIDEO_ID, column]], on=VIDEO_ID)
        per = pos.groupby([USER_ID, column], sort=True)[CONFIDENCE].sum().rename("share").reset_index()
        per["share"] /= per.groupby(USER_ID)["share"].transform("sum")
        return per

    def rejections(self, column: str) -> pd.DataFrame:
        """(user_id, <column>, count): how many videos with each ``column`` value the user marked not
        interested or disliked."""
        return self._memoized(("rejections", column), lambda: self._rejections(column))

    def _rejections(self, column: str) -> pd.DataFrame:
        rows = self._excluding_rows()
        rows = rows[rows[EVENT_TYPE].isin(["not_interested", "dislike"])][[USER_ID, VIDEO_ID]].drop_duplicates()
        rows = rows.merge(self.videos[[VIDEO_ID, column]], on=VIDEO_ID)
        return rows.groupby([USER_ID, column], sort=True).size().rename("count").reset_index()

    def top_affinity(self, column: str, n: int) -> pd.DataFrame:
        """(user_id, <column>, share): each user's ``n`` largest shares of ``affinity(column)`` (ties: the
        smaller value of ``column``)."""
        return self._memoized(("top", column, n),
                              lambda: top_per_group(self.affinity(column), USER_ID, "share", n, tiebreak=column))

    @cached_property
    def _code_order(self) -> np.ndarray:
        return np.argsort(self.videos[VIDEO_ID].to_numpy(dtype=object), kind="stable")

    @cached_property
    def video_ids(self) -> np.ndarray:
        """The as-of catalog's video ids, sorted. A video's *code* is its position here: retrieval's sources
        work on codes (integers that sort like the ids) and the ids come back once, for the kept rows."""
        return self.videos[VIDEO_ID].to_numpy(dtype=object)[self._code_order]

    @cached_property
    def _code_index(self) -> pd.Index:
        return pd.Index(self.video_ids, dtype=object)

    def video_codes(self, ids) -> np.ndarray:
        """The code of each of ``ids`` (-1: not in the as-of catalog)."""
        return self._code_index.get_indexer(np.asarray(ids, dtype=object))

    def by_code(self, column: str) -> np.ndarray:
        """The catalog's ``column`` (of ``videos``) in code order: ``by_code(c)[code]`` is the video's value."""
        return self.videos[column].to_numpy()[self._code_order]

    @cached_property
    def user_activity(self) -> pd.DataFrame:
        """Per user_id (index): ``positives`` (positive videos) and ``last_ts`` (latest positive)."""
        return self._of_focus(self.positives).groupby(USER_ID).agg(positives=(VIDEO_ID, "size"),
                                                                   last_ts=("last_ts", "max"))

    @cached_property
    def video_first_ts(self) -> pd.Series:
        """video_id -> the first ``last_ts`` among its positive pairs in the window."""
        return self.positives.groupby(VIDEO_ID)["last_ts"].min()

    @cached_property
    def user_region(self) -> pd.Series:
        """user_id -> region: the users table, else the region of the user's latest event."""
        rows = self._of_focus(self.interactions)[[USER_ID, TS, "region"]]  # the columns it reads, not all of them
        latest = rows.sort_values(TS).drop_duplicates(USER_ID, keep="last").set_index(USER_ID)["region"]
        table = self._of_focus(self.users).dropna(subset=["region"]).set_index(USER_ID)["region"]
        return table.combine_first(latest)

    def exposure(self, days: int) -> pd.Series:
        """video_id -> impressions in the last ``days`` days (videos never shown are absent)."""
        rows = self.interactions[(self.interactions["ds"] >= dates.shift_ds(self.ds, -(days - 1)))
                                 & (self.interactions[EVENT_TYPE] == "impression")]
        return rows.groupby(VIDEO_ID).size()


_PER_USER = ("excluded", "blocked_creators", "user_activity", "user_region")  # cached per-user aggregates


def load_history(snapshot, ds: str, *, lookback_days: int, active_days: int,
                 exclusion_days: int | None = None) -> History:
    """History as of the end of ``ds`` from the lake (``snapshot`` is a models.io.LakeSnapshot); exclusions
    reach back ``exclusion_days`` (at least the window)."""
    return next(load_histories(snapshot, [ds], lookback_days=lookback_days, active_days=active_days,
                               exclusion_days=exclusion_days))


def load_histories(snapshot, days: list[str], *, lookback_days: int, active_days: int,
                   exclusion_days: int | None = None):
    """``load_history`` of each of ``days`` in turn, from one read of the lake covering all their windows:
    each History holds exactly the rows its own day's window would have read (one at a time in memory)."""
    first, last = min(days), max(days)
    inter = snapshot.read("interactions", INTERACTION_COLUMNS, (dates.window(first, lookback_days)[0], last))
    excl = None
    if exclusion_days is not None and exclusion_days > lookback_days:
        excl = snapshot.read("interactions", [USER_ID, VIDEO_ID, EVENT_TYPE, "ds"],
                             (dates.window(first, exclusion_days)[0], last),
                             filters=[(EVENT_TYPE, "in", list(EXCLUDED_EVENTS))])
    catalog, users = snapshot.read("videos", VIDEO_COLUMNS), snapshot.read("users", [USER_ID, "region"])
    for ds in days:
        end = pd.Timestamp(dates.day_end(ds))
        videos = catalog[catalog["upload_ts"].isna() | (catalog["upload_ts"] < end)].reset_index(drop=True)
        exclusions = None if excl is None else _in_window(excl, ds, exclusion_days).drop(columns="ds")
        yield History(ds, _in_window(inter, ds, lookback_days), videos, users, active_days, exclusions)


def _in_window(frame: pd.DataFrame, ds: str, days: int) -> pd.DataFrame:
    """The rows of ``frame`` in the ``days`` up to ``ds``, indexed from 0 (the whole frame is not copied)."""
    lo, hi = dates.window(ds, days)
    if not frame.empty and not (frame["ds"].min() >= lo and frame["ds"].max() <= hi):
        frame = frame[(frame["ds"] >= lo) & (frame["ds"] <= hi)]
    return frame.set_axis(pd.RangeIndex(len(frame)), axis=0, copy=False)


def within_users(frame: pd.DataFrame, users) -> pd.DataFrame:
    """The rows of ``frame`` (sorted by user_id) that a chunk of ``users`` can match: those whose user lies
    between the chunk's smallest and largest user (a slice found by binary search, not a scan of the frame)."""
    users = np.asarray(users, dtype=object)
    if frame is None or not len(users):
        return frame
    ids = frame[USER_ID].to_numpy()
    return frame.iloc[np.searchsorted(ids, users.min(), "left"):np.searchsorted(ids, users.max(), "right")]


def exclusion_sets(history: "History", users) -> tuple[PairSet, PairSet]:
    """The excluded (user, video) and blocked (user, creator) pairs that ``users`` (a sorted chunk) can match,
    as ``PairSet``s for ``excluded_rows`` on several frames of the same users."""
    ex, bl = within_users(history.excluded, users), within_users(history.blocked_creators, users)
    return PairSet(ex[USER_ID], ex[VIDEO_ID]), PairSet(bl[USER_ID], bl["creator_id"])


def excluded_rows(items: pd.DataFrame, excluded: pd.DataFrame | PairSet | None,
                  blocked: pd.DataFrame | PairSet | None, key: str = USER_ID) -> np.ndarray:
    """The mask of ``items``' rows with a (key, video_id) pair of ``excluded`` or a (key, creator_id) pair of
    ``blocked`` (``History.excluded`` and ``History.blocked_creators`` when key is the user, or their
    ``exclusion_sets``); None or empty: no row."""
    def hit(other, col):
        if other is None or not len(other) or items.empty:
            return np.zeros(len(items), bool)
        if isinstance(other, PairSet):  # built once for several frames
            return other.contains(items[key], items[col])
        return isin_pairs(items[key], items[col], other[key], other[col])

    return hit(excluded, VIDEO_ID) | hit(blocked, "creator_id")
