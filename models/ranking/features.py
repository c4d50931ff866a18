"""Point-in-time ranker features: Feast's historical join over the Delta feature tables (DuckDB offline store).

The store is the one ``vidrec.feast_config.open_store`` builds (the same configuration serving and the
feature jobs use). ``models.ranking.training_set.fetch_features``, the one place that decides where ranker
features come from, calls ``entity_features``: a feature view's values depend only on its join key and
the timestamp, so each view is joined once per distinct (join key, event_timestamp) of the rows (a user's
candidates share one user row, a video's candidates one video row) and the answers are spread back over
the rows. ``historical_features`` is Feast's plain per-row join, the reference it must equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vidrec.feast_config import install_duckdb_delta, open_store
from vidrec.settings import Settings

EVENT_TIMESTAMP = "event_timestamp"  # Feast's entity-frame timestamp column
_KEY = "_entity_row"


def historical_features(settings: Settings, entity_df, service: str = "ranker_v1"):
    """Point-in-time join of a feature service onto entity_df (user_id, video_id, event_timestamp: UTC).

    Each row gets, per view, the newest row with event_ts <= event_timestamp within the view's ttl, so
    nothing from later partitions leaks in. Columns are ``<view>__<feature>`` (views share feature names).
    """
    install_duckdb_delta()  # DuckDB must find its delta extension locally (a no-op once `make setup` ran)
    fs = open_store(settings)
    job = fs.get_historical_features(entity_df=entity_df, features=fs.get_feature_service(service),
                                     full_feature_names=True)
    return job.to_df()


class FeatureCache:
    """The answers of earlier ``entity_features`` calls, per feature view and (join key, event_timestamp),
    plus the opened store: rank scores its candidates a chunk of users at a time, every chunk holds most of
    the catalog's videos, and a video's features as of the run are fetched once instead of once per chunk."""

    def __init__(self):
        self.store, self.views = None, {}

    def open(self, settings: Settings):
        if self.store is None:
            install_duckdb_delta()  # DuckDB must find its delta extension locally (a no-op once `make setup` ran)
            self.store = open_store(settings)
        return self.store


def entity_features(settings: Settings, rows: pd.DataFrame, service: str = "ranker_v1",
                    cache: FeatureCache | None = None) -> pd.DataFrame:
    """The service's ``<view>__<feature>`` columns for each of ``rows`` (its views' join keys and
    ``event_timestamp``), in the rows' order, with the values ``historical_features`` gives: one Feast join
    per view over the distinct (join key, event_timestamp) pairs of ``rows`` instead of one per row; with a
    ``cache``, only over the pairs no earlier call asked for."""
    cache = cache or FeatureCache()
    fs = cache.open(settings)
    columns = {}
    for projection in fs.get_feature_service(service).feature_view_projections:
        keys = list(fs.get_feature_view(projection.name).join_keys) + [EVENT_TIMESTAMP]
        refs = [f"{projection.name_to_use()}:{feature.name}" for feature in projection.features]
        known = _fetch_missing(fs, cache.views.get((service, projection.name)), rows, keys, refs)
        cache.views[(service, projection.name)] = known
        at = known.index.get_indexer(pd.MultiIndex.from_frame(rows[keys]))
        for name in known.columns:
            columns[name] = known[name].take(at).reset_index(drop=True)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _fetch_missing(fs, known: pd.DataFrame | None, rows: pd.DataFrame, keys: list[str], refs: list[str]) -> pd.DataFrame:
    """``known`` (features indexed by the ``keys`` tuple) plus one Feast join for the distinct key tuples of
    ``rows`` it does not hold yet."""
    _, distinct = _distinct(rows, keys)
    if known is not None:
        distinct = distinct[known.index.get_indexer(pd.MultiIndex.from_frame(distinct[keys])) < 0]
        distinct = distinct.assign(**{_KEY: np.arange(len(distinct))})
        if not len(distinct):
            return known
    found = fs.get_historical_features(entity_df=distinct, features=refs, full_feature_names=True).to_df()
    found = found.sort_values(_KEY, kind="stable").reset_index(drop=True)
    if not np.array_equal(found[_KEY].to_numpy(), np.arange(len(distinct))):
        raise RuntimeError(f"the join of {refs[0].split(':')[0]} did not return exactly one row per entity")
    found.index = pd.MultiIndex.from_frame(distinct[keys])
    found = found[[c for c in found.columns if c not in distinct.columns]]
    return found if known is None else pd.concat([known, found])


def _distinct(rows: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """(code of each row's distinct ``keys`` tuple, the distinct tuples with ``_entity_row`` = their code)."""
    codes, uniques = pd.MultiIndex.from_frame(rows[keys]).factorize()
    distinct = uniques.to_frame(index=False)
    distinct.columns = keys  # factorize drops the level names
    distinct[_KEY] = np.arange(len(distinct))
    return codes, distinct
