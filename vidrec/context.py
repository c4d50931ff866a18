"""The request context model: how the context a feed is asked in (device, time of day) changes which videos of a
precomputed list fit it, by the video's length. One definition, used by the nightly that fits and measures it
and by the API that applies it.

The lists are computed nightly, without the request; a user watches long videos on a TV in the evening and short
ones on a phone at lunch. The nightly learns, per context dimension (``device``, ``daypart``), value (``tv``,
``evening``) and duration band (``EDGES_MS``), a log lift: how much more (or less) of a video of that band is
watched in that context than the band's and the context's own averages predict (``spark_jobs.features.context``,
from the watch events of the last 30 days). At request time a list item's score gains

    weight x sum over the request's dimensions of log_lift[dimension][value][band(duration_ms)]

and the list is re-sorted by it. ``weight`` is chosen by the nightly's evaluation on its holdout day
(``models.evaluation.context_gate``): 0 unless re-sorting clearly helped there (beyond the day's noise), so the
model is only applied where it was measured to help (an experiment arm may set its own weight, to test the
lifts online). Unknown values, missing durations and an absent model add 0.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

EDGES_MS = (30_000, 120_000, 600_000)  # duration bands: < 30 s, 30 s-2 min, 2-10 min, >= 10 min
DAYPART_STARTS = (0, 6, 12, 18)  # UTC hours where a daypart begins
DAYPARTS = ("night", "morning", "afternoon", "evening")
DIMENSIONS = ("device", "daypart")
WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # the weights the evaluation tries (scores are probabilities)
MAX_ABS_LIFT = 2.0  # a stored log lift beyond this is refused (a corrupt or hand-edited model)


def band(duration_ms) -> int | None:
    """The duration band (0..len(EDGES_MS)) of a video length in ms; None when unknown or not positive."""
    if duration_ms is None or isinstance(duration_ms, bool) or not duration_ms > 0:
        return None
    return bisect.bisect_right(EDGES_MS, duration_ms)


def daypart(hour: int) -> str:
    """The daypart of a UTC hour (0-23)."""
    return DAYPARTS[bisect.bisect_right(DAYPART_STARTS, hour) - 1]


def request_context(device: str | None, at: dt.datetime) -> dict[str, str]:
    """The context of a request made at ``at`` (UTC) on ``device`` (None: not said)."""
    out = {"daypart": daypart(at.astimezone(dt.timezone.utc).hour)}
    return out if device is None else {"device": device, **out}


@dataclass(frozen=True)
class ContextModel:
    """``lifts[dimension][value]``: a log lift per duration band; ``weight``: how much a lift moves a score."""

    weight: float = 0.0
    lifts: Mapping[str, Mapping[str, Sequence[float]]] = field(default_factory=dict)

    def offsets(self, context: Mapping[str, str]) -> list[float]:
        """What a video of each band gains in ``context`` (weight x the sum of the lifts of its values)."""
        out = [0.0] * (len(EDGES_MS) + 1)
        for dimension, value in context.items():
            lift = self.lifts.get(dimension, {}).get(value)
            if lift is not None:
                out = [o + self.weight * x for o, x in zip(out, lift)]
        return out

    def resorted(self, scores: Sequence[float], durations: Sequence, context: Mapping[str, str]) -> list[int]:
        """The positions of a list (``scores`` best first, ``durations`` in ms) in the order the context gives
        them: by score + offset, ties in list order. The list's own order when nothing applies."""
        offsets = self.offsets(context) if self.weight else None
        if not offsets or not any(offsets):
            return list(range(len(scores)))
        adjusted = [s if d is None or not d > 0 else s + offsets[bisect.bisect_right(EDGES_MS, d)]
                    for s, d in zip(scores, durations)]  # band(d), inline: every home request runs this
        return sorted(range(len(adjusted)), key=lambda i: -adjusted[i])  # stable: ties keep the list's order

    def to_json(self) -> dict:
        return {"weight": self.weight, "edges_ms": list(EDGES_MS),
                "lifts": {d: {v: [round(x, 6) for x in lift] for v, lift in values.items()}
                          for d, values in self.lifts.items()}}

    @classmethod
    def from_json(cls, obj) -> "ContextModel | None":
        """The model ``to_json`` wrote; None for anything else (no model, another band layout, bad numbers):
        the caller then serves the lists as they are."""
        if not isinstance(obj, Mapping) or list(obj.get("edges_ms") or []) != list(EDGES_MS):
            return None
        weight, lifts = obj.get("weight"), obj.get("lifts")
        if not _finite(weight) or weight < 0 or not isinstance(lifts, Mapping):
            return None
        clean = {}
        for dimension, values in lifts.items():
            if dimension not in DIMENSIONS or not isinstance(values, Mapping):
                return None
            for lift in values.values():
                if not isinstance(lift, list) or len(lift) != len(EDGES_MS) + 1 or not all(
                        _finite(x) and abs(x) <= MAX_ABS_LIFT for x in lift):
                    return None
            clean[dimension] = {str(v): [float(x) for x in lift] for v, lift in values.items()}
        return cls(float(weight), clean)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
