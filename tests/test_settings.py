from __future__ import annotations

import re
from pathlib import Path

import pytest

from vidrec.settings import Settings, describe

REPO = Path(__file__).resolve().parents[1]


def test_paths_default_under_data_dir_and_env_overrides_them(tmp_path):
    s = Settings.from_env({"VIDREC_DATA_DIR": str(tmp_path), "VIDREC_LANDING_DIR": str(tmp_path / "in"),
                           "VIDREC_SPARK_SHUFFLE_PARTITIONS": "8", "VIDREC_MAX_WATCH_RATIO": "2.5", "HOME": "/x"})
    assert s.lake_root == tmp_path / "lake" and s.landing_dir == tmp_path / "in"
    assert s.spark_shuffle_partitions == 8 and s.max_watch_ratio == 2.5


def test_unknown_variable_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="VIDREC_LAKE_ROT"):
        Settings.from_env({"VIDREC_LAKE_ROT": "/tmp/x"})


def test_badly_typed_values_are_errors():
    with pytest.raises(ValueError, match="VIDREC_SEED='many' is not a valid int"):
        Settings.from_env({"VIDREC_SEED": "many"})
    with pytest.raises(ValueError, match="DELTA_MODE"):
        Settings(delta_mode="sometimes")
    with pytest.raises(ValueError, match="VIDREC_COWATCH_METHOD must be ease or cosine"):
        Settings.from_env({"VIDREC_COWATCH_METHOD": "svd"})


def test_objective_weights_parse_and_name_what_is_wrong():
    weights = Settings.from_env({"VIDREC_OBJECTIVE_WEIGHTS": "watch=1, not_interested=-4"}).weights()
    assert weights == {"watch": 1.0, "click": 0.0, "like": 0.0, "share": 0.0, "not_interested": -4.0}
    for bad, says in (("watch=1,fun=2", "'fun=2' is not objective=number"), ("watch=lots", "'watch=lots'"),
                      ("watch=nan", "'watch=nan'"), ("like=0", "every weight is 0")):
        with pytest.raises(ValueError, match=f"VIDREC_OBJECTIVE_WEIGHTS: {says}"):
            Settings(objective_weights=bad)


def test_as_env_round_trips():
    s = Settings(data_dir=Path("/tmp/vr"), seed=7)
    assert Settings.from_env(s.as_env()) == s


def test_every_setting_is_documented_in_env_example_and_readme():
    names = {row[0] for row in describe()}
    example = set(re.findall(r"^#?\s*(VIDREC_[A-Z_]+)=", (REPO / ".env.example").read_text(), re.M))
    readme = set(re.findall(r"`(VIDREC_[A-Z_]+)`", (REPO / "README.md").read_text()))
    assert example == names
    assert names <= readme
