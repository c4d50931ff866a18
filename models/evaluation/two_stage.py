"""The production recommender in the offline harness: the nightly retrieval and ranker code behind the
harness's fit/recommend interface (``two_stage`` in ``models.evaluation.harness``). Nothing here re-implements
a stage; it only turns a ratings frame into what the nightly code reads.

``fit(train)``:

1. validation parts are carved from ``train`` (never from the test split): with ``folds`` > 1 (msr
   and leave-last-out protocols) each user's train rows are dealt into ``folds`` random folds and
   each fold in turn is the validation part (every train row labels once, and retrieval sees
   (folds - 1) / folds of the data, close to what it sees at recommend time); with ``folds`` 1, or for
   the time protocol, one part: random per user (``valid_ratio``), or the latest ``valid_ratio`` of
   ``train`` by time;
2. for each part, retrieval as the nightly run builds it (``models.retrieval.candidates.build_candidates``: ALS +
   ScaNN index, co-watch, content, trending, fresh; reciprocal-rank fusion; pair features) is fitted
   on the rest of ``train``, and every user's candidates are labeled 1 when they are in the validation
   part (``models.ranking.training_set.label_candidates``, ``negatives_per_user`` unlabeled rows kept per user);
   a query is (fold, user);
3. the ranker (``models.ranking.ranker.fit_ranker``, XGBoost LambdaMART) learns from those rows;
4. retrieval is refitted on all of ``train``: that is what ``recommend`` ranks.

``recommend(users, k)``: candidates of the users, ranker scores, the top ``k``; users unknown at fit
time get the popularity list (``models.evaluation.baselines.Popularity``), like the other recommenders.

Ratings become the nightly pipeline's events (``frame_history``): each row is a ``watch`` at its timestamp
(rows without one share a fixed instant), every user in one region. Its watch fraction is 1, or with
``rating_confidence`` (retrieval's history only) the row's rating over the frame's mean
(``signals.rating_strength``): ALS then weighs a 5-star movie above a 2-star one, as it weighs a full watch above
a partial one on the lake. The ranker's labels stay one per row: every rated movie counts as relevant.
A frame with engagement signals (``models.evaluation.signals``: watch fraction, liked, shared, not interested)
becomes those events instead; its rows are labeled as the nightly labels a day (graded label and each
objective's target), and step 3 fits every objective's head (``models.ranking.objectives.fit_heads``):
``recommend`` then orders by their composite under ``weights`` (the product's ``VIDREC_OBJECTIVE_WEIGHTS``).
A catalog (``models.evaluation.datasets.load_catalog``: MovieLens genres and release dates) gives content
retrieval its categories and the ranker the video's age; without one every video is its own category.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from models.evaluation import signals
from models.evaluation.baselines import Popularity
from models.evaluation.splits import random_split_per_user, time_split
from models.ranking.blend import final_score
from models.ranking.objectives import fit_heads
from models.ranking.ranker import RankerParams, feature_columns, fit_ranker, score
from models.ranking.training_set import LABEL, LABEL_DS, label_candidates
from models.retrieval.als import AlsParams, fit_als
from models.retrieval.ann_index import AnnParams, build_index
from models.retrieval.candidates import CandidateParams, Retrieval, build_candidates
from models.retrieval.history import History
from models.retrieval.matrix import build_user_items
from vidrec.tables import EVENT_TYPE, GLOBAL_REGION, TS, USER_ID, VIDEO_ID, WATCH_FRACTION

NO_TS = pd.Timestamp("2000-01-01", tz="UTC")
CATALOG_COLUMNS = [VIDEO_ID, "title", "creator_id", "category", "upload_ts"]


@dataclass(frozen=True)
class TwoStageParams:
    """Everything the offline two-stage run depends on; the tuned values live in models/tuned/."""

    candidates: CandidateParams = field(default_factory=CandidateParams)
    als: AlsParams = field(default_factory=AlsParams)
    ranker: RankerParams = field(default_factory=RankerParams)
    per_user: int = 300            # candidates kept per user (the nightly VIDREC_CANDIDATES_PER_USER)
    negatives_per_user: int | None = 100  # unlabeled candidates kept per user for the ranker (None: all)
    negative_sampling: str = "uniform"  # how they are drawn (models.ranking.training_set.negative_weights)
    valid_ratio: float = 0.25      # share of train carved out to label the ranker's rows (folds 1)
    folds: int = 4                 # validation folds dealt per user (1: one carve of valid_ratio)
    max_queries: int = 8000        # ranker queries (part, user) at most: past it each part labels a user sample
    exclude_features: tuple = ()   # ranker features left out (ablations)
    rating_confidence: bool = True  # retrieval weighs a row by its rating (signals.rating_strength), else 1

    @classmethod
    def from_dict(cls, values: dict) -> "TwoStageParams":
        """From ``{"candidates": {...}, "als": {...}, "ranker": {...}, "per_user": ...}`` (missing keys keep
        their defaults; unknown keys raise TypeError)."""
        nested = {"candidates": CandidateParams, "als": AlsParams, "ranker": RankerParams}
        top = {k: tuple(v) if k == "exclude_features" else v for k, v in values.items() if k not in nested}
        return cls(**{name: kind(**values.get(name, {})) for name, kind in nested.items()}, **top)


def frame_history(df: pd.DataFrame, catalog: pd.DataFrame | None = None, graded: bool = False) -> History:
    """A ``History`` (as of the day of the latest row) of ``df``'s events (``signals.to_events``: each row a
    full watch, with ``graded`` one as strong as its rating, or with signals its watch fraction and flags)."""
    events = signals.to_events(df, graded)
    ts = (pd.to_datetime(events[TS], unit="s", utc=True) if TS in events.columns
          else pd.Series(NO_TS, index=events.index))
    day, days_seen = pd.factorize(ts.dt.floor("D"))  # formatted once per distinct day, not per row
    inter = pd.DataFrame({USER_ID: events[USER_ID].to_numpy(), VIDEO_ID: events[VIDEO_ID].to_numpy(),
                          EVENT_TYPE: events[EVENT_TYPE].to_numpy(), TS: ts.to_numpy(),
                          WATCH_FRACTION: events[WATCH_FRACTION].to_numpy(float), "region": GLOBAL_REGION,
                          "ds": np.asarray(days_seen.strftime("%Y-%m-%d"), dtype=object)[day]})
    videos = pd.DataFrame({VIDEO_ID: np.sort(df[VIDEO_ID].unique())})
    if catalog is not None:
        videos = videos.merge(catalog[[c for c in CATALOG_COLUMNS if c in catalog.columns]], on=VIDEO_ID, how="left")
    for col, fill in (("title", videos[VIDEO_ID].astype(str)), ("creator_id", videos[VIDEO_ID].astype(str)),
                      ("category", videos[VIDEO_ID].astype(str)), ("upload_ts", pd.NaT)):
        videos[col] = videos[col].fillna(fill) if col in videos.columns else fill
    videos["upload_ts"] = pd.to_datetime(videos["upload_ts"], utc=True)
    users = pd.DataFrame({USER_ID: np.sort(df[USER_ID].unique()), "region": GLOBAL_REGION})
    days = (ts.max() - ts.min()).days + 2
    return History(ts.max().strftime("%Y-%m-%d"), inter, videos[CATALOG_COLUMNS], users, active_days=days)


def whole_history(params: CandidateParams, hist: History) -> CandidateParams:
    """``params`` with the popularity and trending windows stretched over the whole history: under the
    msr and leave-last-out protocols the test rows are spread over the whole span, so the data set's
    "last day" is not a trending day. The time protocol keeps the nightly windows (on ML-100K, seed 42:
    nDCG@10 0.378 with them, 0.362 with the whole history)."""
    days = max(hist.active_days, 1)
    return replace(params, popular_days=days, trending_days=days)


@dataclass
class TwoStage:
    """Retrieval + ranker, the nightly code, fitted on a ratings frame (see the module docstring)."""

    params: TwoStageParams = field(default_factory=TwoStageParams)
    catalog: pd.DataFrame | None = None
    protocol: str = "msr"
    seed: int = 42
    weights: dict | None = None  # the composite's weights (data with signals; None: {"watch": 1})
    name = "two_stage"

    def _retrieval(self, frame: pd.DataFrame) -> tuple[Retrieval, CandidateParams]:
        hist = frame_history(frame, self.catalog, graded=self.params.rating_confidence)
        user_items, idmap = build_user_items(hist.positives)
        model = fit_als(user_items, self.params.als, use_gpu=False, seed=self.seed)
        index = build_index(model.item_factors, AnnParams())
        if self.protocol == "time":  # the test is the days after the cut: the nightly's own windows
            return Retrieval(hist, model, idmap, index), self.params.candidates
        return Retrieval(hist, model, idmap, index), whole_history(self.params.candidates, hist)

    def _candidates(self, retrieval: Retrieval, cparams: CandidateParams, users) -> pd.DataFrame:
        known = np.intersect1d(np.asarray(users, dtype=object), retrieval.idmap.users)
        return build_candidates(retrieval, cparams, self.params.per_user, users=known)

    def carve(self, train: pd.DataFrame) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
        """[(fit part, validation part), ...] of ``train`` for the ranker's labels (see the module doc)."""
        if self.protocol == "time" and TS in train.columns:
            cut = train[TS].quantile(1.0 - self.params.valid_ratio, interpolation="higher")
            return [time_split(train, cut=cut)]
        if self.params.folds <= 1:
            return [random_split_per_user(train, 1.0 - self.params.valid_ratio, self.seed + 1)]
        key = pd.Series(np.random.default_rng(self.seed + 1).random(len(train)), index=train.index)
        fold = (key.groupby(train[USER_ID].to_numpy()).rank(method="first").to_numpy() - 1) % self.params.folds
        return [(train[fold != f], train[fold == f]) for f in range(self.params.folds)]

    def labeled_rows(self, inner: pd.DataFrame, valid: pd.DataFrame, part: int) -> pd.DataFrame:
        """Candidates retrieved from ``inner`` for ``valid``'s users, labeled by ``valid``; query key
        (``label_ds`` = the part, user)."""
        retrieval, cparams = self._retrieval(inner)
        users = valid[USER_ID].unique()
        per_part = max(self.params.max_queries // max(self.params.folds, 1), 1)
        if len(users) > per_part:  # a sample of users: candidates and ranker rows grow no further with the data
            users = np.random.default_rng([self.seed, part]).choice(users, per_part, replace=False)
            valid = valid[valid[USER_ID].isin(users)]
        cands = self._candidates(retrieval, cparams, users)
        rows = label_candidates(cands, signals.labels(valid), sample=self.params.negatives_per_user,
                                seed=self.seed + part, sampling=self.params.negative_sampling)
        return rows.assign(**{LABEL_DS: f"part{part}"})

    def fit(self, train: pd.DataFrame) -> "TwoStage":
        parts = self.carve(train)
        rows = pd.concat([self.labeled_rows(inner, valid, i) for i, (inner, valid) in enumerate(parts)],
                         ignore_index=True)
        labels = pd.concat([valid for _, valid in parts])
        self.features = [f for f in feature_columns(rows) if f not in self.params.exclude_features]
        self.scorer, self.objectives = None, {}
        if signals.has_signals(train):  # one head per objective, combined by the weights
            self.scorer, self.objectives = fit_heads(rows, self.features, self.params.ranker, seed=self.seed,
                                                     weights=self.weights or {"watch": 1.0})
            self.model = self.scorer.watch
        else:
            self.model = fit_ranker(rows, self.features, self.params.ranker, seed=self.seed)
        self.retrieval, self.cparams = self._retrieval(train)
        self.fallback = Popularity().fit(train)
        self.fit_rows = {"rows": len(rows), "positives": int((rows[LABEL] > 0).sum()),
                         "valid_pairs": len(labels), "parts": len(parts), "features": self.features,
                         "queries": int(rows.groupby([LABEL_DS, USER_ID]).ngroups)}
        return self

    def recommend(self, users, k: int) -> pd.DataFrame:
        """Top ``k`` (user_id, video_id, rank) per user by ranker score; cold users get popularity."""
        users = pd.unique(np.asarray(users, dtype=object))
        cands = self._candidates(self.retrieval, self.cparams, users)
        if self.scorer is not None:
            ranked = self.scorer.score(cands)
        else:
            ranked = final_score(cands, score(self.model, cands, self.features), self.params.ranker.blend_weight,
                                 self.params.ranker.blend_als)
        cands = cands.assign(rank_score=ranked)
        cands = cands.sort_values([USER_ID, "rank_score", VIDEO_ID], ascending=[True, False, True], kind="stable")
        cands["rank"] = cands.groupby(USER_ID).cumcount() + 1
        recs = cands[cands["rank"] <= k][[USER_ID, VIDEO_ID, "rank"]]
        cold = users[self.retrieval.idmap.user_rows(users) < 0]
        if len(cold):
            recs = pd.concat([recs, self.fallback.recommend(cold, k)])
        return recs.reset_index(drop=True)
