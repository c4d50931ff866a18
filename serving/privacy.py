"""Erasure requests: POST /api/v1/privacy/forget (admin keys only). The request is queued
(``vidrec.privacy.queue``); the privacy_daily DAG (``vidrec privacy process``) removes the user everywhere and
writes the audit record, which names who asked: the API key's name."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from serving.context import Services
from serving.schemas import MAX_ID_LEN, is_id
from vidrec import privacy

API_KEY_NAME = "vidrec.api_key"  # set in the request scope by serving.auth when a key was checked


def _bad(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "message": message}, status_code=status)


async def forget(request: Request) -> JSONResponse:
    svc: Services = request.state.svc
    body = await request.body()
    if len(body) > 4096:
        return _bad(413, "body larger than 4096 bytes")
    try:
        payload = json.loads(body or b"null")
    except ValueError as exc:
        return _bad(400, f"body is not JSON: {exc}")
    if not isinstance(payload, dict) or set(payload) - {"user_id"}:
        return _bad(422, 'body must be {"user_id": "..."} and nothing else')
    user_id = payload.get("user_id")
    if not is_id(user_id):
        return _bad(422, f"user_id must be a string of 1-{MAX_ID_LEN} printable characters without spaces")
    by = request.scope.get(API_KEY_NAME) or "api (auth off)"
    try:
        queued = privacy.queue(svc.settings, user_id, f"api key {by}")
    except OSError as exc:
        return JSONResponse({"error": "request_not_stored", "message": f"{type(exc).__name__}: {exc}"},
                            status_code=503)
    svc.count("privacy_requests")
    return JSONResponse({"queued": True, **queued}, status_code=202)
