import numpy as np
import pandas as pd
import pytest

from models.ranking.blend import final_score, per_user_z, retrieval_score
from models.ranking.objectives import Scorer
from vidrec.tables import USER_ID, VIDEO_ID


def candidates(seed: int = 0, users: int = 30, per_user: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = users * per_user
    frame = pd.DataFrame({USER_ID: np.repeat([f"u{i:02d}" for i in range(users)], per_user),
                          VIDEO_ID: np.tile([f"v{j}" for j in range(per_user)], users),
                          "score_cowatch": rng.gamma(2.0, 1.0, n), "als_dot": rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.2, "score_cowatch"] = np.nan  # candidates co-watch did not retrieve
    return frame


def test_z_is_taken_within_each_user_and_missing_values_take_the_users_lowest():
    users = pd.Series(["a", "a", "a", "b", "b", "c", "c"])
    z = per_user_z(users, [1.0, 2.0, 3.0, 10.0, np.nan, 5.0, 5.0])
    assert z[:3] == pytest.approx([-1.0, 0.0, 1.0])
    assert z[3] == z[4] == 0.0  # b: 10 and its missing value (filled with 10) are equal
    assert (z[5:] == 0.0).all()  # a user whose values are all equal


def test_weight_zero_is_the_rankers_order_unchanged():
    frame = candidates()
    score = np.random.default_rng(1).normal(size=len(frame))
    assert np.array_equal(final_score(frame, score, 0.0, 2.0), score)


def test_the_blend_is_the_same_for_a_user_in_any_chunk_of_whole_users():
    frame = candidates()
    score = np.random.default_rng(2).normal(size=len(frame))
    whole = final_score(frame, score, 1.0, 2.0)
    half = len(frame) // 2  # 15 whole users each
    parts = np.concatenate([final_score(frame.iloc[:half], score[:half], 1.0, 2.0),
                            final_score(frame.iloc[half:], score[half:], 1.0, 2.0)])
    assert np.allclose(whole, parts)
    assert not np.allclose(whole, per_user_z(frame[USER_ID], score))  # the retrieval scores did count


def test_retrieval_scores_reorder_what_the_ranker_barely_separates():
    frame = pd.DataFrame({USER_ID: ["u"] * 4, VIDEO_ID: ["a", "b", "c", "d"],
                          "score_cowatch": [0.1, 0.9, 0.5, 0.4], "als_dot": [0.0, 1.0, 0.5, 0.4]})
    ranker = np.array([1.01, 1.00, 0.2, 0.1])  # a barely ahead of b
    order = lambda s: list(frame[VIDEO_ID].to_numpy()[np.argsort(-s, kind="stable")])
    assert order(final_score(frame, ranker, 0.0, 2.0)) == ["a", "b", "c", "d"]
    assert order(final_score(frame, ranker, 1.0, 2.0)) == ["b", "a", "c", "d"]  # what the ranker separates stays


def test_the_retrieval_score_weighs_like_a_z_whatever_the_als_weight():
    frame = candidates()
    for als in (0.5, 2.0, 8.0):
        r = pd.Series(retrieval_score(frame, als)).groupby(frame[USER_ID].to_numpy())
        assert np.allclose(r.mean(), 0.0) and np.allclose(r.std(), 1.0)
    alone = retrieval_score(frame.drop(columns=["als_dot"]), 2.0)  # a frame without ALS: co-watch's order
    assert np.allclose(alone, per_user_z(frame[USER_ID], frame["score_cowatch"]))


class Margin:
    """A watch head whose margin is one feature column (the Scorer only calls predict)."""

    def predict(self, X):
        return X[:, 0]


def test_the_scorer_orders_by_the_blend_it_was_trained_with():
    frame = candidates().assign(f=np.random.default_rng(3).normal(size=1200))
    plain = Scorer(Margin(), ["f"])
    blended = Scorer(Margin(), ["f"], blend=(1.0, 2.0))
    assert np.allclose(plain.score(frame), plain.probabilities(frame)["watch"])
    expected = final_score(frame, plain.score(frame), 1.0, 2.0)
    assert np.allclose(blended.score(frame), expected)
