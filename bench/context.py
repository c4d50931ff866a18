"""Benchmark: the request context model, what it gains on a lake's holdout and what it costs the API.

    .venv/bin/python bench/context.py quality --data-dir DIR [--ds D]
    .venv/bin/python bench/context.py serve [--users 5000] [--requests 4000] [--rounds 3] [--concurrency 8]

``quality``: the nightly run ``D`` (default: the newest) of a lake that bench/pipeline.py kept (``--keep DIR``):
``models.evaluation.context_gate.choose`` again on its holdout day, with the run's ranker and training set, and
nDCG@10 of every weight tried (the lists as they are: weight 0), per device, and each dimension's lifts alone
(device, daypart, weekpart, depth) at the chosen weight.

``serve``: the API's cost of the re-sort, side by side. A real redis-server and a synthetic nightly run of
``--users`` x 150 items (bench/serve_store.py's) published by ``models.publish.run`` with a context model in its
meta (device lifts only), ``uvicorn`` in a child process (one worker, overlay off); home feeds of random users
asked without ``device`` (nothing to re-sort: the reference) and with ``device=tv`` (every list re-sorted), in
turns, ``--rounds`` times. Per case: requests/s, p50/p99 and the server's CPU ms per request; the ratios.
Prints JSON; the last line is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
MODEL = {"weight": 0.1, "edges_ms": [30_000, 120_000, 600_000],  # the 1M lake's device lifts (bench/results)
         "lifts": {"device": {"tv": [-0.297, 0.039, 0.264, 0.170], "android": [0.032, -0.003, -0.039, -0.080],
                              "ios": [0.033, -0.005, -0.044, -0.074], "web": [-0.123, 0.009, 0.140, 0.163]}}}


def quality(a) -> dict:
    from models import io
    from models.evaluation import context_gate, gate
    from models.metrics import ndcg_of_scores
    from vidrec.settings import Settings

    s = Settings.from_env(data_dir=Path(a.data_dir).resolve())
    ds = a.ds or sorted(p.name for p in (Path(s.artifact_root) / "runs").iterdir())[-1]
    out, snap = io.run_dir(s, ds), io.LakeSnapshot(s)
    rows = io.read_parquet(out / "training_set.parquet")
    valid = rows[(rows["split"] == "valid") & (rows["label_ds"] == ds)]
    labeled, _ = gate.holdout_labels(s, snap, ds, valid["user_id"].unique())
    scores = gate.model_scores(out / "ranker", valid, s.weights())
    started = time.perf_counter()
    model, report = context_gate.choose(snap, ds, valid, scores, labeled, 10)
    report["seconds"] = round(time.perf_counter() - started, 2)
    lifts = context_gate.read_lifts(snap, report["lifts_ds"])
    frame = context_gate.requests(valid, scores, context_gate.in_context(snap, ds, labeled),
                                  snap.read("videos", ["video_id", "duration_ms"]))
    for dimension in lifts:  # each dimension alone at the chosen weight
        offsets = context_gate.unit_offsets(frame, {dimension: lifts[dimension]})
        report[f"{dimension}_only"] = round(ndcg_of_scores(frame, frame["score"] + report["weight"] * offsets, 10), 6)
    return {"ds": ds, "data_dir": str(a.data_dir), **report, "lifts": lifts}


async def _load(client, users: int, requests: int, concurrency: int, seed: int, device: str | None) -> dict:
    rng = np.random.default_rng(seed)
    queue, latencies, errors = iter(rng.integers(0, users, requests)), [], 0
    extra = {"device": device} if device else {}

    async def worker():
        nonlocal errors
        for u in queue:
            t = time.perf_counter()
            r = await client.get("/api/v1/recommendations/home", params={"user_id": f"u{u}", **extra})
            latencies.append(time.perf_counter() - t)
            errors += r.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    ms = np.array(latencies) * 1000
    return {"rps": round(requests / (time.perf_counter() - started), 1), "errors": errors,
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


async def _phase(port: int, pid: int, key: str, a) -> dict:
    proc, cases = psutil.Process(pid), {"no_device": None, "device_tv": "tv"}
    out = {name: [] for name in cases}
    limits = httpx.Limits(max_connections=a.concurrency, max_keepalive_connections=a.concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        for name, device in cases.items():  # warm up both paths (the catalog fills)
            await _load(client, a.users, a.requests, a.concurrency, 3, device)
        for r in range(a.rounds):
            for name, device in cases.items():
                cpu = sum(proc.cpu_times()[:2])
                result = await _load(client, a.users, a.requests, a.concurrency, 7 + r, device)
                result["server_cpu_ms"] = round((sum(proc.cpu_times()[:2]) - cpu) * 1000 / a.requests, 3)
                out[name].append(result)
        sample = (await client.get("/api/v1/recommendations/home", params={"user_id": "u1", "device": "tv"})).json()
    med = {name: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for name, runs in out.items()}
    return {"rounds": out, "median": med, "moved_sample": sample["items"][0]["video_id"],
            "ratio_rps": round(med["device_tv"]["rps"] / med["no_device"]["rps"], 3),
            "ratio_server_cpu": round(med["device_tv"]["server_cpu_ms"] / med["no_device"]["server_cpu_ms"], 3)}


def serve(a) -> dict:
    from models import publish
    from serve_store import DS, start_api, write_synthetic_run
    from stages import stop
    from vidrec import api_keys
    from vidrec.ops import services
    from vidrec.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        redis_port, api_port = services.free_port(), services.free_port()
        redis_proc, api = services.start_redis(redis_port, Path(tmp) / "redis"), None
        try:
            s = Settings(data_dir=Path(tmp) / "var", redis_url=f"redis://127.0.0.1:{redis_port}/0")
            write_synthetic_run(s, a.users, 150, 20_000)
            manifest = Path(s.artifact_root) / "runs" / DS / "manifest.json"
            manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "context": MODEL}))
            publish.run(s, DS)
            key = api_keys.add(s.api_keys_file, "bench", "reader")
            api = start_api(s, api_port, REPO)
            return {"users": a.users, "requests": a.requests, "concurrency": a.concurrency,
                    **asyncio.run(_phase(api_port, api.pid, key, a))}
        finally:
            stop(api, redis_proc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--data-dir", required=True)
    q.add_argument("--ds")
    q = sub.add_parser("serve")
    q.add_argument("--users", type=int, default=5000)
    q.add_argument("--requests", type=int, default=4000)
    q.add_argument("--rounds", type=int, default=3)
    q.add_argument("--concurrency", type=int, default=8)
    a = p.parse_args()
    print(json.dumps(quality(a) if a.what == "quality" else serve(a)))


if __name__ == "__main__":
    main()
