"""The multi-objective ranker against the watch-only ranker, on data with engagement signals (the ``feed``
synthetic set, models/evaluation/synthetic_sets.py), msr protocol, the parameters file in effect.

    .venv/bin/python bench/objectives.py [--seeds 42 43 44] [--out bench/results/objectives.md]

Per seed one split; on it ``two_stage`` is fitted three times with the same parameters and seed, differing
only in the weights its heads are combined by: ``watch`` alone (the LambdaMART head: the reference), the
product's weights (``VIDREC_OBJECTIVE_WEIGHTS``), and the same with not interested four times as negative.
Every row is scored under the product's weights (``models.evaluation.signals.composite_metrics``);
``als`` and ``popularity`` are there for scale. The summary gives each row's mean over the seeds and its
ratio to the reference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models import parameters  # noqa: E402
from models.evaluation import harness, synthetic_sets  # noqa: E402
from models.evaluation.baselines import Popularity  # noqa: E402
from vidrec.settings import Settings  # noqa: E402

COLUMNS = ["ndcg@10", "composite_ndcg@10", "watch@10", "like@10", "share@10", "not_interested@10", "train_s"]
REFERENCE = "two_stage, watch only"


def rankers(params: dict, seed: int, catalog, weights: dict) -> dict:
    louder = {**weights, "not_interested": 4 * weights.get("not_interested", 0.0)}
    variants = {REFERENCE: {"watch": 1.0}, "two_stage, product weights": weights,
                "two_stage, not interested x4": louder}
    out = {"popularity": Popularity(), "als": harness.make_recommender("als", seed, params=params)}
    for name, w in variants.items():
        out[name] = harness.make_recommender("two_stage", seed, "msr", catalog, params, w)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "objectives.md"))
    a = ap.parse_args()
    settings = Settings.from_env()
    used, weights = parameters.record(settings), settings.weights()
    params = parameters.load(Path(used["path"]))["params"]
    df, catalog = synthetic_sets.make("feed", seed=42)
    rows, started = [], time.monotonic()
    for seed in a.seeds:
        train, test = harness.split(df, "msr", seed)
        result = harness.compare(train, test, rankers(params, seed, catalog, weights), 10, catalog, weights)
        rows += [{"seed": seed, "recommender": name, **{c: m[c] for c in COLUMNS}} for name, m in result.items()]
        print(pd.DataFrame(rows[-len(result):]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).groupby("recommender", sort=False)[COLUMNS].mean()
    lines = ["| recommender | " + " | ".join(COLUMNS) + " | composite_ndcg / reference |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for name, values in table.iterrows():
        ratio = values["composite_ndcg@10"] / table.loc[REFERENCE, "composite_ndcg@10"]
        lines.append(f"| {name} | " + " | ".join(f"{values[c]:.4f}" if c != "train_s" else f"{values[c]:.1f}"
                                                  for c in COLUMNS) + f" | {ratio:.3f} |")
    per_seed = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    text = (f"# Multi-objective ranking on the `feed` set (msr protocol, k = 10)\n\n"
            f"```\n.venv/bin/python bench/objectives.py --seeds {' '.join(map(str, a.seeds))}"
            f"   # {time.monotonic() - started:.0f} s\n```\n\n"
            f"Commit {commit}, parameters {Path(used['path']).name} (sha256 {used['sha256'][:12]}); 2 cores; "
            f"product weights {weights}. {len(df):,} rows, {df['user_id'].nunique():,} users, "
            f"{df['video_id'].nunique():,} videos. Every row is scored under the product weights; the mean over "
            f"the seeds:\n\n" + "\n".join(lines) + "\n\nPer seed:\n\n" + per_seed + "\n")
    Path(a.out).write_text(text)
    print(f"-> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
