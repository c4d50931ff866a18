"""The request context model: how the context a feed is asked in (device, time of day, day of the week, how deep
into a session) changes which videos of a precomputed list fit it, by the video's length. One definition, used
by the nightly that fits and measures it and by the API that applies it.

The lists are computed nightly, without the request; a user watches long videos on a TV in the evening and short
ones on a phone at lunch, or ten videos into a session. The nightly learns, per context dimension (``DIMENSIONS``),
value (``tv``, ``evening``, ``weekend``, ``deep``) and duration band (``EDGES_MS``), a log lift: how much more (or
less) of a video of that band is watched in that context than the band's and the context's own averages predict
(``spark_jobs.features.context``, from the watch events of the last 30 days). At request time a list item's score
gains

    weight x sum over the request's dimensions of log_lift[dimension][value][band(duration_ms)]

and the list is re-sorted by it. ``weight`` is chosen by the nightly's evaluation on its holdout day
(``models.evaluation.context_gate``): 0 unless re-sorting clearly helped there (beyond the day's noise), so the
model is only applied where it was measured to help (an experiment arm may set its own weight, to test the
lifts online). Unknown values, missing durations and an absent model add 0.

The dimensions, the same at training (``spark_jobs.features.context``, per watch event) and at request time:

- ``device``: the event's or the request's (``android``, ``ios``, ``web``, ``tv``);
- ``daypart``: the UTC hour's part of the day (``daypart``);
- ``weekpart``: ``weekday`` or ``weekend`` (Saturday, Sunday; UTC);
- ``depth``: how many videos the user watched earlier in the same session, in bands: ``first`` (0), ``early``
  (1-3), ``deep`` (4 or more). A session ends when SESSION_GAP_S pass between the end of a watch (its start plus
  its watch time) and the start of the next. At request time the app may say it (``session_depth``, counted the
  same way); else the API counts it from the watch events it received (``serving.state``); with neither, not
  applied.
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
WEEKPART_STARTS = (0, 5)  # days (Monday 0) where a part of the week begins
WEEKPARTS = ("weekday", "weekend")
DEPTH_STARTS = (0, 1, 4)  # earlier watches in the session where a depth band begins
DEPTHS = ("first", "early", "deep")
SESSION_GAP_S = 30 * 60  # seconds without watching that end a session
DIMENSIONS = ("device", "daypart", "weekpart", "depth")
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


def weekpart(weekday: int) -> str:
    """The part of the week of a day (Monday 0 .. Sunday 6, as ``datetime.weekday``)."""
    return WEEKPARTS[bisect.bisect_right(WEEKPART_STARTS, weekday) - 1]


def depth(earlier_watches: int) -> str:
    """The depth band of a request (or a watch) after ``earlier_watches`` (>= 0) watches in its session."""
    return DEPTHS[bisect.bisect_right(DEPTH_STARTS, earlier_watches) - 1]


def request_context(device: str | None, at: dt.datetime, session_depth: int | None = None) -> dict[str, str]:
    """The context of a request made at ``at`` on ``device`` after ``session_depth`` watches in the session
    (None: not said)."""
    utc = at.astimezone(dt.timezone.utc)
    out = {"daypart": daypart(utc.hour), "weekpart": weekpart(utc.weekday())}
    if device is not None:
        out["device"] = device
    if session_depth is not None:
        out["depth"] = depth(session_depth)
    return out


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
