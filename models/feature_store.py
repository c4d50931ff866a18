"""The one module that drives Feast for batch code: apply, materialize, point-in-time joins, pushes.

feature_repo/feature_store.yaml expands ``${VAR}``s from the environment, so every entry point here exports
``vidrec.feast_config.feast_env(settings)`` while Feast reads it, and restores the environment after:
VIDREC_FEAST_DIR (registry), VIDREC_LAKE_ROOT (Delta sources) and FEAST_REDIS_CONNECTION (Feast's
"host:port,db=N" form of VIDREC_REDIS_URL). The feast CLI gets the same variables.

Materializing: each feature partition is a full snapshot valid from event_ts = ds + 1 day, so
``materialize_run(ds)`` writes exactly the rows with that event_ts to Redis. The repo sets ``skip_dedup``
so that hourly re-runs of the same day (same event_ts) overwrite Redis instead of being skipped as "not
newer"; to keep a backfill of an old day from overwriting newer values, a view already materialized past
ds + 1 day is left alone (the offline tables still get the backfill).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from vidrec.feast_config import FEATURE_REPO, feast_env
from vidrec.settings import Settings

log = logging.getLogger("vidrec.feast")
REPO = FEATURE_REPO  # feature_repo/ beside the packages
BATCH_VIEWS = ("user_features", "video_features")
PUSH_SOURCE = "user_realtime_push"
REALTIME_VIEW = "user_realtime"


@contextlib.contextmanager
def feast_environment(settings: Settings):
    """Export feast_env(settings) while Feast reads its config (it expands the YAML once, when a store is built)."""
    from vidrec.ops.setup_checks import install_duckdb_delta

    env = feast_env(settings)
    Path(settings.feast_dir).mkdir(parents=True, exist_ok=True)
    install_duckdb_delta()  # DuckDB must find its delta extension locally (a no-op once `make setup` ran)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def store(settings: Settings):
    """A FeatureStore on feature_repo/ with these settings' registry, lake and Redis."""
    from feast import FeatureStore

    with feast_environment(settings):
        return FeatureStore(repo_path=str(REPO))


def feast_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """Run `feast -c feature_repo ARGS` with the settings' environment; raises with its output on failure."""
    with feast_environment(settings):
        env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "feast.cli.cli", "-c", str(REPO), *args], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"feast {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def apply_run(settings: Settings, ds: str) -> dict:
    """`vidrec run feast_apply --ds D`: `feast apply` of feature_repo/ (idempotent; ds is only logged)."""
    started = time.perf_counter()
    feast_cli(settings, "apply")
    seconds = round(time.perf_counter() - started, 1)
    log.info("feast apply took %.1f s", seconds)
    return {"ds": ds, "registry": str(Path(settings.feast_dir) / "registry.db"), "seconds": seconds}


def valid_from(ds: str) -> dt.datetime:
    """event_ts of partition ds: ds + 1 day, 00:00 UTC."""
    return dt.datetime.fromisoformat(ds).replace(tzinfo=dt.timezone.utc) + dt.timedelta(days=1)


def materialize_run(settings: Settings, ds: str) -> dict:
    """`vidrec run materialize --ds D`: load partition D of the batch views into Redis.

    Returns {"ds", "event_ts", "materialized": [views], "skipped": [views already past D], "seconds"}.
    """
    fs = store(settings)
    end = valid_from(ds)
    todo, skipped = [], []
    for name in BATCH_VIEWS:
        last = fs.get_feature_view(name).most_recent_end_time
        (skipped if last is not None and last > end else todo).append(name)
    started = time.perf_counter()
    if todo:
        fs.materialize(start_date=end, end_date=end, feature_views=todo)
    seconds = round(time.perf_counter() - started, 1)
    log.info("materialized %s for ds=%s in %.1f s; skipped (newer online): %s", todo, ds, seconds, skipped)
    return {"ds": ds, "event_ts": end.isoformat(), "materialized": todo, "skipped": skipped, "seconds": seconds}


def historical_features(settings: Settings, entity_df, service: str = "ranker_v1"):
    """Point-in-time join of a feature service onto entity_df (user_id, video_id, event_timestamp: UTC).

    Each row gets, per view, the newest row with event_ts <= event_timestamp within the view's ttl, so
    nothing from later partitions leaks in. Columns are ``<view>__<feature>`` (views share feature names).
    """
    fs = store(settings)
    job = fs.get_historical_features(entity_df=entity_df, features=fs.get_feature_service(service),
                                     full_feature_names=True)
    return job.to_df()


def push_realtime(settings: Settings, rows) -> int:
    """Write user_realtime rows (user_id, the view's features, event_ts) to the online store; returns rows."""
    import pandas as pd
    from feast.data_source import PushMode

    df = pd.DataFrame(rows)
    store(settings).push(PUSH_SOURCE, df, to=PushMode.ONLINE)
    return len(df)


def online_user_realtime(settings: Settings, user_ids: list[str]) -> dict:
    """{user_id: {feature: value}} of user_realtime from Redis (None values for unknown users)."""
    fs = store(settings)
    names = [f.name for f in fs.get_feature_view(REALTIME_VIEW).features]
    out = fs.get_online_features(features=[f"{REALTIME_VIEW}:{n}" for n in names],
                                 entity_rows=[{"user_id": u} for u in user_ids]).to_dict()
    return {u: {n: out[n][i] for n in names} for i, u in enumerate(out["user_id"])}
