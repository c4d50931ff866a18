"""What the handlers share: ``Services``, one per app, yielded by the lifespan as ``request.state.svc``.

It holds the Redis reader, the overlay, the event log, the served log, the experiments, the last-known trending
lists (served when Redis is unreachable), each version's request context model and the counters /healthz
shows, and it owns the time budgets around the overlay.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from serving.event_log import EventLog
from serving.metrics import Metrics
from serving.overlay import EMPTY, DisabledOverlay, Overlay, UserState
from serving.request_context import ContextCache
from serving.schemas import DEFAULT_REGION
from serving.served_log import FLUSH_S, ServedLog, served_folder
from serving.state import NEEDS_CREATOR
from vidrec.recstore.codec import Found
from vidrec.recstore.keys import HOME, IX_CREATOR, TRENDING, StoreUnavailable
from vidrec import experiments, privacy
from vidrec.experiments import Assignment
from vidrec.recstore.reader import AsyncRecoStore
from vidrec.settings import Settings

log = logging.getLogger(__name__)
PUSH_BUDGET_FACTOR = 4  # an event's overlay push may take 4x the read budget (read + write)


class Services:
    """What the handlers share: the store, the overlay, the event log, the fallback list and counters."""

    def __init__(self, settings: Settings, store: AsyncRecoStore, overlay: Overlay, event_log: EventLog,
                 metrics: Metrics | None = None, served_log: ServedLog | None = None):
        self.settings, self.store, self.overlay, self.events = settings, store, overlay, event_log
        self.metrics = metrics or Metrics()
        self.counters: Counter = Counter()
        self.served = served_log or ServedLog(served_folder(settings.landing_dir), self.count)
        self.experiments = experiments.by_surface(experiments.load(settings.experiments_file))  # checked at start
        self._canary: tuple = (None, None)  # (the reader's canary, it as an experiment)
        self._rec_ids = map(f"{os.urandom(6).hex()}-{{:x}}".format, itertools.count(1))  # unique per process
        self._fallback: dict[str, Found] = {}  # region -> last trending list read successfully
        self._seen_version: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self._restore: subprocess.Popen | None = None
        self.contexts = ContextCache(store)  # each version's request context model

    def count(self, name: str, n: int = 1) -> None:
        """``n`` more ``name`` in /healthz's counters and in the Prometheus metrics."""
        self.counters[name] += n
        self.metrics.counted(name, n)

    def user_key(self, user_id: str | None) -> str | None:
        """The id the lists, the overlay and the logs know the caller's ``user_id`` by (its pseudonym when
        VIDREC_PSEUDONYMIZE is on, ``vidrec.privacy.lake_id``)."""
        return None if user_id is None else privacy.lake_id(self.settings, user_id)

    def assign(self, surface: str, user_id: str | None) -> tuple[Assignment, str]:
        """The request's experiment arm (``vidrec.experiments.assign``, the canary the reader last saw first) and a
        new rec_id."""
        canary = self.store.canary
        if canary != self._canary[0]:
            self._canary = (canary, experiments.canary(*canary) if canary else None)
        return experiments.assign(self.experiments, surface, user_id, self._canary[1]), next(self._rec_ids)

    async def flush_served(self) -> None:
        """Write the served log's lines once they have waited FLUSH_S seconds (``serving.served_log``)."""
        while True:
            await asyncio.sleep(FLUSH_S / 4)
            if self.served.due():
                self.served.flush()

    async def start(self) -> None:
        self._keep(asyncio.ensure_future(self.flush_served()))
        try:
            await self.overlay.start()
        except Exception as exc:  # fail open: no overlay rather than no API
            log.warning("real-time overlay disabled at start: %s: %s", type(exc).__name__, exc)
            self.overlay = DisabledOverlay(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.refresh_fallback(), 1.0)
        with contextlib.suppress(Exception):
            if await asyncio.wait_for(self.store.active_version(), 1.0) is None:
                self.restore()

    def restore(self) -> None:
        """Redis serves no version (it lost its data): `vidrec publish restore` in a child process publishes the
        newest gated run again, if there is one, while this API answers from its fallbacks (and not ready)."""
        log_dir = Path(self.settings.data_dir) / "run"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "restore.log", "ab") as out:
            self._restore = subprocess.Popen([sys.executable, "-m", "vidrec.ops.cli", "publish", "restore"],
                                             env={**os.environ, **self.settings.as_env()}, stdout=out,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        self.count("restores_started")
        log.warning("no active version in Redis: restoring the newest gated run (pid %s, log %s)",
                    self._restore.pid, log_dir / "restore.log")

    async def close(self) -> None:
        if self._restore is not None and self._restore.poll() is None:
            log.warning("the restore (pid %s) goes on without the API", self._restore.pid)
        for task in list(self._tasks):
            task.cancel()
        self.served.flush()
        self.events.close()
        with contextlib.suppress(Exception):
            await self.overlay.aclose()
        with contextlib.suppress(Exception):
            await self.store.aclose()

    # -- overlay ---------------------------------------------------------------------------------------
    async def overlay_state(self, user_id: str) -> tuple[UserState, bool]:
        """The user's real-time state within the time budget; (EMPTY, False) when late or failing."""
        if not self.overlay.enabled:
            return EMPTY, False
        try:
            async with asyncio.timeout(self.settings.overlay_timeout_ms / 1000):  # no extra task, unlike wait_for
                state = await self.overlay.user_state(user_id)
            self.count("overlay_reads")
            return state, True
        except asyncio.TimeoutError:
            self.count("overlay_timeouts")
        except Exception as exc:  # fail open (module docstring of serving.overlay)
            self.count("overlay_errors")
            log.debug("overlay read failed: %s: %s", type(exc).__name__, exc)
        return EMPTY, False

    async def record_overlay(self, record: dict, creator_id: str | None) -> bool:
        """Push the event into the user's real-time state; False when disabled, irrelevant or failing."""
        if not self.overlay.enabled:
            return False
        budget = PUSH_BUDGET_FACTOR * self.settings.overlay_timeout_ms / 1000
        try:
            if record["event_type"] in NEEDS_CREATOR and creator_id is None:
                creator_id = await asyncio.wait_for(self.creator_of(record["video_id"]), budget)
            return await asyncio.wait_for(self.overlay.record(record, creator_id), budget)
        except Exception as exc:
            self.count("overlay_push_failures")
            log.debug("overlay push failed: %s: %s", type(exc).__name__, exc)
            return False

    async def creator_of(self, video_id: str) -> str | None:
        """From the reader's in-memory catalog of the active version (one GET the first time)."""
        try:
            row = await self.store.video(video_id)
        except StoreUnavailable:
            self.count("redis_errors")
            return None
        return row[IX_CREATOR] if row else None

    # -- last-known trending (served when Redis is unreachable) --------------------------------------
    def remember(self, region: str, found: Found) -> None:
        self._fallback[region] = found

    def last_known(self, region: str) -> tuple[str | None, list]:
        found = self._fallback.get(region) or self._fallback.get(DEFAULT_REGION)
        return (found.version, found.rows) if found else (None, [])

    def noticed(self, version: str) -> None:
        """A read succeeded on ``version``: when it is new to this process, refresh the fallback list and read the
        context model of the version its home lists come from."""
        if version != self._seen_version:
            self._seen_version = version
            self._keep(asyncio.ensure_future(self.refresh_fallback()))
            self.context_model(self.store.read_from(version, HOME))

    def context_model(self, version: str):
        """The request context model of ``version`` (``serving.request_context``); None while it is read."""
        if not self.contexts.known(version):
            self._keep(asyncio.ensure_future(self.contexts.load(version)))
        return self.contexts.model(version)

    def _keep(self, task: asyncio.Task) -> None:
        """Hold a background task until it ends (``close`` cancels what is left)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refresh_fallback(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            found = await self.store.get_list(TRENDING, DEFAULT_REGION)
            if found is not None:
                self.remember(DEFAULT_REGION, found)
