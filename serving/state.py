"""What the real-time overlay knows about a user right now (``UserState``) and how each event changes it.

One Feast feature per field of the feature view ``user_realtime`` (Array(String), most recent first, at most
MAX_RECENT each), in the order of ``FEATURES``:

  session_watched                  watch, click: hidden (already seen) and seeds of the reaction
  recent_not_interested_videos     not_interested, dislike: hidden
  recent_not_interested_creators   not_interested: the video's creator hidden
  recent_liked                     like, share: seeds of the reaction, before the watched ones
  recent_skipped                   skip: the video demoted
  recent_disliked_creators         dislike: the video's creator demoted
  recent_impressions               impression (repeats kept): a video shown IMPRESSIONS_TO_SINK times and never
                                   clicked sinks
  recent_watch_times               watch: "start ms+watched ms" (the event's ts and watch_ms), for the request's
                                   session depth (``session_depth``, as ``vidrec.context`` counts it); the
                                   last WATCH_TIMES_KEPT

Pure: no I/O. ``serving.overlay`` reads and writes it through Feast; ``serving.reaction`` acts on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import replace as _replace

from vidrec.context import SESSION_GAP_S

WATCHED, NI_VIDEOS, NI_CREATORS = "session_watched", "recent_not_interested_videos", "recent_not_interested_creators"
LIKED, SKIPPED, DISLIKED_CREATORS, IMPRESSIONS = ("recent_liked", "recent_skipped", "recent_disliked_creators",
                                                   "recent_impressions")
WATCH_TIMES = "recent_watch_times"
FEATURES = (WATCHED, NI_VIDEOS, NI_CREATORS, LIKED, SKIPPED, DISLIKED_CREATORS, IMPRESSIONS, WATCH_TIMES)
MAX_RECENT = 100  # entries kept per feature list
WATCH_TIMES_KEPT = 16  # of recent_watch_times: the depth's last band starts at 4 (vidrec.context.DEPTH_STARTS)
IMPRESSIONS_TO_SINK = 3
WATCH_EVENTS, LIKE_EVENTS = ("watch", "click"), ("like", "share")
NEEDS_CREATOR = ("not_interested", "dislike")  # event types whose creator the state records


@dataclass(frozen=True)
class UserState:
    """What the user did since the lists were built; fields in the order of FEATURES."""

    watched: tuple[str, ...] = ()
    not_interested_videos: tuple[str, ...] = ()
    not_interested_creators: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    disliked_creators: tuple[str, ...] = ()
    impressions: tuple[str, ...] = ()
    watch_times: tuple[str, ...] = ()

    def hidden(self, *also: str | None) -> tuple[frozenset, frozenset]:
        """(videos, creators) never to show; ``also``: more videos to leave out (None ignored)."""
        videos = frozenset(self.watched) | frozenset(self.not_interested_videos) | {v for v in also if v is not None}
        return videos, frozenset(self.not_interested_creators)

    def seeds(self, n: int) -> list[str]:
        """Up to ``n`` videos to react to: the liked ones first, then the watched ones, most recent first."""
        return list(dict.fromkeys(self.liked + self.watched))[:n]

    def sunk(self) -> tuple[frozenset, frozenset]:
        """(videos, creators) to show after everything else: skipped, shown too often without a click, or by a
        creator the user disliked."""
        engaged = set(self.watched) | set(self.liked)
        seen: dict[str, int] = {}
        for video in self.impressions:
            seen[video] = seen.get(video, 0) + 1
        stale = {v for v, n in seen.items() if n >= IMPRESSIONS_TO_SINK and v not in engaged}
        return frozenset(self.skipped) | frozenset(stale), frozenset(self.disliked_creators)

    def session_depth(self, now_ms: int) -> int:
        """How many videos the user watched earlier in the session going on at ``now_ms`` (epoch ms): the watches
        chained back from now, each ending at most SESSION_GAP_S before the next one (or now) starts."""
        spans = sorted(filter(None, map(_span, self.watch_times)), reverse=True)
        depth, after = 0, now_ms
        for start, end in spans:
            if start > now_ms:  # a client clock ahead of ours: not a watch before this request
                continue
            if after - end > SESSION_GAP_S * 1000:
                break
            depth, after = depth + 1, start
        return depth

    def reacts(self) -> bool:
        """Whether the reaction has anything to do (seeds or something to sink)."""
        return bool(self.liked or self.watched or self.skipped or self.disliked_creators or self.impressions)


EMPTY = UserState()


def _span(entry: str) -> tuple[int, int] | None:
    """(start, end) ms of a ``watch_time`` entry; None for one that is not (skipped: the request goes on)."""
    start, _, watched = entry.partition("+")
    try:
        return int(start), int(start) + int(watched or 0)
    except ValueError:
        return None


def watch_time(event: dict) -> str | None:
    """A watch event's "start ms+watched ms" (None without a ts)."""
    ts = event.get("ts")
    if not isinstance(ts, str):
        return None
    start = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return f"{round(start.timestamp() * 1000)}+{int(event.get('watch_ms') or 0)}"


def _push(values: tuple, value: str | None, *, repeats: bool = False, keep: int = MAX_RECENT) -> tuple:
    if value is None:
        return values
    return ((value,) + (values if repeats else tuple(v for v in values if v != value)))[:keep]


def updated_state(state: UserState, event: dict, creator_id: str | None) -> UserState | None:
    """The state after ``event`` (``creator_id``: its video's creator, for NEEDS_CREATOR types), or None when the
    event type does not touch the state."""
    video, kind, s = event["video_id"], event["event_type"], state
    if kind in WATCH_EVENTS:
        times = (_push(s.watch_times, watch_time(event), repeats=True, keep=WATCH_TIMES_KEPT) if kind == "watch"
                 else s.watch_times)
        return _replace(s, watched=_push(s.watched, video), watch_times=times)
    if kind in LIKE_EVENTS:
        return _replace(s, liked=_push(s.liked, video))
    if kind == "not_interested":
        return _replace(s, not_interested_videos=_push(s.not_interested_videos, video),
                        not_interested_creators=_push(s.not_interested_creators, creator_id))
    if kind == "dislike":
        return _replace(s, not_interested_videos=_push(s.not_interested_videos, video),
                        disliked_creators=_push(s.disliked_creators, creator_id))
    if kind == "skip":
        return _replace(s, skipped=_push(s.skipped, video))
    if kind == "impression":
        return _replace(s, impressions=_push(s.impressions, video, repeats=True))
    return None
