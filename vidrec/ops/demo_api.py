"""The end of `make demo`: start the API in the background and show real responses."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from urllib.parse import quote
from pathlib import Path

from vidrec import api_keys
from vidrec.ops import services
from vidrec.settings import Settings

DEMO_KEY = "demo"
_headers = {"Content-Type": "application/json"}


def demo_key(settings: Settings) -> str:
    """A fresh admin key named "demo" (the previous one revoked): the demo's calls and the printed curl use it."""
    if any(k["name"] == DEMO_KEY for k in api_keys.listing(settings.api_keys_file)):
        api_keys.revoke(settings.api_keys_file, DEMO_KEY)
    return api_keys.add(settings.api_keys_file, DEMO_KEY, "admin")


def _call(base: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, headers=_headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def start_api(settings: Settings, wait_s: float = 60.0) -> str:
    """This data dir's API, started unless it runs; an API of another data dir on the port is an error (its
    keys and lists are not this demo's)."""
    base = f"http://{settings.api_host}:{settings.api_port}"
    if not services.running_pid(settings, "api"):
        try:
            taken = _call(base, "/readyz")[0] > 0
        except OSError:  # nothing listening: the port is free
            taken = False
        if taken:
            raise RuntimeError(f"{base} already answers, but not as the API of {settings.data_dir}: another "
                               "`vidrec serve` holds the port; stop it (`vidrec services down` with its "
                               "VIDREC_DATA_DIR) or set VIDREC_API_PORT")
        services.spawn(settings, "api", [services.vidrec_command(), "serve"], services.child_env(settings))
    if services.wait_until(lambda: _call(base, "/readyz")[0] == 200, wait_s, interval_s=0.5):
        return base
    raise RuntimeError(f"the API did not become ready on {base}; see {settings.data_dir}/run/api.log")


def _items(payload: dict, n: int = 5) -> list[str]:
    return [f"{i['video_id']:<8} {i.get('title', '')[:28]:<28} by {i.get('creator_id', ''):<9} "
            f"[{i.get('source', '')}] {i.get('reason', '')}" for i in payload.get("items", [])[:n]]


def _print(title: str, status: int, payload: dict, n: int = 5) -> None:
    meta = {k: payload.get(k) for k in ("version", "degraded", "overlay") if k in payload}
    print(f"\n-- {title}  -> {status} {json.dumps(meta)}")
    for line in _items(payload, n):
        print("   " + line)


def _known_user(settings: Settings, ds: str) -> str:
    import pyarrow.parquet as pq

    home = pq.read_table(Path(settings.artifact_root) / "runs" / ds / "lists" / "home.parquet", columns=["user_id"])
    return sorted(set(home.column("user_id").to_pylist()))[0]


def first_watch(base: str, user: str, video: dict) -> bool:
    """A user we have never seen watches ``video``: their next home feed is led by videos related to it."""
    event = {"user_id": user, "video_id": video["video_id"], "event_type": "watch", "watch_ms": 60_000,
             "surface": "trending"}
    status, ack = _call(base, "/api/v1/events", event)
    print(f"\n-- POST /api/v1/events {json.dumps(event)}  -> {status} {json.dumps(ack)}")
    status, after = _call(base, f"/api/v1/recommendations/home?user_id={user}&region=us&count=5")
    _print(f"home feed of {user} right after that first watch", status, after)
    led = bool(after.get("items")) and after["items"][0].get("source") == "realtime"
    print(f"   led by videos related to {video['video_id']}: {led}")
    return led


def show(settings: Settings, ds: str) -> int:
    print(f"\n== the API (vidrec serve) in the background on http://{settings.api_host}:{settings.api_port}",
          flush=True)
    key = demo_key(settings)
    _headers["Authorization"] = f"Bearer {key}"
    try:
        base = start_api(settings)
    except RuntimeError as exc:
        print(f"vidrec demo: {exc}", file=sys.stderr)
        return 1
    user = _known_user(settings, ds)
    status, home = _call(base, f"/api/v1/recommendations/home?user_id={user}&count=10")
    _print(f"home feed of {user}", status, home, 10)
    if status != 200 or not home.get("items"):
        print(f"vidrec demo: the home feed of {user} answered {status} {json.dumps(home)}; see "
              f"{settings.data_dir}/run/api.log", file=sys.stderr)
        return 1
    first = home["items"][0]
    _print(f"related to {first['video_id']}", *_call(base, f"/api/v1/recommendations/related?video_id="
                                                            f"{first['video_id']}&user_id={user}&count=5"))
    _print(f"home feed of {user} on a TV (long videos move up when the version has a context model)",
           *_call(base, f"/api/v1/recommendations/home?user_id={user}&count=5&device=tv"))
    status, trending = _call(base, "/api/v1/recommendations/trending?region=global&count=5")
    _print("trending (global)", status, trending)
    _print("a user we have never seen (cold start)", *_call(base, "/api/v1/recommendations/home?user_id=newbie"
                                                                   "&region=us&count=5"))
    reacted = first_watch(base, "newbie", first)  # a video with a related list (shown above)
    genre = first["category"]
    _print(f"category {genre!r} for {user} (their own order first)",
           *_call(base, f"/api/v1/recommendations/category?genre={quote(genre)}&user_id={user}&count=5"))
    _print("new releases (us)", *_call(base, "/api/v1/recommendations/fresh?region=us&count=5"))
    event = {"user_id": user, "video_id": first["video_id"], "event_type": "not_interested", "surface": "home"}
    status, ack = _call(base, "/api/v1/events", event)
    print(f"\n-- POST /api/v1/events {json.dumps(event)}  -> {status} {json.dumps(ack)}")
    status, again = _call(base, f"/api/v1/recommendations/home?user_id={user}&count=10")
    _print(f"home feed of {user} again", status, again, 10)
    gone = all(i["video_id"] != first["video_id"] and i["creator_id"] != first["creator_id"] for i in again["items"])
    print(f"   {first['video_id']} and every video of {first['creator_id']} gone: {gone}")
    print(f"\n== try it (the API key {DEMO_KEY!r}, role admin; `vidrec keys add NAME --role reader` makes more):")
    print(f"   curl -H 'Authorization: Bearer {key}' '{base}/api/v1/recommendations/home?user_id={user}&count=10'")
    print(f"   API docs: {base}/openapi.json    Airflow UI: `make airflow`    stop everything: `make stop`")
    return 0 if gone and reacted else 1
