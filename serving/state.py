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

Pure: no I/O. ``serving.overlay`` reads and writes it through Feast; ``serving.reaction`` acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as _replace

WATCHED, NI_VIDEOS, NI_CREATORS = "session_watched", "recent_not_interested_videos", "recent_not_interested_creators"
LIKED, SKIPPED, DISLIKED_CREATORS, IMPRESSIONS = ("recent_liked", "recent_skipped", "recent_disliked_creators",
                                                   "recent_impressions")
FEATURES = (WATCHED, NI_VIDEOS, NI_CREATORS, LIKED, SKIPPED, DISLIKED_CREATORS, IMPRESSIONS)
MAX_RECENT = 100  # entries kept per feature list
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

    def reacts(self) -> bool:
        """Whether the reaction has anything to do (seeds or something to sink)."""
        return bool(self.liked or self.watched or self.skipped or self.disliked_creators or self.impressions)


EMPTY = UserState()


def _push(values: tuple, value: str | None, *, repeats: bool = False) -> tuple:
    if value is None:
        return values
    return ((value,) + (values if repeats else tuple(v for v in values if v != value)))[:MAX_RECENT]


def updated_state(state: UserState, event: dict, creator_id: str | None) -> UserState | None:
    """The state after ``event`` (``creator_id``: its video's creator, for NEEDS_CREATOR types), or None when the
    event type does not touch the state."""
    video, kind, s = event["video_id"], event["event_type"], state
    if kind in WATCH_EVENTS:
        return _replace(s, watched=_push(s.watched, video))
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
