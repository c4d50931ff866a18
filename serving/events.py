"""Event intake: POST /api/v1/events. The API's one write path (B10).

A valid event is appended as one JSON line to this process's landing file of the current UTC hour
(``serving.event_log``), which the hourly ingest picks up like any other landing file, and then pushed to
the real-time overlay so the next feed request reflects it.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse

from serving.context import Services
from serving.schemas import MAX_BODY_BYTES, BadEvent, parse_event


async def post_event(request: Request) -> JSONResponse:
    svc: Services = request.state.svc
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        return JSONResponse(BadEvent(413, [{"field": "body", "message": f"larger than {MAX_BODY_BYTES} bytes"}])
                            .body(), status_code=413)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        record, creator_id = parse_event(await request.body(), svc.settings, now)
    except BadEvent as exc:
        svc.count("events_rejected")
        return JSONResponse(exc.body(), status_code=exc.status)
    record["user_id"] = svc.user_key(record["user_id"])  # the landing file holds no clear id when pseudonymizing
    try:
        svc.events.append(record, now)
    except OSError as exc:  # disk full, folder gone: the client should retry, nothing was accepted
        svc.count("events_failed")
        return JSONResponse({"error": "event_not_stored", "message": f"{type(exc).__name__}: {exc}"}, status_code=503)
    svc.count("events_accepted")
    overlay_updated = await svc.record_overlay(record, creator_id)
    return JSONResponse({"accepted": True, "event_id": record["event_id"], "overlay_updated": overlay_updated},
                        status_code=202)
