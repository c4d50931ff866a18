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
    return pd.DataFrame(entity_columns(settings, rows, service, cache), index=pd.RangeIndex(len(rows)))


def entity_columns(settings: Settings, rows: pd.DataFrame, service: str = "ranker_v1",
                   cache: FeatureCache | None = None) -> dict:
    """``entity_features`` as {column: array in the rows' order}, without building a frame (rank reads the
    arrays straight into the ranker's matrix)."""
    cache = cache or FeatureCache()
    fs = cache.open(settings)
    columns = {}
    for projection in fs.get_feature_service(service).feature_view_projections:
        keys = list(fs.get_feature_view(projection.name).join_keys) + [EVENT_TIMESTAMP]
        refs = [f"{projection.name_to_use()}:{feature.name}" for feature in projection.features]
        codes, first = _tuple_codes(rows, keys)
        distinct = rows[keys].iloc[first].reset_index(drop=True)
        known_keys, known = cache.views.get((service, projection.name), (distinct.iloc[:0], None))
        at = _positions(known_keys, distinct, keys)
        missing = distinct[at < 0].reset_index(drop=True)
        if len(missing) or known is None:
            found = _join(fs, missing, refs)
            at[at < 0] = len(known_keys) + np.arange(len(missing))
            known_keys = pd.concat([known_keys, missing], ignore_index=True)
            known = found if known is None else pd.concat([known, found], ignore_index=True)
            cache.views[(service, projection.name)] = (known_keys, known)
        for name in known.columns:
            columns[name] = known[name].array.take(at[codes])
    return columns


def _join(fs, entities: pd.DataFrame, refs: list[str]) -> pd.DataFrame:
    """Feast's point-in-time join of ``refs`` for each row of ``entities`` (feature columns, rows' order)."""
    entities = entities.assign(**{_KEY: np.arange(len(entities))})
    found = fs.get_historical_features(entity_df=entities, features=refs, full_feature_names=True).to_df()
    found = found.sort_values(_KEY, kind="stable").reset_index(drop=True)
    if not np.array_equal(found[_KEY].to_numpy(), np.arange(len(entities))):
        raise RuntimeError(f"the join of {refs[0].split(':')[0]} did not return exactly one row per entity")
    return found[[c for c in found.columns if c not in entities.columns]]


def _tuple_codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row's ``keys`` tuple, index of the first row of each code): per-column integer codes
    combined, never a tuple per row."""
    code = np.zeros(len(frame), np.int64)
    for key in keys:
        column, levels = pd.factorize(frame[key], use_na_sentinel=False)
        code = code * max(len(levels), 1) + column
    _, first, codes = np.unique(code, return_index=True, return_inverse=True)
    return codes.ravel(), first


def _positions(known: pd.DataFrame, wanted: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Row of ``known`` (distinct tuples) holding each of ``wanted``'s ``keys`` tuples; -1 when absent."""
    if not len(known):
        return np.full(len(wanted), -1, np.int64)
    codes, _ = _tuple_codes(pd.concat([known[keys], wanted[keys]], ignore_index=True), keys)
    return pd.Index(codes[:len(known)]).get_indexer(codes[len(known):]).astype(np.int64)
