"""The API: ``create_app(settings, store=None, overlay=None)`` -> Starlette; ``vidrec serve`` runs
``create_app_from_env`` as a uvicorn factory.

Every guarded route needs an API key of its role (``serving.auth``). The lifespan builds the Redis reader and the
overlay once (or takes the ones given, and then owns them) and yields them, with the event log, as
``request.state.svc`` (``serving.context.Services``). Routes are a plain list (Starlette 1.x: no decorators, no
on_startup).
"""

from __future__ import annotations

import contextlib
import gc

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import vidrec
from serving import events, feeds, privacy
from serving.auth import ApiKeyAuth, declare
from serving.context import Services
from serving.metrics import Metrics, RequestMetrics, metrics_endpoint
from serving.event_log import EventLog, landing_folder
from serving.overlay import Overlay, build_overlay
from serving.openapi import openapi
from vidrec.recstore.keys import StoreUnavailable
from vidrec.recstore.reader import AsyncRecoStore
from vidrec.settings import Settings


async def healthz(request: Request) -> JSONResponse:
    svc: Services = request.state.svc
    counters = {**svc.counters, **getattr(svc.store, "stats", {})}  # + the catalog's extra round trips
    return JSONResponse({"status": "ok", "overlay": svc.overlay.enabled, "counters": counters})


async def readyz(request: Request) -> JSONResponse:
    svc: Services = request.state.svc
    try:
        await svc.store.ping()
        version = await svc.store.active_version()
        if version is None or not await svc.store.meta(version):
            return JSONResponse({"ready": False, "reason": "no active version", "version": version}, 503)
    except StoreUnavailable as exc:
        svc.count("redis_errors")
        return JSONResponse({"ready": False, "reason": f"redis: {exc}"}, 503)
    return JSONResponse({"ready": True, "version": version, "overlay": svc.overlay.enabled})


async def openapi_json(request: Request) -> JSONResponse:
    settings = request.state.svc.settings
    doc = openapi(vidrec.__version__, settings)
    return JSONResponse(declare(doc) if settings.api_auth == "keys" else doc)


ROUTES = [
    Route("/api/v1/recommendations/home", feeds.home, methods=["GET"]),
    Route("/api/v1/recommendations/related", feeds.related, methods=["GET"]),
    Route("/api/v1/recommendations/trending", feeds.trending, methods=["GET"]),
    Route("/api/v1/recommendations/category", feeds.category, methods=["GET"]),
    Route("/api/v1/recommendations/fresh", feeds.fresh, methods=["GET"]),
    Route("/api/v1/events", events.post_event, methods=["POST"]),
    Route("/api/v1/privacy/forget", privacy.forget, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]


def create_app(settings: Settings, store: AsyncRecoStore | None = None, overlay: Overlay | None = None) -> Starlette:
    """The API. ``store``/``overlay`` default to ones built from settings; given ones are owned (closed) by it."""

    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        svc = Services(settings, store or AsyncRecoStore.from_url(settings.redis_url),
                       overlay if overlay is not None else build_overlay(settings),
                       EventLog(landing_folder(settings.landing_dir)), metrics)
        await svc.start()
        gc.collect()
        gc.freeze()  # what start-up built (Feast's registry, clients) stays out of every later collection
        try:
            yield {"svc": svc}
        finally:
            await svc.close()

    middleware = [Middleware(RequestMetrics, metrics=metrics, paths=frozenset(r.path for r in ROUTES)),
                  Middleware(ApiKeyAuth, settings=settings)]  # outermost first: refused requests are timed too
    return Starlette(routes=ROUTES, lifespan=lifespan, middleware=middleware)


def create_app_from_env() -> Starlette:
    return create_app(Settings.from_env())
