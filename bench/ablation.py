"""Benchmark: what each part of the production two-stage recommender is worth, on one split.

    .venv/bin/python bench/ablation.py [--path ../shared/datasets/ml-100k] [--protocol msr] [--seed 42]
                                       [--variants tuned,cosine_cowatch,...] [--json]

Every variant starts from the tuned parameters (``models/tuned/two_stage.json``) and changes one thing;
all are fitted on the same train split and scored on the same test split by the harness
(``models.evaluation.harness.compare``), so the differences are the change's and not the split's. Prints a
Markdown table (``--json``: one JSON line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evaluation.baselines import ALS  # noqa: E402
from models.evaluation.datasets import load_catalog, load_interactions  # noqa: E402
from models.evaluation.harness import compare, split, tuned_params  # noqa: E402
from models.evaluation.tuning import with_overrides  # noqa: E402
from models.evaluation.two_stage import TwoStage, TwoStageParams  # noqa: E402
from models.retrieval.als import AlsParams  # noqa: E402
from models.retrieval.fusion import RANKS  # noqa: E402

TIME_FEATURES = ["user_idle_days", "video_lead_days", "age_days"]


# name -> (what changes, function of the tuned two_stage params dict)
VARIANTS = {
    "tuned": ("the saved parameters", lambda p: p),
    "cosine_cowatch": ("co-watch by cosine co-occurrence instead of EASE",
                       lambda p: with_overrides(p, {"candidates.cowatch_method": "cosine"})),
    "ease_200_neighbours": ("EASE rows cut to 200 neighbours (from 2000)",
                            lambda p: with_overrides(p, {"candidates.cowatch_neighbours": 200})),
    "one_carve": ("one 25% validation carve instead of 4 folds", lambda p: with_overrides(p, {"folds": 1})),
    "no_rank_features": ("ranker without the per-source rank features",
                         lambda p: with_overrides(p, {"exclude_features": RANKS})),
    "no_time_features": ("ranker without user idle days, video lead days and age",
                         lambda p: with_overrides(p, {"exclude_features": TIME_FEATURES})),
    "untuned_als": ("retrieval ALS with the library defaults (64 factors, reg 0.05, alpha 10)",
                    lambda p: with_overrides(p, {"als": {}})),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default="../shared/datasets/ml-100k")
    ap.add_argument("--protocol", default="msr", choices=["msr", "time", "leave-last-out"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variant(s) {unknown}: of {list(VARIANTS)}")
    df, catalog = load_interactions(args.path), load_catalog(args.path)
    train, test = split(df, args.protocol, args.seed)
    tuned = tuned_params()
    recommenders = {"als": ALS(params=AlsParams(**tuned.get("als", {})), seed=args.seed)}
    for name in names:
        params = TwoStageParams.from_dict(VARIANTS[name][1](tuned.get("two_stage", {})))
        recommenders[name] = TwoStage(params, catalog=catalog, protocol=args.protocol, seed=args.seed)
    t0 = time.perf_counter()
    result = compare(train, test, recommenders, args.k, catalog)
    out = {"dataset": Path(args.path).name, "protocol": args.protocol, "seed": args.seed, "k": args.k,
           "wall_s": round(time.perf_counter() - t0, 1), "variants": result}
    if args.json:
        print(json.dumps(out))
        return 0
    k = args.k
    print(f"{out['dataset']}, protocol {args.protocol}, seed {args.seed}, k={k} ({out['wall_s']} s)\n")
    print(f"| variant | change | ndcg@{k} | precision@{k} | recall@{k} | map | train_s |")
    print("|---|---|---|---|---|---|---|")
    for name, m in result.items():
        change = "ALS alone (tuned), for reference" if name == "als" else VARIANTS[name][0]
        print(f"| {name} | {change} | {m[f'ndcg@{k}']:.4f} | {m[f'precision@{k}']:.4f} | {m[f'recall@{k}']:.4f} "
              f"| {m['map']:.4f} | {m['train_s']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
