"""The floor of bench/serve_floor.py: what every home request of the real API must do, and nothing else.

    uvicorn --factory floor_app:create_app   (run from bench/, with the API's VIDREC_* settings and
                                               BARE_BODY_FILE=<a home feed answer of the real API>)

A raw ASGI app (no Starlette): the API key checked (``vidrec.api_keys.KeyRing``), the query parsed and
validated (``serving.schemas``), then the request's two Redis reads sent together on one pipelined
connection as the API sends them (``vidrec.recstore.resp``): the user's home list and the user's real-time
state in Feast's hash (``serving.overlay.RedisStateReader``'s key and fields). The replies are not decoded;
the answer is the fixed bytes of BARE_BODY_FILE. What the real API does beyond this (decode the list, join
the catalog, apply the overlay, render 20 items, Starlette's routing and middleware) is what it pays above
this floor.
"""

from __future__ import annotations

import os
from pathlib import Path

from serving.auth import _bearer
from serving.overlay import FEATURE_VIEW, RedisStateReader, open_feature_store
from serving.schemas import BadParam, check_known, parse_count, parse_id, parse_region
from starlette.datastructures import QueryParams
from vidrec.api_keys import KeyRing
from vidrec.recstore.keys import HOME, KEY_ACTIVE, list_key
from vidrec.recstore.resp import RespClient
from vidrec.settings import Settings


def create_app():
    settings = Settings.from_env()
    body = Path(os.environ["BARE_BODY_FILE"]).read_bytes()
    keys, state = KeyRing(settings.api_keys_file), {}
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def answer(send, status: int, data: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers if status == 200 else []})
        await send({"type": "http.response.body", "body": data})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                reader = RedisStateReader(open_feature_store(settings), settings.redis_url, FEATURE_VIEW)
                state.update(reader=reader, version=(await reader.r.call("GET", KEY_ACTIVE)).decode())
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        token = _bearer(scope)
        found = keys.lookup(token) if token else None
        if found is None or found[1] not in ("reader", "admin"):
            return await answer(send, 401, b"")
        params = QueryParams(scope["query_string"])
        try:
            check_known(params, ("user_id", "count", "region"))
            user_id, _, _ = parse_id(params, "user_id"), parse_count(params), parse_region(params)
        except BadParam:
            return await answer(send, 400, b"")
        reader: RedisStateReader = state["reader"]
        protocol = reader.r._protocol  # connected at start-up; both commands go out in one write
        listed = RespClient._send(protocol, ("GET", list_key(state["version"], HOME, user_id)))
        realtime = RespClient._send(protocol, ("HMGET", reader.key(user_id), *reader.fields))
        await listed
        await realtime
        await answer(send, 200, body)

    return app
