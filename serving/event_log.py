"""The API's landing files: ``<landing_dir>/events/api/api-YYYYMMDD-HH-<pid>.jsonl`` (UTC hour of arrival, one
file per process and hour), which the hourly ingest picks up like any other landing file.

Each line is written with a single ``write`` on an O_APPEND descriptor, so lines never interleave. The
ingest remembers files by (path, size, mtime): a file of the current hour may be ingested while it still
grows, and then again once it has grown. That is safe: every event carries an ``event_id`` (a uuid4 when
the client sent none) and the ingest drops ids it has seen. Lines are not fsynced: a machine crash can
lose the last few events (a process crash cannot).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path


def landing_folder(landing_dir: Path) -> Path:
    return Path(landing_dir) / "events" / "api"


class EventLog:
    """Appends JSON lines to this process's file of the current UTC hour."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._name: str | None = None
        self._fd: int | None = None

    def path_for(self, now: dt.datetime) -> Path:
        return self.folder / f"api-{now.astimezone(dt.timezone.utc):%Y%m%d-%H}-{os.getpid()}.jsonl"

    def append(self, record: dict, now: dt.datetime) -> Path:
        path = self.path_for(now)
        if path.name != self._name:
            self.close()
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._name = path.name
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        os.write(self._fd, line)
        return path

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self._name = None, None
