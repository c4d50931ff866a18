"""Experiments: the file's checks, and assignment by consistent hashing (deterministic, independent, on share)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidrec import experiments
from vidrec.experiments import ExperimentError


def declared(*arms, name="exp", salt="s1", **more) -> dict:
    return {"experiments": [{"name": name, "salt": salt, "arms": list(arms), **more}]}


def test_shares_hold_within_one_point_over_100k_users():
    (exp,) = experiments.parse(declared({"name": "a", "share": 0.1}, {"name": "b", "share": 0.3},
                                        {"name": "c", "share": 0.6}))
    counts = {"a": 0, "b": 0, "c": 0}
    for i in range(100_000):
        counts[exp.arm_of(f"u{i}").name] += 1
    assert abs(counts["a"] / 1e5 - 0.1) < 0.01 and abs(counts["b"] / 1e5 - 0.3) < 0.01
    assert abs(counts["c"] / 1e5 - 0.6) < 0.01


def test_assignment_is_stable_across_processes_and_independent_between_salts():
    doc = declared({"name": "a", "share": 0.5}, {"name": "b", "share": 0.5})
    (exp,) = experiments.parse(doc)
    here = [exp.arm_of(f"u{i}").name for i in range(200)]
    code = ("import json, sys; from vidrec import experiments; "
            "(e,) = experiments.parse(json.loads(sys.argv[1])); print(json.dumps([e.arm_of(f'u{i}').name "
            "for i in range(200)]))")
    there = json.loads(subprocess.run([sys.executable, "-c", code, json.dumps(doc)], capture_output=True,
                                      text=True, check=True, env={"PYTHONHASHSEED": "123"}).stdout)
    assert here == there  # a new process (another hash seed): the same arms
    (other,) = experiments.parse(declared({"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}, salt="s2"))
    both = sum(exp.arm_of(f"u{i}").name == other.arm_of(f"u{i}").name for i in range(20_000)) / 20_000
    assert abs(both - 0.5) < 0.02  # another salt: assigned independently


@pytest.mark.parametrize("doc, message", [
    ({"experiments": {}}, "expected"),
    (declared({"name": "a", "share": 0.5}), "add up to 1"),
    (declared({"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}), "unique"),
    (declared({"name": "a", "share": 0}), "share"),
    (declared({"name": "a", "share": 1, "policy": {"colour": 1}}), "policy"),
    (declared({"name": "a", "share": 1, "policy": {"creator_max_per_window": 1.5}}), "creator_max_per_window"),
    (declared({"name": "a", "share": 1}, surfaces=["search"]), "surfaces"),
    (declared({"name": "a", "share": 1}, salt="bad salt"), "salt"),
    ({"experiments": [declared({"name": "a", "share": 1})["experiments"][0]] * 2}, "unique"),
])
def test_a_wrong_file_is_refused_with_what_is_wrong(doc, message):
    with pytest.raises(ExperimentError, match=message):
        experiments.parse(doc)


def test_load_reads_the_file_and_names_it_in_errors(tmp_path):
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps(declared({"name": "a", "share": 1, "version": "2026-12-01-abc",
                                         "policy": {"exploration_share": 0.2}})))
    (exp,) = experiments.load(path)
    assert exp.arms[0].version == "2026-12-01-abc" and exp.arms[0].policy == {"exploration_share": 0.2}
    assert experiments.load("") == ()
    path.write_text("{")
    with pytest.raises(ExperimentError, match="experiments.json"):
        experiments.load(path)
