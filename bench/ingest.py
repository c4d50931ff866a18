"""Benchmark: ingest N synthetic events end to end: events/s, seconds, peak memory, against a baseline revision.

    .venv/bin/python bench/ingest.py [--events 1000000] [--format parquet|jsonl] [--baseline REV]
                                     [--code tree|REV] [--no-connect] [--warmup 3] [--rounds 1] [--keep DIR]

Generates N seeded events once, then runs the real `vidrec ingest` command in a child process on a fresh
lake, then a forced replay of the same files into that lake (every event is then a duplicate). Variants,
interleaved in each round (the order turns):

- ``connect``: the deployment `vidrec services up` and `make airflow` make (VIDREC_SPARK_REMOTE=auto): the
  ingest attaches to the long-lived Spark Connect server and sends its frames to the Great Expectations server,
  both started once before the rounds and warmed up by ``--warmup`` untimed ingests (3), as servers that have
  run for a while are; ``--no-connect`` leaves it out;
- ``in_process``: the same code with VIDREC_SPARK_REMOTE="" and no GX server: each ingest starts its own Spark
  JVM and GX helper (the reference);
- ``baseline``: with ``--baseline REV``, that commit exported with `git archive` (bench/pipeline.py's checkout),
  in-process.

Per run: wall seconds, events/s, peak RSS of the process tree (vidrec + its Spark JVM; for ``connect`` the
servers' RSS is reported apart, and their CPU seconds during the run are added to the run's), CPU seconds of the tree, the machine's mean load, the counts, and a check
that nothing was lost (read = accepted + quarantined + duplicates; the replay accepts nothing). The last line
is one JSON object: the deployment's events/s (``events_per_s``: connect's median, else in_process's), per
variant the median run, and each variant's events/s as a ratio to in_process's (and to the baseline's).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from pipeline import checkout  # bench/pipeline.py: the git-archive export
from stages import measure  # bench/stages.py: a measured child process

from vidrec.ops import services
from vidrec.settings import Settings
from vidrec.sources import synthetic_events


def check_counts(first: dict, replay: dict, events: int) -> None:
    """Nothing lost: every row read is accepted, quarantined or a duplicate; a replay adds nothing."""
    for name, c in (("ingest", first), ("replay", replay)):
        if c["read"] != c["accepted"] + c["quarantined"] + c["duplicates"]:
            raise SystemExit(f"{name}: read {c['read']} != accepted + quarantined + duplicates ({c})")
    if first["read"] != events or replay["accepted"] != 0 or replay["duplicates"] != first["accepted"]:
        raise SystemExit(f"counts do not add up: ingest {first}, replay {replay}")


def run_variant(name: str, code: Path, landing: Path, work: Path, extra_env: dict, events: int) -> dict:
    """One fresh lake: `vidrec ingest`, then `vidrec ingest --force` (the replay); measured, counts checked."""
    data_dir = work / f"{name}-{time.monotonic_ns()}"
    shutil.copytree(landing, data_dir / "landing")
    env = {**os.environ, "VIDREC_DATA_DIR": str(data_dir), "SPARK_LOCAL_IP": "127.0.0.1",
           "GX_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(code), **extra_env}
    vidrec, logs = services.vidrec_command(), data_dir / "bench-logs"
    first = measure([vidrec, "ingest"], env, logs / "ingest.log", None, code)
    replay = measure([vidrec, "ingest", "--force"], env, logs / "replay.log", None, code)
    for r in (first, replay):
        if r["code"] or not r["last"]:
            raise SystemExit(f"{name}: vidrec ingest failed ({r['code']}); see {logs}")
    check_counts(first["last"], replay["last"], events)
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"variant": name, "ingest_s": first["s"], "events_per_s": round(events / first["s"]),
            "peak_rss_mb": first["rss_mb"], "cpu_s": first["cpu_s"], "load": first["load"],
            "replay_s": replay["s"], "replay_rss_mb": replay["rss_mb"],
            **{k: first["last"][k] for k in ("read", "accepted", "quarantined", "duplicates")},
            "replay_duplicates": replay["last"]["duplicates"]}


def tree_rss_mb(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return round(sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20)
    except psutil.Error:
        return 0


def connect_env(settings: Settings) -> dict:
    return {"VIDREC_SPARK_REMOTE": settings.spark_remote, "VIDREC_GX_SOCKET": str(settings.gx_socket)}


def start_connect(work: Path, code: Path, landing: Path, events: int, warmup: int) -> tuple[Settings, dict]:
    """The long-lived servers of `vidrec services up` (current code's settings): Spark Connect and Great
    Expectations, warmed up by ``warmup`` untimed ingests (a server that has run for a while has compiled its hot
    code; the first ingests on a new one run partly interpreted)."""
    settings = Settings(data_dir=work / "connect-server", spark_remote=f"sc://127.0.0.1:{services.free_port()}")
    started = time.perf_counter()
    info = services.spark_connect_up(settings)
    info["gx_pid"] = services.gx_up(settings)["pid"]
    info["start_s"] = round(time.perf_counter() - started, 1)
    warm = [run_variant("warmup", code, landing, work, connect_env(settings), events)["ingest_s"]
            for _ in range(max(1, warmup))]
    info["warmup_ingest_s"], info["rss_mb"] = warm, tree_rss_mb(info["pid"]) + tree_rss_mb(info["gx_pid"])
    print(json.dumps({"connect_server": info}), flush=True)
    return settings, info


def servers_cpu_s(info: dict | None) -> float:
    """CPU seconds the long-lived servers have used so far (0 without them)."""
    total = 0.0
    for pid in (info or {}).get("pid"), (info or {}).get("gx_pid"):
        try:
            root = psutil.Process(pid)
            total += sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
        except (psutil.Error, TypeError):
            pass
    return total


def summarize(runs: list[dict], connect: dict | None) -> dict:
    """Per variant the median run (by ingest seconds); each variant's events/s relative to in_process's and the
    baseline's."""
    out = {}
    for name in dict.fromkeys(r["variant"] for r in runs):
        mine = sorted((r for r in runs if r["variant"] == name), key=lambda r: r["ingest_s"])
        out[name] = {**mine[len(mine) // 2], "runs": len(mine),
                     "ingest_s_all": [r["ingest_s"] for r in mine]}
        out[name].pop("variant")
    if connect:
        out["connect"]["server_rss_mb"] = connect["rss_mb"]
    for ref in ("in_process", "baseline"):
        if ref in out:
            base = statistics.median(r["events_per_s"] for r in runs if r["variant"] == ref)
            for name in out:
                out[name][f"vs_{ref}"] = round(out[name]["events_per_s"] / base, 2)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    ap.add_argument("--code", default="tree", help="the current code: `tree` (this working tree) or a commit")
    ap.add_argument("--baseline", metavar="REV", help="also run this commit (git archive), for the ratio")
    ap.add_argument("--no-connect", dest="connect", action="store_false",
                    help="leave out the deployment's warm Spark Connect and GX servers (in-process runs only)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per variant, interleaved (median reported)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed ingests on the new servers first")
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vidrec-bench-ingest-") as tmp:
        work = Path(a.keep or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        landing = work / "landing-src"
        started = time.perf_counter()
        synthetic_events.generate(landing, events=a.events, seed=42, fmt=a.format)
        print(f"generated {a.events} events ({a.format}) in {time.perf_counter() - started:.1f} s; "
              f"{os.cpu_count()} cores; work dir {work}", flush=True)
        code, version = checkout(a.code, work / "code-current")
        in_process = {"VIDREC_SPARK_REMOTE": ""}
        variants = [("in_process", code, in_process)]
        if a.baseline:
            base, base_version = checkout(a.baseline, work / "code-baseline")
            variants.append(("baseline", base, in_process))
        connect = server = None
        try:
            if a.connect:
                server, connect = start_connect(work, code, landing, a.events, a.warmup)
                variants.append(("connect", code, connect_env(server)))
            runs = []
            for r in range(a.rounds):
                for name, path, env in variants[r % len(variants):] + variants[:r % len(variants)]:
                    before = servers_cpu_s(connect) if name == "connect" else 0.0
                    runs.append(run_variant(name, path, landing, work, env, a.events))
                    if name == "connect":  # the servers' share of the run (ingest and replay)
                        runs[-1]["servers_cpu_s"] = round(servers_cpu_s(connect) - before, 1)
                    print(json.dumps(runs[-1]), flush=True)
        finally:
            if server is not None:
                services.down(server)
    summary = summarize(runs, connect)
    result = {"events": a.events, "format": a.format, "cores": os.cpu_count(), "code": version,
              "events_per_s": summary["connect" if a.connect else "in_process"]["events_per_s"],
              "baseline": base_version if a.baseline else None, "variants": summary}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
