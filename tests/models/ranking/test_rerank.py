"""Business rules: exclusions, the creator window on adversarial lists, exploration slots, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.ranking.rerank import RerankParams, creator_window_ok, explain, explore_positions, order_user, rerank

P = RerankParams(topn=20, spare=5, creator_max_per_window=2, creator_window=5, exploration_share=0.2, seed=7)


def items(user, n, creator_of, source="als"):
    return pd.DataFrame({"user_id": user, "video_id": [f"{user}-v{i}" for i in range(n)],
                         "score": np.linspace(1.0, 0.0, n), "creator_id": [creator_of(i) for i in range(n)],
                         "source": source, "category": "Music"})


def test_creator_window_ok_reference():
    assert creator_window_ok(["a", "b", "a", "c", "d", "a"], 2, 5)
    assert not creator_window_ok(["a", "a"], 2, 5)                 # back to back
    assert not creator_window_ok(["a", "b", "a", "c", "a"], 2, 5)  # 3 in a window of 5


def test_adversarial_list_gets_diversified_and_stops_when_nothing_fits():
    # the best 30 items all belong to creator "a", then 10 creators with one item each
    frame = items("u", 40, lambda i: "a" if i < 30 else f"c{i}")
    out = rerank(frame, P)
    assert creator_window_ok(out["creator_id"], 2, 5)
    # greedy by score: "a" whenever the previous slot is not "a" and the last 4 slots hold < 2 of "a"
    assert out["creator_id"].tolist()[:8] == ["a", "c30", "a", "c31", "c32", "a", "c33", "a"]
    assert {f"c{i}" for i in range(30, 40)} <= set(out["creator_id"])  # every other creator gets in
    assert out["creator_id"].iloc[-1] == "a" and len(out) < 25  # then only blocked "a"s remain: the list ends
    assert out["rank"].tolist() == list(range(1, len(out) + 1))
    assert not out.duplicated("video_id").any()


def test_many_creators_in_blocks_keep_score_order_within_each_creator():
    frame = items("u", 60, lambda i: f"c{i // 6}")  # six in a row from each creator
    out = rerank(frame, P)
    assert len(out) == P.topn + P.spare and creator_window_ok(out["creator_id"], 2, 5)
    for _, g in out.groupby("creator_id"):
        assert g["score"].is_monotonic_decreasing


def test_watched_and_not_interested_videos_and_blocked_creators_are_dropped():
    frame = items("u", 30, lambda i: f"c{i % 10}")
    excluded = pd.DataFrame({"user_id": ["u", "u", "other"], "video_id": ["u-v0", "u-v1", "u-v2"]})
    blocked = pd.DataFrame({"user_id": ["u"], "creator_id": ["c3"]})
    out = rerank(frame, P, excluded=excluded, blocked=blocked)
    assert not {"u-v0", "u-v1"} & set(out["video_id"])
    assert "u-v2" in set(out["video_id"])          # excluded for another user only
    assert "c3" not in set(out["creator_id"])
    pool = items("u", 5, lambda i: "c3", source="fresh").assign(video_id=[f"x{i}" for i in range(5)])
    assert "c3" not in set(rerank(frame, P, blocked=blocked, explore=pool)["creator_id"])


def test_exploration_takes_its_share_of_slots_at_seeded_positions():
    frames = pd.concat([items(u, 60, lambda i: f"c{i % 12}") for u in ("u1", "u2")], ignore_index=True)
    pool = pd.concat([items(u, 10, lambda i: f"f{i}", "fresh").assign(video_id=lambda f: "new-" + f["video_id"],
                                                                      score=0.01) for u in ("u1", "u2")])
    out = rerank(frames, P, explore=pool)
    for user in ("u1", "u2"):
        mine = out[out["user_id"] == user]
        top = mine[mine["rank"] <= P.topn]
        explored = top[top["source"] == "explore"]
        assert len(explored) == round(P.exploration_share * P.topn) == 4
        assert set(explored["rank"] - 1) == explore_positions(user, P)
        assert explored["video_id"].str.startswith("new-").all()
        assert (mine.loc[mine["rank"] > P.topn, "source"] != "explore").all()  # spares are not exploration
        assert creator_window_ok(mine["creator_id"], 2, 5)
    assert explore_positions("u1", P) != explore_positions("u2", P)
    assert explore_positions("u1", P) == explore_positions("u1", P)
    assert min(explore_positions("u1", P)) >= P.explore_after


def test_exploration_item_that_is_also_a_candidate_appears_once():
    frame = items("u", 30, lambda i: f"c{i}")
    pool = frame.iloc[25:].assign(source="fresh")
    out = rerank(frame, P, explore=pool)
    assert not out.duplicated("video_id").any()
    assert (out["source"] == "explore").sum() == 4


def test_order_user_walks_a_long_single_creator_list_once_and_stops_when_only_it_remains():
    ids = list(range(5000))
    picked = order_user(ids, ["a"] * 4990 + [f"c{i}" for i in range(10)], [], [], set(), 200, 2, 10)
    # window 10, max 2: a c0 a c1..c7 | a c8 a c9 | then "a" has 2 in the last 9 slots and nothing else is left
    assert [ids[i] for i, _ in picked] == [0, 4990, 1, *range(4991, 4998), 2, 4998, 3, 4999]


def test_every_item_has_a_reason_matching_its_source():
    frame = pd.DataFrame({
        "source": ["als", "cowatch", "als", "trending", "trending", "fresh", "explore", "content"],
        "seed_title": ["Cats 1", "Dogs", None, None, None, None, None, None],
        "trend_region": [None, None, None, "br", "global", None, None, None],
        "creator_id": ["k1"] * 8, "category": ["Pets"] * 8})
    assert explain(frame).tolist() == [
        "because you watched Cats 1", "because you watched Dogs", "popular in Pets", "trending in br",
        "trending worldwide", "new from k1", "new from k1", "popular in Pets"]
