"""Benchmark: the home feed of this code against an earlier commit's, on the same Redis and data, in turns.

    .venv/bin/python bench/serve_ab.py REF [--rounds 5] [--users 10000] [--seconds 8] [--warmup 4] [--experiments]
                                           [--out FILE]

The set-up of bench/serve.py (a private redis-server, the synthetic run of ``--users`` users published, Feast
applied, real-time state posted for a fifth of the users through this code's API), then two API servers side by
side, one worker each: ``this`` (the working tree) and ``ref`` (commit REF, checked out in a temporary git
worktree; given only the VIDREC_* variables its .env.example names, as its settings refuse the others). wrk (one
thread, 8 connections) asks both for random users' home feeds, ``--warmup`` seconds each untimed, then
``--rounds`` rounds of ``--seconds`` seconds taking turns, for three mixes of users: ``all`` (as bench/serve.py),
``with_state`` (only the users with real-time state: the feed reacts) and ``without_state``. Per mix and app:
the median requests/s and server CPU microseconds per request over the rounds, and this/ref ratios of both
(the CPU ratio is ref's microseconds over this code's, so above 1 means this code is cheaper). With
``--experiments``, this code runs an A/B experiment on the home feed (two arms of half the users each): every
response is assigned, carries its rec_id and goes to the served log. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve import REPO, SCRIPT, USERS_WITH_STATE, emit, measured, post_state, prepare, start, stop_all, wrk

MIXES = {  # the user id expression of each mix's wrk script (users with state: every 1/USERS_WITH_STATE-th)
    "all": "math.random(0, users - 1)",
    "with_state": "(%(k)d * math.random(0, users / %(k)d - 1))",
    "without_state": "(%(k)d * math.random(0, users / %(k)d - 1) + math.random(1, %(k)d - 1))",
}
DEFAULT = "math.random(0, users - 1)"


def scripts(work: Path, users: int, reader: str) -> dict[str, Path]:
    k = round(1 / USERS_WITH_STATE)
    out = {}
    for mix, expr in MIXES.items():
        text = SCRIPT % (42, users, reader)
        assert DEFAULT in text
        out[mix] = work / f"{mix}.lua"
        out[mix].write_text(text.replace(DEFAULT, expr % {"k": k}))
    return out


def ref_env(env: dict, checkout: Path) -> dict:
    """``env`` without the VIDREC_* variables the checkout's .env.example does not name."""
    known = set(re.findall(r"^#?\s*(VIDREC_[A-Z0-9_]+)=", (checkout / ".env.example").read_text(), re.M))
    return {k: v for k, v in env.items() if not k.startswith("VIDREC_") or k in known}


def rounds(a, procs: dict, ports: dict, script: Path) -> dict:
    """Per app, the medians of its rounds, taken in turns."""
    for name in procs:
        wrk(ports[name], script, 8, a.warmup)
    runs = {name: [] for name in procs}
    for r in range(a.rounds):
        for name in (list(procs) if r % 2 == 0 else list(procs)[::-1]):
            runs[name].append(measured(procs[name], ports[name], script, 8, a.seconds))
    out = {name: {"rps": round(statistics.median(x["rps"] for x in got), 1),
                  "cpu_us": round(statistics.median(x["cpu_us_per_request"] for x in got), 1),
                  "p99_ms": round(statistics.median(x["p99_ms"] for x in got), 3),
                  "errors": sum(x["errors"] for x in got), "rounds_rps": [x["rps"] for x in got]}
           for name, got in runs.items()}
    out["rps_ratio"] = round(out["this"]["rps"] / out["ref"]["rps"], 3)
    out["cpu_ratio"] = round(out["ref"]["cpu_us"] / out["this"]["cpu_us"], 3)
    return out


def experiments_file(work: Path) -> str:
    path = work / "experiments.json"
    path.write_text(json.dumps({"experiments": [{"name": "bench", "salt": "b1", "surfaces": ["home"], "arms": [
        {"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}]}]}))
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", help="the commit to compare with")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--experiments", action="store_true", help="this code runs an experiment on the home feed")
    ap.add_argument("--out", help="also write the last line here")
    a = ap.parse_args()
    from vidrec.ops import services

    ref = subprocess.run(["git", "rev-parse", "--short", a.ref], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="vidrec-bench-ab-") as tmp:
        work, checkout = Path(tmp), Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", str(checkout), ref], cwd=REPO, check=True,
                       capture_output=True)
        s, redis_proc, reader, writer, _ = prepare(work, a.users)
        env = {**os.environ, **s.as_env(), "PYTHONPATH": str(REPO)}
        ports = {"this": services.free_port(), "ref": services.free_port()}
        this_env = {**env, "VIDREC_EXPERIMENTS_FILE": experiments_file(work)} if a.experiments else env
        procs = {"this": start("serving.app:create_app_from_env", ports["this"], 1, this_env, REPO)}
        try:
            state_events = post_state(ports["this"], writer, a.users)
            procs["ref"] = start("serving.app:create_app_from_env", ports["ref"], 1,
                                 {**ref_env(env, checkout), "PYTHONPATH": str(checkout)}, checkout)
            result = {"ref": ref, "users": a.users, "rounds": a.rounds, "seconds": a.seconds,
                      "state_events": state_events, "experiments": a.experiments}
            for mix, script in scripts(work, a.users, reader).items():
                result[mix] = rounds(a, procs, ports, script)
                print(json.dumps({"mix": mix, **result[mix]}), flush=True)
        finally:
            stop_all(procs.values(), redis_proc)
            subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO, capture_output=True)
    emit(result, a.out)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
