"""The floor of bench/serve.py: what every home request of the real API must do, and then, stage by stage, the
rest of the API's request path.

    uvicorn --factory floor_app:create_app   (run from bench/, with the API's VIDREC_* settings,
                                               BARE_BODY_FILE=<a home feed answer of the real API>, FLOOR_STAGES=N)

A raw ASGI app (no Starlette). Always: the API key checked (``vidrec.api_keys.KeyRing``), the query parsed
and validated (``serving.schemas``), and the request's two Redis reads sent together on one pipelined connection
as the API sends them (``vidrec.recstore.resp``): the user's home list and the user's real-time state in Feast's
hash (``serving.overlay.RedisStateReader``'s key and fields). With ``FLOOR_STAGES`` (default 0) it goes on with
the API's own functions, one stage more per step:

  1  decode the list (``vidrec.recstore.codec.decode_value``)
  2  join the version's catalog (``AsyncRecoStore._join``)
  3  decode the real-time state and pick the visible items (``RedisStateReader.decode``, ``overlay.visible``)
  4  render the feed (``serving.render.feed_json``): the answer is then the API's own

Below stage 4 the answer is the fixed bytes of BARE_BODY_FILE. Stage 4 against the real API is what Starlette's
routing, the middleware (keys, metrics), the fallbacks and the overlay's time budget cost.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.datastructures import QueryParams

from serving.auth import _bearer
from serving.overlay import FEATURE_VIEW, RedisStateReader, open_feature_store, visible
from serving.render import feed_json
from serving.schemas import BadParam, parse_query
from vidrec.api_keys import KeyRing
from vidrec.recstore.codec import decode_value
from vidrec.recstore.keys import HOME, KEY_ACTIVE, list_key
from vidrec.recstore.reader import AsyncRecoStore
from vidrec.recstore.resp import RespClient
from vidrec.settings import Settings


def create_app():
    settings, stages = Settings.from_env(), int(os.environ.get("FLOOR_STAGES", "0"))
    body = Path(os.environ["BARE_BODY_FILE"]).read_bytes()
    keys, state = KeyRing(settings.api_keys_file), {}

    async def answer(send, status: int, data: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                reader = RedisStateReader(open_feature_store(settings), settings.redis_url, FEATURE_VIEW)
                state.update(reader=reader, store=AsyncRecoStore.from_url(settings.redis_url),
                             version=(await reader.r.call("GET", KEY_ACTIVE)).decode())
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        token = _bearer(scope)
        found = keys.lookup(token) if token else None
        if found is None or found[1] not in ("reader", "admin"):
            return await answer(send, 401, b"{}")
        try:
            q = parse_query(QueryParams(scope["query_string"]), ("user_id",), ("count", "region"))
        except BadParam:
            return await answer(send, 400, b"{}")
        user_id, count = q["user_id"], q["count"]
        reader, version = state["reader"], state["version"]
        protocol = reader.r._protocol  # connected at start-up; both commands go out in one write
        listed = RespClient._send(protocol, ("GET", list_key(version, HOME, user_id)))
        realtime = RespClient._send(protocol, ("HMGET", reader.key(user_id), *reader.fields))
        raw, reply = await listed, await realtime
        if stages >= 1:
            packed = decode_value(raw)
        if stages >= 2:
            rows = await state["store"]._join(version, packed)
        if stages >= 3:
            positions = visible(rows, reader.decode(reply), count)
        if stages >= 4:
            body_now = feed_json(rows, positions, version=version, degraded=False, overlay=True, user_id=user_id)
            return await answer(send, 200, body_now)
        await answer(send, 200, body)

    return app
