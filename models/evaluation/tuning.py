"""Hyper-parameter search for ALS and the two-stage recommender (``vidrec eval ... --tune [--save]``).

The test split is never looked at: the protocol's split of the data gives (train, test); the same
protocol splits ``train`` again (another seed) into (fit part, validation), and every configuration is
fitted on the fit part and scored on the validation part by ``target_metric``: nDCG@k, or on data
with engagement signals the composite's nDCG@k (the multi-objective ranker under the product's weights).
A small seeded random search: the current parameters first, then ``trials - 1`` draws from
``ALS_SPACE`` (ALS alone), then the same for ``TWO_STAGE_SPACE`` with the retrieval ALS set to the best ALS
found. With ``save`` the chosen
parameters are written over the parameters file in effect (``models.parameters.resolve``: what the nightly
and ``vidrec eval`` read) with how they were chosen.

Every two-stage configuration tried stays within ``CAPS``: the nightly multiplies each user's
``recent_videos`` seeds by ``cowatch_neighbours`` per seed, scores ``per_user`` candidate rows per user with
``ranker.n_estimators`` trees each, and at 100k videos and 200k users all of that must stay bounded (values
tuned on ML-100K's 1,682 movies would not). ``around`` and ``score`` are what the weekly
tuning on the lake (``models.evaluation.lake_tuning``) uses: variants near the current parameters.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from models import parameters
from models.evaluation import harness, signals

ALS_SPACE = {"factors": [16, 24, 32, 48, 64, 128], "regularization": [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0],
             "alpha": [0.5, 1.0, 2.0, 5.0, 10.0], "iterations": [15]}
TWO_STAGE_SPACE = {"candidates.ease_l2": [250.0, 500.0, 1000.0], "ranker.max_depth": [3, 4, 5],
                   "ranker.n_estimators": [100, 150], "ranker.learning_rate": [0.05, 0.1, 0.2],
                   "negatives_per_user": [50, 100, 200], "folds": [3, 4],
                   "negative_sampling": ["uniform", "popularity"], "ranker.blend_weight": [0.0, 0.5, 1.0],
                   "ranker.blend_als": [2.0, 6.0],
                   "rating_confidence": [True, False]}
# Upper bounds in the two_stage section: co-watch work per user, candidate rows per user and trees per row.
CAPS = {"candidates.cowatch_neighbours": 200, "candidates.recent_videos": 200, "per_user": 150,
        "ranker.n_estimators": 150}


def _draw(space: dict, rng: np.random.Generator) -> dict:
    return {key: values[int(rng.integers(len(values)))] for key, values in space.items()}


def with_overrides(params: dict, dotted: dict) -> dict:
    """``params`` (nested dict) with ``{"a.b": v}`` / ``{"a": v}`` overrides applied (a deep copy)."""
    out = json.loads(json.dumps(params))
    for key, value in dotted.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def capped(params: dict) -> dict:
    """``params`` (``{"als", "two_stage"}``) with the two_stage section's ``CAPS`` keys at most their cap."""
    section = params.get("two_stage", {})
    over = {}
    for key, cap in CAPS.items():
        value = get_dotted(section, key)
        if value is not None and value > cap:
            over[f"two_stage.{key}"] = cap
    return with_overrides(params, over) if over else params


def around(current: dict, trials: int, rng: np.random.Generator, changes: int = 2) -> list[dict]:
    """``current`` first, then up to ``trials`` distinct variants of its two_stage section, each with
    ``changes`` keys of ``TWO_STAGE_SPACE`` and ``ALS_SPACE`` (the retrieval ALS) set to another value;
    every variant within ``CAPS``. Seeded by ``rng``."""
    # folds: the time protocol has one part; rating_confidence: the lake's events have no ratings
    space = {k: v for k, v in TWO_STAGE_SPACE.items() if k not in ("folds", "rating_confidence")}
    space.update({f"als.{k}": v for k, v in ALS_SPACE.items() if len(v) > 1})
    keys, out, seen = sorted(space), [current], {json.dumps(capped(current), sort_keys=True)}
    for _ in range(trials * 10):
        if len(out) > trials:
            break
        picked = rng.choice(len(keys), size=min(changes, len(keys)), replace=False)
        dotted = {}
        for key in (keys[i] for i in picked):
            now = get_dotted(current["two_stage"], key)
            others = [v for v in space[key] if v != now]
            dotted[f"two_stage.{key}"] = others[int(rng.integers(len(others)))]
        variant = capped(with_overrides(current, dotted))
        if json.dumps(variant, sort_keys=True) not in seen:
            seen.add(json.dumps(variant, sort_keys=True))
            out.append(variant)
    return out


def get_dotted(section: dict, dotted: str):
    node = section
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def target_metric(frame: pd.DataFrame, k: int) -> str:
    """What tuning maximizes: on data with engagement signals (``models.evaluation.signals``) the composite's
    nDCG under the product's objective weights, else nDCG."""
    return f"composite_ndcg@{k}" if signals.has_signals(frame) else f"ndcg@{k}"


def score(name: str, params: dict, fit_part, valid, protocol, seed, k, catalog) -> tuple[float, float]:
    """(``target_metric`` on ``valid``, seconds) of recommender ``name`` with ``params`` fitted on ``fit_part``."""
    rec = harness.make_recommender(name, seed, protocol, catalog, params)
    started = time.perf_counter()
    metrics = harness.compare(fit_part, valid, {name: rec}, k, catalog)[name]
    return metrics[target_metric(valid, k)], round(time.perf_counter() - started, 2)


def tune(df: pd.DataFrame, protocol: str = "msr", *, seed: int = 42, trials: int = 8, k: int = 10,
         catalog: pd.DataFrame | None = None, save: Path | None = None, start: dict | None = None) -> dict:
    """The best parameters found for "als" and "two_stage", every trial, and the validation set-up."""
    if trials < 1:
        raise ValueError("trials must be >= 1")
    train, _ = harness.split(df, protocol, seed)
    fit_part, valid = harness.split(train, protocol, seed + 1)
    rng = np.random.default_rng(seed)
    current = capped(start if start is not None else harness.tuned_params())
    log, best, key = [], {}, target_metric(df, k)
    for name, space in (("als", ALS_SPACE), ("two_stage", TWO_STAGE_SPACE)):
        base = with_overrides(current, {"two_stage.als": best["als"][1]["als"]}) if name == "two_stage" else current
        prefix = "two_stage." if name == "two_stage" else "als."
        tries = [base] + [capped(with_overrides(base, {prefix + key: v for key, v in _draw(space, rng).items()}))
                          for _ in range(trials - 1)]
        for params in tries:
            value, seconds = score(name, params, fit_part, valid, protocol, seed, k, catalog)
            log.append({"recommender": name, "params": params.get(name, {}), key: value, "seconds": seconds})
            if name not in best or value > best[name][0]:
                best[name] = (value, params)
    chosen = {"als": best["als"][1].get("als", {}), "two_stage": best["two_stage"][1].get("two_stage", {})}
    result = {"dataset": df.attrs.get("name", "custom"), "protocol": protocol, "seed": seed, "k": k, "metric": key,
              "validation": {"fit_rows": len(fit_part), "valid_rows": len(valid),
                             "how": f"the {protocol} split of the training split (seed {seed + 1}); test unused"},
              "best": {name: {key: value[0]} for name, value in best.items()},
              "params": chosen, "trials": log}
    if save is not None:
        record = {"chosen_by": f"vidrec eval --tune --save on {result['dataset']} ({protocol}, seed {seed}, "
                               f"{trials} trials per recommender) at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
                  "validation": result["validation"], "best": result["best"], "params": chosen}
        parameters.write(record, save)
    return result


def summary(result: dict) -> str:
    """The trials as a Markdown table, best of each recommender marked."""
    key = result.get("metric", f"ndcg@{result['k']}")
    lines = [f"validation: {result['validation']['how']} ({result['validation']['fit_rows']} fit rows, "
             f"{result['validation']['valid_rows']} validation rows)", "",
             f"| recommender | {key} | seconds | params |", "|---|---|---|---|"]
    for trial in result["trials"]:
        mark = " (chosen)" if trial[key] == result["best"][trial["recommender"]][key] else ""
        lines.append(f"| {trial['recommender']}{mark} | {trial[key]:.4f} | {trial['seconds']} | "
                     f"{json.dumps(trial['params'], sort_keys=True)} |")
    return "\n".join(lines) + "\n"
