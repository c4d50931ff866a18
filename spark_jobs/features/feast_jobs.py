"""The Feast batch jobs of the features stage: `feast apply` of feature_repo/ and materializing a day into Redis.

Feast is configured by ``vidrec.feast_config`` (the one mechanism, shared with serving): in this process a
``FeatureStore`` is built on the RepoConfig filled from Settings (``open_store``); the feast CLI, a child
process that loads feature_repo/ itself, gets ``feast_env(settings)`` in its own environment. Our
os.environ is never changed.

Materializing: each feature partition is a full snapshot valid from event_ts = ``day_end(ds)`` (ds + 1 day),
so ``materialize_run(ds)`` writes exactly the rows with that event_ts to Redis. The repo sets ``skip_dedup``
so that hourly re-runs of the same day (same event_ts) overwrite Redis instead of being skipped as "not
newer"; to keep a backfill of an old day from overwriting newer values, a view already materialized past
ds + 1 day is left alone (the offline tables still get the backfill).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from vidrec.dates import day_end
from vidrec.feast_config import FEATURE_REPO, feast_env, install_duckdb_delta, open_store
from vidrec.settings import Settings

log = logging.getLogger("vidrec.feast")
BATCH_VIEWS = ("user_features", "video_features")


def feast_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """Run `feast -c feature_repo ARGS` with the settings' variables in the child's environment (ours is left
    as it is); raises with its output on failure."""
    Path(settings.feast_dir).mkdir(parents=True, exist_ok=True)
    install_duckdb_delta()  # DuckDB must find its delta extension locally (a no-op once `make setup` ran)
    proc = subprocess.run([sys.executable, "-m", "feast.cli.cli", "-c", str(FEATURE_REPO), *args],
                          env={**os.environ, **feast_env(settings)}, capture_output=True, text=True)
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


def materialize_run(settings: Settings, ds: str) -> dict:
    """`vidrec run materialize --ds D`: load partition D of the batch views into Redis.

    Returns {"ds", "event_ts", "materialized": [views], "skipped": [views already past D], "seconds"}.
    """
    install_duckdb_delta()  # the offline store reads the Delta feature tables through DuckDB
    fs = open_store(settings)
    end = day_end(ds)
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


def rematerialize(settings: Settings) -> dict:
    """Load again into Redis the day each batch view was last materialized (the registry on disk remembers it):
    after Redis lost its data, the online store holds what it held before. Views never materialized, or no
    registry at all (`feast apply` never ran), are left out."""
    if not (Path(settings.feast_dir) / "registry.db").exists():
        return {"materialized": {}, "skipped": "no Feast registry: `vidrec run feast_apply` never ran"}
    install_duckdb_delta()
    fs, done = open_store(settings), {}
    for name in BATCH_VIEWS:
        last = fs.get_feature_view(name).most_recent_end_time
        if last is not None:
            fs.materialize(start_date=last, end_date=last, feature_views=[name])
            done[name] = last.isoformat()
    log.info("re-materialized %s", done)
    return {"materialized": done}
