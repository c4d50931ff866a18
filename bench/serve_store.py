"""Benchmark: the published lists in Redis (bytes, decode cost) and the home feed through httpx, against a revision.

    .venv/bin/python bench/serve_store.py [--users 10000] [--items 150] [--requests 5000] [--concurrency 16]
                                          [--warmup 2000] [--baseline REV [--rounds N]]

All real and private to the run: a redis-server on a free loopback port, lists (parquet) and a Delta catalog
published by ``models.publish.run`` (timed), ``uvicorn --factory serving.app:create_app_from_env`` in a child
process (one worker, overlay off) loaded by an httpx.AsyncClient with a reader key: ``--warmup`` requests (they
fill the API's catalog), then ``--requests`` measured ones. Client and server share the cores, so latencies are a
floor; ``server_cpu_ms_per_request`` (uvicorn's CPU time / requests) stays comparable on a busy machine.
Also: bytes per home list in Redis, Redis commands per request, decode µs, a digest of a fixed sample of answers.
``--baseline REV``: the same against REV's code, then the working tree, ``--rounds`` times in turn; the last line
is {"baseline", "current", "ratios"}, medians over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from stages import stop  # bench/stages.py

DS = "2026-11-01"
REGIONS = ["global", "eu", "us", "asia"]
CATEGORIES = np.array(["comedy", "music", "sports", "gaming", "food", "travel", "news", "pets", "beauty", "dance"],
                      dtype=object)
SOURCES = np.array(["als", "cowatch", "content", "explore", "fresh"], dtype=object)
REPO = Path(__file__).resolve().parents[1]


def videos_table(n: int, rng) -> pa.Table:
    """A catalog with realistic display fields: every 5th title in Chinese, creators shared by ~10 videos."""
    titles = [f"关于主题 {i % 997} 的视频 第{i}集" if i % 5 == 0
              else f"A video about topic {i % 997} number {i}" for i in range(n)]
    return pa.table({"video_id": [f"v{i}" for i in range(n)], "title": titles,
                     "creator_id": [f"c{i % (n // 10 + 1)}" for i in range(n)],
                     "category": CATEGORIES[np.arange(n) % len(CATEGORIES)],
                     "duration_ms": rng.integers(10_000, 1_200_000, n)})


def ranked(key: str, keys: np.ndarray, per_key: int, videos: pa.Table, rng, item_col: str = "video_id",
           source: str | None = "als") -> pa.Table:
    """Lists as the rank job writes them, with its reasons: "because you watched <title>" naming one of the
    key's 10 seed videos, "new from <creator>", "popular in <category>"."""
    n, n_videos = len(keys) * per_key, videos.num_rows
    ids, titles = videos["video_id"].to_numpy(zero_copy_only=False), videos["title"].to_numpy(zero_copy_only=False)
    creators = videos["creator_id"].to_numpy(zero_copy_only=False)
    item = rng.integers(0, n_videos, n)
    seeds = rng.integers(0, n_videos, (len(keys), 10))[np.repeat(np.arange(len(keys)), per_key), rng.integers(0, 10, n)]
    src = SOURCES[rng.choice(len(SOURCES), n, p=[0.5, 0.25, 0.1, 0.1, 0.05])] if source == "als" \
        else np.full(n, source or "trending", dtype=object)
    reason = np.where(np.isin(src, ["als", "cowatch"]) & (rng.random(n) < 0.85), "because you watched " + titles[seeds],
                      np.where(np.isin(src, ["explore", "fresh"]), "new from " + creators[item],
                               "popular in " + CATEGORIES[item % len(CATEGORIES)]))
    cols = {key: np.repeat(keys, per_key), "rank": np.tile(np.arange(1, per_key + 1, dtype=np.int32), len(keys)),
            item_col: ids[item], "score": np.sort(np.round(rng.random(n), 4))[::-1], "reason": reason}
    return pa.table({**cols, "source": src} if source else cols)


def write_synthetic_run(settings, users: int, items: int, n_videos: int, seed: int = 42) -> None:
    from deltalake import write_deltalake

    rng = np.random.default_rng(seed)
    videos = videos_table(n_videos, rng)
    write_deltalake(str(Path(settings.lake_root) / "videos"), videos)
    lists = Path(settings.artifact_root) / "runs" / DS / "lists"
    lists.mkdir(parents=True)
    user_ids = np.array([f"u{i}" for i in range(users)], dtype=object)
    pq.write_table(ranked("user_id", user_ids, items, videos, rng), lists / "home.parquet")
    seeds = videos["video_id"].to_numpy(zero_copy_only=False)[: n_videos // 4]
    pq.write_table(ranked("video_id", seeds, 50, videos, rng, "related_id", "similar"), lists / "related.parquet")
    for name in ("trending", "coldstart"):
        pq.write_table(ranked("region", np.array(REGIONS, dtype=object), 200, videos, rng, source=None),
                       lists / f"{name}.parquet")
    (lists.parent / "manifest.json").write_text(json.dumps(
        {"ds": DS, "params_digest": "bench0123456789", "metrics": {}, "gate": {"passed": True}}))


def measure_redis(url: str, sample: int = 500) -> dict:
    """Bytes per home list (MEMORY USAGE and STRLEN over a sample), per video row, and decode µs."""
    import redis

    r = redis.Redis.from_url(url)
    home = [k for _, k in zip(range(sample), r.scan_iter(match="vidrec:v:*:home:*", count=1000))]
    video = [k for _, k in zip(range(sample), r.scan_iter(match="vidrec:v:*:video:*", count=1000))]
    raws = r.mget(home)
    usage = [r.memory_usage(k, samples=0) for k in home]
    return {"redis_used_mb": round(r.info("memory")["used_memory"] / 2**20, 1),
            "home_bytes": round(float(np.mean(usage))), "home_bytes_max": int(max(usage)),
            "home_strlen": round(float(np.mean([len(v) for v in raws]))),
            "video_row_bytes": round(float(np.mean([r.memory_usage(k, samples=0) for k in video]))),
            **decode_us(r, raws)}


def decode_us(r, raws: list[bytes]) -> dict:
    """µs (CPU) from one stored home value to served rows: unpack + catalog rows held in memory (as the API
    does) + every row built (``decode_us``) or the 20 a default request reads (``decode_us_feed``); or
    json.loads (the earlier layout). For packed values, json.loads of the same rows as the reference."""
    if raws[0][:1] == b"[":
        return {"decode_us": cpu_us(json.loads, raws)}
    from vidrec.recstore import codec
    from vidrec.recstore.catalog import VersionCatalog

    keys, catalog = list(r.scan_iter(match="vidrec:v:*:video:*", count=5000)), VersionCatalog()
    by_id = {row[0]: tuple(row) for row in map(json.loads, r.mget(keys))}
    for packed in map(codec.decode_value, raws):
        catalog.add({index: by_id[v] for index, v in zip(packed.indexes, packed.video_ids)})

    def rows(raw: bytes):
        packed = codec.decode_value(raw)
        assert not catalog.missing(packed.indexes)
        return codec.Rows(packed, catalog.rows)
    legacy = [json.dumps(list(rows(raw)), separators=(",", ":"), ensure_ascii=False).encode() for raw in raws]
    return {"decode_us": cpu_us(lambda raw: list(rows(raw)), raws), "decode_us_feed": cpu_us(
        lambda raw: rows(raw)[:20], raws), "decode_us_json_rows": cpu_us(json.loads, legacy)}


def cpu_us(decode, values: list, repeat: int = 5) -> float:
    """Best of ``repeat`` passes, CPU time per value (the machine may be busy)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for value in values:
            decode(value)
        best = min(best, (time.process_time() - started) / len(values))
    return round(best * 1e6, 1)


def start_api(settings, port: int, code_root: Path) -> subprocess.Popen:
    from vidrec.ops import services

    env = {**os.environ, "VIDREC_DATA_DIR": str(settings.data_dir), "VIDREC_REDIS_URL": settings.redis_url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "serving.app:create_app_from_env",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, cwd=code_root, start_new_session=True)

    def ready() -> bool:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200

    if services.wait_until(ready, 60, interval_s=0.2, failed=lambda: proc.poll() is not None,
                           errors=(httpx.HTTPError,)):
        return proc
    if proc.poll() is not None:
        raise SystemExit(f"the API exited with {proc.returncode}")
    proc.kill()
    raise SystemExit("the API did not become ready within 60 s")


async def load(client, users: int, requests: int, concurrency: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    # 95% known users, 5% unknown (cold-start path)
    targets = [f"u{i}" if i < users else f"new{i}" for i in rng.integers(0, int(users / 0.95), requests)]
    latencies, errors, queue = [], 0, iter(targets)

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


async def answers_digest(client, users: int) -> str:
    """sha256 over the answers of a fixed sample: home (known and unknown users, full length), related, trending."""
    digest = hashlib.sha256()
    paths = [("home", {"user_id": f"u{i}", "count": "100"}) for i in range(0, users, max(1, users // 200))]
    paths += [("home", {"user_id": "nobody", "region": reg}) for reg in REGIONS + ["mars"]]
    paths += [("related", {"video_id": f"v{i}", "count": "50"}) for i in range(0, 400, 7)]
    paths += [("trending", {"region": reg, "count": "100"}) for reg in REGIONS + ["mars"]]
    for path, params in paths:
        digest.update((await client.get(f"/api/v1/recommendations/{path}", params=params)).content)
    return digest.hexdigest()


async def serve_phase(port: int, pid: int, redis_url: str, key: str, a) -> dict:
    import redis

    r, proc = redis.Redis.from_url(redis_url), psutil.Process(pid)
    limits = httpx.Limits(max_connections=a.concurrency, max_keepalive_connections=a.concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        await load(client, a.users, a.warmup, a.concurrency, seed=3)
        before = (await client.get("/healthz")).json()["counters"]
        r.config_resetstat()
        cpu_before = sum(proc.cpu_times()[:2])
        result = await load(client, a.users, a.requests, a.concurrency, seed=7)
        # the server's own CPU per request: comparable across runs even when the machine is busy
        result["server_cpu_ms_per_request"] = round((sum(proc.cpu_times()[:2]) - cpu_before) * 1000 / a.requests, 3)
        calls = sum(v["calls"] for k, v in r.info("commandstats").items() if k != "cmdstat_info")
        result["redis_calls_per_request"] = round(calls / a.requests, 3)
        warm, after = before.get("catalog_fetches", 0), (await client.get("/healthz")).json()["counters"]
        result.update(catalog_fetches_per_request=round((after.get("catalog_fetches", 0) - warm) / a.requests, 4),
                      warmup_catalog_fetches=warm)
        result["responses_sha256"] = await answers_digest(client, a.users)
    return result


def run_once(a) -> dict:
    from models import publish
    from vidrec.ops import services
    from vidrec.settings import Settings

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
            store = measure_redis(s.redis_url)
            try:  # a reader key, sent as a client sends it (a --baseline from before API keys ignores it)
                key = __import__("vidrec.api_keys").api_keys.add(s.api_keys_file, "bench", "reader")
            except ImportError:
                key = "none"
            api = start_api(s, api_port, Path(a.code_root or REPO))
            result = asyncio.run(serve_phase(api_port, api.pid, s.redis_url, key, a))
        finally:
            stop(api, redis_proc)
    return {"publish": {"users": a.users, "items_per_user": a.items, "keys": published["keys"],
                        "seconds": round(publish_s, 2), "store_seconds": published["seconds"], **store},
            "serve_home": result}


def run_baseline(rev: str, argv: list[str]) -> dict:
    """This benchmark against the code of ``rev``: its tree exported to a temporary folder, put first on
    PYTHONPATH (the API's working directory too); the result is the child's last JSON line."""
    from pipeline import checkout  # bench/pipeline.py: the git-archive export

    with tempfile.TemporaryDirectory() as tmp:
        tree = str(checkout(rev, Path(tmp) / "code")[0])
        out = subprocess.run([sys.executable, __file__, *argv, "--code-root", tree], check=True, capture_output=True,
                             env={**os.environ, "PYTHONPATH": tree}, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median_of(results: list[dict]) -> dict:
    """Per figure, the median over rounds (strings from the first round)."""
    return {part: {k: statistics.median(r[part][k] for r in results) if isinstance(v, (int, float)) else v
                   for k, v in results[0][part].items()} for part in results[0]}


def compare(a) -> dict:
    argv = [f"--{k}={getattr(a, k)}" for k in ("users", "items", "videos", "requests", "warmup", "concurrency")]
    runs: dict = {"baseline": [], "current": []}
    for r in range(a.rounds):  # the order alternates: neither side always runs on the warmer or busier machine
        for side in ("baseline", "current")[::1 if r % 2 == 0 else -1]:
            runs[side].append(run_baseline(a.baseline, argv) if side == "baseline" else run_once(a))
        print(json.dumps({side: results[-1] for side, results in runs.items()}), flush=True)
    b, c = median_of(runs["baseline"]), median_of(runs["current"])
    ratios = {k: round(c[p][k] / b[p][k], 3) for p, keys in [
        ("publish", ("home_bytes", "home_strlen", "redis_used_mb", "decode_us", "seconds")),
        ("serve_home", ("server_cpu_ms_per_request", "rps", "p50_ms", "p99_ms"))] for k in keys if b[p].get(k)}
    ratios["same_answers"] = b["serve_home"]["responses_sha256"] == c["serve_home"]["responses_sha256"]
    return {"baseline": {"rev": a.baseline, **b}, "current": c, "ratios": ratios, "rounds": a.rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default, text in [("users", 10_000, None), ("items", 150, "items per home list (topn + spares)"),
                                ("videos", 20_000, None), ("requests", 5000, None), ("concurrency", 16, None),
                                ("warmup", 2000, "requests before the measured ones")]:
        ap.add_argument(f"--{name}", type=int, default=default, help=text)
    ap.add_argument("--baseline", help="git revision to compare with, on the same data, in the same run")
    ap.add_argument("--rounds", type=int, default=1, help="with --baseline: baseline/current pairs to run")
    ap.add_argument("--code-root", help=argparse.SUPPRESS)  # set by --baseline for its child
    a = ap.parse_args()
    print(json.dumps(compare(a) if a.baseline else run_once(a)))


if __name__ == "__main__":
    main()
