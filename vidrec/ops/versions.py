"""`vidrec publish status|rollback|restore|promote` and `vidrec publish --canary PCT`: the versions Redis serves.

A canary publishes a run as a new version without the flip: PCT % of users (a hash of their id and the version,
``vidrec.experiments.canary``) get it on every surface, the others the served version. ``promote`` flips to it;
``rollback`` (or a failed guardrail) withdraws it, and its users return at the API's next pointer read.

``restore`` serves again after Redis lost its data (a new machine, a deleted data folder). When Redis has no
active version (or its meta is gone) while a nightly run passed its evaluation gate, the newest such run is
published again (``models.publish.run``) and the Feast online store gets back the days it last held
(``feast_jobs.rematerialize``). With a version active it does nothing: a restart of the private redis-server
keeps its data in the append-only file, so there is nothing to restore. `vidrec services up` runs it after
starting Redis; the API starts it in a child process when it finds no version.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vidrec.settings import Settings

log = logging.getLogger("vidrec.versions")


def action(settings: Settings, name: str) -> dict:
    """status, rollback, promote (``RecoStore``) or restore; StoreError / PublishRefused say why one cannot be
    done."""
    if name == "restore":
        return restore(settings)
    from vidrec.recstore.writer import RecoStore

    store = RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    return {"rollback": store.rollback, "promote": store.promote}.get(name, store.status)()


def canary(settings: Settings, percent: float, ds: str | None = None) -> dict:
    """Publish run ``ds`` (default: the newest gated one) to ``percent`` % of users beside the served version."""
    if not 0 < percent < 100:
        raise ValueError(f"--canary takes a percentage between 0 and 100, not {percent:g}")
    days = [ds] if ds else gated_runs(settings)
    if not days:
        raise ValueError("no nightly run passed its gate yet: nothing to publish as a canary")
    from models import publish

    return {"canary": percent, "ds": days[0], **publish.run(settings, days[0], canary=percent / 100)}


def gated_runs(settings: Settings) -> list[str]:
    """The days of the nightly runs whose manifest says the evaluation gate passed, newest first."""
    runs = Path(settings.artifact_root) / "runs"
    if not runs.exists():
        return []
    from models import publish

    days = []
    for ds in sorted((p.name for p in runs.iterdir() if p.is_dir()), reverse=True):
        try:
            publish.check_gate(publish.read_manifest(settings, ds))
        except publish.PublishRefused:
            continue
        days.append(ds)
    return days


def restore(settings: Settings) -> dict:
    """Publish the newest gated run and re-materialize Feast when nothing is served; else say what is."""
    from vidrec.recstore.writer import RecoStore

    store = RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    active = store.active_version()
    if active is not None and store.meta(active):
        return {"restored": False, "active": active, "reason": "a version is served"}
    days = gated_runs(settings)
    if not days:
        return {"restored": False, "active": None, "reason": "no nightly run passed its gate yet"}
    from models import publish
    from spark_jobs.features import feast_jobs

    published = publish.run(settings, days[0], store)
    features = feast_jobs.rematerialize(settings)
    log.info("restored: published the run of %s as %s; %s", days[0], published["version"], features)
    return {"restored": True, "ds": days[0], "active": published["version"], "keys": published["keys"],
            "features": features}
