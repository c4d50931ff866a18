"""Retrieval sources, their fusion and exclusions, on small hand-made and seeded data (real ALS/ScaNN)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.retrieval.als import AlsParams, fit_als
from models.retrieval.ann_index import AnnParams, build_index
from models.retrieval.candidates import CandidateParams, Retrieval, build_candidates, build_related
from models.retrieval.fusion import fuse
from models.retrieval.history import History
from models.retrieval.matrix import build_user_items
from models.retrieval.similarity import build_cowatch
from models.retrieval.sources.cowatch import cowatch_source, seed_matrix
from models.retrieval.sources.trending import trending_scores

DS = "2026-11-07"
SMALL = CandidateParams(als_k=10, cowatch_k=10, content_k=6, fresh_k=3, trending_k=5, related_k=5, recent_videos=3)


def retrieval(world) -> Retrieval:
    inter, videos, users = world
    hist = History(DS, inter, videos, users, active_days=7)
    user_items, idmap = build_user_items(hist.positives)
    model = fit_als(user_items, AlsParams(factors=4, iterations=10, num_threads=1), use_gpu=False, seed=0)
    return Retrieval(hist, model, idmap, build_index(model.item_factors, AnnParams(k=20)))


def test_cowatch_scores_are_the_seed_weighted_sum_of_similarities():
    ui = sp.csr_matrix(np.array([[1, 1, 0], [3, 1, 1], [0, 2, 1]], np.float32))
    co = build_cowatch(ui, neighbours=5)  # c01 = c12 = 2/sqrt(6), c02 = 1/2
    seeds = sp.csr_matrix(np.array([[1.0, 0.0, 0.85]], np.float32))  # latest a, then c
    codes = np.array([2, 0, 1])  # the catalog codes of the ALS videos a, b, c
    got = cowatch_source(seeds, co, codes, k=3)
    assert got["u"].tolist() == [0, 0, 0]
    assert dict(zip(got["v"], got["score"])) == pytest.approx({2: 0.85 * 0.5, 0: 1.85 * 2 / np.sqrt(6), 1: 0.5})
    assert cowatch_source(seeds, co, codes, k=1)["v"].tolist() == [0]  # b


def test_seed_matrix_weights_recent_videos_by_decay(world):
    r = retrieval(world)
    seeds = seed_matrix(r.history, r.idmap, SMALL, ["u0_0", "nobody"])
    recent = r.history.recent_videos(3)
    mine = recent[recent["user_id"] == "u0_0"]
    row = seeds[0].toarray().ravel()
    assert {r.idmap.videos[i]: w for i, w in enumerate(row) if w} == pytest.approx(
        dict(zip(mine["video_id"], SMALL.recency_decay ** mine["recency"].to_numpy(float))))
    assert seeds[1].nnz == 0


def test_fuse_keeps_best_score_per_source_ranks_by_reciprocal_rank_and_caps():
    als = pd.DataFrame({"user_id": ["u"] * 3, "video_id": ["a", "b", "a"], "score": [0.9, 0.5, 0.3]})
    content = pd.DataFrame({"user_id": ["u", "u"], "video_id": ["b", "c"], "score": [5.0, 1.0]})
    out = fuse({"als": als, "content": content}, "user_id", "video_id", per_key=2)
    assert out["video_id"].tolist() == ["b", "a"]
    assert out["retrieval_score"].tolist() == pytest.approx([1 / 62 + 1 / 61, 1 / 61])
    assert out["best_source"].tolist() == ["content", "als"]
    assert out["score_als"].tolist() == [0.5, 0.9]
    assert out["score_content"].iloc[0] == 5.0 and np.isnan(out["score_content"].iloc[1])
    assert out["n_sources"].tolist() == [2, 1]


def _fuse_by_hand(frames, per_key, reserve):
    """The rules of ``fuse`` written out per key with dicts: the oracle of the compiled version. (The reserved
    items sort first only to choose what is kept: the fused order of the kept ones is the same either way.)"""
    from models.retrieval.fusion import RRF_K, SOURCES
    out = []
    for key in sorted(set().union(*(set(f["user_id"]) for f in frames.values()))):
        pairs = {}
        for s in SOURCES:
            best = {}
            f = frames.get(s)
            for row in ([] if f is None else f[f["user_id"] == key].to_dict("records")):
                if row["video_id"] not in best or row["score"] > best[row["video_id"]]["score"]:
                    best[row["video_id"]] = row
            ranked = sorted(best.values(), key=lambda r: (-r["score"], r["video_id"]))
            for rank, row in enumerate(ranked, start=1):
                p = pairs.setdefault(row["video_id"], {"fused": 0.0, "best": None, "n": 0, "region": None})
                rrf = 1 / (RRF_K + rank)
                p["fused"] += rrf
                p["n"] += 1
                p[f"score_{s}"], p[f"rank_{s}"] = row["score"], rank
                if p["best"] is None or rrf > p["best"][1]:
                    p["best"] = (s, rrf)
                if p["region"] is None and row.get("trend_region") is not None:
                    p["region"] = row["trend_region"]
        reserved = {v for v, p in pairs.items() if p["best"][1] >= 1 / (RRF_K + reserve) - 1e-12}
        kept = sorted(pairs.items(), key=lambda kv: (kv[0] not in reserved, -kv[1]["fused"], kv[0]))[:per_key]
        for video, p in sorted(kept, key=lambda kv: (-kv[1]["fused"], kv[0])):
            out.append((key, video, round(p["fused"], 12), p["best"][0], p["n"], p["region"],
                        *[p.get(f"rank_{s}") for s in SOURCES], *[p.get(f"score_{s}") for s in SOURCES]))
    return out


def test_fuse_equals_its_rules_written_out_on_random_lists_with_ties_and_duplicates():
    from models.retrieval.fusion import SOURCES
    rng = np.random.default_rng(11)
    for _ in range(40):
        frames = {}
        for s in SOURCES:
            n = int(rng.integers(0, 40))
            frames[s] = pd.DataFrame({"user_id": rng.choice(["u1", "u2", "u3"], n),
                                      "video_id": [f"v{x:02d}" for x in rng.integers(0, 15, n)],
                                      "score": np.round(rng.random(n) * 3) / 3})
        frames["trending"]["trend_region"] = rng.choice(["br", "global"], len(frames["trending"]))
        per_key, reserve = int(rng.integers(1, 12)), int(rng.integers(0, 4))
        out = fuse(frames, "user_id", "video_id", per_key, reserve)
        if "trend_region" not in out.columns:
            out["trend_region"] = None
        got = [(r["user_id"], r["video_id"], round(r["retrieval_score"], 12), r["best_source"], r["n_sources"],
                r["trend_region"], *[None if np.isnan(r[f"rank_{s}"]) else r[f"rank_{s}"] for s in SOURCES],
                *[None if np.isnan(r[f"score_{s}"]) else r[f"score_{s}"] for s in SOURCES])
               for r in out.to_dict("records")]
        assert got == _fuse_by_hand(frames, per_key, reserve)


def test_no_source_is_buried_by_what_the_others_agree_on():
    """Three sources agree on 20 videos; a fourth retrieves 5 others. RRF alone keeps only the agreed ones;
    fuse keeps the fourth source's top 3 (reserve) and fills the rest by fused score."""
    agreed = [f"a{i:02d}" for i in range(20)]
    frames = {s: pd.DataFrame({"user_id": "u", "video_id": agreed, "score": np.arange(20.0, 0, -1)})
              for s in ("als", "cowatch", "content")}
    frames["trending"] = pd.DataFrame({"user_id": "u", "video_id": [f"t{i}" for i in range(5)],
                                       "score": np.arange(5.0, 0, -1)})
    alone = fuse(frames, "user_id", "video_id", per_key=10, reserve=0)
    assert alone["video_id"].tolist() == agreed[:10]
    out = fuse(frames, "user_id", "video_id", per_key=10, reserve=3)
    assert out["video_id"].tolist() == agreed[:7] + ["t0", "t1", "t2"]  # still in fused order
    assert (out["retrieval_score"].diff().dropna() <= 0).all()


def test_a_new_video_without_interactions_is_retrieved_for_a_fan_of_its_category(world):
    cands = build_candidates(retrieval(world), SMALL, per_user=60)
    new = cands[cands["video_id"] == "vnew"]
    assert "u0_0" in set(new["user_id"])
    row = new[new["user_id"] == "u0_0"].iloc[0]
    assert row["score_fresh"] == pytest.approx(1 - 3 / 24 / 7) or row["score_content"] > 0
    assert not new["user_id"].str.startswith("u2").any()  # News fans do not get a Music upload


def test_candidates_exclude_watched_videos_and_blocked_creators_and_respect_the_cap(world):
    inter, videos, users = world
    marked = pd.DataFrame({"user_id": ["u0_1"], "video_id": ["v010"], "event_type": ["not_interested"],
                           "watch_fraction": [None], "ts": [pd.Timestamp(DS, tz="UTC")], "ds": [DS], "region": ["us"]})
    r = retrieval((pd.concat([inter, marked], ignore_index=True), videos, users))
    cands = build_candidates(r, SMALL, per_user=15)
    pairs = set(map(tuple, cands[["user_id", "video_id"]].values.tolist()))
    assert not pairs & set(map(tuple, r.history.excluded.values.tolist()))
    creators = cands.merge(videos, on="video_id")
    assert not ((creators["user_id"] == "u0_1") & (creators["creator_id"] == "k01")).any()
    assert cands.groupby("user_id").size().max() <= 15
    assert set(cands["user_id"]) == set(r.history.active_users)
    assert not cands.duplicated(["user_id", "video_id"]).any()


def test_a_history_focused_on_some_users_gives_them_the_same_candidates(world):
    inter, videos, users = world
    marked = pd.DataFrame({"user_id": ["u0_1"], "video_id": ["v010"], "event_type": ["not_interested"],
                           "watch_fraction": [None], "ts": [pd.Timestamp(DS, tz="UTC")], "ds": [DS], "region": ["us"]})
    r = retrieval((pd.concat([inter, marked], ignore_index=True), videos, users))
    some = np.union1d(r.history.active_users[::3], ["u0_1"])
    assert "u0_1" in set(some) and len(some) < len(r.history.active_users)
    whole = build_candidates(r, SMALL, per_user=15, users=some)
    assert len(r.history.recent_videos(3)["user_id"].unique()) > len(some)  # aggregated for every user so far
    r.history.focus(some)
    assert set(r.history.recent_videos(3)["user_id"]) <= set(some)
    assert set(r.history.excluded["user_id"]) <= set(some) and len(r.history.blocked_creators) == 1
    pd.testing.assert_frame_equal(build_candidates(r, SMALL, per_user=15, users=some), whole)


def test_als_and_cowatch_candidates_stay_in_the_users_category_and_are_explained_by_a_recent_video(world):
    r = retrieval(world)
    cands = build_candidates(r, SMALL, per_user=40).merge(r.history.videos, on="video_id")
    cf = cands[cands["best_source"].isin(["als", "cowatch"])]
    fav = cands["user_id"].str[1].map({"0": "Music", "1": "Gaming", "2": "News"})
    # users only ever watch their own category: co-watch cannot leave it, ALS's best 3 do not
    assert (cands["category"] == fav)[cands["score_cowatch"].notna()].all()
    best_als = cands.dropna(subset=["score_als"]).sort_values("score_als", ascending=False).groupby("user_id").head(3)
    assert (best_als["category"] == fav[best_als.index]).mean() >= 0.9
    recent = r.history.recent_videos(SMALL.recent_videos)
    allowed = set(map(tuple, recent[["user_id", "video_id"]].values.tolist()))
    seeded = cf.dropna(subset=["seed_video_id"])
    assert len(seeded) >= 0.9 * len(cf)
    assert set(zip(seeded["user_id"], seeded["seed_video_id"])) <= allowed
    assert cands[~cands["best_source"].isin(["als", "cowatch"])]["seed_video_id"].isna().all()
    assert cands[["category_affinity", "creator_affinity", "age_days"]].notna().all().all()
    assert (cands["als_dot"].isna() == (r.idmap.video_rows(cands["video_id"]) < 0)).all()  # vnew has no factors


def test_trending_from_the_last_day_per_region_and_global_else_from_the_table(world):
    inter, videos, users = world
    hist = History(DS, inter, videos, users, active_days=7)
    trend = trending_scores(hist, SMALL)
    assert set(trend["region"]) == {"us", "de", "global"}
    assert trend.groupby("region")["score"].max().tolist() == pytest.approx([1.0, 1.0, 1.0])
    de = trend[trend["region"] == "de"]["video_id"]
    assert de.str.startswith("v2").all()  # only News fans are in "de"
    table = pd.DataFrame({"region": ["us", "us"], "rank": [1, 2], "video_id": ["v000", "v100"], "score": [4.0, 2.0]})
    assert trending_scores(hist, SMALL, table)["score"].tolist() == [1.0, 0.5]


@pytest.mark.parametrize("method", ["cosine", "ease"])
def test_related_videos_are_als_and_cowatch_neighbours_never_the_video_itself(world, method):
    related = build_related(retrieval(world), replace(SMALL, cowatch_method=method))
    assert (related["score_cowatch"].dropna() > 0).all()  # EASE's negative weights never make a video related
    assert not (related["video_id"] == related["related_id"]).any()
    assert related.groupby("video_id").size().max() <= SMALL.related_k
    assert set(related["best_source"]) <= {"als", "cowatch", "text"}
    same = related["video_id"].str[1] == related["related_id"].str[1]
    assert same.mean() >= 0.9


@pytest.mark.parametrize("method", ["cosine", "ease"])
def test_the_cowatch_matrix_is_built_once_per_retrieval_and_cut_for_fewer_neighbours(world, method):
    params = replace(SMALL, cowatch_method=method, cowatch_neighbours=8)
    shared = retrieval(world)
    build_candidates(shared, params, per_user=30)  # builds the 8-neighbour matrix
    built = shared.similar[(method, params.ease_l2)][1]
    cut = build_related(shared, params)  # related_k 5: cut from it, not rebuilt
    assert shared.similar[(method, params.ease_l2)][1] is built
    pd.testing.assert_frame_equal(cut, build_related(retrieval(world), params))  # = built with 5 directly


def test_best_seed_is_the_strongest_weighted_seed_per_pair_in_any_chunking():
    from models.retrieval.pair_features import _best_seed

    table = {(1, 5): 0.2, (2, 5): 1.0, (1, 6): 0.3, (2, 6): 0.1}
    strength = np.vectorize(lambda s, v: table.get((s, v), 0.0), otypes=[float])
    pairs = pd.DataFrame({"u": [0, 0, 1, 2, 1], "v": [5, 6, 5, 5, 7]})
    seeds = pd.DataFrame({"u": [0, 0, 1], "s": [1, 2, 1], "w": [1.0, 0.5, 1.0], "seed": ["a", "b", "a"]})
    expect = ["b", "a", "a", None, None]  # 0.5 > 0.2; 0.3 > 0.05; only seed; no seeds; zero strength
    assert _best_seed(pairs, seeds, strength).tolist() == expect
    assert _best_seed(pairs, seeds, strength, chunk=1).tolist() == expect


def test_a_user_without_history_gets_global_trending_and_no_users_gets_an_empty_frame(world):
    r = retrieval(world)
    stranger = build_candidates(r, SMALL, per_user=60, users=["stranger"])
    assert len(stranger) == SMALL.trending_k and (stranger["best_source"] == "trending").all()
    assert (stranger["trend_region"] == "global").all()
    none = build_candidates(r, SMALL, per_user=60, users=[])
    assert none.empty and list(none.columns) == list(stranger.columns)


def test_a_video_nobody_watched_has_related_videos_of_its_kind(world):
    related = build_related(retrieval(world), CandidateParams(related_k=5))
    new = related[related["video_id"] == "vnew"]  # Music, uploaded on DS, no interactions
    assert len(new) == 5 and (new["best_source"] == "text").all()
    _, videos, _ = world
    category = videos.set_index("video_id")["category"]
    assert (category[new["related_id"]] == "Music").all()


def test_a_new_upload_reaches_the_users_whose_videos_read_alike(world):
    params = CandidateParams(als_k=10, cowatch_k=10, content_k=6, fresh_k=3, trending_k=5, text_k=3)
    cands = build_candidates(retrieval(world), params, per_user=40)
    by_text = cands[cands["score_text"].notna()]
    assert "vnew" in set(by_text.loc[by_text["user_id"] == "u0_0", "video_id"])  # u0_0 watches Music
    reached = by_text.loc[by_text["video_id"] == "vnew", "user_id"]
    assert len(reached) and reached.str.startswith("u0_").all()  # only the Music watchers
