"""The per-arm statistics of the experiment reports: the delta-method interval matches the exact one where they must
agree, a real difference is found and a null one is not, guardrails and sample-ratio mismatches are flagged."""

from __future__ import annotations

import math

import numpy as np

from spark_jobs.experiments import stats


def moments(impressions, clicked, watch_ms=None, liked=None, not_interested=None) -> dict:
    """An arm's moments (spark_jobs.experiments.outcomes.arm_moments) from per-user sums."""
    y = np.asarray(impressions, float)
    cols = {"clicked": clicked, "watch_ms": watch_ms, "liked": liked, "not_interested": not_interested}
    out = {"users": len(y), "sum_impressions": y.sum(), "sq_impressions": (y * y).sum()}
    for name, x in cols.items():
        x = np.zeros(len(y)) if x is None else np.asarray(x, float)
        out.update({f"sum_{name}": x.sum(), f"sq_{name}": (x * x).sum(), f"xy_{name}": (x * y).sum()})
    return out


def test_one_impression_per_user_gives_the_binomial_interval():
    rng = np.random.default_rng(1)
    clicks = rng.random(4000) < 0.3
    r, var = stats.ratio(moments(np.ones(4000), clicks), "ctr")
    p = clicks.mean()
    assert r == p and math.isclose(var, p * (1 - p) / 3999, rel_tol=1e-9)  # sample variance / n


def test_a_real_lift_is_significant_and_no_lift_is_not():
    rng = np.random.default_rng(2)
    imp = rng.integers(5, 15, 3000)
    base = moments(imp, rng.binomial(imp, 0.20), watch_ms=rng.binomial(imp, 0.2) * 10_000)
    same = moments(imp, rng.binomial(imp, 0.20), watch_ms=rng.binomial(imp, 0.2) * 10_000)
    better = moments(imp, rng.binomial(imp, 0.23), watch_ms=rng.binomial(imp, 0.25) * 10_000,
                     not_interested=rng.binomial(imp, 0.05))
    result = stats.compare({"control": base, "same": same, "better": better})
    assert not result["arms"]["same"]["metrics"]["ctr"]["significant"]
    ctr = result["arms"]["better"]["metrics"]["ctr"]
    assert ctr["significant"] and 0.10 < ctr["lift"] < 0.20 and ctr["low"] < ctr["value"] < ctr["high"]
    # more not-interested (control has none): the guardrail fails for "better" only
    assert [g["metric"] for g in result["guardrails"] if g["arm"] == "better"] == ["not_interested_rate"]


def test_a_sample_ratio_mismatch_is_flagged():
    arm = moments(np.ones(1000), np.zeros(1000))
    bigger = moments(np.ones(1200), np.zeros(1200))
    assert stats.compare({"control": arm, "b": bigger}, {"control": 0.5, "b": 0.5})["srm"]["mismatch"]
    assert not stats.compare({"control": arm, "b": arm}, {"control": 0.5, "b": 0.5})["srm"]["mismatch"]
