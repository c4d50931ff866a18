"""The per-user ordering of re-ranking (rules 2 and 3 of ``models.ranking.rerank``), compiled with numba.

``order_users`` orders every user's items in one call: items arrive as integer codes (video, creator)
grouped by user and sorted best first, so the loop runs in machine code instead of a Python loop per
user and per slot (about 100x faster; at 150k users the Python version took minutes).

For each slot: creators already placed ``max_per_window`` times among the previous ``window - 1`` slots
are blocked, and so is the previous slot's creator; a reserved exploration slot takes the best
not-yet-used exploration item of an unblocked creator, any other slot (or an exploration slot without
one) the best such main item; when nothing fits, the list ends. "Best" is the first in the given order,
so a scan from the first unused item finds it.
"""

from __future__ import annotations

import numpy as np

_KERNEL = None


def _compile():
    """The numba kernel, compiled on first use (importing numba costs a second; serving never needs it)."""
    global _KERNEL, _take
    if _KERNEL is None:
        from numba import njit

        _take = njit(_take, cache=True)  # numba resolves the global when it compiles the kernel
        _KERNEL = njit(_order_users, cache=True)
    return _KERNEL


def _take(lo, hi, vids, creators, used, counts, last, max_per_window):
    """Index of the first item in [lo, hi) whose video is unused and creator unblocked, else -1."""
    for i in range(lo, hi):
        c = creators[i]
        if not used[vids[i]] and c != last and counts[c] < max_per_window:
            return i
    return -1


def _order_users(starts, stops, vids, creators, pstarts, pstops, pvids, pcreators, slots, n_out,
                 max_per_window, window, n_videos, n_creators):
    """Per user u: items [starts[u], stops[u]) and exploration items [pstarts[u], pstops[u]); ``slots[u, p]``
    reserves slot p for exploration. Returns (user, row, from_pool, rank) of every placed item."""
    n_users = len(starts)
    out_user = np.empty(n_users * n_out, np.int64)
    out_row = np.empty(n_users * n_out, np.int64)
    out_pool = np.empty(n_users * n_out, np.bool_)
    out_rank = np.empty(n_users * n_out, np.int64)
    used = np.zeros(n_videos, np.bool_)
    counts = np.zeros(n_creators, np.int64)
    recent = np.empty(max(window - 1, 1), np.int64)
    n = 0
    for u in range(n_users):
        head, phead, placed, first = starts[u], pstarts[u], 0, n
        for pos in range(n_out):
            while head < stops[u] and used[vids[head]]:
                head += 1
            while phead < pstops[u] and used[pvids[phead]]:
                phead += 1
            last = recent[(placed - 1) % len(recent)] if placed > 0 and window > 1 else -1
            pick, from_pool = -1, False
            if slots[u, pos]:
                pick = _take(phead, pstops[u], pvids, pcreators, used, counts, last, max_per_window)
                from_pool = pick >= 0
            if pick < 0:
                pick = _take(head, stops[u], vids, creators, used, counts, last, max_per_window)
            if pick < 0:
                break
            vid, creator = (pvids[pick], pcreators[pick]) if from_pool else (vids[pick], creators[pick])
            used[vid] = True
            if window > 1:
                if placed >= window - 1:
                    counts[recent[placed % len(recent)]] -= 1
                recent[placed % len(recent)] = creator
                counts[creator] += 1
            placed += 1
            out_user[n], out_row[n], out_pool[n], out_rank[n] = u, pick, from_pool, pos + 1
            n += 1
        for j in range(first, n):  # reset this user's marks: the arrays are shared by all users
            used[pvids[out_row[j]] if out_pool[j] else vids[out_row[j]]] = False
        for j in range(max(0, placed - (window - 1)), placed):
            counts[recent[j % len(recent)]] = 0
    return out_user[:n], out_row[:n], out_pool[:n], out_rank[:n]


def order_users(starts, stops, vids, creators, pstarts, pstops, pvids, pcreators, slots: np.ndarray, n_out: int,
                max_per_window: int, window: int):
    """(user, row, from_pool, rank) arrays: see the module docstring. Codes are non-negative int64."""
    as64 = [np.ascontiguousarray(a, dtype=np.int64) for a in (starts, stops, vids, creators, pstarts, pstops,
                                                             pvids, pcreators)]
    n_videos = int(max(as64[2].max(initial=-1), as64[6].max(initial=-1))) + 1
    n_creators = int(max(as64[3].max(initial=-1), as64[7].max(initial=-1))) + 1
    slots = np.ascontiguousarray(slots, dtype=np.bool_).reshape(len(as64[0]), n_out)
    return _compile()(*as64, slots, int(n_out), int(max_per_window), int(window), max(n_videos, 1),
                      max(n_creators, 1))
