"""Old run folders (``<artifact_root>/runs/<ds>``) out of the way: the weekly maintenance keeps the newest
``KEEP_RUNS`` runs (the gate compares with the previous ones, ``vidrec publish restore`` republishes the newest
gated one) and every run a version still in Redis was published from (a rollback may serve it again, and the hourly
layers read their base's run), and removes the others."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from vidrec import dates
from vidrec.settings import Settings

log = logging.getLogger("vidrec.maintenance")
KEEP_RUNS = 7


def published_days(settings: Settings) -> set[str]:
    """The ``ds`` of every version whose meta is still in Redis (none when Redis cannot be reached: then
    nothing is removed that the newest runs do not cover, see ``clean_runs``)."""
    from vidrec.recstore import privacy
    from vidrec.recstore.writer import RecoStore

    store = RecoStore.from_url(settings.redis_url)
    return {store.meta(v).get("ds") for v in privacy.versions(store.r)} - {None}


def clean_runs(settings: Settings, keep: int = KEEP_RUNS) -> dict:
    """{"kept": [...], "removed": [...]} run days. When Redis does not answer, nothing is removed."""
    import redis

    root = Path(settings.artifact_root) / "runs"
    days = sorted(p.name for p in root.iterdir() if p.is_dir() and _is_day(p.name)) if root.is_dir() else []
    try:
        needed = published_days(settings)
    except redis.RedisError as exc:
        log.warning("run folders: Redis does not answer (%s); none removed", exc)
        return {"kept": days, "removed": [], "note": f"Redis: {type(exc).__name__}"}
    kept = sorted(set(days[-keep:]) | (needed & set(days)))
    removed = [d for d in days if d not in kept]
    for day in removed:
        shutil.rmtree(root / day)
    return {"kept": kept, "removed": removed}


def _is_day(name: str) -> bool:
    try:
        dates.parse_ds(name)
    except ValueError:
        return False
    return True
