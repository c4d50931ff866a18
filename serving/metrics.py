"""What an operator watches: the API's Prometheus metrics, served at /metrics (role admin) in the text format.

One registry per app (tests build many apps in one process). ``RequestMetrics`` (ASGI middleware, outermost,
so refused requests count too) times every request by route, method and status; ``Metrics.counted`` turns the
events the handlers already count for /healthz (``Services.count``) into counters; the served version and its
age are read from Redis when /metrics is scraped. With several uvicorn workers (`vidrec serve --workers N`)
every worker writes its figures to files in one folder (prometheus-client's multiprocess mode; the folder is
``Settings.api_metrics_dir``, made by ``shared_by_workers``) and /metrics, whichever worker answers, adds them up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from vidrec.recstore.keys import StoreUnavailable
from vidrec.settings import PREFIX

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # where prometheus-client's values live (Feast's import sets it too)
WORKERS_DIR = PREFIX + "api_metrics_dir".upper()  # Settings.api_metrics_dir, set by shared_by_workers for workers
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("vidrec_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("vidrec_http_request_duration_seconds", "Time to answer, by route and method",
                                 ["route", "method"], buckets=BUCKETS, registry=r)
        self.degraded = Counter("vidrec_degraded_responses", "Feeds answered from a fallback (Redis failing or "
                                "serving no version), marked degraded", registry=r)
        self.overlay = Counter("vidrec_overlay_reads", "Real-time overlay reads by outcome (ok, timeout, error)",
                               ["outcome"], registry=r)
        self.redis_errors = Counter("vidrec_redis_errors", "Redis calls that failed (unreachable, timed out)",
                                    registry=r)
        self.events = Counter("vidrec_events", "Posted events by outcome (accepted, rejected, failed)",
                              ["outcome"], registry=r)
        self.served = Counter("vidrec_served_log_lines", "Feed responses in the served log by outcome (logged; "
                              "dropped when the writer fell behind; write_errors: failed writes, retried)",
                              ["outcome"], registry=r)
        self.other = Counter("vidrec_api_counts", "Everything else /healthz counts, by name", ["name"], registry=r)
        self.version = Gauge("vidrec_served_version_info", "1 for the version Redis serves", ["version"], registry=r,
                             multiprocess_mode="mostrecent")
        self.version_age = Gauge("vidrec_served_version_age_seconds", "Seconds since the served version was "
                                 "published (-1: none served)", registry=r, multiprocess_mode="mostrecent")
        self._shown: str | None = None  # the version label set to 1
        self._counted = {"degraded": self.degraded, "redis_errors": self.redis_errors,
                         "overlay_reads": self.overlay.labels("ok"), "overlay_timeouts": self.overlay.labels("timeout"),
                         "overlay_errors": self.overlay.labels("error"),
                         **{f"events_{o}": self.events.labels(o) for o in ("accepted", "rejected", "failed")},
                         **{f"served_{o}": self.served.labels(o) for o in ("logged", "dropped", "write_errors")}}
        self._timers: dict = {}

    def counted(self, name: str, n: int = 1) -> None:
        (self._counted.get(name) or self.other.labels(name)).inc(n)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        if key not in self._timers:  # label lookups once per combination, not per request
            self._timers[key] = (self.requests.labels(route, method, str(status)), self.latency.labels(route, method))
        count, latency = self._timers[key]
        count.inc()
        latency.observe(seconds)

    async def served_version(self, store) -> None:
        """Set the version gauges from Redis (at scrape time)."""
        try:
            version = await store.active_version()
            meta = await store.meta(version) if version else {}
        except StoreUnavailable:
            self.counted("redis_errors")
            return
        if self._shown is not None and self._shown != version:  # 0 first: other workers' files keep the last value
            self.version.labels(self._shown).set(0)
            self.version.remove(self._shown)
            self._shown = None
        created = meta.get("created_at")
        if version and created:
            self.version.labels(version).set(1)
            self._shown = version
            age = dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
            self.version_age.set(round(age.total_seconds(), 3))
        else:
            self.version_age.set(-1)


class RequestMetrics:
    """Times each HTTP request and counts it by route (``other`` for paths no route serves), method, status."""

    def __init__(self, app, metrics: Metrics, paths: frozenset[str]):
        self.app, self.metrics, self.paths = app, metrics, paths  # paths: the app's routes, the label's values

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope["path"] if scope["path"] in self.paths else "other"
            self.metrics.observe(route, scope["method"], status[0], time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    svc = request.state.svc
    await svc.metrics.served_version(svc.store)
    registry, folder = svc.metrics.registry, svc.settings.api_metrics_dir
    if folder and os.environ.get(MULTIPROC_DIR) == folder:  # workers of `vidrec serve`: their files, added up
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@contextlib.contextmanager
def shared_by_workers(workers: int, given: str = ""):
    """With more than one worker, one folder for their metric files: ``given`` (Settings.api_metrics_dir, kept)
    or a fresh temporary one (removed afterwards), handed to the workers in ``VIDREC_API_METRICS_DIR`` and to
    prometheus-client in ``PROMETHEUS_MULTIPROC_DIR`` before uvicorn starts them; both restored afterwards."""
    if workers <= 1:
        yield None
        return
    before = {name: os.environ.get(name) for name in (WORKERS_DIR, MULTIPROC_DIR)}
    folder = given or tempfile.mkdtemp(prefix="vidrec-metrics-")
    os.environ[WORKERS_DIR] = os.environ[MULTIPROC_DIR] = folder
    try:
        yield folder
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
