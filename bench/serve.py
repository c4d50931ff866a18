"""Benchmark: the real API against a bare Starlette endpoint returning the same bytes, under wrk, at 1 and 8
connections; prints JSON.

    .venv/bin/python bench/serve.py [--users 10000] [--workers 1] [--seconds 10] [--warmup 3] [--ladder] [--out FILE]

All real and private to the run, on loopback: a redis-server on a free port; a synthetic nightly run of
``--users`` users x 150 items over 20,000 videos (bench/serve_store.py's) published by ``models.publish.run``; the
project's Feast repo applied to that Redis (`feast apply`), so the real-time overlay is on; real-time state for
a fifth of the users, posted as events through the API; a reader key. Then, with the same ``--workers`` for both:
``vidrec`` (`uvicorn --factory serving.app:create_app_from_env`), ``bare`` (bench/bare_app.py: every GET answered
with the bytes of one vidrec home feed answer) and ``floor`` (bench/floor_app.py: what every home request must do,
key check, query validation and its two Redis reads, answered with those same bytes). wrk (one thread) asks for the
home feed of a random user with the key, ``--warmup`` seconds untimed, then ``--seconds`` measured, at 1 and 8
connections, the three apps in turns. Per case: requests/s, p50 and p99 (wrk's latency distribution), errors
(non-2xx, sockets), the server's CPU microseconds per request (its process tree, user + system), and for vidrec the
overlay reads and timeouts during the run (/healthz). ``--ladder``: the floor app again at stages 1-4 of the API's
request path (bench/floor_app.py), 8 connections, and the microseconds each stage adds. The load generator shares
the two cores with the server: read the ratio, measured in the same minutes, before the absolute figures.
Last line: {"c8": {"vidrec_rps", "bare_rps", "ratio", "p50_ms", "p99_ms", "floor_rps", "floor_ratio", ...},
"c1": {...}, "redis_bytes_per_user", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
USERS_WITH_STATE = 0.2
SCRIPT = """math.randomseed(%d)
local users, auth = %d, "Bearer %s"
request = function()
  return wrk.format("GET", "/api/v1/recommendations/home?user_id=u" .. math.random(0, users - 1),
                    {["Authorization"] = auth})
end
"""


def start(module_app: str, port: int, workers: int, env: dict, cwd: Path) -> subprocess.Popen:
    from vidrec.ops import services

    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", module_app, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             "--no-access-log"], env=env, cwd=cwd, start_new_session=True)
    if not services.wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code < 500,
                               90, interval_s=0.2, failed=lambda: proc.poll() is not None, errors=(httpx.HTTPError,)):
        proc.kill()
        raise SystemExit(f"{module_app} did not answer on port {port}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def stop_all(procs, redis_proc: subprocess.Popen) -> None:
    """The servers, then their private redis-server."""
    for proc in procs:
        stop(proc)
    redis_proc.terminate()
    redis_proc.wait(timeout=10)


def emit(result: dict, out: str | None) -> None:
    """The result as the last line of output JSON, and into ``out`` when given."""
    line = json.dumps(result)
    print(line)
    if out:
        Path(out).write_text(line + "\n")


def wrk(port: int, script: Path, connections: int, seconds: float) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(pct: str) -> float:
        value, u = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return round(float(value) * unit[u], 3)

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)), "p50_ms": latency("50"),
            "p90_ms": latency("90"), "p99_ms": latency("99"), "errors": errors + int(non2xx.group(1) if non2xx else 0)}


def cpu_s(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) of a server's process tree so far."""
    import psutil

    root = psutil.Process(proc.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def measured(proc: subprocess.Popen, port: int, script: Path, connections: int, seconds: float) -> dict:
    """wrk's figures and the server's CPU microseconds per request during the run."""
    before = cpu_s(proc)
    result = wrk(port, script, connections, seconds)
    return {**result, "cpu_us_per_request": round((cpu_s(proc) - before) * 1e6 / max(result["requests"], 1), 1)}


def prepare(work: Path, users: int):
    """Redis, the published run, Feast applied, a reader key, real-time state for a share of the users."""
    from serve_store import measure_redis, write_synthetic_run  # bench/serve_store.py

    from models import publish
    from spark_jobs.features import feast_jobs
    from vidrec import api_keys
    from vidrec.ops import services
    from vidrec.settings import Settings

    port = services.free_port()
    redis_proc = services.start_redis(port, work / "redis")
    s = Settings(data_dir=work / "var", redis_url=f"redis://127.0.0.1:{port}/0", api_auth="keys", spark_remote="")
    write_synthetic_run(s, users, 150, 20_000)
    publish.run(s, "2026-11-01")
    feast_jobs.apply_run(s, "2026-11-01")
    reader, writer = (api_keys.add(s.api_keys_file, f"bench-{r}", r) for r in ("reader", "writer"))
    return s, redis_proc, reader, writer, measure_redis(s.redis_url)


def post_state(port: int, writer: str, users: int) -> int:
    """Watches and not-interested events for a fifth of the users, through the API (Feast push)."""
    events = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {writer}"}) as c:
        for i in range(0, users, int(1 / USERS_WITH_STATE)):
            for kind, video in (("watch", f"v{i % 20_000}"), ("not_interested", f"v{(i * 7) % 20_000}")):
                body = {"event_type": kind, "user_id": f"u{i}", "video_id": video}
                r = c.post("/api/v1/events", json={**body, "watch_ms": 30_000} if kind == "watch" else body)
                events += r.status_code == 202 and r.json()["overlay_updated"]
    return events


def overlay_counters(port: int) -> dict:
    counters = httpx.get(f"http://127.0.0.1:{port}/healthz").json()["counters"]
    return {k: counters.get(k, 0) for k in ("overlay_reads", "overlay_timeouts", "overlay_errors", "degraded")}


def ladder(a, script: Path, env: dict, c8: dict) -> list[dict]:
    """The floor app at each stage of the API's request path, one after the other, at 8 connections; per stage
    requests/s, the ratio to bare, the server's CPU microseconds per request and what the stage adds to the one
    before (stage 0 to bare, the API to stage 4)."""
    from vidrec.ops import services

    steps = [{"stage": 0, "rps": c8["floor_rps"], "cpu_us_per_request": c8["floor_cpu_us"]}]
    for stage in range(1, 5):
        port = services.free_port()
        proc = start("floor_app:create_app", port, a.workers, {**env, "FLOOR_STAGES": str(stage)}, REPO / "bench")
        try:
            wrk(port, script, 8, a.warmup)
            steps.append({"stage": stage, **measured(proc, port, script, 8, a.seconds)})
        finally:
            stop(proc)
    steps.append({"stage": "api", "rps": c8["vidrec_rps"], "cpu_us_per_request": c8["cpu_us"]})
    for before, step in zip([None] + steps, steps):
        step["ratio"] = round(step["rps"] / c8["bare_rps"], 3)
        step["cpu_us_added"] = round(step["cpu_us_per_request"] - (before["cpu_us_per_request"] if before
                                                                    else c8["bare_cpu_us"]), 1)
        print(json.dumps({"ladder": step["stage"], **step}), flush=True)
    return steps


def case(a, procs: dict, ports: dict, script: Path, conns: int, order: tuple) -> dict:
    """The three apps in turns at ``conns`` connections: vidrec's figures, the ratios to bare, the floor's."""
    runs = {}
    for name in order:
        wrk(ports[name], script, conns, a.warmup)
        before = overlay_counters(ports[name]) if name == "vidrec" else {}
        runs[name] = measured(procs[name], ports[name], script, conns, a.seconds)
        if name == "vidrec":
            after = overlay_counters(ports[name])
            runs[name].update({k: after[k] - before[k] for k in after})
        print(json.dumps({"connections": conns, "app": name, **runs[name]}), flush=True)
    v, b, f = runs["vidrec"], runs["bare"], runs["floor"]
    return {"vidrec_rps": v["rps"], "bare_rps": b["rps"], "ratio": round(v["rps"] / b["rps"], 3),
            "p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"], "bare_p50_ms": b["p50_ms"], "bare_p99_ms": b["p99_ms"],
            "errors": v["errors"], **{k: v[k] for k in ("overlay_reads", "overlay_timeouts", "degraded")},
            "floor_rps": f["rps"], "floor_ratio": round(f["rps"] / b["rps"], 3), "floor_p99_ms": f["p99_ms"],
            "floor_errors": f["errors"], "cpu_us": v["cpu_us_per_request"], "bare_cpu_us": b["cpu_us_per_request"],
            "floor_cpu_us": f["cpu_us_per_request"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers, the same for both apps")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--out", help="also write the last line here")
    ap.add_argument("--ladder", action="store_true", help="also the floor app at stages 1-4 (bench/floor_app.py), "
                    "8 connections: where the API's time goes above the floor")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (Debian/Ubuntu) or brew install wrk")
    from vidrec.ops import services

    with tempfile.TemporaryDirectory(prefix="vidrec-bench-serve-") as tmp:
        work = Path(tmp)
        s, redis_proc, reader, writer, store = prepare(work, a.users)
        env = {**os.environ, **s.as_env(), "PYTHONPATH": str(REPO)}
        ports = {"vidrec": services.free_port()}
        procs = {"vidrec": start("serving.app:create_app_from_env", ports["vidrec"], a.workers, env, REPO)}
        try:
            state_events = post_state(ports["vidrec"], writer, a.users)
            body = httpx.get(f"http://127.0.0.1:{ports['vidrec']}/api/v1/recommendations/home",
                             params={"user_id": "u1"}, headers={"Authorization": f"Bearer {reader}"})
            assert body.status_code == 200 and body.json()["overlay"] is True, body.text[:300]
            (work / "body.json").write_bytes(body.content)
            for name in ("bare", "floor"):
                ports[name] = services.free_port()
                procs[name] = start(f"{name}_app:create_app", ports[name], a.workers,
                                    {**env, "BARE_BODY_FILE": str(work / "body.json")}, REPO / "bench")
            script = work / "home.lua"
            script.write_text(SCRIPT % (42, a.users, reader))
            result = {"users": a.users, "workers": a.workers, "seconds": a.seconds, "cores": os.cpu_count(),
                      "body_bytes": len(body.content), "state_events": state_events,
                      "redis_bytes_per_user": store["home_bytes"]}
            for i, conns in enumerate((1, 8)):
                order = ("vidrec", "bare", "floor") if i % 2 == 0 else ("floor", "bare", "vidrec")
                result[f"c{conns}"] = case(a, procs, ports, script, conns, order)
            if a.ladder:
                result["ladder_c8"] = ladder(a, script, {**env, "BARE_BODY_FILE": str(work / "body.json")},
                                             result["c8"])
        finally:
            stop_all(procs.values(), redis_proc)
    emit(result, a.out)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
