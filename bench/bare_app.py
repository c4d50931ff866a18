"""The reference of bench/serve.py: a bare Starlette app answering every GET with the bytes in BARE_BODY_FILE.

    uvicorn --factory bare_app:create_app   (run from bench/, BARE_BODY_FILE=<a home feed answer of the real API>)
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    body = Path(os.environ["BARE_BODY_FILE"]).read_bytes()

    async def answer(request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET"])])
