"""The population stability index: zero for the same population, the textbook value for a known shift, missing
values and a few distinct values handled."""

from __future__ import annotations

import math

import numpy as np

from models.evaluation import drift


def test_psi_is_about_zero_for_the_same_population_and_grows_with_the_shift():
    rng = np.random.default_rng(3)
    train = rng.normal(0, 1, 20_000)
    assert drift.psi(train, rng.normal(0, 1, 20_000)) < 0.01
    small, large = drift.psi(train, rng.normal(0.3, 1, 20_000)), drift.psi(train, rng.normal(1.5, 1, 20_000))
    assert 0.05 < small < 0.2 < 1.0 < large


def test_psi_by_hand_on_a_feature_with_two_values_and_missing_ones():
    train = np.array([0.0] * 50 + [1.0] * 50)
    latest = np.array([0.0] * 25 + [1.0] * 50 + [np.nan] * 25)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0 + (0.25 - drift.EPSILON) * math.log(0.25 / drift.EPSILON)
    assert math.isclose(drift.psi(train, latest), expected, rel_tol=1e-9)


def test_the_report_warns_and_fails_at_its_thresholds():
    report = drift.drift_report({"a": 0.05, "b": 0.15, "c": 0.4}, max_psi=0.25)
    assert report["warned"] == ["b", "c"] and report["failed"] == ["c"]
