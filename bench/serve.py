"""Benchmark: publish a synthetic run, serve it with uvicorn, load the home feed; prints one JSON line.

    .venv/bin/python bench/serve.py [--users 10000] [--items 150] [--requests 5000] [--concurrency 16]

Everything is real and private to the run: a redis-server on a free loopback port, the lists written as
parquet + a Delta catalog and published by ``models.publish.run`` (timed: that is the publish number),
then ``uvicorn --factory serving.app:create_app_from_env`` in a child process (one worker, overlay off:
no feature repo) loaded by an httpx.AsyncClient with bounded concurrency. Client and server share the
machine's cores, so the numbers are a floor, not a capacity; ``server_cpu_ms_per_request`` (the uvicorn
process's CPU time / requests) is the figure that stays comparable on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from vidrec.ops import services
from vidrec.settings import Settings

DS = "2026-11-01"
REGIONS = ["global", "eu", "us", "asia"]


def ranked(key: str, keys: np.ndarray, per_key: int, videos: np.ndarray, rng, item_col: str = "video_id",
           source: str | None = "als") -> pa.Table:
    n = len(keys) * per_key
    cols = {key: np.repeat(keys, per_key), "rank": np.tile(np.arange(1, per_key + 1, dtype=np.int32), len(keys)),
            item_col: videos[rng.integers(0, len(videos), n)], "score": np.round(rng.random(n), 4),
            "reason": np.where(rng.random(n) < 0.7, "because_you_watched", "popular_in_category")}
    if source:
        cols["source"] = np.full(n, source, dtype=object)
    return pa.table(cols)


def write_synthetic_run(settings: Settings, users: int, items: int, n_videos: int, seed: int = 42) -> None:
    from deltalake import write_deltalake

    rng = np.random.default_rng(seed)
    videos = np.array([f"v{i}" for i in range(n_videos)], dtype=object)
    write_deltalake(str(Path(settings.lake_root) / "videos"), pa.table({
        "video_id": videos, "title": [f"A video about topic {i % 997} number {i}" for i in range(n_videos)],
        "creator_id": [f"c{i % 2000}" for i in range(n_videos)], "category": [f"cat{i % 30}" for i in range(n_videos)],
        "duration_ms": rng.integers(10_000, 1_200_000, n_videos)}))
    lists = Path(settings.artifact_root) / "runs" / DS / "lists"
    lists.mkdir(parents=True)
    user_ids = np.array([f"u{i}" for i in range(users)], dtype=object)
    pq.write_table(ranked("user_id", user_ids, items, videos, rng), lists / "home.parquet")
    pq.write_table(ranked("video_id", videos[: n_videos // 4], 50, videos, rng, "related_id", "similar"),
                   lists / "related.parquet")
    for name in ("trending", "coldstart"):
        pq.write_table(ranked("region", np.array(REGIONS, dtype=object), 200, videos, rng, source=None),
                       lists / f"{name}.parquet")
    (lists.parent / "manifest.json").write_text(json.dumps(
        {"ds": DS, "params_digest": "bench0123456789", "metrics": {}, "gate": {"passed": True}}))


def start_api(settings: Settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "VIDREC_DATA_DIR": str(settings.data_dir), "VIDREC_REDIS_URL": settings.redis_url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "serving.app:create_app_from_env",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, cwd=Path(__file__).resolve().parents[1], start_new_session=True)
    import httpx

    def ready() -> bool:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200

    if services.wait_until(ready, 60, interval_s=0.2, failed=lambda: proc.poll() is not None,
                           errors=(httpx.HTTPError,)):
        return proc
    if proc.poll() is not None:
        raise SystemExit(f"the API exited with {proc.returncode}")
    proc.kill()
    raise SystemExit("the API did not become ready within 60 s")


async def load(port: int, users: int, requests: int, concurrency: int, seed: int = 7) -> dict:
    import httpx

    rng = np.random.default_rng(seed)
    # 95% known users, 5% unknown (cold-start path)
    targets = [f"u{i}" if i < users else f"new{i}" for i in rng.integers(0, int(users / 0.95), requests)]
    latencies, errors, queue = [], 0, iter(targets)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
        async def worker():
            nonlocal errors
            for user in queue:
                t = time.perf_counter()
                r = await client.get("/api/v1/recommendations/home", params={"user_id": user})
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200 or not r.json()["items"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"requests": requests, "concurrency": concurrency, "errors": int(errors),
            "rps": round(requests / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--items", type=int, default=150, help="items per home list (topn + spares)")
    ap.add_argument("--videos", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    from models import publish
    import redis

    with tempfile.TemporaryDirectory() as tmp:
        redis_port, api_port = services.free_port(), services.free_port()
        redis_proc = services.start_redis(redis_port, Path(tmp) / "redis")
        api = None
        try:
            s = Settings(data_dir=Path(tmp) / "var", redis_url=f"redis://127.0.0.1:{redis_port}/0")
            write_synthetic_run(s, a.users, a.items, a.videos)
            started = time.perf_counter()
            published = publish.run(s, DS)
            publish_s = time.perf_counter() - started
            memory = redis.Redis.from_url(s.redis_url).info("memory")["used_memory"]
            api = start_api(s, api_port)
            cpu_before = sum(psutil.Process(api.pid).cpu_times()[:2])
            result = asyncio.run(load(api_port, a.users, a.requests, a.concurrency))
            # the server's own CPU per request: comparable across runs even when the machine is busy
            result["server_cpu_ms_per_request"] = round(
                (sum(psutil.Process(api.pid).cpu_times()[:2]) - cpu_before) * 1000 / a.requests, 3)
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=10)
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    print(json.dumps({"publish": {"users": a.users, "items_per_user": a.items, "keys": published["keys"],
                                  "seconds": round(publish_s, 2), "store_seconds": published["seconds"],
                                  "redis_used_mb": round(memory / 2**20, 1)},
                      "serve_home": result}))


if __name__ == "__main__":
    main()
