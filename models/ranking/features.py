"""Point-in-time ranker features: Feast's historical join over the Delta feature tables (DuckDB offline store).

The store is the one ``vidrec.feast_config.open_store`` builds (the same configuration serving and the
feature jobs use). Imported lazily by ``models.ranking.training_set.fetch_features``, the one place that
decides where ranker features come from.
"""

from __future__ import annotations

from vidrec.feast_config import install_duckdb_delta, open_store
from vidrec.settings import Settings


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
