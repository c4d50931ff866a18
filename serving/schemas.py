"""Request validation for the API (serving/openapi.py states the same rules). Pure functions: no I/O.

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
ID_CHARS, REGION_CHARS, MAX_REGION_LEN = r"[^\x00-\x20\x7f]", r"[A-Za-z0-9_-]", 32  # ids: printable, no spaces
_ID_RE = re.compile(r"%s{1,%d}" % (ID_CHARS, MAX_ID_LEN))  # used with fullmatch: "$" would let a final "\n" in
_REGION_RE = re.compile(r"%s{1,%d}" % (REGION_CHARS, MAX_REGION_LEN))
EVENT_COLUMNS = tuple(c.split(" ", 1)[0] for c in split_ddl(EVENT_FIELDS))  # what a landing line holds
OPTIONAL_STRINGS = ("session_id", "rec_id")
MAX_POSITION = 10_000
MAX_SESSION_DEPTH = 100_000  # the request's session_depth (only its band is used: vidrec.context.depth)
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


def check_known(params, known: tuple[str, ...]) -> None:
    """Every query parameter is one the route takes: a typo never passes silently."""
    for name in params.keys():
        if name not in known:
            raise BadParam(name[:64], f"unknown parameter {name[:64]!r}; this route takes {', '.join(known)}")


def is_id(value) -> bool:
    """An id the API takes: a string of 1-MAX_ID_LEN printable characters without spaces."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def parse_id(params, name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise BadParam(name, f"{name} is required")
        return None
    if not _ID_RE.fullmatch(value):
        raise BadParam(name, f"{name} must be 1-{MAX_ID_LEN} printable characters without spaces")
    return value


def parse_count(params) -> int:
    raw = params.get("count")
    if raw is None:
        return DEFAULT_COUNT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_COUNT:
        raise BadParam("count", f"count must be an integer from 1 to {MAX_COUNT}, not {raw[:20]!r}")
    return int(raw)


def parse_region(params) -> str:
    raw = params.get("region")
    if raw is None:
        return DEFAULT_REGION
    if not _REGION_RE.fullmatch(raw):
        raise BadParam("region", "region must be 1-32 letters, digits, '_' or '-'")
    return raw


def parse_device(params) -> str | None:
    raw = params.get("device")
    if raw is not None and raw not in DEVICES:
        raise BadParam("device", f"device must be one of {', '.join(DEVICES)}, not {raw[:20]!r}")
    return raw


def parse_session_depth(params) -> int | None:
    raw = params.get("session_depth")
    if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_SESSION_DEPTH):
        raise BadParam("session_depth", f"session_depth must be an integer from 0 to {MAX_SESSION_DEPTH} (videos "
                                        f"watched earlier in the session), not {raw[:20]!r}")
    return None if raw is None else int(raw)


def parse_query(params, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict:
    """A route's query parameters, checked (BadParam names the first bad one): the ``required`` ids, then the
    ``optional`` ones (``count`` and ``region`` with their defaults, ``device`` one of DEVICES or None,
    ``session_depth`` an integer or None, any other an id or None); nothing else."""
    check_known(params, required + optional)
    out = {name: parse_id(params, name) for name in required}
    parsers = {"count": parse_count, "region": parse_region, "device": parse_device,
               "session_depth": parse_session_depth}
    for name in optional:
        out[name] = parsers[name](params) if name in parsers else parse_id(params, name, required=False)
    return out


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
        if not isinstance(value, str) or not _ID_RE.fullmatch(value):
            raise ValueError(f"must be a string of 1-{MAX_ID_LEN} printable characters without spaces")
    elif name == "watch_ms":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValueError("must be a non-negative integer (milliseconds)")
    elif name == "ts":
        return parse_ts(value, settings, now)
    elif name == "position":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POSITION:
            raise ValueError(f"must be an integer from 1 to {MAX_POSITION} (the item's place in the feed)")
    elif name == "surface" and value not in SURFACES:
        raise ValueError(f"must be one of {', '.join(SURFACES)}")
    elif name == "device" and value not in DEVICES:
        raise ValueError(f"must be one of {', '.join(DEVICES)}")
    elif name == "region" and (not isinstance(value, str) or not _REGION_RE.fullmatch(value)):
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
        if obj.get(name) is None:
            if name in obj and name not in required:
                errors.append({"field": name, "message": "is null: leave the field out instead"})
        else:
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
