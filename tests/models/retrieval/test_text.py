"""Text vectors of videos (tags, titles, categories); their use in retrieval: tests/models/retrieval/test_candidates.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.retrieval.sources.text import text_vectors, tokens


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
