"""Request validation for the API, and its OpenAPI document. Pure functions: no I/O, no Redis, no Feast.

A bad query parameter raises ``BadParam`` (400, names the parameter); a bad event raises ``BadEvent``
(400 for a body that is not a JSON object, 422 for fields, listing every problem at once).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from vidrec.settings import Settings
from vidrec.tables import DEVICES, EVENT_FIELDS, EVENT_TYPES, SURFACES, split_ddl

DEFAULT_COUNT, MAX_COUNT = 20, 100
MAX_ID_LEN = 128
MAX_BODY_BYTES = 16_384
DEFAULT_REGION = "global"
_ID_RE = re.compile(r"^[^\x00-\x20\x7f]{1,%d}$" % MAX_ID_LEN)  # printable, no spaces
_REGION_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
EVENT_COLUMNS = tuple(c.split(" ", 1)[0] for c in split_ddl(EVENT_FIELDS))  # what a landing line holds
OPTIONAL_STRINGS = ("session_id",)
EXTRA_FIELDS = ("creator_id",)  # accepted, used by the overlay, not written to the landing file


class BadParam(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter, self.message = parameter, message

    def body(self) -> dict:
        return {"error": "bad_request", "parameter": self.parameter, "message": self.message}


class BadEvent(ValueError):
    def __init__(self, status: int, errors: list[dict]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.status, self.errors = status, errors

    def body(self) -> dict:
        return {"error": "invalid_event", "message": str(self), "errors": self.errors}


def parse_id(params, name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise BadParam(name, f"{name} is required")
        return None
    if not _ID_RE.match(value):
        raise BadParam(name, f"{name} must be 1-{MAX_ID_LEN} printable characters without spaces")
    return value


def parse_count(params) -> int:
    raw = params.get("count")
    if raw is None or raw == "":
        return DEFAULT_COUNT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise BadParam("count", f"count must be an integer from 1 to {MAX_COUNT}, not {raw[:20]!r}")
    return int(raw)


def parse_region(params) -> str:
    raw = params.get("region")
    if raw is None or raw == "":
        return DEFAULT_REGION
    if not _REGION_RE.match(raw):
        raise BadParam("region", "region must be 1-32 letters, digits, '_' or '-'")
    return raw


def parse_ts(raw, settings: Settings, now: dt.datetime) -> str:
    """ISO-8601 with a timezone -> '2026-11-01T10:00:00.123Z' (UTC, ms), within the ingest's bounds."""
    if not isinstance(raw, str):
        raise ValueError("must be an ISO-8601 string, e.g. 2026-11-01T10:00:00Z")
    try:
        ts = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not ISO-8601 (e.g. 2026-11-01T10:00:00Z)") from None
    if ts.tzinfo is None:
        raise ValueError("needs a timezone (e.g. a trailing Z for UTC)")
    lo = dt.datetime.fromisoformat(settings.min_event_ts.replace("Z", "+00:00"))
    hi = now + dt.timedelta(seconds=settings.max_clock_skew_s)
    if not lo <= ts <= hi:
        raise ValueError(f"must be between {lo.isoformat()} and {hi.isoformat(timespec='seconds')}")
    return format_ts(ts)


def format_ts(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _check_field(name: str, value, settings: Settings, now: dt.datetime):
    """The normalized value of one field; raises ValueError with the reason."""
    if name == "event_type":
        if value not in EVENT_TYPES:
            raise ValueError(f"must be one of {', '.join(EVENT_TYPES)}")
    elif name in ("user_id", "video_id", "event_id", "creator_id", *OPTIONAL_STRINGS):
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise ValueError(f"must be a string of 1-{MAX_ID_LEN} printable characters without spaces")
    elif name == "watch_ms":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValueError("must be a non-negative integer (milliseconds)")
    elif name == "ts":
        return parse_ts(value, settings, now)
    elif name == "surface" and value not in SURFACES:
        raise ValueError(f"must be one of {', '.join(SURFACES)}")
    elif name == "device" and value not in DEVICES:
        raise ValueError(f"must be one of {', '.join(DEVICES)}")
    elif name == "region" and (not isinstance(value, str) or not _REGION_RE.match(value)):
        raise ValueError("must be 1-32 letters, digits, '_' or '-'")
    return value


def parse_event(body: bytes, settings: Settings, now: dt.datetime) -> tuple[dict, str | None]:
    """Validate one event -> (landing record with every EVENT_COLUMNS key, creator_id or None)."""
    if len(body) > MAX_BODY_BYTES:
        raise BadEvent(413, [{"field": "body", "message": f"larger than {MAX_BODY_BYTES} bytes"}])
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise BadEvent(400, [{"field": "body", "message": f"not valid JSON ({exc})"}]) from None
    if not isinstance(obj, dict):
        raise BadEvent(400, [{"field": "body", "message": "must be a JSON object"}])
    errors, record = [], {}
    for name in sorted(set(obj) - set(EVENT_COLUMNS) - set(EXTRA_FIELDS)):
        errors.append({"field": name, "message": "unknown field"})
    required = ["event_type", "user_id", "video_id"] + (["watch_ms"] if obj.get("event_type") == "watch" else [])
    for name in required:
        if obj.get(name) is None:
            errors.append({"field": name, "message": "is required"})
    for name in (*EVENT_COLUMNS, *EXTRA_FIELDS):
        if obj.get(name) is not None and name in obj:
            try:
                record[name] = _check_field(name, obj[name], settings, now)
            except ValueError as exc:
                errors.append({"field": name, "message": str(exc)})
    if errors:
        raise BadEvent(422, errors)
    creator_id = record.pop("creator_id", None)
    record.setdefault("event_id", str(uuid.uuid4()))
    record.setdefault("ts", format_ts(now))
    return {c: record.get(c) for c in EVENT_COLUMNS}, creator_id


def _item_schema() -> dict:
    props = {"video_id": "string", "title": "string", "creator_id": "string", "category": "string",
             "duration_ms": "integer", "score": "number", "reason": "string", "source": "string"}
    return {"type": "object", "properties": {k: {"type": t, "nullable": True} for k, t in props.items()}}


def _json_of(name: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _feed(summary: str, params: list[tuple[str, bool, str]]) -> dict:
    return {"get": {
        "summary": summary,
        "parameters": [{"name": n, "in": "query", "required": r, "schema": {"type": t}} for n, r, t in params],
        "responses": {"200": _json_of("Feed", "a feed"), "400": _json_of("Error", "a bad parameter")}}}


def openapi(version: str) -> dict:
    """The OpenAPI 3.0 document served at /openapi.json."""
    count = ("count", False, "integer")
    feed = {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        "version": {"type": "string", "nullable": True}, "degraded": {"type": "boolean"},
        "overlay": {"type": "boolean"}, "user_id": {"type": "string"}, "video_id": {"type": "string"},
        "region": {"type": "string"}}}
    event = {"type": "object", "required": ["event_type", "user_id", "video_id"], "properties": {
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)}, "user_id": {"type": "string"},
        "video_id": {"type": "string"}, "event_id": {"type": "string"},
        "watch_ms": {"type": "integer", "minimum": 0, "description": "required for watch"},
        "ts": {"type": "string", "format": "date-time", "description": "default: now"},
        "session_id": {"type": "string"}, "device": {"type": "string", "enum": list(DEVICES)},
        "region": {"type": "string"}, "surface": {"type": "string", "enum": list(SURFACES)},
        "creator_id": {"type": "string", "description": "optional; else looked up in the catalog"}}}
    user, region = ("user_id", False, "string"), ("region", False, "string")
    return {
        "openapi": "3.0.3", "info": {"title": "vidrec", "version": version},
        "paths": {
            "/api/v1/recommendations/home": _feed("Home feed of a user (cold-start list for an unknown user)",
                                                  [("user_id", True, "string"), count, region]),
            "/api/v1/recommendations/related": _feed("Videos related to a video",
                                                     [("video_id", True, "string"), user, count]),
            "/api/v1/recommendations/trending": _feed("Trending videos of a region", [region, count]),
            "/api/v1/events": {"post": {
                "summary": "Record one user event (landing file + real-time overlay)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": event}}},
                "responses": {"202": {"description": "accepted"}, "400": {"description": "not a JSON object"},
                              "413": {"description": "body too large"}, "422": {"description": "invalid fields"}}}},
            "/healthz": {"get": {"summary": "The process is alive", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Redis answers and a version is active",
                                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4)", "responses": {"200": {
                "description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
        "components": {"schemas": {"Item": _item_schema(), "Feed": feed, "Error": {"type": "object", "properties": {
            "error": {"type": "string"}, "parameter": {"type": "string"}, "message": {"type": "string"}}}}},
    }
