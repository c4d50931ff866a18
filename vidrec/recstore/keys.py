"""The key scheme and row layout of the recommendation store, and its errors. Stdlib only.

Key scheme (a "version" is one published run, e.g. ``2026-11-01-1a2b3c4d``):

  {vidrec}:active                         string  the version being served
  {vidrec}:versions                       list    activation stack, newest first; head == active
  vidrec:v:<version>:home:<user_id>       string  packed list, best first (topn + spares for the overlay)
  vidrec:v:<version>:related:<video_id>   string  packed list
  vidrec:v:<version>:trending:<region>    string  packed list ("global" too)
  vidrec:v:<version>:coldstart:<region>   string  packed list ("global" too)
  vidrec:v:<version>:video:<video_id>     string  JSON catalog row [video_id, title, creator_id, category, duration_ms]
  vidrec:v:<version>:meta                 hash    created_at, ds, params_digest, keys, counts, metrics, pinned
  vidrec:v:<version>:pending / :lock      string  a publish of <version> is (or was, if it crashed) under way

A list as served is rows ``[video_id, title, creator_id, category, duration_ms, score, reason, source]``
(ITEM_FIELDS). Stored, a list holds only what is its own: per item the video id and its position in the
version's catalog, the score (6 decimals) and two indexes into the list's table of distinct reasons and
sources, zlib-compressed (``vidrec.recstore.codec``): ~2 KB for 150 items, where the rows with their
display fields inline took ~19 KB. The display fields are stored once per version, in the ``video:`` rows,
and the API holds those it has met in memory (``vidrec.recstore.catalog``): a feed request is still one GET.

Redis Cluster: the two control keys share the hash tag ``{vidrec}``, so the flip and the rollback (Lua
scripts over both) run in one slot. Data keys carry NO hash tag on purpose: tagging them ``{<version>}``
would pin a whole version (hundreds of MB) to one slot and one shard. Nothing needs them together: a
reader does single-key GETs (a catalog miss is a pipeline of them), the writer's and the reader's
pipelines are split per node by the cluster client, and old versions go away by TTL, never by a
multi-key delete.

How a version is written, activated, pinned and expired: ``vidrec.recstore.writer``.
"""

from __future__ import annotations

import re

KEY_ACTIVE = "{vidrec}:active"
KEY_VERSIONS = "{vidrec}:versions"
HOME, RELATED, TRENDING, COLDSTART, VIDEO = "home", "related", "trending", "coldstart", "video"
CATEGORY, FRESH = "category", "fresh"
COLLECTIONS = (HOME, RELATED, TRENDING, COLDSTART, CATEGORY, FRESH, VIDEO)
ITEM_FIELDS = ("video_id", "title", "creator_id", "category", "duration_ms", "score", "reason", "source")
VIDEO_FIELDS = ITEM_FIELDS[:5]
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


def check_version(version: str) -> str:
    if not _VERSION_RE.match(version or ""):
        raise ValueError(f"bad version {version!r}: 1-64 of [A-Za-z0-9._-], starting with a letter or digit")
    return version
