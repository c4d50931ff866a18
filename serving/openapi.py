"""The API's OpenAPI 3.0 document (/openapi.json): every rule serving/schemas.py enforces, stated, so that a
request the document allows is accepted and anything else gets a 4xx that names the problem.

The rules come from the same constants the validators use (lengths, characters, enums, the count range). One
rule has no JSON Schema form: an event's ``ts`` must lie between VIDREC_MIN_EVENT_TS and the time of the request
plus VIDREC_MAX_CLOCK_SKEW_S; it is declared with the format ``event-time`` (ISO-8601 with a zone, in that
window), which the description spells out and generated clients treat as a string. ``serving.auth.declare`` adds
the bearer scheme when keys are on.
"""

from __future__ import annotations

from serving.schemas import (DEFAULT_COUNT, DEFAULT_REGION, ID_CHARS, MAX_BODY_BYTES, MAX_COUNT, MAX_ID_LEN,
                             MAX_POSITION, MAX_REGION_LEN, MAX_SESSION_DEPTH, REGION_CHARS)
from vidrec.settings import Settings
from vidrec.tables import DEVICES, EVENT_TYPES, SURFACES

JSON_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN,
           "pattern": "^" + ID_CHARS.replace("\\x", "\\u00") + "+$",
           "description": f"1-{MAX_ID_LEN} printable characters, no spaces or control characters"}
JSON_REGION = {"type": "string", "minLength": 1, "maxLength": MAX_REGION_LEN, "pattern": f"^{REGION_CHARS}+$"}
STRING = {"type": "string"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _feed(summary: str, parameters: list[dict], more: dict | None = None) -> dict:
    return {"get": {"summary": summary, "parameters": parameters, "responses": {
        "200": _json("a feed", _ref("Feed")), "400": _json("a bad parameter, named in the answer", _ref("Error")),
        **(more or {})}}}


def _schemas(settings: Settings) -> dict:
    item = {k: {"type": t, "nullable": True} for k, t in {
        "video_id": "string", "title": "string", "creator_id": "string", "category": "string",
        "duration_ms": "integer", "score": "number", "reason": "string", "source": "string"}.items()}
    item.update({k: {"type": "string", "format": "uri", "description": f"{what}; present when the catalog has it"}
                 for k, what in (("thumbnail_url", "the video's thumbnail image"), ("url", "the video's page"))})
    event = {"type": "object", "additionalProperties": False, "required": ["event_type", "user_id", "video_id"],
             "properties": {
                 "event_type": {"type": "string", "enum": list(EVENT_TYPES)}, "user_id": JSON_ID,
                 "video_id": JSON_ID, "event_id": {**JSON_ID, "description": "default: a new UUID"},
                 "watch_ms": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                              "description": "milliseconds watched; required when event_type is watch"},
                 "ts": {"type": "string", "format": "event-time", "description": (
                     f"ISO-8601 with a timezone (e.g. 2026-11-01T10:00:00Z), from {settings.min_event_ts} to "
                     f"{settings.max_clock_skew_s} s after the request; default: the request's time")},
                 "session_id": JSON_ID,
                 "rec_id": {**JSON_ID, "description": "the rec_id of the feed response that showed the video"},
                 "position": {"type": "integer", "minimum": 1, "maximum": MAX_POSITION,
                              "description": "the video's 1-based place in that response"},
                 "device": {"type": "string", "enum": list(DEVICES)},
                 "region": JSON_REGION, "surface": {"type": "string", "enum": list(SURFACES)},
                 "creator_id": {**JSON_ID, "description": "optional; else looked up in the catalog"}},
             "anyOf": [{"properties": {"event_type": {"not": {"enum": ["watch"]}}}}, {"required": ["watch_ms"]}]}
    return {
        "Item": {"type": "object", "properties": item},
        "Feed": {"type": "object", "required": ["items", "version", "degraded", "overlay", "experiment", "arm",
                                                "rec_id"], "properties": {
            "items": {"type": "array", "items": _ref("Item")}, "version": {"type": "string", "nullable": True},
            "degraded": {"type": "boolean"}, "overlay": {"type": "boolean"},
            "experiment": {"type": "string", "nullable": True,
                           "description": "the A/B experiment the user is in on this surface (null: none)"},
            "arm": {"type": "string", "nullable": True, "description": "the user's arm of that experiment"},
            "rec_id": {"type": "string", "description": "this response's id: send it back with the events on its "
                                                        "items (rec_id, position), the served log holds it"},
            "user_id": STRING, "video_id": STRING, "region": STRING, "genre": STRING}},
        "Event": event,
        "Accepted": {"type": "object", "required": ["accepted", "event_id"], "properties": {
            "accepted": {"type": "boolean"}, "event_id": STRING, "overlay_updated": {"type": "boolean"}}},
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": STRING, "parameter": STRING, "message": STRING,
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": STRING,
                                                                                  "message": STRING}}}}},
    }


def openapi(version: str, settings: Settings) -> dict:
    """The document served at /openapi.json."""
    count = _query("count", {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": DEFAULT_COUNT})
    region = _query("region", {**JSON_REGION, "default": DEFAULT_REGION})
    error = _ref("Error")
    return {
        "openapi": "3.0.3", "info": {"title": "vidrec", "version": version},
        "paths": {
            "/api/v1/recommendations/home": _feed(
                "Home feed of a user (cold-start list for an unknown user), re-sorted for the device, the time of "
                "day, the day of the week and the session's depth (videos watched earlier in the session) when the "
                "served version has a context model",
                [_query("user_id", JSON_ID, True), count, region,
                 _query("device", {"type": "string", "enum": list(DEVICES)}),
                 _query("session_depth", {"type": "integer", "minimum": 0, "maximum": MAX_SESSION_DEPTH})]),
            "/api/v1/recommendations/related": _feed("Videos related to a video",
                                                     [_query("video_id", JSON_ID, True), _query("user_id", JSON_ID),
                                                      count]),
            "/api/v1/recommendations/trending": _feed("Trending videos of a region (with user_id: minus what that "
                                                      "user hid, and the user's experiment arm)",
                                                      [region, count, _query("user_id", JSON_ID)]),
            "/api/v1/recommendations/category": _feed(
                "Videos of a category, best first (with user_id: that user's own list's videos of it first)",
                [_query("genre", JSON_ID, True), _query("user_id", JSON_ID), count],
                {"404": _json("the served version has no list for this genre", error)}),
            "/api/v1/recommendations/fresh": _feed("New releases of a region, exploration included (user_id: as "
                                                   "for trending)", [region, count, _query("user_id", JSON_ID)]),
            "/api/v1/events": {"post": {
                "summary": "Record one user event (landing file + real-time overlay)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Event")}}},
                "responses": {"202": _json("accepted", _ref("Accepted")),
                              "400": _json("the body is not a JSON object", error),
                              "413": _json(f"the body is larger than {MAX_BODY_BYTES} bytes", error),
                              "422": _json("invalid fields, every problem listed", error),
                              "503": _json("the event could not be stored; nothing was accepted", error)}}},
            "/api/v1/privacy/forget": {"post": {
                "summary": "Queue a request to forget a user everywhere (admin keys; `vidrec privacy process` or the "
                           "privacy_daily DAG carries it out and writes the audit)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["user_id"], "additionalProperties": False,
                    "properties": {"user_id": JSON_ID}}}}},
                "responses": {"202": _json("queued", {"type": "object", "properties": {
                                  "queued": {"type": "boolean"}, "request_id": STRING, "requested_by": STRING,
                                  "requested_at": STRING}}),
                              "400": _json("the body is not JSON", error),
                              "413": _json("the body is larger than 4096 bytes", error),
                              "422": _json("the body is not {\"user_id\": \"...\"}", error),
                              "503": _json("the request could not be stored", error)}}},
            "/healthz": {"get": {"summary": "The process is alive",
                                 "responses": {"200": _json("ok", {"type": "object"})}}},
            "/readyz": {"get": {"summary": "Redis answers and a version is active", "responses": {
                "200": _json("ready", {"type": "object"}), "503": _json("not ready", {"type": "object"})}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _json("the document", {"type": "object"})}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4)", "responses": {"200": {
                "description": "metrics", "content": {"text/plain": {"schema": STRING}}}}}},
        },
        "components": {"schemas": _schemas(settings)},
    }
