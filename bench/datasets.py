"""Every recommender on every data set we can ship a command for: MovieLens 100K, ml-latest-small and the
synthetic stand-ins (models/evaluation/synthetic_sets.py), msr protocol, the parameters file in effect.

    .venv/bin/python bench/datasets.py [--seeds 42] [--sets ml-100k ml-latest-small quality taste ml-1m]
        [--out bench/results/datasets.md]

Per data set: the table of ``vidrec eval`` (mean ± sd over the seeds) and, in the summary, two_stage's
nDCG@10 against the best other row and against popularity (the ratio), and its training seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models import parameters  # noqa: E402
from models.evaluation import harness, synthetic_sets  # noqa: E402
from models.evaluation.datasets import load_catalog, load_interactions  # noqa: E402
from vidrec.settings import Settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
MOVIELENS = ("ml-100k", "ml-latest-small")


def load(name: str):
    if name in MOVIELENS:
        return load_interactions(SHARED / name), load_catalog(SHARED / name)
    return synthetic_sets.make(name, seed=42)  # the data set stays fixed; the seeds vary the split and models


def command(name: str, seeds: list[int]) -> str:
    seeds_arg = f"--seeds {' '.join(map(str, seeds))}" if len(seeds) > 1 else f"--seed {seeds[0]}"
    what = f"movielens --path ../shared/datasets/{name}" if name in MOVIELENS else f"synthetic --set {name}"
    return f"vidrec eval {what} --protocol msr {seeds_arg}"


def mean(result: dict, rec: str, key: str) -> float:
    value = result["recommenders"][rec][key]
    return float(value["mean"] if isinstance(value, dict) else value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--sets", nargs="+", default=[*MOVIELENS, *synthetic_sets.SETS])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "datasets.md"))
    a = ap.parse_args()
    used = parameters.record(Settings.from_env())
    params = parameters.load(Path(used["path"]))["params"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    sections, summary = [], []
    for name in a.sets:
        started = time.monotonic()
        df, catalog = load(name)
        if len(a.seeds) == 1:
            result = harness.evaluate(df, "msr", 10, a.seeds[0], catalog=catalog, params=params)
        else:
            result = harness.evaluate_seeds(df, "msr", a.seeds, 10, catalog=catalog, params=params)
        ndcg = {rec: mean(result, rec, "ndcg@10") for rec in result["recommenders"]}
        others = max((v, r) for r, v in ndcg.items() if r != "two_stage")
        summary.append(f"| {name} | {len(df):,} | {df['user_id'].nunique():,} | {df['video_id'].nunique():,} | "
                       f"{ndcg['two_stage']:.4f} | {others[1]} {others[0]:.4f} | {ndcg['popularity']:.4f} | "
                       f"{ndcg['two_stage'] / ndcg['popularity']:.2f} | "
                       f"{'yes' if ndcg['two_stage'] >= others[0] else '**no**'} | "
                       f"{mean(result, 'two_stage', 'train_s'):.1f} |")
        sections.append(f"### {name}\n\n```\n{command(name, a.seeds)}   # {time.monotonic() - started:.0f} s\n```\n\n"
                        + harness.markdown_table(result))
        print(summary[-1], flush=True)
    path = Path(used["path"])
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    text = (f"# Every recommender on every data set (msr protocol, k = 10)\n\n"
            f"```\n.venv/bin/python bench/datasets.py --seeds {' '.join(map(str, a.seeds))}\n```\n\n"
            f"Commit {commit}, parameters {where} "
            f"(sha256 {used['sha256'][:12]}); 2 cores. The synthetic sets are generated with seed 42 "
            f"(`models/evaluation/synthetic_sets.py`); the seeds vary the split and the models.\n\n"
            "| data set | rows | users | videos | two_stage nDCG@10 | best other | popularity | two_stage / popularity "
            "| two_stage best | two_stage train s |\n|---|---|---|---|---|---|---|---|---|---|\n"
            + "\n".join(summary) + "\n\n" + "\n\n".join(sections) + "\n")
    Path(a.out).write_text(text)
    print(f"-> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
