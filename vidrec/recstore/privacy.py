"""Forgetting users in the recommendation store: their ``home`` and ``folded`` lists in every version.

Every version still in Redis is found by its ``meta`` key (and a crashed publish by its ``pending`` key), so
versions out of the history but not yet expired are cleaned too. A version's meta counts its keys (the
rollback and the pins check that all of them still exist, ``RecoStore._pin_if_complete``): the count and the
per-collection counts go down by what was deleted, so a version stays whole after forgetting. Lists hold
video ids and reasons (video ids) only; no other key names a user.
"""

from __future__ import annotations

import json

from vidrec.recstore.keys import FOLDED, HOME, list_key, meta_key

PER_USER = (HOME, FOLDED)


def versions(client) -> list[str]:
    """Every version with a meta or pending key in Redis."""
    found = set()
    for suffix in (":meta", ":pending"):
        for key in client.scan_iter(match=f"vidrec:v:*{suffix}", count=1000):
            found.add(key.decode()[len("vidrec:v:"):-len(suffix)])
    return sorted(found)


def forget(client, users) -> dict:
    """Delete the users' lists in every version; {"keys": deleted, "versions": versions that held any}."""
    users, deleted, touched = sorted({str(u) for u in users}), 0, 0
    for version in versions(client):
        pipe = client.pipeline(transaction=False)
        for collection in PER_USER:
            for user in users:
                pipe.delete(list_key(version, collection, user))
        gone = pipe.execute()
        per = {c: sum(gone[i * len(users):(i + 1) * len(users)]) for i, c in enumerate(PER_USER)}
        if not any(per.values()):
            continue
        deleted, touched = deleted + sum(per.values()), touched + 1
        _recount(client, version, per)
    return {"keys": deleted, "versions": touched}


def _recount(client, version: str, gone: dict) -> None:
    meta = meta_key(version)
    if not client.exists(meta):
        return
    client.hincrby(meta, "keys", -sum(gone.values()))
    raw = client.hget(meta, "counts")
    if raw:
        counts = json.loads(raw)
        for collection, n in gone.items():
            if collection in counts:
                counts[collection] = max(int(counts[collection]) - n, 0)
        client.hset(meta, "counts", json.dumps(counts))
