"""Plot bench/pipeline.py results: seconds, CPU seconds and peak RSS per stage against events, log-log.

    .venv/bin/python bench/plot_pipeline.py [bench/results/pipeline-*.json ...] [--png bench/results/pipeline.png]
    .venv/bin/python bench/plot_pipeline.py --table      # the Markdown table of bench/results/pipeline.md instead

Reads the JSON files that `bench/pipeline.py N --out ...` wrote (default: every bench/results/pipeline-*.json),
draws one line per stage (setup stages dashed) plus total_s: wall seconds, CPU seconds of the stage's process
tree (steadier than wall time on a shared machine) and peak RSS (vidrec + Spark JVM). A failed or killed stage
is an x.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SETUP = ("generate", "ingest", "backfill")  # not part of total_s; drawn dashed


def load(paths: list[Path]) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in paths]
    return sorted(runs, key=lambda r: r["events"])


def stage_order(runs: list[dict]) -> list[str]:
    order: list[str] = []
    for r in runs:
        order += [s for s in r["stages"] if s not in order]
    return order


def draw(ax, runs: list[dict], key: str, stages: list[str]) -> None:
    """One line per stage: x events, y runs[i][key][stage]; the failing stage of a run drawn as an x."""
    import matplotlib.pyplot as plt

    colors = plt.colormaps["tab20"].colors
    for i, stage in enumerate(stages):
        pts = [(r["events"], r[key][stage], r.get("failed") == stage) for r in runs if stage in r[key]]
        if not pts:
            continue
        ok = [(x, y) for x, y, bad in pts if not bad]
        style = "--" if stage in SETUP else "-"
        ax.plot([p[0] for p in ok], [p[1] for p in ok], style, marker="o", ms=4, color=colors[i % 20], label=stage)
        for x, y, bad in pts:
            if bad:
                ax.plot([x], [y], "x", ms=10, mew=2, color=colors[i % 20])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("events")


def plot(runs: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = stage_order(runs)
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(22, 6.5))
    draw(left, runs, "stages", stages)
    totals = [(r["events"], r["total_s"]) for r in runs if not r.get("failed")]
    if totals:
        left.plot(*zip(*totals), "k-", lw=2.5, marker="s", label="total_s (features + nightly)")
    left.set_ylabel("wall seconds")
    left.set_title("seconds per stage (x: failed or killed)")
    draw(mid, runs, "stage_cpu_s", stages)
    mid.set_ylabel("CPU seconds of the process tree")
    mid.set_title("CPU seconds per stage (less sensitive to other load)")
    draw(right, runs, "stage_rss_mb", stages)
    right.set_ylabel("peak RSS of the process tree, MB")
    right.set_title("peak memory per stage")
    fig.legend(*left.get_legend_handles_labels(), loc="center right", fontsize=8)
    fig.suptitle("bench/pipeline.py: N events over 14 days, one `vidrec run` process per task (2 cores, shared)")
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.savefig(png, dpi=110)


def cell(run: dict, stage: str) -> str:
    if stage not in run["stages"]:
        return "not reached"
    text = f"{run['stages'][stage]:,.0f} s / {run['stage_rss_mb'][stage]:,} MB"
    cpu = run.get("stage_cpu_s", {}).get(stage)
    text += f" ({cpu:,.0f} cpu s)" if cpu is not None else ""
    if run.get("failed") == stage:
        why = run.get("killed", {}).get(stage)
        text = f"**{'killed: ' + why if why else 'failed, exit ' + str(run['exit'].get(stage))}** after " + text
    return text


def table(runs: list[dict]) -> str:
    """Stage x events: wall seconds / peak RSS MB (CPU seconds of the process tree)."""
    head = "| stage | " + " | ".join(f"{r['events']:,} events" for r in runs) + " |"
    lines = [head, "|---" * (len(runs) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(cell(r, s) for r in runs) + " |" for s in stage_order(runs)]
    total = [f"**{r['total_s']:,.0f} s**" + (f" (failed at {r['failed']})" if r.get("failed") else "") for r in runs]
    lines.append("| **last day's features + train_nightly (total_s)** | " + " | ".join(total) + " |")
    lines.append("| peak RSS, any stage | " + " | ".join(f"{r['peak_rss_mb']:,} MB" for r in runs) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--png", type=Path, default=RESULTS / "pipeline.png")
    ap.add_argument("--table", action="store_true", help="print the Markdown table instead of plotting")
    a = ap.parse_args()
    files = a.files or sorted(RESULTS.glob("pipeline-*.json"))
    if not files:
        raise SystemExit("no pipeline-*.json results to plot")
    if a.table:
        print(table(load(files)))
        return
    plot(load(files), a.png)
    print(a.png)


if __name__ == "__main__":
    main()
