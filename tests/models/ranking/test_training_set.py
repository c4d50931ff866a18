"""Labels of the time split and the sampling of unengaged candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ranking.training_set import fetch_features, label_candidates, label_events


def day(rows):
    return pd.DataFrame(rows, columns=["user_id", "video_id", "event_type", "watch_fraction"])


def test_labels_follow_the_documented_rules():
    labels = label_events(day([
        ("u", "liked", "impression", None), ("u", "liked", "watch", 0.2), ("u", "liked", "like", None),
        ("u", "shared", "share", None),
        ("u", "watched", "watch", 0.5),
        ("u", "short", "impression", None), ("u", "short", "watch", 0.3),
        ("u", "skipped", "impression", None), ("u", "skipped", "skip", None),
        ("u", "vetoed", "watch", 0.9), ("u", "vetoed", "not_interested", None),
        ("u", "disliked", "watch", 1.0), ("u", "disliked", "like", None), ("u", "disliked", "dislike", None),
        ("u", "shown", "impression", None), ("u", "clicked", "click", None),
    ])).set_index("video_id")
    assert labels["label"].to_dict() == {"clicked": 0, "disliked": 0, "liked": 2, "short": 0, "shared": 2,
                                         "shown": 0, "skipped": 0, "vetoed": 0, "watched": 1}
    assert labels["label_kind"].to_dict() == {
        "clicked": "impression", "disliked": "negative", "liked": "positive", "short": "impression",
        "shared": "positive", "shown": "impression", "skipped": "negative", "vetoed": "negative", "watched": "positive"}
    # the other objectives' targets (models.ranking.objectives)
    assert {v for v in labels.index if labels.loc[v, "y_click"]} == {
        "clicked", "disliked", "liked", "short", "vetoed", "watched"}
    assert {v for v in labels.index if labels.loc[v, "y_like"]} == {"liked", "disliked"}
    assert {v for v in labels.index if labels.loc[v, "y_share"]} == {"shared"}
    assert {v for v in labels.index if labels.loc[v, "y_not_interested"]} == {"vetoed", "disliked"}


def test_candidates_are_labeled_and_unengaged_ones_sampled_per_user():
    cands = pd.DataFrame({"user_id": ["a"] * 10 + ["b"] * 10 + ["gone"] * 3,
                          "video_id": [f"v{i}" for i in range(10)] * 2 + ["v0", "v1", "v2"], "score_als": 1.0})
    labels = label_events(day([("a", "v1", "watch", 0.9), ("a", "v2", "skip", None), ("b", "v3", "like", None)]))
    full = label_candidates(cands, labels, sample=None, seed=0)
    assert set(full["user_id"]) == {"a", "b"}               # users without events that day are left out
    assert full["y_like"].dtype == "int8" and full["y_like"].sum() == 1 and full["y_click"].sum() == 1
    assert len(full) == 20 and (full["label_kind"] == "not_engaged").sum() == 17
    sampled = label_candidates(cands, labels, sample=3, seed=0)
    kinds = sampled.groupby(["user_id", "label_kind"]).size().to_dict()
    assert kinds == {("a", "negative"): 1, ("a", "not_engaged"): 3, ("a", "positive"): 1,
                     ("b", "not_engaged"): 3, ("b", "positive"): 1}
    assert sampled.equals(label_candidates(cands, labels, sample=3, seed=0))        # seeded
    assert not sampled.equals(label_candidates(cands, labels, sample=3, seed=1))


def test_popularity_sampling_draws_popular_unengaged_candidates_more_often():
    users = [f"u{i}" for i in range(400)]
    cands = pd.DataFrame({"user_id": np.repeat(users, 20), "video_id": [f"v{j}" for j in range(20)] * len(users),
                          "video_popularity": np.log1p([1000.0 if j < 5 else 0.0 for j in range(20)] * len(users))})
    labels = label_events(day([(u, "v19", "watch", 0.9) for u in users]))
    uniform = label_candidates(cands, labels, sample=5, seed=3)
    popular = label_candidates(cands, labels, sample=5, seed=3, sampling="popularity")
    for rows in (uniform, popular):   # the positive is always kept, 5 unengaged rows per user
        assert rows.groupby("user_id").size().eq(6).all() and rows["label"].sum() == len(users)
    share = {name: rows["video_id"].isin([f"v{j}" for j in range(5)]).sum() / (5 * len(users))
             for name, rows in (("uniform", uniform), ("popularity", popular))}
    assert 0.15 < share["uniform"] < 0.38          # 5 of the 19 unengaged videos: 0.26
    assert share["popularity"] > 0.9               # weights 1001^0.75 = 178 against 1
    with pytest.raises(ValueError, match="negative sampling 'recent'"):
        label_candidates(cands, labels, sample=5, seed=3, sampling="recent")


def test_fetch_features_none_returns_the_rows_unchanged(settings):
    rows = pd.DataFrame({"user_id": ["a"], "video_id": ["v"],
                         "event_timestamp": [pd.Timestamp("2026-11-07", tz="UTC")]})
    out, source = fetch_features(settings, rows, "none")
    assert source == "none" and out.equals(rows)
