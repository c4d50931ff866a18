"""The next home request reflects what the user just did (``serving.state.UserState``).

``related_to`` reads, for the user's seeds (liked videos first, then watched, most recent first), each seed's
published related list and its catalog row, all in one pipelined round trip (none for what the reader holds in
memory already: ``AsyncRecoStore.held_list``, ``video``), within the overlay's time budget
(late or failing: no reaction, the feed is served as before; /healthz and /metrics count ``reactions`` and
``reaction_failures``). ``blend`` then builds the feed: up to half of it
(``BLEND_SHARE``) from the seeds' related videos, taken in turns, each with the reason "because you watched X"
("liked" for a liked seed) and source ``realtime``; then the list itself; nothing hidden, nothing twice; and
everything the state sinks (skipped videos, videos shown IMPRESSIONS_TO_SINK times without a click, videos of a
creator the user disliked) moved after the rest. A user without a list of their own (first visit) gets the
cold-start list led by videos related to what they just did.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from serving.policy import heads
from serving.state import UserState
from vidrec.recstore.keys import IX_CREATOR, IX_VIDEO, RELATED, VIDEO

SEEDS = 3
BLEND_SHARE = 0.5
SOURCE = "realtime"


async def related_to(store, version: str, state: UserState, budget_s: float) -> list[tuple[str, str, Sequence]]:
    """[(seed, reason, related rows)] for the seeds that have a related list. Raises TimeoutError past
    ``budget_s`` and StoreUnavailable when Redis fails (the caller serves the feed without the reaction)."""
    seeds = state.seeds(SEEDS)
    if not seeds:
        return []
    reads = [store.held_list(RELATED, s, version) for s in seeds] + [store.video(s, version) for s in seeds]
    if all(store.holds(RELATED, s, version) and store.holds(VIDEO, s, version) for s in seeds):
        found = [await read for read in reads]  # all in memory: no round trip, no task
    else:
        async with asyncio.timeout(budget_s):
            found = await asyncio.gather(*reads)
    lists, videos, liked = found[:len(seeds)], found[len(seeds):], set(state.liked)
    out = []
    for seed, listed, video in zip(seeds, lists, videos):
        if listed is not None:
            title = (video[1] if video else None) or seed
            out.append((seed, f"because you {'liked' if seed in liked else 'watched'} {title}", listed.rows))
    return out


Pick = tuple  # (rows, i, reason, source): item i of a list, with the reaction's reason and source (None: its own)


def blend(rows: Sequence, related: list[tuple[str, str, Sequence]], state: UserState, count: int,
          exclude: str | None = None, share: float = BLEND_SHARE) -> list[Pick]:
    """The feed as picks (``serving.render.picks_json``): the seeds' related videos first, then ``rows``, hidden
    ones left out, sunk ones last, at most ``count`` (``share`` of them at most from the seeds)."""
    hidden_videos, hidden_creators = state.hidden(exclude, *(seed for seed, _, _ in related))
    sunk_videos, sunk_creators = state.sunk()
    taken: set[str] = set()

    def fresh(head) -> bool:
        video = head[IX_VIDEO]
        ok = video not in hidden_videos and video not in taken and head[IX_CREATOR] not in hidden_creators
        if ok:
            taken.add(video)
        return ok

    def sinks(head) -> bool:
        return head[IX_VIDEO] in sunk_videos or head[IX_CREATOR] in sunk_creators

    picked = []  # (pick, sinks)
    streams = [(reason, listed, heads(listed), iter(range(len(listed)))) for _, reason, listed in related]
    while streams and len(picked) < math.ceil(count * share):
        reason, listed, head_at, stream = streams.pop(0)
        for i in stream:
            head = head_at(i)
            if fresh(head):
                picked.append(((listed, i, reason, SOURCE), sinks(head)))
                streams.append((reason, listed, head_at, stream))
                break
    ahead, head_at = sum(not sunk for _, sunk in picked), heads(rows)
    for i in range(len(rows)):  # the list, until count items that do not sink are held (or it ends)
        if ahead >= count:
            break
        head = head_at(i)
        if fresh(head):
            sunk = sinks(head)
            picked.append(((rows, i, None, None), sunk))
            ahead += not sunk
    return ([p for p, sunk in picked if not sunk] + [p for p, sunk in picked if sunk])[:count]
