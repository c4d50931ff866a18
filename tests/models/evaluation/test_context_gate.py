"""The context model's weight is chosen on a real holdout day: kept when re-sorting by the lifts helps, 0 when not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from models import io
from models.evaluation import context_gate
from vidrec.context import depth
from vidrec.tables import CONTEXT_LIFTS, INTERACTIONS, VIDEOS, arrow_schema

DS, BEFORE = "2026-11-07", "2026-11-06"
LONG_ON_TV = {"tv": [-0.3, 0.0, 0.3, 0.0], "android": [0.3, 0.0, -0.3, 0.0]}


def _write(settings, table, frame, parts=None):
    data = pa.Table.from_pandas(frame[table.columns], schema=arrow_schema(table.schema), preserve_index=False)
    write_deltalake(str(settings.lake_root / table.name), data, partition_by=parts, mode="append")


def _lake(settings, lifts: dict, lifts_ds: str = BEFORE, seed: int = 5):
    """20 videos (even ids 20 s long, odd ids 200 s); 80 users, each on a TV or a phone on DS, who engage with
    long videos on the TV and short ones on the phone; the lifts given, as of ``lifts_ds``."""
    rng = np.random.default_rng(seed)
    videos = pd.DataFrame({"video_id": [f"v{i}" for i in range(20)], "title": "t", "creator_id": "c",
                           "category": "m", "tags": [["t"]] * 20, "duration_ms": [20_000 if i % 2 == 0 else 200_000
                                                                                   for i in range(20)],
                           "upload_ts": pd.Timestamp("2026-10-01", tz="UTC"), "language": "en",
                           "thumbnail_url": None, "url": None})
    _write(settings, VIDEOS, videos)
    rows, labeled = [], []
    for u in range(80):
        device = "tv" if u % 2 else "android"
        for i in rng.choice(20, 6, replace=False):
            engaged = (i % 2 == 1) == (device == "tv")
            ts = pd.Timestamp(f"{DS} 20:00", tz="UTC") + pd.Timedelta(minutes=int(i))
            rows.append((f"e{u}-{i}", f"u{u}", f"v{i}", "watch", ts, 0, 0, 0.9 if engaged else 0.1, 1.0, "home",
                         "us", device, DS))
            labeled.append((f"u{u}", f"v{i}", int(engaged)))
    _write(settings, INTERACTIONS, pd.DataFrame(rows, columns=INTERACTIONS.columns), ["ds"])
    lift_rows = [("device", value, b, 100, 0.5, x, pd.Timestamp(f"{lifts_ds} 00:00", tz="UTC") + pd.Timedelta(days=1),
                  lifts_ds) for value, per_band in lifts.items() for b, x in enumerate(per_band)]
    _write(settings, CONTEXT_LIFTS, pd.DataFrame(lift_rows, columns=CONTEXT_LIFTS.columns), ["ds"])
    valid = pd.DataFrame([(f"u{u}", f"v{i}") for u in range(80) for i in range(20)], columns=["user_id", "video_id"])
    scores = rng.uniform(0.0, 0.3, len(valid))  # a ranker that knows nothing of the context
    return valid, scores, pd.DataFrame(labeled, columns=["user_id", "video_id", "label"])


def test_the_weight_that_helps_on_the_holdout_is_kept(settings):
    valid, scores, labeled = _lake(settings, LONG_ON_TV)
    model, report = context_gate.choose(io.LakeSnapshot(settings), DS, valid, scores, labeled, 5)
    tried = report["ndcg@5"]
    assert report["weight"] > 0 and model is not None and model.weight == report["weight"]
    assert tried[str(report["weight"])] > tried["0.0"] and report["lift"] > 0.1
    assert report["best_gain"] > context_gate.MIN_Z * report["best_gain_se"] > 0  # paired, beyond the noise
    # a request: a user in one context; each user's 6 watches, minutes apart, are one session (depth 0 to 5)
    engaged = labeled.assign(i=labeled["video_id"].str[1:].astype(int)).sort_values(["user_id", "i"])
    engaged = engaged.assign(band=[depth(n) for n in engaged.groupby("user_id").cumcount()])
    expected = len(engaged.loc[engaged["label"] > 0, ["user_id", "band"]].drop_duplicates())
    assert report["requests"] == expected > 80 and report["lifts_ds"] == BEFORE
    assert all(d["in_context"] > d["as_is"] for d in report["by_device"].values())  # TV and phone both gain
    assert sum(d["requests"] for d in report["by_device"].values()) == expected
    assert model.lifts["device"]["tv"] == pytest.approx(LONG_ON_TV["tv"])


def test_lifts_that_do_not_help_or_do_not_exist_give_no_model(settings):
    wrong = {"tv": LONG_ON_TV["android"], "android": LONG_ON_TV["tv"]}
    valid, scores, labeled = _lake(settings, wrong)
    model, report = context_gate.choose(io.LakeSnapshot(settings), DS, valid, scores, labeled, 5)
    assert model.weight == 0.0 and report["weight"] == 0.0 and report["lift"] == 0.0  # published, not applied
    assert all(v <= report["ndcg@5"]["0.0"] for v in report["ndcg@5"].values())


def test_a_gain_within_the_noise_of_the_holdout_is_not_served(settings):
    valid, scores, labeled = _lake(settings, LONG_ON_TV)
    labeled = labeled.assign(label=np.random.default_rng(1).permutation(labeled["label"].to_numpy()))  # no effect
    model, report = context_gate.choose(io.LakeSnapshot(settings), DS, valid, scores, labeled, 5)
    assert model.weight == 0.0 and report["weight"] == 0.0
    assert report["best_gain"] <= context_gate.MIN_Z * report["best_gain_se"]


def test_lifts_of_the_holdout_day_itself_are_not_read(settings):
    valid, scores, labeled = _lake(settings, LONG_ON_TV, lifts_ds=DS)  # they would have seen the holdout
    model, report = context_gate.choose(io.LakeSnapshot(settings), DS, valid, scores, labeled, 5)
    assert model is None and report["weight"] == 0.0 and "no context lifts" in report["note"]


def test_a_request_counts_the_watches_before_it_in_its_session():
    t = pd.Timestamp("2026-11-07 10:00", tz="UTC")
    minutes = pd.to_timedelta
    day = pd.DataFrame({"user_id": ["a"] * 5 + ["b"], "event_type": ["watch", "impression", "watch", "watch", "watch",
                                                                     "watch"],
                        "ts": [t, t + minutes("1min"), t + minutes("2min"), t + minutes("10min"),
                               t + minutes("60min"), t + minutes("1min")],
                        "watch_ms": [60_000, 0, 300_000, 60_000, 60_000, 60_000]})
    at = pd.DataFrame({"user_id": ["a", "a", "a", "a", "a", "b", "c"],
                       "ts": [t, t + minutes("3min"), t + minutes("10min"), t + minutes("41min"),
                              t + minutes("42min"), t + minutes("2min"), t]})
    # a at 10:00: nothing before; 10:03: 2 watches; 10:10: 2 (the 10:10 watch is not before itself); 10:41: the
    # session goes on (the 10:10 watch ended at 10:11, 30 min before); 10:42: 31 min idle, a new session
    assert context_gate.earlier_watches(day, at).tolist() == [0, 2, 2, 3, 0, 1, 0]
