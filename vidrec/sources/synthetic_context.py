"""The synthetic stream's context: each session's device, and how the context changes how far a video is watched.

A session is on the user's own device with P_OWN_DEVICE, else on one drawn by DEVICE_SHARES. An exposure's
context has a length taste b: the sum of its device's, its UTC daypart's (hours 0-5, 6-11, 12-17, 18-23), its
part of the week's and its session depth's (watches earlier in the session: 0, 1-3, 4 or more; the bands of
``vidrec.context``). A watch's fraction is multiplied by exp(b x z), z = log10(duration / 45 s) clipped to
[-1, 1.5]; it exceeds 1 only for a replay (``in_context``). Which videos are watched does not depend on it.

On a TV, in the evening, at the weekend and at a session's first video long videos are watched further; on a
phone, in the morning and deep into a session, short ones. It is the effect the request context
model (``vidrec.context``) learns. The session devices have an RNG of their own (``[seed, 2, b]``), so every
other draw is that of a stream without them.
"""

from __future__ import annotations

from vidrec.context import DAYPART_STARTS, DEPTH_STARTS, WEEKPART_STARTS
from vidrec.sources.synthetic_catalog import DAY_US, DEVICE_SHARES, weighted_choice

P_OWN_DEVICE = 0.7
DEVICE_LENGTH_TASTE = (-0.3, -0.3, 0.1, 0.6)  # per DEVICES: android, ios, web, tv
DAYPART_LENGTH_TASTE = (0.0, -0.15, 0.0, 0.25)  # night, morning, afternoon, evening
WEEKPART_LENGTH_TASTE = (0.0, 0.2)  # weekday, weekend (Saturday, Sunday)
DEPTH_LENGTH_TASTE = (0.2, 0.0, -0.3)  # first, early, deep


def session_devices(rng, u_device, exp: dict):
    """Each exposure's device: its session's, the user's own (``u_device``) with P_OWN_DEVICE, else any."""
    import numpy as np

    first = np.flatnonzero(exp["new"])
    own = u_device[exp["user"][first]]
    other = weighted_choice(rng, DEVICE_SHARES, len(first))
    return np.where(rng.random(len(first)) < P_OWN_DEVICE, own, other)[exp["session"]]


def earlier_watches(exp: dict, watched):
    """Per exposure: how many exposures of its session before it were watched."""
    import numpy as np

    before = np.cumsum(watched) - watched
    return before - before[np.flatnonzero(exp["new"])][exp["session"]]


def in_context(watch_ms, duration, device, start_us, earlier):
    """Watch times under the context's length taste; 0 stays 0. ``earlier``: watches earlier in the session."""
    import numpy as np

    def index(starts, values):  # the band of vidrec.context each value is in
        return np.searchsorted(starts[1:], values, side="right")

    hour = (start_us // 3_600_000_000) % 24
    weekday = (start_us // DAY_US + 3) % 7  # 1970-01-01 was a Thursday
    taste = (np.asarray(DEVICE_LENGTH_TASTE)[device] + np.asarray(DAYPART_LENGTH_TASTE)[index(DAYPART_STARTS, hour)]
             + np.asarray(WEEKPART_LENGTH_TASTE)[index(WEEKPART_STARTS, weekday)]
             + np.asarray(DEPTH_LENGTH_TASTE)[index(DEPTH_STARTS, earlier)])
    z = np.clip(np.log10(np.maximum(duration, 1) / 45_000.0), -1.0, 1.5)
    fraction = watch_ms / np.maximum(duration, 1)
    scaled = np.minimum(fraction * np.exp(taste * z), np.maximum(fraction, 1.0))
    return np.rint(duration * scaled).astype(np.int64)
