"""The request context model's weight, chosen on the holdout day (``vidrec.context`` says what the model is).

The lifts are those of the day before the holdout (``context_lifts``, partition ds - 1: nothing of day ds). A
holdout request is a user in one context: the device, daypart, part of the week and session depth of the first event
of each labeled pair of ds (``gate.holdout_labels``). Its list is the user's validation candidates ordered by the
ranker's score, what serving re-sorts; its truth, the pairs labeled in that context, graded by ``label``
(``ndcg_of_scores``).
For every weight in ``vidrec.context.WEIGHTS`` the lists are re-sorted by score + the context's offset and
scored. The weight with the best nDCG@k is kept when its gain over the lists as they are, paired request by
request, exceeds MIN_Z standard errors; otherwise 0 (serve the lists as they are): one day's holdout is noisy,
and a model that does not clearly help is not applied. The lifts are published either way, so an experiment
arm (policy ``context_weight``) can test them online.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models import io
from models.metrics import ndcg_of_scores
from models.ranking.training_set import LABEL
from vidrec import dates
from vidrec.context import DIMENSIONS, EDGES_MS, SESSION_GAP_S, WEIGHTS, ContextModel, band, daypart, depth, weekpart
from vidrec.tables import CONTEXT_LIFTS, DURATION_MS, EVENT_TYPE, TS, USER_ID, VIDEO_ID, WATCH_MS

log = logging.getLogger("vidrec.evaluate")
MIN_Z = 2.0  # the best weight's gain must exceed this many standard errors (paired over the requests)


def read_lifts(snapshot: io.LakeSnapshot, ds: str) -> dict:
    """{dimension: {value: [log lift per band]}} of partition ``ds`` of context_lifts ({} when there is none)."""
    if not snapshot.exists(CONTEXT_LIFTS.name):
        return {}
    rows = snapshot.read(CONTEXT_LIFTS.name, ["dimension", "value", "band", "log_lift"], (ds, ds))
    lifts: dict = {}
    for r in rows.itertuples(index=False):
        lifts.setdefault(r.dimension, {}).setdefault(r.value, [0.0] * (len(EDGES_MS) + 1))[int(r.band)] = r.log_lift
    return lifts


def in_context(snapshot: io.LakeSnapshot, ds: str, labeled: pd.DataFrame) -> pd.DataFrame:
    """``labeled`` + the context of the pair's first event on ``ds`` (``vidrec.context.DIMENSIONS``; pairs without
    a device out)."""
    day = snapshot.read("interactions", [USER_ID, VIDEO_ID, TS, EVENT_TYPE, WATCH_MS, "device"], (ds, ds))
    day = day.assign(**{TS: pd.to_datetime(day[TS], utc=True)})
    first = day.dropna(subset=["device"]).sort_values(TS, kind="mergesort").drop_duplicates([USER_ID, VIDEO_ID])
    first = first.assign(daypart=first[TS].dt.hour.map({h: daypart(h) for h in range(24)}),
                         weekpart=first[TS].dt.weekday.map({d: weekpart(d) for d in range(7)}),
                         depth=[depth(n) for n in earlier_watches(day, first)])
    return labeled.merge(first[[USER_ID, VIDEO_ID, *DIMENSIONS]], on=[USER_ID, VIDEO_ID])


def earlier_watches(day: pd.DataFrame, at: pd.DataFrame) -> np.ndarray:
    """For each row of ``at`` (user, TS): how many of the user's watches of ``day`` came before it in the same
    session (``vidrec.context.SESSION_GAP_S``), as ``spark_jobs.features.context`` counts a watch's depth."""
    w = day.loc[day[EVENT_TYPE] == "watch", [USER_ID, TS, WATCH_MS]].sort_values([USER_ID, TS], kind="mergesort")
    end = w[TS] + pd.to_timedelta(w[WATCH_MS].fillna(0), unit="ms")
    gap = pd.Timedelta(seconds=SESSION_GAP_S)
    new = (w[USER_ID] != w[USER_ID].shift()) | (w[TS] - end.shift() > gap)
    w = w.assign(_end=end, _index=w.groupby(new.cumsum()).cumcount())
    probe = at[[USER_ID, TS]].reset_index(drop=True).rename_axis("_row").reset_index()
    found = pd.merge_asof(probe.sort_values(TS), w.sort_values(TS), on=TS, by=USER_ID, direction="backward",
                          allow_exact_matches=False).set_index("_row").sort_index()
    within = found["_end"].notna() & (found[TS] - found["_end"] <= gap)
    return np.where(within, found["_index"].fillna(-1) + 1, 0).astype(int)


def requests(valid: pd.DataFrame, scores, labeled: pd.DataFrame, durations: pd.DataFrame) -> pd.DataFrame:
    """One row per (request, candidate): request id, score, band, the context and the label in that context."""
    contexts = labeled[[USER_ID, *DIMENSIONS]].drop_duplicates()
    rows = (valid[[USER_ID, VIDEO_ID]].assign(score=np.asarray(scores, float))
            .merge(durations, on=VIDEO_ID, how="left").merge(contexts, on=USER_ID))
    rows = rows.merge(labeled[[USER_ID, VIDEO_ID, *DIMENSIONS, LABEL]], on=[USER_ID, VIDEO_ID, *DIMENSIONS],
                      how="left")
    key = rows[USER_ID].astype(str)
    for d in DIMENSIONS:
        key = key + "\x1f" + rows[d].astype(str)
    return pd.DataFrame({USER_ID: key.to_numpy(), "score": rows["score"].to_numpy(),
                         "band": rows[DURATION_MS].map(band).to_numpy(), "label": rows[LABEL].fillna(0).to_numpy(),
                         **{d: rows[d].to_numpy() for d in DIMENSIONS}})


def unit_offsets(frame: pd.DataFrame, lifts: dict) -> np.ndarray:
    """Each row's offset at weight 1 (``ContextModel.offsets`` of its context, at its band; 0 without a band)."""
    unit = ContextModel(1.0, lifts)
    contexts = frame[list(DIMENSIONS)].drop_duplicates()
    table = {tuple(c): unit.offsets(dict(zip(DIMENSIONS, c))) for c in contexts.itertuples(index=False)}
    out, all_bands = np.zeros(len(frame)), frame["band"].to_numpy()
    for ctx, idx in frame.groupby(list(DIMENSIONS), sort=False).indices.items():
        bands = all_bands[idx]
        known = pd.notna(bands)
        out[idx[known]] = np.asarray(table[ctx])[bands[known].astype(int)]
    return out


def paired_gain(resorted: pd.Series, as_is: pd.Series) -> tuple[float, float]:
    """(mean, standard error) over the requests of their nDCG re-sorted minus as they are (per-query Series of
    ``ndcg_of_scores``)."""
    diff = (resorted - as_is).to_numpy()
    if len(diff) < 2:
        return 0.0, 0.0
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def by_device(frame: pd.DataFrame, base: np.ndarray, offsets: np.ndarray, k: int) -> dict:
    """Per device: its requests, nDCG@k of the lists as they are and re-sorted by ``offsets``."""
    out = {}
    for device, idx in frame.groupby("device", sort=True).indices.items():
        part = frame.iloc[idx]
        out[device] = {"requests": int(part.loc[part["label"] > 0, USER_ID].nunique()),
                       "as_is": round(ndcg_of_scores(part, base[idx], k), 6),
                       "in_context": round(ndcg_of_scores(part, base[idx] + offsets[idx], k), 6)}
    return out


def choose(snapshot: io.LakeSnapshot, ds: str, valid: pd.DataFrame, scores, labeled: pd.DataFrame,
           k: int) -> tuple[ContextModel | None, dict]:
    """(the model to publish: the lifts with the chosen weight, 0 when none clearly helps, so the API serves the
    lists as they are while an experiment arm may still set a weight; None without lifts or scores. The report:
    the weight, nDCG@k of every weight tried, the paired gain, per device.)"""
    lifts_ds = dates.shift_ds(ds, -1)
    lifts = read_lifts(snapshot, lifts_ds)
    if not lifts or scores is None or valid.empty:
        return None, {"weight": 0.0, "lifts_ds": lifts_ds, "note": "no context lifts or no ranker scores"}
    durations = snapshot.read("videos", [VIDEO_ID, DURATION_MS])
    frame = requests(valid, scores, in_context(snapshot, ds, labeled), durations)
    offsets, base = unit_offsets(frame, lifts), frame["score"].to_numpy()
    per_request = {w: ndcg_of_scores(frame, base + w * offsets, k, per_query=True) for w in WEIGHTS}
    tried = {w: round(float(v.mean()), 6) if len(v) else 0.0 for w, v in per_request.items()}  # ndcg_of_scores' mean
    best = max(tried, key=lambda w: (tried[w], -w))
    gain, se = paired_gain(per_request[best], per_request[0.0])
    if not gain > MIN_Z * se:  # within the noise of one holdout day: the lists are served as they are
        best = 0.0
    n = int(frame.loc[frame["label"] > 0, USER_ID].nunique())
    report = {"weight": best, "lifts_ds": lifts_ds, "requests": n, f"ndcg@{k}": {str(w): v for w, v in tried.items()},
              "lift": round(tried[best] / tried[0.0] - 1.0, 4) if tried[0.0] else None,
              "best_gain": round(gain, 6), "best_gain_se": round(se, 6),
              "by_device": by_device(frame, base, best * offsets, k)}
    log.info("context model for %s: %s", ds, report)
    return ContextModel(best, lifts), report
