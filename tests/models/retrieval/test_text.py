"""Text retrieval (tags, titles, categories): related videos and candidates for videos nobody watched yet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.als import AlsParams, fit_als
from models.retrieval.ann_index import AnnParams, build_index
from models.retrieval.candidates import CandidateParams, Retrieval, build_candidates, build_related
from models.retrieval.history import History
from models.retrieval.matrix import build_user_items
from models.retrieval.sources.text import text_vectors, tokens

DS = "2026-11-07"


def test_tokens_weigh_tags_and_keep_title_words_and_category():
    assert tokens("The Cat's Show 2", "Pets", ["cats", "Funny"]) == [
        "cat:pets", "tag:cats", "tag:cats", "tag:funny", "tag:funny", "w:the", "w:cat", "w:show"]
    assert tokens(None, None, None) == []


def test_videos_that_share_words_are_nearer_than_those_that_do_not():
    videos = pd.DataFrame({"title": ["cute cat jumps", "cat jumps again", "stock market news", "market news today",
                                     "no words"],
                           "category": ["Pets", "Pets", "News", "News", None],
                           "tags": [["cats"], ["cats"], ["finance"], ["finance"], []]})
    v = text_vectors(videos, dims=3)
    assert v.shape == (5, 3) and np.allclose(np.linalg.norm(v[:4], axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > 0.9 and sim[2, 3] > 0.9 and abs(sim[0, 2]) < 0.3


def retrieval(world) -> Retrieval:
    inter, videos, users = world
    hist = History(DS, inter, videos, users, active_days=7)
    user_items, idmap = build_user_items(hist.positives)
    model = fit_als(user_items, AlsParams(factors=4, iterations=10, num_threads=1), use_gpu=False, seed=0)
    return Retrieval(hist, model, idmap, build_index(model.item_factors, AnnParams(k=20)))


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
