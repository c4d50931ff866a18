"""The key scheme and row layout of the recommendation store, and its errors. Stdlib only.

Key scheme (a "version" is one published run, e.g. ``2026-11-01-1a2b3c4d``):

  {vidrec}:active                         string  the version being served
  {vidrec}:versions                       list    activation stack, newest first; head == active
  {vidrec}:canary                         string  JSON {"version", "share", "started_at"}: a version served to a
                                                  share of users beside the active one (``vidrec.experiments``)
  vidrec:v:<version>:home:<user_id>       string  packed list, best first (topn + spares for the overlay)
  vidrec:v:<version>:related:<video_id>   string  packed list
  vidrec:v:<version>:trending:<region>    string  packed list ("global" too)
  vidrec:v:<version>:coldstart:<region>   string  packed list ("global" too)
  vidrec:v:<version>:category:<genre> · fresh:<region>       packed lists (the category and new-release surfaces)
  vidrec:v:<version>:folded:<user_id>     string  a layer's home list of a user new since its base
  vidrec:v:<version>:video:<video_id>     string  JSON catalog row [video_id, title, creator_id, category, duration_ms]
                                                  (+ thumbnail_url, url when the catalog has them)
  vidrec:v:<version>:meta                 hash    created_at, ds, params_digest, keys, counts, metrics, pinned
                                                  (a layer: base, own)
  vidrec:v:<version>:pending / :lock      string  a publish of <version> is (or was, if it crashed) under way

A list as served is rows ``[video_id, title, creator_id, category, duration_ms, score, reason, source]``
(ITEM_FIELDS), followed by ``thumbnail_url, url`` (LINK_FIELDS) for a video whose catalog row has them. Stored, a list holds only what is its own: per item the video id and its position in the
version's catalog, the score (6 decimals) and two indexes into the list's table of distinct reasons and
sources, zlib-compressed (``vidrec.recstore.codec``): ~2 KB for 150 items, where the rows with their
display fields inline took ~19 KB. The display fields are stored once per version, in the ``video:`` rows,
and the API holds those it has met in memory (``vidrec.recstore.catalog``): a feed request is still one GET.

Redis Cluster: the control keys share the hash tag ``{vidrec}``, so the flip and the rollback (Lua
scripts over them) run in one slot. Data keys carry NO hash tag on purpose: tagging them ``{<version>}``
would pin a whole version (hundreds of MB) to one slot and one shard. Nothing needs them together: a
reader does single-key GETs (a catalog miss is a pipeline of them), the writer's and the reader's
pipelines are split per node by the cluster client, and old versions go away by TTL, never by a
multi-key delete.

Layers: the hourly run publishes only the lists it refreshes (trending, cold-start, new releases, and
home lists of the users who first appeared since the nightly, ``folded``) as a
version of its own whose meta names its ``base`` (the nightly version it lays over) and the collections it
``own``s; every other collection of a layer is read from its base (``read_from``). A layer's ``video:`` rows
are those of its own lists (their catalog positions are the layer's). The flip, the rollback and the pins
are the same as for a whole version; a layer's base stays pinned while the layer is.

How a version is written, activated, pinned and expired: ``vidrec.recstore.writer``.
"""

from __future__ import annotations

import re

KEY_ACTIVE = "{vidrec}:active"
KEY_VERSIONS = "{vidrec}:versions"
KEY_CANARY = "{vidrec}:canary"
HOME, RELATED, TRENDING, COLDSTART, VIDEO = "home", "related", "trending", "coldstart", "video"
CATEGORY, FRESH = "category", "fresh"
FOLDED = "folded"  # a layer's home lists of users new since its base (``models.ranking.new_users``)
COLLECTIONS = (HOME, RELATED, TRENDING, COLDSTART, CATEGORY, FRESH, FOLDED, VIDEO)
ITEM_FIELDS = ("video_id", "title", "creator_id", "category", "duration_ms", "score", "reason", "source")
VIDEO_FIELDS = ITEM_FIELDS[:5]
LINK_FIELDS = ("thumbnail_url", "url")  # optional display fields: after ITEM_FIELDS in a row, when the catalog has any
CATALOG_FIELDS = VIDEO_FIELDS + LINK_FIELDS  # a ``video:`` row (the links left out when both are null)
IX_VIDEO, IX_CREATOR, IX_CATEGORY, IX_SOURCE = 0, 2, 3, 7
DEFAULT_TTL_S = 3 * 86400
MAX_HISTORY = 20
LOCK_TTL_S = 120
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StoreError(RuntimeError):
    """A publish or rollback that must not happen (the serving version stays as it is)."""


class StoreUnavailable(RuntimeError):
    """Redis could not be reached or answered with an error (readers degrade on this)."""


def version_prefix(version: str) -> str:
    return f"vidrec:v:{version}:"


def list_key(version: str, collection: str, entity_id: str) -> str:
    return f"vidrec:v:{version}:{collection}:{entity_id}"


def meta_key(version: str) -> str:
    return f"vidrec:v:{version}:meta"


def layer_of(meta: dict) -> tuple[str, frozenset] | None:
    """(base version, collections it owns) when the meta is a layer's, else None."""
    base = meta.get("base")
    return (base, frozenset(meta.get("own") or ())) if base else None


def read_from(version: str, collection: str, layer: tuple[str, frozenset] | None) -> str:
    """The version whose key holds ``collection`` when ``version`` (with ``layer_of`` its meta) is served."""
    return layer[0] if layer is not None and collection not in layer[1] else version


def check_version(version: str) -> str:
    if not _VERSION_RE.match(version or ""):
        raise ValueError(f"bad version {version!r}: 1-64 of [A-Za-z0-9._-], starting with a letter or digit")
    return version
