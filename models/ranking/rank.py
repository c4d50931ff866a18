"""The lists serving reads, for run ``ds``: home feeds, related videos, trending and cold-start lists.

- ``lists/home.parquet`` (user_id, rank, video_id, score, reason, source): the run's candidates scored
  by the run's ranker (the objectives' composite, ``VIDREC_OBJECTIVE_WEIGHTS``) with features as of the
  end of ``ds`` (the same ``feature_values`` and service
  as training, ``event_timestamp`` = ds + 1 day), then ``rerank`` (filters, creator window,
  exploration, reasons). ``topn`` + ``spare`` (50) rows per user, so serving can refill after dropping.
  The exploration pool is the user's ``fresh`` candidates whose impressions over the last
  ``explore_days`` are at most the ``explore_quantile`` of the catalog's. The candidates are read, scored
  and re-ranked in pieces of about ``chunk_rows`` rows holding whole users (the file is sorted by user),
  so memory follows the piece, not the catalog x users; every user's list is the same as in one piece.
- ``lists/related.parquet`` (video_id, rank, related_id, score, reason, source): related candidates in
  retrieval order, creator-diversified.
- ``lists/trending.parquet`` (region, rank, video_id, score, reason): per region and ``global``.
- ``lists/coldstart.parquet`` (region, rank, video_id, score, reason): for users without history:
  popular in the region (last ``popular_days``; ``models.retrieval.sources.trending.recent_popularity``)
  fused with trending in the region, creator-diversified.
- ``lists/category.parquet`` (genre, rank, video_id, score, reason): per catalog category, its videos most
  popular over the last ``popular_days``, creator-diversified (the category surface).
- ``lists/fresh.parquet`` (region, rank, video_id, score, reason, source): per region and global, the uploads of
  the last ``fresh_days`` by freshness + log1p(popularity in the region), creator-diversified, the ones nobody
  engaged with yet marked as exploration (the new-releases surface).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import io, manifest, workers
from models.ranking.features import FeatureCache
from models.ranking.objectives import Scorer, load_scorer
from models.ranking.rerank import EXPLORE, RerankParams, explain, rerank
from models.ranking.training_set import EVENT_TIMESTAMP, feature_values
from models.retrieval.candidates import CandidateParams
from models.retrieval.fusion import fuse
from models.retrieval.history import History, exclusion_sets, load_history
from models.retrieval.sources.content import video_quality
from models.retrieval.sources.trending import read_trending, recent_popularity, trending_scores
from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import GLOBAL_REGION, USER_ID, VIDEO_ID

log = logging.getLogger("vidrec.rank")
HOME = [USER_ID, "rank", VIDEO_ID, "score", "reason", "source"]
HOME_PARTS = ".home-parts"  # lists/.home-parts/part-NNNNN.parquet: the workers' pieces of home.parquet
HOME_INPUT = [USER_ID, VIDEO_ID, "best_source", "seed_video_id", "trend_region", "score_fresh"]  # + score


@dataclass(frozen=True)
class RankParams:
    spare: int = 50
    explore_days: int = 7
    explore_quantile: float = 0.25
    related_n: int = 50
    chunk_rows: int = 1_000_000  # candidate rows scored and re-ranked at a time (whole users)


def chunk_features(settings: Settings, cands: pd.DataFrame, meta: dict, ds: str,
                   cache: FeatureCache | None = None) -> dict:
    """The features the ranker was trained with for ``cands``, as of the end of ``ds`` ({column: array in
    the rows' order}; ``cache``: the features earlier chunks fetched)."""
    keys = cands[[USER_ID, VIDEO_ID]].assign(**{EVENT_TIMESTAMP: pd.Timestamp(dates.day_end(ds))})
    trained_on = meta.get("feature_source") or "none"
    values, source = feature_values(settings, keys, "none" if trained_on == "none" else "feast", cache)
    if source != trained_on:
        raise RuntimeError(f"ranker trained on {trained_on} features, scoring got {source}")
    return values


def score_candidates(cands: pd.DataFrame, scorer: Scorer, values: dict) -> pd.DataFrame:
    """``cands``' columns that ``build_home`` reads, with ``score`` the heads' composite
    (``models.ranking.objectives``; ``values``: the chunk's ``chunk_features``)."""
    out = cands[HOME_INPUT].copy(deep=False)  # (a new frame already: a copy would copy the columns again)
    out["score"] = scorer.score(cands, values)
    return out


def catalog_columns(frame: pd.DataFrame, hist: History, item: str = VIDEO_ID, seed: str | None = None) -> pd.DataFrame:
    """Adds creator_id and category of ``item`` and, with ``seed``, the title of that video as seed_title
    (NaN for a video outside the as-of catalog); one catalog lookup per column of ids."""
    codes = hist.video_codes(frame[item])
    out = frame.copy(deep=False)  # the new columns only: frame's own are not copied
    out["creator_id"] = _of_codes(hist.by_code("creator_id"), codes)
    out["category"] = _of_codes(hist.by_code("category"), codes)
    if seed is not None:
        out["seed_title"] = _of_codes(hist.by_code("title"), hist.video_codes(frame[seed]))
    return out


def _of_codes(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object)[codes]
    out[codes < 0] = np.nan
    return out


def explore_videos(hist: History, params: RankParams) -> set:
    """Videos shown at most the ``explore_quantile`` of the catalog's impressions over ``explore_days``."""
    exposure = hist.videos[VIDEO_ID].map(hist.exposure(params.explore_days)).fillna(0)
    limit = float(np.quantile(exposure, params.explore_quantile)) if len(exposure) else 0.0
    return set(hist.videos.loc[exposure.to_numpy() <= limit, VIDEO_ID])


def build_home(scored: pd.DataFrame, hist: History, rp: RerankParams, low: set) -> pd.DataFrame:
    """Re-ranked home lists of the users in ``scored``; the exploration pool is their fresh candidates in ``low``."""
    rows = catalog_columns(scored, hist, seed="seed_video_id").rename(columns={"best_source": "source"}, copy=False)
    pool = rows[rows["score_fresh"].notna() & rows[VIDEO_ID].isin(low)]
    excluded, blocked = exclusion_sets(hist, np.sort(rows[USER_ID].unique()))  # these users' slice, hashed once
    home = rerank(rows, rp, excluded=excluded, blocked=blocked, explore=pool)
    home["reason"] = explain(home)
    return home[HOME]


def user_chunks(path, rows: int):
    """The candidates file in pieces of about ``rows`` rows, each holding whole users (the file is sorted by
    user, as ``build_candidates`` writes it), read through Arrow a batch at a time (``io.whole_keys``)."""
    last = None
    for table in io.whole_keys(pq.ParquetFile(path).iter_batches(batch_size=rows), USER_ID):
        frame = table.to_pandas()
        users = frame[USER_ID].to_numpy()
        if (last is not None and users[0] <= last) or not (users[1:] >= users[:-1]).all():
            raise RuntimeError(f"{path} is not sorted by {USER_ID}: run build_candidates again")
        last = users[-1]
        yield frame


def rank_home(settings: Settings, ds: str, hist: History, rp: RerankParams, params: RankParams) -> tuple:
    """(parquet parts of the home lists of every candidate user, in user order; the ranker's meta). This
    process reads a chunk of whole users, fetches its features and scores it (Feast's DuckDB and XGBoost's
    OpenMP threads stay here: neither survives a fork); a forked worker re-ranks it (``models.workers``),
    on as many cores as ``settings.workers`` allows."""
    out = io.run_dir(settings, ds)
    scorer, meta = load_scorer(out / "ranker", settings.weights())
    low, cache = explore_videos(hist, params), FeatureCache()
    hist.excluded, hist.blocked_creators  # build_home's exclusions, built once here before the workers fork
    scored = (score_candidates(chunk, scorer, chunk_features(settings, chunk, meta, ds, cache))
              for chunk in user_chunks(out / "candidates.parquet", params.chunk_rows))
    parts = out / "lists" / HOME_PARTS
    shutil.rmtree(parts, ignore_errors=True)
    return workers.map_chunks(lambda chunk: build_home(chunk, hist, rp, low), scored,
                              workers.worker_count(settings), parts), meta


def write_home(paths: list, path, topn: int) -> dict:
    """The home parts as one file (``io.join_parts``); rows, users, explore share of the first ``topn``
    slots, rows per source."""
    if not paths:
        io.write_parquet(pd.DataFrame(columns=HOME), path)
        return {"rows": 0, "users": 0, "explore_share": 0.0, "sources": {}}
    shown = []  # per part: (slots within topn, of which explore)

    def explored(table):
        source = table.filter(pc.less_equal(table["rank"], topn))["source"]
        shown.append((len(source), pc.sum(pc.equal(source, EXPLORE)).as_py() or 0))

    joined = io.join_parts(paths, path, USER_ID, "source", explored)
    top, explore = (sum(x) for x in zip(*shown))
    return {"rows": joined["rows"], "users": joined["keys"],
            "explore_share": round(explore / top, 4) if top else 0.0, "sources": joined["counts"]}


def build_related_lists(related: pd.DataFrame, hist: History, rp: RerankParams, params: RankParams) -> pd.DataFrame:
    rows = catalog_columns(related.rename(columns={VIDEO_ID: "for_video", "related_id": VIDEO_ID}, copy=False), hist,
                           seed="for_video")
    rows["score"], rows["source"] = rows["retrieval_score"], rows["best_source"]
    rp = replace(rp, topn=params.related_n, spare=0, exploration_share=0.0)
    out = rerank(rows, rp, key="for_video")
    out["reason"] = explain(out)
    return out.rename(columns={VIDEO_ID: "related_id", "for_video": VIDEO_ID}, copy=False)[
        [VIDEO_ID, "rank", "related_id", "score", "reason", "source"]]


def build_trending_lists(trend: pd.DataFrame) -> pd.DataFrame:
    out = trend.assign(rank=trend.groupby("region").cumcount() + 1, source="trending", trend_region=trend["region"])
    return out.assign(reason=explain(out))[["region", "rank", VIDEO_ID, "score", "reason"]]


def build_coldstart(hist: History, trend: pd.DataFrame, rp: RerankParams, params: CandidateParams) -> pd.DataFrame:
    """Popular (``recent_popularity`` of the last popular_days, per region and global) fused with trending,
    diversified per region."""
    popular = recent_popularity(hist, params.popular_days)
    n = rp.topn + rp.spare
    fused = fuse({"content": popular, "trending": trend[["region", VIDEO_ID, "score"]]}, "region", VIDEO_ID, 4 * n)
    rows = catalog_columns(fused, hist).assign(score=fused["retrieval_score"], source=fused["best_source"],
                                               trend_region=fused["region"])
    out = rerank(rows, replace(rp, exploration_share=0.0), key="region")
    return out.assign(reason=explain(out))[["region", "rank", VIDEO_ID, "score", "reason"]]


def build_category_lists(hist: History, rp: RerankParams, params: CandidateParams) -> pd.DataFrame:
    """Per category (``genre``): its videos by ``recent_popularity`` over everyone, creator-diversified."""
    popular = recent_popularity(hist, params.popular_days)
    rows = catalog_columns(popular[popular["region"] == GLOBAL_REGION], hist)
    rows = rows[rows["category"].notna()]
    rows = rows.assign(genre=rows["category"].astype(str), source="popular")
    out = rerank(rows, replace(rp, exploration_share=0.0), key="genre")
    return out.assign(reason=explain(out))[["genre", "rank", VIDEO_ID, "score", "reason"]]


def build_fresh_lists(hist: History, rp: RerankParams, params: CandidateParams) -> pd.DataFrame:
    """Per region (and global): recent uploads (``video_quality``'s freshness > 0) scored freshness +
    log1p(recent popularity in the region), creator-diversified; those nobody engaged with yet are exploration
    (source ``explore``), ranked by their freshness alone."""
    new = video_quality(hist, params)
    new = new.loc[new["freshness"] > 0, [VIDEO_ID, "freshness", "video_popularity"]]
    popular = recent_popularity(hist, params.popular_days)
    regions = sorted(set(popular["region"]) | {GLOBAL_REGION})
    rows = pd.concat([new.assign(region=r) for r in regions], ignore_index=True)
    rows = rows.merge(popular, on=["region", VIDEO_ID], how="left")
    rows = catalog_columns(rows.assign(score=rows["freshness"] + np.log1p(rows["score"].fillna(0.0)),
                                       source=np.where(rows["video_popularity"] > 0, "fresh", EXPLORE)), hist)
    out = rerank(rows, replace(rp, exploration_share=0.0), key="region")
    return out.assign(reason=explain(out))[["region", "rank", VIDEO_ID, "score", "reason", "source"]]


def hourly_lists(settings: Settings, snap: io.LakeSnapshot, hist: History, rp: RerankParams,
                 cparams: CandidateParams) -> dict:
    """The lists the hourly run refreshes too (``models.hourly``): trending (the lake's ``trending`` table of
    ``hist.ds``), cold-start and new releases."""
    trend = trending_scores(hist, replace(cparams, trending_k=settings.topn), read_trending(snap, hist.ds))
    return {"trending": build_trending_lists(trend), "coldstart": build_coldstart(hist, trend, rp, cparams),
            "fresh": build_fresh_lists(hist, rp, cparams)}


def run(settings: Settings, ds: str, params: RankParams | None = None) -> dict:
    """Write runs/<ds>/lists/{home,related,trending,coldstart,category,fresh}.parquet."""
    started = time.monotonic()
    out, params, cparams = io.run_dir(settings, ds), params or RankParams(), CandidateParams.from_settings(settings)
    rp = RerankParams.from_settings(settings, spare=params.spare)
    snap = io.LakeSnapshot(settings)
    hist = load_history(snap, ds, lookback_days=cparams.lookback_days, active_days=settings.active_days,
                        exclusion_days=cparams.exclusion_days)
    parts, meta = rank_home(settings, ds, hist, rp, params)
    home = write_home(parts, out / "lists" / "home.parquet", rp.topn)
    shutil.rmtree(out / "lists" / HOME_PARTS, ignore_errors=True)
    lists = {
        "related": build_related_lists(io.read_parquet(out / "related_candidates.parquet"), hist, rp, params),
        "category": build_category_lists(hist, rp, cparams),
        **hourly_lists(settings, snap, hist, rp, cparams),
    }
    for name, frame in lists.items():
        io.write_parquet(frame, out / "lists" / f"{name}.parquet")
    rows = {"home": home.pop("rows"), **{name: len(frame) for name, frame in lists.items()}}
    stats = home  # users, explore_share, sources
    seconds = round(time.monotonic() - started, 2)
    manifest.update_manifest(settings, ds, "rank", params={**asdict(params), **asdict(rp)}, inputs=snap.versions,
                             rows=rows, stats=stats, feature_source=meta.get("feature_source"),
                             weights=settings.weights(), seconds=seconds)
    log.info("rank %s: %s %s in %.1f s", ds, rows, stats, seconds)
    return {"ds": ds, **rows, **stats, "seconds": seconds}
