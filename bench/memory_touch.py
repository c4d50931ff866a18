"""Benchmark: what a process pays to touch memory that another process has just freed, here and now.

    .venv/bin/python bench/memory_touch.py [--gb 1] [--rounds 3] [--wait 5]

Each round forks a child that fills ``--gb`` GB with ones and exits, three times: right after the previous
child (``reuse``: the pages it freed are still the machine's own), then after waiting ``--wait`` seconds
(``after_wait``). On a virtual machine that hands freed memory back to its host (free page reporting),
the second kind of touch is paid again at the host, and the model jobs, which fork a child per chunk of
users, pay it for everything their children write. The reference is the same child in the same run with
no wait. Last line JSON: seconds per GB of both, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def child_fill(gb: float) -> float:
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        np.ones(int(gb * 2**30 / 8))
        os._exit(0)
    os.waitpid(pid, 0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait", type=float, default=5.0, help="seconds between a child and the next")
    args = parser.parse_args()
    reuse, after_wait = [], []
    child_fill(args.gb)  # the first touch of the run, counted in neither
    for r in range(args.rounds):
        reuse.append(child_fill(args.gb) / args.gb)
        time.sleep(args.wait)
        after_wait.append(child_fill(args.gb) / args.gb)
        print(f"round {r + 1}: reuse {reuse[-1]:.2f} s/GB, after {args.wait:g} s {after_wait[-1]:.2f} s/GB",
              flush=True)
    a, b = statistics.median(reuse), statistics.median(after_wait)
    print(json.dumps({"gb": args.gb, "wait_s": args.wait, "reuse_s_per_gb": round(a, 3),
                      "after_wait_s_per_gb": round(b, 3), "ratio": round(b / a, 1) if a else None}))


if __name__ == "__main__":
    main()
