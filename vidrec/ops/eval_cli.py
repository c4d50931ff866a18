"""`vidrec eval`: offline evaluation of recommenders on a dataset, from the command line (models/evaluation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vidrec.settings import Settings


def cmd_eval(s: Settings, a) -> int:
    from models import parameters
    from models.evaluation import harness
    from models.evaluation.datasets import align_catalog, load_catalog, load_catalog_csv, load_interactions

    fmt = "auto" if a.dataset == "movielens" else "csv"
    try:
        used = parameters.record(s)  # the file the nightly reads: what is evaluated, and what --save replaces
        params = parameters.load(Path(used["path"]))["params"]
        if a.dataset == "synthetic":
            df, catalog = synthetic_set(a)
            if a.write:
                return 0
        elif not a.path:
            raise ValueError(f"{a.dataset} needs --path")
        else:
            df = load_interactions(a.path, fmt=fmt, sep=a.sep, user_col=a.user_col, item_col=a.item_col,
                                   rating_col=a.rating_col, ts_col=a.ts_col)
            catalog = load_catalog(a.path) if a.dataset == "movielens" else None
        if a.catalog:
            catalog = align_catalog(load_catalog_csv(a.catalog, a.catalog_item_col or a.item_col,
                                                     a.category_col or None, a.creator_col or None, a.upload_col,
                                                     a.sep), df)
    except (ValueError, FileNotFoundError) as exc:  # missing file or column, unparseable ids, bad parameters file
        print(f"vidrec eval: {exc}", file=sys.stderr)
        return 2
    seeds = a.seeds or [a.seed if a.seed is not None else s.seed]
    if a.tune:
        from models.evaluation import tuning
        target = None if a.save is None else Path(a.save or used["path"])  # --save alone: the file in effect
        chosen = tuning.tune(df, a.protocol, seed=seeds[0], trials=a.trials, k=a.k, catalog=catalog,
                             save=target, start=params)
        chosen["saved_to"] = None if target is None else str(target)
        print(json.dumps({**chosen, "parameters": used}, default=str)) if a.json else print(tuning.summary(chosen))
        return 0
    if len(seeds) == 1:
        result = harness.evaluate(df, a.protocol, a.k, seeds[0], a.recommenders, catalog=catalog, params=params)
    else:
        result = harness.evaluate_seeds(df, a.protocol, seeds, a.k, a.recommenders, catalog=catalog, params=params)
    if a.json:
        print(json.dumps({**result, "parameters": used}, default=str))
    else:
        what = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds}: mean ± standard deviation"
        print(f"dataset {result['dataset']}, protocol {result['protocol']}, k={result['k']}, {what}; "
              f"parameters {used['path']} (sha256 {used['sha256'][:12]})\n")
        print(harness.markdown_table(result))
    return 0


def synthetic_set(a):
    """(ratings, catalog) of ``--set`` (``models.evaluation.synthetic_sets``); with ``--write F`` also the CSVs
    F and F's ``-catalog`` sibling, which ``vidrec eval csv --path F --catalog ...`` reads back."""
    from models.evaluation import synthetic_sets

    df, catalog = synthetic_sets.make(a.set, seed=a.seed if a.seed is not None else 42)
    if a.write:
        out = Path(a.write)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        catalog.to_csv(out.with_name(f"{out.stem}-catalog.csv"), index=False)
        print(f"{len(df):,} rows, {df['user_id'].nunique():,} users, {df['video_id'].nunique():,} videos -> {out}; "
              f"vidrec eval csv --path {out} --item-col video_id --rating-col rating --ts-col ts "
              f"--catalog {out.with_name(out.stem + '-catalog.csv')} --upload-col upload_ts")
    return df, catalog


def add_command(sub) -> None:
    """eval: offline evaluation of recommenders on a dataset."""
    q = sub.add_parser("eval", help="offline evaluation of recommenders on a dataset (Markdown table or --json)")
    q.add_argument("dataset", choices=["movielens", "csv", "synthetic"])
    q.add_argument("--path", help="MovieLens folder (u.data or ratings.csv) or a CSV file")
    q.add_argument("--set", default="quality",
                   help="synthetic: which stand-in, quality, taste, ml-1m or feed (with engagement signals; "
                        "models/evaluation/synthetic_sets.py)")
    q.add_argument("--write", metavar="CSV", help="synthetic: write the set (and its catalog) as CSV and stop")
    q.add_argument("--protocol", choices=["msr", "time", "leave-last-out"], default="msr")
    q.add_argument("--k", type=int, default=10)
    q.add_argument("--seed", type=int, help="split and model seed (default: VIDREC_SEED)")
    q.add_argument("--seeds", type=int, nargs="+", help="repeat over these seeds; mean ± standard deviation")
    q.add_argument("--recommenders", nargs="+", help="names to compare (default: all)")
    q.add_argument("--tune", action="store_true",
                   help="hyper-parameter search for als and two_stage on a validation part of the training split")
    q.add_argument("--trials", type=int, default=8, help="--tune: configurations tried per recommender")
    q.add_argument("--save", nargs="?", const="", metavar="FILE",
                   help="--tune: write the choice and how it was chosen over the parameters file in effect (the "
                        "nightly's; README), or to FILE (a data set's own: VIDREC_PARAMS_FILE=FILE uses it)")
    q.add_argument("--sep", default=",", help="CSV separator")
    q.add_argument("--user-col", default="user_id", help="CSV user column")
    q.add_argument("--item-col", default="item_id", help="CSV item column")
    q.add_argument("--rating-col", help="CSV rating column (optional)")
    q.add_argument("--ts-col", help="CSV timestamp column (optional)")
    q.add_argument("--catalog", help="catalog CSV (same --sep): categories, creators and upload times of the items "
                                     "(content retrieval, diversity metrics)")
    q.add_argument("--catalog-item-col", help="catalog item column (default: --item-col)")
    q.add_argument("--category-col", default="category", help="catalog category column ('' for none)")
    q.add_argument("--creator-col", default="creator_id", help="catalog creator column ('' for none)")
    q.add_argument("--upload-col", help="catalog upload time column (date or Unix seconds; optional)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval)
