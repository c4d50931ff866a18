"""The one parameters file (models.parameters): which file, its digest, and that the nightly's parameter
classes and `vidrec eval` read the same one."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from models import parameters
from models.evaluation import harness, tuning
from models.ranking.ranker import RankerParams
from models.retrieval.als import AlsParams
from models.retrieval.params import CandidateParams
from vidrec.settings import Settings


def params_file(path, **two_stage) -> dict:
    """A parameters file at ``path``: the shipped one with ``two_stage`` sections replaced."""
    record = json.loads(parameters.SHIPPED.read_text())
    record["params"]["two_stage"].update(two_stage)
    parameters.write(record, path)
    return record


def test_resolution_order_env_then_weekly_file_then_shipped(settings, tmp_path):
    assert parameters.resolve(settings) == parameters.SHIPPED
    weekly = parameters.tuned_path(settings)
    assert weekly == settings.artifact_root / "params" / "two_stage.json"
    params_file(weekly, per_user=77)
    assert parameters.resolve(settings) == weekly and parameters.two_stage(settings)["per_user"] == 77
    pinned = tmp_path / "pinned.json"
    params_file(pinned, per_user=11)
    from_env = Settings.from_env({"VIDREC_DATA_DIR": str(settings.data_dir), "VIDREC_PARAMS_FILE": str(pinned)})
    assert from_env.artifact_root == settings.artifact_root and parameters.resolve(from_env) == pinned
    assert parameters.resolve(settings.replace(params_file=pinned)) == pinned
    assert Settings.from_env(from_env.as_env()) == from_env and Settings.from_env(settings.as_env()) == settings


def test_the_digest_is_the_sha256_of_the_file_in_effect(settings):
    assert parameters.record(settings) == {"path": str(parameters.SHIPPED),
                                           "sha256": hashlib.sha256(parameters.SHIPPED.read_bytes()).hexdigest()}
    params_file(parameters.tuned_path(settings), per_user=12)
    weekly = parameters.record(settings)
    assert weekly["path"] == str(parameters.tuned_path(settings))
    assert weekly["sha256"] == hashlib.sha256(parameters.tuned_path(settings).read_bytes()).hexdigest()
    assert weekly["sha256"] != parameters.digest(parameters.SHIPPED)


def test_a_missing_or_malformed_file_is_an_error_naming_its_path(settings, tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(parameters.ParamsFileError, match=f"{missing} does not exist"):
        AlsParams.from_settings(settings.replace(params_file=missing))
    broken = tmp_path / "broken.json"
    broken.write_text('{"params": ')
    with pytest.raises(parameters.ParamsFileError, match=f"{broken} is not readable JSON"):
        parameters.record(settings.replace(params_file=broken))
    broken.write_text('{"params": {"als": {}}}')
    with pytest.raises(parameters.ParamsFileError, match="two_stage"):
        CandidateParams.from_settings(settings.replace(params_file=broken))
    params_file(broken, ranker={"n_estimators": 5, "max_dept": 3})
    with pytest.raises(parameters.ParamsFileError, match=r"\['max_dept'\] for RankerParams"):
        RankerParams.from_settings(settings.replace(params_file=broken))


def test_the_nightly_parameters_come_from_the_file_and_only_set_settings_override_it(settings, tmp_path):
    path = tmp_path / "p.json"
    params_file(path, als={"factors": 5, "regularization": 3.0, "alpha": 4.0, "iterations": 7},
                candidates={"cowatch_neighbours": 9, "recent_videos": 8, "cowatch_method": "ease"},
                ranker={"n_estimators": 11, "max_depth": 2}, per_user=33, negatives_per_user=4)
    s = settings.replace(params_file=path)
    als = AlsParams.from_settings(s)
    assert (als.factors, als.regularization, als.alpha, als.iterations) == (5, 3.0, 4.0, 7)
    assert AlsParams.from_settings(s.replace(als_factors=9)).factors == 9            # VIDREC_ALS_FACTORS set
    assert AlsParams.from_settings(s, factors=2, lookback_days=3).lookback_days == 3  # explicit keywords win
    cands = CandidateParams.from_settings(s)
    assert (cands.cowatch_neighbours, cands.recent_videos, cands.cowatch_method) == (9, 8, "ease")
    assert CandidateParams.from_settings(s.replace(cowatch_method="cosine")).cowatch_method == "cosine"
    assert (RankerParams.from_settings(s).n_estimators, RankerParams.from_settings(s).max_depth) == (11, 2)
    assert RankerParams.from_settings(s, n_estimators=3).n_estimators == 3
    assert parameters.per_user(s) == 33 and parameters.per_user(s.replace(candidates_per_user=300)) == 300
    assert parameters.negatives_per_user(s) == 4
    params_file(path, negatives_per_user=None)
    assert parameters.negatives_per_user(s) is None  # null in the file: keep every negative
    assert parameters.negative_sampling(s) == "uniform"  # the default when the file does not say
    params_file(path, negative_sampling="popularity")
    assert parameters.negative_sampling(s) == "popularity"
    params_file(path, negative_sampling="newest")
    with pytest.raises(parameters.ParamsFileError, match="negative_sampling must be"):
        parameters.negative_sampling(s)


def test_vidrec_eval_and_the_nightly_read_the_same_file(settings):
    assert harness.tuned_params(settings=settings) == parameters.params(settings)
    params_file(parameters.tuned_path(settings), per_user=21, ranker={"n_estimators": 13})
    assert harness.tuned_params(settings=settings)["two_stage"]["per_user"] == 21
    assert harness.tuned_params(settings=settings)["two_stage"]["ranker"] == {"n_estimators": 13}
    assert RankerParams.from_settings(settings).n_estimators == 13


def test_tuning_stays_within_the_caps(settings):
    current = json.loads(parameters.SHIPPED.read_text())["params"]
    over = tuning.with_overrides(current, {f"two_stage.{key}": 5000 for key in tuning.CAPS})
    capped = tuning.capped(over)["two_stage"]
    assert {key: tuning.get_dotted(capped, key) for key in tuning.CAPS} == tuning.CAPS
    assert tuning.capped(current) == current  # the shipped file is within the caps
    tries = tuning.around(over, 5, np.random.default_rng(1), changes=2)
    assert tries[0] is over and len(tries) == 6
    assert len({json.dumps(t, sort_keys=True) for t in tries}) == 6
    for variant in tries[1:]:
        for key, cap in tuning.CAPS.items():
            assert tuning.get_dotted(variant["two_stage"], key) <= cap
        assert variant["als"] == over["als"]  # only the nightly's section is varied
