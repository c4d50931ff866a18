"""What the feeds served: ``<landing_dir>/served/api/api-YYYYMMDD-HH-<pid>.jsonl``, one JSON line per response
(rec_id, user_id, experiment, arm, surface, version, video_ids in the order served, served_at), which the hourly
ingest explodes into the Delta table ``served`` (one row per item and position). When a feed is the first n
items of a stored list (nothing hidden), the line holds the list's ids as stored and ``shown``: n (the ingest
keeps the first n), so a response costs no work per item here.

A response only appends its line to a buffer in memory: the buffer is written (one ``write`` on an O_APPEND
descriptor) when it holds FLUSH_LINES lines, or FLUSH_S seconds after its first line (``Services`` runs the
timer), and when the API stops. So a request pays no system call, and a process crash loses at most the last
FLUSH_S seconds of lines (a machine crash, what the page cache held too).

When the writer falls behind (the disk is full, the folder is gone: a write fails), the lines stay in the
buffer and the next flush tries again; nothing is lost while the buffer holds at most MAX_PENDING lines. Past
that, the oldest lines are dropped, never silently: /healthz and /metrics count ``served_dropped`` (and
``served_write_errors``), and the log says how many. Serving never waits for, or fails because of, this log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections import deque
from pathlib import Path

import orjson

log = logging.getLogger(__name__)
FLUSH_LINES = 512
FLUSH_S = 1.0
MAX_PENDING = 200_000


def served_folder(landing_dir: Path) -> Path:
    return Path(landing_dir) / "served" / "api"


class ServedLog:
    """Buffers one line per feed response and appends them to this process's file of the current UTC hour."""

    def __init__(self, folder: Path, count=lambda name, n=1: None, *, max_pending: int = MAX_PENDING):
        self.folder, self.count, self.max_pending = Path(folder), count, max_pending
        self.pending: deque[bytes] = deque()
        self.first_at = 0.0  # monotonic time of the oldest line not written yet
        self.dropped = 0
        self._second, self._stamp = -1, ""  # the ISO-8601 prefix of the current second, made once per second

    def record(self, rec_id: str, user_id: str | None, experiment: str | None, arm: str | None, surface: str,
               version: str | None, video_ids, shown: int | None = None) -> None:
        """One response's line. ``video_ids``: the served ids in order, or (with ``shown``) a list's ids of which
        the first ``shown`` were served (an ``orjson.Fragment``: its stored JSON, not re-encoded)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = dt.datetime.fromtimestamp(second, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        line = orjson.dumps({"rec_id": rec_id, "user_id": user_id, "experiment": experiment, "arm": arm,
                             "surface": surface, "version": version, "video_ids": video_ids, "shown": shown,
                             "served_at": f"{self._stamp}.{int((now - second) * 1000):03d}Z"})
        if not self.pending:
            self.first_at = time.monotonic()
        self.pending.append(line)
        if len(self.pending) > self.max_pending:
            self.pending.popleft()
            self.dropped += 1
            self.count("served_dropped")
        if len(self.pending) >= FLUSH_LINES:
            self.flush()

    def due(self) -> bool:
        """Lines have waited FLUSH_S seconds."""
        return bool(self.pending) and time.monotonic() - self.first_at >= FLUSH_S

    def path_for(self, now: dt.datetime) -> Path:
        return self.folder / f"api-{now:%Y%m%d-%H}-{os.getpid()}.jsonl"

    def flush(self) -> int:
        """Write what is pending; the lines written (0 when the write failed: they stay pending)."""
        if not self.pending:
            return 0
        lines = list(self.pending)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path_for(dt.datetime.now(dt.timezone.utc)), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         0o644)
            try:
                os.write(fd, b"\n".join(lines) + b"\n")
            finally:
                os.close(fd)
        except OSError as exc:
            self.count("served_write_errors")
            log.warning("served log: %d lines not written yet (%s: %s); %d dropped so far", len(lines),
                        type(exc).__name__, exc, self.dropped)
            self.first_at = time.monotonic()
            return 0
        for _ in lines:
            self.pending.popleft()
        self.count("served_logged", len(lines))
        return len(lines)
