"""The ranker's objectives (models.ranking.objectives): one head per objective, calibrated, combined by weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ranking.objectives import MIN_POSITIVES, calibrate, fit_heads, load_scorer, save_scorer, validation
from models.ranking.ranker import RankerParams
from vidrec.settings import OBJECTIVES, Settings

FAST = RankerParams(n_estimators=40, max_depth=3, n_jobs=1)
FEATURES = ["als_dot", "category_rejections", "video_popularity"]


def engagement(n_users=300, per_user=40, seed=0, split="train") -> pd.DataFrame:
    """Candidates whose watch depends on als_dot only and whose not-interested depends on how many videos of
    their category the user rejected before (category_rejections) only; clicks, likes and shares follow watches."""
    rng = np.random.default_rng(seed)
    n = n_users * per_user
    dot, rejected, popular = rng.normal(size=n), rng.choice([0, 0, 0, 0, 1, 2], n), rng.normal(size=n)
    watch = rng.random(n) < 1 / (1 + np.exp(-(2.5 * dot - 1.5)))
    like = watch & (rng.random(n) < 0.3)
    return pd.DataFrame({
        "user_id": np.repeat([f"u{i:03d}" for i in range(n_users)], per_user), "video_id": [f"v{i}" for i in range(n)],
        "als_dot": dot, "category_rejections": rejected.astype(float), "video_popularity": popular,
        "label": np.where(like, 2, watch.astype(int)).astype(np.int8), "label_ds": "2026-11-06", "split": split,
        "y_click": (watch | (rng.random(n) < 0.1)).astype(np.int8), "y_like": like.astype(np.int8),
        "y_share": (watch & (rng.random(n) < 0.08)).astype(np.int8),
        "y_not_interested": (rng.random(n) < 1 / (1 + np.exp(-(2.5 * rejected - 4)))).astype(np.int8)})


@pytest.fixture(scope="module")
def trained():
    train = engagement()
    scorer, report = fit_heads(train, FEATURES, FAST, seed=0, weights=Settings().weights())
    return scorer, report, engagement(n_users=150, seed=1, split="valid")


def test_every_objective_gets_a_head_and_each_learns_its_own_signal(trained):
    scorer, report, valid = trained
    assert set(report) == set(OBJECTIVES) and all(r["trained"] for r in report.values())
    assert set(scorer.heads) == set(OBJECTIVES) - {"watch"}
    heads = validation(scorer.probabilities(valid), valid, report)
    assert heads["watch"]["auc"] > 0.8 and heads["not_interested"]["auc"] > 0.75 and heads["like"]["auc"] > 0.7
    p = scorer.probabilities(valid)
    assert all(((0 <= v) & (v <= 1)).all() for v in p.values())
    # the calibrated watch head is a probability close to the watch rate, not a LambdaMART margin
    assert abs(p["watch"].mean() - (valid["label"] > 0).mean()) < 0.05


def _rejected_share_of_top(scorer, frame: pd.DataFrame, k: int = 10) -> float:
    ranked = frame.assign(s=scorer.score(frame)).sort_values(["user_id", "s"], ascending=[True, False])
    top = ranked.groupby("user_id").head(k)
    return float((top["category_rejections"] > 0).mean())


def test_raising_the_not_interested_weight_pushes_videos_like_rejected_ones_down(trained):
    scorer, _, valid = trained
    weights = Settings().weights()
    shares = [_rejected_share_of_top(scorer.with_weights({**weights, "not_interested": w}), valid)
              for w in (0.0, -1.0, -5.0, -20.0)]
    assert shares == sorted(shares, reverse=True) and shares[-1] < shares[0] * 0.5
    assert shares[0] > 0.25  # without the weight they are as common at the top as anywhere (a third of rows)


def test_a_head_without_enough_positives_is_skipped_and_counts_for_nothing():
    train = engagement(n_users=100, per_user=20).assign(y_share=0)
    train.loc[: MIN_POSITIVES - 2, "y_share"] = 1
    scorer, report = fit_heads(train.drop(columns=["y_like"]), FEATURES, FAST, seed=0)
    assert "share" not in scorer.heads and report["share"]["skipped"].startswith(f"{MIN_POSITIVES - 1} positives")
    assert "like" not in scorer.heads and report["like"]["positives"] == 0
    assert report["click"]["trained"] and report["not_interested"]["trained"]


def test_heads_learn_from_a_sample_of_rows_and_stay_calibrated(trained):
    scorer, _, valid = trained
    sampled, report = fit_heads(engagement(), FEATURES, FAST, seed=0, weights=scorer.weights, head_rows=3000)
    assert set(sampled.heads) == set(scorer.heads)
    assert report["like"]["positives"] < 3000 * 0.2  # counted on the sample
    for name, p in sampled.probabilities(valid).items():
        assert abs(p.mean() - scorer.probabilities(valid)[name].mean()) < 0.03, name


def test_saved_heads_score_the_same_and_weights_come_from_the_caller(trained, tmp_path):
    scorer, _, valid = trained
    again, meta = load_scorer(save_scorer(scorer, {"features": FEATURES}, tmp_path / "ranker"), scorer.weights)
    assert meta["calibration"] == list(scorer.calibration)
    assert np.allclose(again.score(valid), scorer.score(valid))
    only_watch = again.with_weights({"watch": 1.0})
    assert np.allclose(only_watch.score(valid), again.probabilities(valid)["watch"])


def test_platt_scaling_recovers_a_logistic_relation():
    rng = np.random.default_rng(0)
    margin = rng.normal(size=20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(2.0 * margin - 1.0)))).astype(int)
    a, b = calibrate(margin, y)
    assert a == pytest.approx(2.0, abs=0.15) and b == pytest.approx(-1.0, abs=0.1)
    assert calibrate(margin, np.ones(20000, int)) == (1.0, 0.0)
