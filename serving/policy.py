"""An experiment arm's re-rank policy (``vidrec.experiments.POLICY_KEYS``), applied to a feed's picks.

- ``creator_max_per_window``: at most that many videos of one creator in any ``Settings.creator_window``
  consecutive items; what breaks it waits for the first slot where it fits (it is never dropped while slots
  are left);
- ``exploration_share``: that share of the slots (evenly spread: slot k is exploratory when
  floor((k + 1) x share) grows) goes to the region's new-release list, source ``exploration``;
- ``blend_share``: the share of the home feed the reaction fills (``serving.reaction.blend``), applied there.

A feed is picks (rows, i, reason, source), as ``serving.reaction.blend`` makes them; the handler asks for
WIDEN times the count before the policy, so a cap has spares to take from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import orjson

from vidrec.recstore.codec import Rows
from vidrec.recstore.keys import IX_CREATOR, IX_VIDEO

RERANKS = frozenset({"creator_max_per_window", "exploration_share"})
WIDEN = 3
EXPLORATION = "exploration"


def heads(rows: Sequence):
    """i -> item i's display fields (video id, title, creator, ...), without building its row."""
    return rows.head if isinstance(rows, Rows) else rows.__getitem__


def as_picks(rows: Sequence, positions: Sequence[int], reason: str | None = None,
             source: str | None = None) -> list[tuple]:
    return [(rows, i, reason, source) for i in positions]


def served_ids(rows: Sequence, positions: Sequence[int]) -> tuple:
    """What the served log records of a plain feed: (the video ids, None), or, when the feed is the first n items
    of a packed list (nothing hidden: the usual case), (the list's stored JSON array of ids, n), which costs no
    work per item (the ingest keeps the first n)."""
    if isinstance(rows, Rows) and (not positions or (positions[0] == 0 and positions[-1] == len(positions) - 1)):
        return orjson.Fragment(rows.packed.ids_json), len(positions)
    return video_ids(rows, positions), None


def video_ids(rows: Sequence, positions: Sequence[int]) -> list[str]:
    """The video ids at ``positions`` (for a packed list: from the catalog rows it was joined with)."""
    if isinstance(rows, Rows):  # the hot path: every feed response is logged
        catalog, indexes = rows.catalog, rows.packed.indexes
        return [catalog[indexes[i]][IX_VIDEO] if indexes[i] else rows.head(i)[IX_VIDEO] for i in positions]
    return [rows[i][IX_VIDEO] for i in positions]


def picked_ids(picks: Sequence[tuple]) -> list[str]:
    out = []
    for rows, i, _, _ in picks:
        if isinstance(rows, Rows):
            index = rows.packed.indexes[i]
            out.append(rows.catalog[index][IX_VIDEO] if index else rows.head(i)[IX_VIDEO])
        else:
            out.append(rows[i][IX_VIDEO])
    return out


def rerank(picks: list[tuple], count: int, policy: dict, window: int, explore: list[tuple] = ()) -> list[tuple]:
    """The first ``count`` picks under the policy; ``explore``: the picks exploration takes from, in order."""
    share = policy.get("exploration_share", 0.0)
    if share > 0 and explore:
        picks = _explore(picks, count, share, explore)
    cap = policy.get("creator_max_per_window")
    return _capped(picks, count, cap, window) if cap else picks[:count]


def _explore(picks: list[tuple], count: int, share: float, explore: list[tuple]) -> list[tuple]:
    """Every exploratory slot takes the next new release not in the feed already."""
    taken = set(picked_ids(picks))
    extra = ((rows, i, "new release", EXPLORATION) for (rows, i, _, _), video in zip(explore, picked_ids(explore))
             if video not in taken)
    out, rest = [], iter(picks)
    for k in range(count):
        pick = next(extra, None) if int((k + 1) * share) > int(k * share) else None
        pick = pick or next(rest, None)
        if pick is None:
            break
        out.append(pick)
    return out + list(rest)


def _capped(picks: list[tuple], count: int, cap: int, window: int) -> list[tuple]:
    out, waiting = [], deque()
    recent = deque(maxlen=max(window - 1, 0))  # the creators of the last window - 1 items

    def fits(pick) -> bool:
        rows, i = pick[0], pick[1]
        return list(recent).count(heads(rows)(i)[IX_CREATOR]) < cap

    def take(pick) -> None:
        out.append(pick)
        recent.append(heads(pick[0])(pick[1])[IX_CREATOR])

    for pick in picks:
        if len(out) >= count:
            break
        for held in list(waiting):
            if fits(held) and len(out) < count:
                waiting.remove(held)
                take(held)
        if len(out) < count:
            take(pick) if fits(pick) else waiting.append(pick)
    while waiting and len(out) < count:  # nothing else is left: the waiting ones rather than a short feed
        take(waiting.popleft())
    return out
