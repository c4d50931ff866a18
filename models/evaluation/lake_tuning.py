"""The weekly tuning on the lake (``vidrec run tune_params --ds D``, DAG ``tune_weekly``).

The nightly reads one parameters file (``models.parameters``); this job re-tunes it on the lake's own
interactions and replaces it only when the new parameters are better:

1. the engaged pairs of the ``lookback_days`` ending with D (a watch, like, share, not-interested or dislike),
   one row per (user, video) at its first such event, with the pair's engagement signals
   (``models.evaluation.signals``: best watch fraction, liked, shared, not interested or disliked), so the
   two-stage recommender trains every objective's head as the nightly does; the videos table is the catalog;
   when more than ``max_users`` users have one, a seeded sample of them (all their rows) is kept;
2. the time protocol with the validation carved from the past: everything before the last ``valid_days``
   days up to D is fitted, the (user, video) pairs first engaged in those days are the validation
   (``models.evaluation.splits.time_split``); the test of the future is never looked at;
3. the two-stage recommender of the harness (``models.evaluation.two_stage``, the nightly retrieval and
   ranker code, ``protocol="time"``: the nightly's own windows) is fitted with the current file's
   parameters and with ``trials`` variants around them (``models.evaluation.tuning.around``: a few keys
   of the search space redrawn, co-watch within ``tuning.CAPS``), each scored on the validation by
   ``tuning.target_metric``: the composite's nDCG@k under the product's objective weights;
   trials stop early when ``max_seconds`` is spent (the current parameters are always measured);
4. when the best variant beats the current parameters by more than ``margin`` (relative), its record
   is written atomically to ``<artifact_root>/params/two_stage.json`` (``models.parameters.write``), which
   the next nightly and ``vidrec eval`` read (unless ``VIDREC_PARAMS_FILE`` pins another file: then
   ``in_effect`` says so). Only the ``two_stage`` section (what the nightly runs) is tuned; the harness's
   ``als`` baseline section is carried over.

Every run also writes its report to ``<artifact_root>/params/tune_params-<D>.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from models import io, parameters
from models.evaluation import signals, tuning
from models.evaluation.splits import time_split
from models.retrieval.history import VIDEO_COLUMNS, confidence
from vidrec import dates
from vidrec.settings import Settings
from vidrec.tables import EVENT_TYPE, TS, USER_ID, VIDEO_ID, WATCH_FRACTION

log = logging.getLogger("vidrec.tune_params")
PROTOCOL = "time"


@dataclass(frozen=True)
class LakeTuningParams:
    lookback_days: int = io.DEFAULT_LOOKBACK_DAYS  # days of events read, ending with D
    valid_days: int = 2        # the last days up to D: the validation
    trials: int = 6            # variants tried around the current parameters
    changes: int = 2           # keys of the search space redrawn per variant
    max_users: int = 3000      # a seeded sample of users when the lake has more
    margin: float = 0.01       # replace only when best > current x (1 + margin)
    max_seconds: float = 3600.0  # no new trial starts after this long
    k: int = 10


def lake_rows(settings: Settings, ds: str, p: LakeTuningParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, catalog): (user_id, video_id, ts in Unix seconds, watch_fraction, liked, shared, not_interested)
    per engaged pair at its first engaging event in the window, users sampled down to ``max_users``; the
    catalog uploaded before the end of D."""
    snap = io.LakeSnapshot(settings)
    inter = snap.read("interactions", [USER_ID, VIDEO_ID, EVENT_TYPE, TS, WATCH_FRACTION],
                      dates.window(ds, p.lookback_days))
    kind, flags = inter[EVENT_TYPE], signals.FLAG_SOURCES
    inter = inter.assign(**{WATCH_FRACTION: inter[WATCH_FRACTION].where(kind == "watch").fillna(0.0)},
                         **{flag: kind.isin(events).astype(np.int8) for flag, events in flags.items()})
    engaging = inter[(confidence(inter) > 0) | (inter["not_interested"] > 0)]
    per_pair = {TS: (TS, "min"), WATCH_FRACTION: (WATCH_FRACTION, "max"), **{f: (f, "max") for f in flags}}
    rows = engaging.groupby([USER_ID, VIDEO_ID], sort=True).agg(**per_pair).reset_index()
    rows[TS] = (pd.to_datetime(rows[TS], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    users = rows[USER_ID].unique()
    if len(users) > p.max_users:
        keep = np.random.default_rng(settings.seed).choice(users, p.max_users, replace=False)
        rows = rows[rows[USER_ID].isin(keep)].reset_index(drop=True)
    catalog = snap.read("videos", VIDEO_COLUMNS)
    catalog = catalog[catalog["upload_ts"].isna() | (catalog["upload_ts"] < pd.Timestamp(dates.day_end(ds)))]
    return rows, catalog.reset_index(drop=True)


def carve(rows: pd.DataFrame, ds: str, valid_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): pairs first engaged before the last ``valid_days`` days up to ``ds``, and in them."""
    first = dates.shift_ds(ds, -(valid_days - 1))
    cut = int(pd.Timestamp(first, tz="UTC").timestamp())
    return time_split(rows, cut=cut)


def try_params(settings: Settings, current: dict, fit: pd.DataFrame, valid: pd.DataFrame, catalog: pd.DataFrame,
               p: LakeTuningParams) -> list[dict]:
    """Trials (``{"params", <tuning.target_metric>, "seconds"}``): the current parameters first, then variants
    around them."""
    started, out, key = time.monotonic(), [], tuning.target_metric(valid, p.k)
    tries = tuning.around(current, p.trials, np.random.default_rng(settings.seed), changes=p.changes)
    for i, params in enumerate(tries):
        if i and time.monotonic() - started > p.max_seconds:
            log.info("tune_params: %.0f s spent, %d of %d variants tried", p.max_seconds, i - 1, len(tries) - 1)
            break
        value, seconds = tuning.score("two_stage", params, fit, valid, PROTOCOL, settings.seed, p.k, catalog)
        out.append({"params": params, key: value, "seconds": seconds})
        log.info("tune_params trial %d: %s %.4f in %.1f s", i, key, value, seconds)
    return out


def new_record(ds: str, p: LakeTuningParams, best: dict, current: float, used: dict, fit, valid, key: str) -> dict:
    """The parameters file's content for the chosen trial (the format ``models.parameters`` reads)."""
    return {"chosen_by": f"vidrec run tune_params --ds {ds} on the lake ({PROTOCOL} protocol, {len(fit)} fit "
                         f"pairs, {len(valid)} validation pairs of the last {p.valid_days} days, {p.trials} "
                         f"variants) at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            "validation": {"fit_rows": len(fit), "valid_rows": len(valid),
                           "how": f"pairs first engaged in the {p.valid_days} days ending {ds}; fitted on the "
                                  "days before"},
            "best": {"two_stage": {key: best[key]}},
            "previous": {**used, key: current},
            "params": best["params"]}


def run(settings: Settings, ds: str, params: LakeTuningParams | None = None) -> dict:
    """Tune the two-stage parameters on the lake up to ``ds``; replace the weekly file only when better."""
    started, p = time.monotonic(), params or LakeTuningParams()
    used = parameters.record(settings)
    current = parameters.load(used["path"])["params"]
    rows, catalog = lake_rows(settings, ds, p)
    fit, valid = carve(rows, ds, p.valid_days)
    if fit.empty or valid.empty:
        raise ValueError(f"tune_params {ds}: no engaged pairs to fit ({len(fit)}) or to validate ({len(valid)}) in "
                         f"the {p.lookback_days} days ending {ds}")
    trials = try_params(settings, current, fit, valid, catalog, p)
    key = tuning.target_metric(rows, p.k)
    best = max(trials, key=lambda t: t[key])  # the first of equals: the current parameters win ties
    replaced = best is not trials[0] and best[key] > trials[0][key] * (1.0 + p.margin)
    target = parameters.tuned_path(settings)
    if replaced:
        parameters.write(new_record(ds, p, best, trials[0][key], used, fit, valid, key), target)
    result = {"ds": ds, "replaced": replaced, "current": trials[0][key], "best": best[key], "metric": key,
              "path": str(target) if replaced else used["path"],
              "sha256": parameters.digest(target) if replaced else used["sha256"],
              "in_effect": str(parameters.resolve(settings)), "previous": used,
              "rows": {"fit": len(fit), "valid": len(valid), "users": int(rows[USER_ID].nunique())},
              "trials": [{key: t[key], "seconds": t["seconds"], "two_stage": t["params"]["two_stage"]} for t in trials],
              "params": asdict(p), "seconds": round(time.monotonic() - started, 2)}
    io.write_json(result, target.with_name(f"tune_params-{ds}.json"))
    if replaced and result["in_effect"] != str(target):
        log.warning("tune_params %s: wrote %s, but VIDREC_PARAMS_FILE pins %s", ds, target, result["in_effect"])
    log.info("tune_params %s: current %.4f, best %.4f, replaced %s", ds, result["current"], result["best"], replaced)
    return result
