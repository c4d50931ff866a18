"""Simulated users who answer served feeds, for A/B tests without real traffic.

An ``Audience`` knows each simulated user's tastes: their favourite categories (``from_history``: the TOP
categories of their positive interactions, so it works on any lake, MovieLens or the synthetic stream, whose users
watch their favourite categories most). ``answer`` turns one feed response into the events its user sends back,
by the synthetic generator's own model: the user looks at the item at position p with probability EXAMINE^(p-1),
and a looked-at item yields an impression, then maybe a click, watch, like, share, dislike, skip or
not-interested, likelier in the user's favourite categories (``synthetic_events.outcomes``). Every event carries
the response's ``rec_id`` and the item's ``position``, so the lake can join it to what was served. A feed that
matches tastes better gets more watches: what an experiment should measure.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from vidrec.sources.synthetic_events import KINDS, outcomes

EXAMINE = 0.85
TOP = 2


class Audience:
    """Users with favourite categories, answering feeds by them."""

    def __init__(self, tastes: dict[str, frozenset[str]]):
        self.tastes = tastes

    @classmethod
    def from_history(cls, rows, top: int = TOP) -> "Audience":
        """From (user_id, category) pairs of positive interactions: each user's ``top`` categories."""
        counts: dict[str, Counter] = {}
        for user, category in rows:
            counts.setdefault(user, Counter())[category] += 1
        return cls({u: frozenset(c for c, _ in n.most_common(top)) for u, n in counts.items()})

    def answer(self, user_id: str, feed: dict, surface: str, rng, now: dt.datetime) -> list[dict]:
        """The events ``user_id`` sends after being served ``feed`` (an API feed response) at ``now``."""
        import numpy as np

        items = feed["items"]
        looked = [p for p in range(len(items)) if rng.random() < EXAMINE ** p]
        if not looked:
            return []
        liked = self.tastes.get(user_id, frozenset())
        in_taste = np.array([items[p]["category"] in liked for p in looked])
        duration = np.array([items[p]["duration_ms"] or 60_000 for p in looked], dtype=np.int64)
        flags, watch_ms = outcomes(rng, in_taste, duration)
        out = []
        for k, p in enumerate(looked):
            for j in np.flatnonzero(flags[k]):
                ts = now + dt.timedelta(seconds=2 * p, milliseconds=int(j) * 300)
                out.append({"event_id": f"sim-{feed['rec_id']}-{p + 1}-{KINDS[j]}", "user_id": user_id,
                            "video_id": items[p]["video_id"], "event_type": KINDS[j],
                            "watch_ms": int(watch_ms[k]) if KINDS[j] == "watch" else 0,
                            "ts": ts.isoformat().replace("+00:00", "Z"), "session_id": f"sim-{feed['rec_id']}",
                            "device": None, "region": None, "surface": surface, "rec_id": feed["rec_id"],
                            "position": p + 1})
        return out
