"""Who is calling: ``ApiKeyAuth``, an ASGI middleware in front of every route.

With ``VIDREC_API_AUTH=keys`` (the default) a request to a guarded route must carry ``Authorization: Bearer
<key>`` of a key in the keys file (``vidrec.api_keys``, re-read when it changes) whose role the route accepts:
no key or an unknown one -> 401, a key of another role -> 403. ``admin`` may call everything. /healthz,
/readyz and /openapi.json stay open (probes and generated clients), as does any path no route serves (404).
With ``off`` nothing is checked: the API is open to whoever reaches it, for local use only.
"""

from __future__ import annotations

import json

from vidrec.api_keys import KeyRing
from vidrec.settings import Settings

RECOMMENDATIONS = "/api/v1/recommendations/"
# and every RECOMMENDATIONS path: reader
ROLE_OF_PATH = {"/api/v1/events": "writer", "/metrics": "admin", "/api/v1/privacy/forget": "admin"}
SCHEME = "Bearer"


def required_role(path: str) -> str | None:
    """The role a path needs (besides admin), or None for an open path."""
    return "reader" if path.startswith(RECOMMENDATIONS) else ROLE_OF_PATH.get(path)


def declare(doc: dict) -> dict:
    """The OpenAPI document with the bearer scheme and, per operation, whether it needs a key, of which role, and
    its 401/403 answers."""
    doc.setdefault("components", {})["securitySchemes"] = {"apiKey": {
        "type": "http", "scheme": "bearer",
        "description": "an API key made by `vidrec keys add NAME --role reader|writer|admin`"}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in doc["paths"].items():
        role = required_role(path)
        for op in operations.values():
            op["security"] = [] if role is None else [{"apiKey": []}]
            if role is not None:
                op["description"] = f"Needs an API key of role {role} (or admin)."
                op["responses"].update({"401": {"description": "no key, or an unknown or revoked one", **error},
                                        "403": {"description": f"the key's role is not {role} or admin", **error}})
    return doc


def _bearer(scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == SCHEME.lower() and token.strip() else ""
    return None


class ApiKeyAuth:
    def __init__(self, app, settings: Settings):
        self.app, self.enabled = app, settings.api_auth == "keys"
        self.keys = KeyRing(settings.api_keys_file)

    async def __call__(self, scope, receive, send):
        needed = required_role(scope["path"]) if scope["type"] == "http" and self.enabled else None
        if needed is None:
            return await self.app(scope, receive, send)
        token = _bearer(scope)
        found = self.keys.lookup(token) if token else None
        if found is None:
            return await _deny(send, 401, "unauthorized", self._why(token))
        name, role = found
        if role != needed and role != "admin":
            return await _deny(send, 403, "forbidden", f"the key {name!r} has role {role}; "
                                                        f"{scope['path']} needs {needed} (or admin)")
        scope["vidrec.api_key"] = name  # who asked, for the handlers that record it (serving.privacy)
        return await self.app(scope, receive, send)

    def _why(self, token: str | None) -> str:
        if token is None:
            return "send `Authorization: Bearer <key>`; `vidrec keys add NAME --role reader|writer|admin` makes one"
        if token == "":
            return "the Authorization header must be `Bearer <key>`"
        if self.keys.empty():
            return "this API has no keys yet: `vidrec keys add NAME --role reader|writer|admin` makes one"
        return "unknown or revoked key"


async def _deny(send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", f'{SCHEME} realm="vidrec"'.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
