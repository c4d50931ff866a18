"""The API's in-memory copy of the catalog's display fields, per version. Stdlib and numpy.

Lists carry, per item, the video's position in the version's catalog (``vidrec.recstore.codec``); the
display fields come from the version's ``video:<video_id>`` rows. The reader keeps them here, per version,
in a list by that position, filled lazily: the first request that meets a video pays one extra round trip
(a pipelined GET of every video of its list not yet held), every later request none. A lookup is a list
index (no hashing, no string compare) and a check in a bytearray of the positions held, so a request
touches only the rows it serves. Bounded two ways: at most ``max_versions`` versions (the active one, the
one before it for a rollback, one more for a pointer that is still cached), the least recently used
dropped first; and per version at most ``max_videos`` rows (past that the version starts over, keeping
the rows of the request at hand). A version's rows never change (versions are immutable), so nothing
here ever needs invalidating.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from typing import Mapping

import numpy as np

DEFAULT_MAX_VIDEOS = 1_000_000
DEFAULT_MAX_VERSIONS = 3


class VersionCatalog:
    """One version's catalog rows by catalog position: ``rows[i]`` = (video_id, title, creator_id, category,
    duration_ms) of the video at position i (1-based; 0 = "not in the catalog"), when held."""

    def __init__(self, max_videos: int = DEFAULT_MAX_VIDEOS):
        self.max_videos, self.held = max_videos, 0
        self.rows: list = [None]
        self.present = np.ones(1, dtype=np.bool_)  # by position: held (position 0, "not in the catalog", always)
        self.rendered: dict = {}  # position -> its display fields as the API renders them (serving.render)

    def __len__(self) -> int:
        return self.held

    def missing(self, indexes: array) -> list[int]:
        """Positions in ``indexes`` (item order) whose row is not held; [] in the steady state."""
        if not indexes:
            return []
        positions = np.frombuffer(indexes, dtype=np.uint32)  # no copy; one vectorized check, not a loop
        self._grow(int(positions.max()))
        held = self.present[positions]
        return [] if held.all() else np.flatnonzero(~held).tolist()

    def add(self, rows: Mapping[int, tuple], keep: array = array("I")) -> list:
        """Hold ``rows`` (position -> row); returns the list to join with, which holds them and ``keep``.
        Past ``max_videos`` rows the version starts over in a new list and ``rendered`` (Rows made earlier keep
        the old ones)."""
        if self.held + len(rows) > self.max_videos:
            old, size = self.rows, len(self.rows)
            self.rows, self.present, self.held, self.rendered = [None] * size, np.zeros(size, np.bool_), 0, {}
            self.present[0] = 1
            self._put({index: old[index] for index in keep if 0 < index < size and old[index] is not None})
        self._put(rows)
        return self.rows

    def _grow(self, top: int) -> None:
        if top >= len(self.rows):
            grow = top + 1 - len(self.rows)
            self.rows.extend([None] * grow)  # in place: Rows made earlier keep their list
        if top >= len(self.present):  # doubling: a version's first requests grow it often
            self.present = np.concatenate([self.present, np.zeros(max(top + 1, 2 * len(self.present)) -
                                                                  len(self.present), np.bool_)])

    def _put(self, rows: Mapping[int, tuple]) -> None:
        self._grow(max(rows, default=0))
        for index, row in rows.items():
            if not self.present[index]:
                self.held += 1
                self.present[index] = True
            self.rows[index] = row


class CatalogCache:
    """Per-version ``VersionCatalog``s, at most ``max_versions`` of them (least recently used dropped)."""

    def __init__(self, max_videos: int = DEFAULT_MAX_VIDEOS, max_versions: int = DEFAULT_MAX_VERSIONS):
        self.max_videos, self.max_versions = max_videos, max_versions
        self._versions: OrderedDict[str, VersionCatalog] = OrderedDict()

    def of(self, version: str) -> VersionCatalog:
        found = self._versions.get(version)
        if found is None:
            found = self._versions[version] = VersionCatalog(self.max_videos)
            while len(self._versions) > self.max_versions:
                self._versions.popitem(last=False)
        elif next(reversed(self._versions)) != version:
            self._versions.move_to_end(version)
        return found

    def versions(self) -> list[str]:
        return list(self._versions)
