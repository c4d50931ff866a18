"""`vidrec privacy`: forget users everywhere they live, from the queue of requests (``vidrec.privacy``).

``process`` takes every queued request and removes their users in one pass over each store:

- ``tables``: the Delta tables and their old file versions (``spark_jobs.privacy.forget_in_tables``);
- ``landing`` and ``staging``: files not yet ingested or not yet committed, and those kept after ingest;
- ``artifacts``: the runs' Parquet files and ALS factors (``models.privacy``);
- ``recommendations``: the users' lists in every version in Redis (``vidrec.recstore.privacy``);
- ``features_online``: their hash in Feast's Redis online store (batch features and the real-time overlay);

then asks Redis to rewrite its append-only file (and snapshot, if it takes them), so the deleted keys leave
the disk too. A request whose user still appears in a landing file the API is writing (``deferred``) stays
queued for the next run; the others get their audit record (``vidrec.privacy.finish``). Every step is
idempotent, so a run that fails half-way is simply run again (the privacy_daily DAG retries it).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from vidrec import privacy
from vidrec.settings import Settings

log = logging.getLogger("vidrec.privacy")


def forget_online(settings: Settings, users) -> int:
    """Delete the users' hashes in Feast's Redis online store; returns how many existed."""
    import redis

    from vidrec.feast_config import online_key, repo_config

    config = repo_config(settings)
    version = config.entity_key_serialization_version
    pipe = redis.Redis.from_url(settings.redis_url).pipeline(transaction=False)
    for user in users:  # one key per command: the keys may live on different nodes of a cluster
        pipe.delete(online_key(config.project, version, str(user)))
    return sum(pipe.execute())


def _rewrite_persistence(settings: Settings) -> dict:
    """Rewrite what Redis keeps on disk, so the deleted keys' old writes leave it too: the append-only file
    (BGREWRITEAOF) when there is one, a snapshot (BGSAVE) when snapshots are configured."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    config = client.config_get("appendonly") | client.config_get("save")
    done = {"aof": config.get("appendonly") == "yes", "snapshot": bool(config.get("save", "").strip())}
    for wanted, command in ((done["aof"], client.bgrewriteaof), (done["snapshot"], lambda: client.bgsave(True))):
        try:
            if wanted:
                command()
        except redis.ResponseError as exc:  # one is already under way: Redis runs this one after it
            log.info("Redis persistence rewrite: %s", exc)
    return done


def forms(settings: Settings, users) -> list[str]:
    """Every id the users may be stored under: as given (producers' landing files keep clear ids) and, when
    pseudonymizing, their pseudonyms (everything ingest and the API wrote)."""
    return sorted({str(u) for u in users} | {privacy.lake_id(settings, str(u)) for u in users})


def forget(settings: Settings, users, now: dt.datetime | None = None) -> dict:
    """Remove ``users`` (clear ids) from every store; {store: what it removed} plus ``seconds``."""
    import redis

    from models.privacy import forget_in_artifacts
    from spark_jobs.privacy import forget_in_landing, forget_in_staging, forget_in_tables
    from vidrec.recstore import privacy as recstore_privacy

    users, started, removed = forms(settings, users), time.monotonic(), {}
    steps = {
        "landing": lambda: forget_in_landing(settings, users, now),  # first: nothing re-ingests them meanwhile
        "staging": lambda: forget_in_staging(settings, users),
        "tables": lambda: forget_in_tables(settings, users),
        "artifacts": lambda: forget_in_artifacts(settings, users),
        "recommendations": lambda: recstore_privacy.forget(redis.Redis.from_url(settings.redis_url), users),
        "features_online": lambda: {"keys": forget_online(settings, users)},
    }
    for store, step in steps.items():
        t0 = time.monotonic()
        removed[store] = step()
        log.info("forget %d user(s): %s %s in %.1f s", len(users), store, removed[store], time.monotonic() - t0)
    removed["redis_rewritten"] = _rewrite_persistence(settings)
    return {**removed, "seconds": round(time.monotonic() - started, 2)}


def process(settings: Settings, now: dt.datetime | None = None) -> dict:
    """Carry out every queued request; {"requests", "done", "deferred", "removed", "seconds"}."""
    requests = privacy.pending(settings)
    if not requests:
        return {"requests": 0, "done": 0, "deferred": 0, "removed": {}, "seconds": 0.0}
    from spark_jobs.privacy import live_users

    removed = forget(settings, [r["user_id"] for r in requests], now)
    waiting = live_users(settings, forms(settings, [r["user_id"] for r in requests]), now) \
        if removed["landing"]["deferred"] else set()
    done = 0
    report = {**removed, "requests_in_run": len(requests)}  # what a run removed is for all of its users
    for request in requests:
        if waiting & set(forms(settings, [request["user_id"]])):
            privacy.defer(settings, request, report)
            continue
        privacy.finish(settings, request, report)
        done += 1
    return {"requests": len(requests), "done": done, "deferred": len(requests) - done, "removed": removed,
            "seconds": removed["seconds"]}
