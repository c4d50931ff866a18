"""The `vidrec` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VIDREC = str(Path(sys.executable).parent / "vidrec")


def run(settings, *args, check=True):
    env = {**os.environ, **settings.as_env()}
    return subprocess.run([VIDREC, *args], env=env, capture_output=True, text=True, check=check, timeout=600)


def test_help_is_instant_and_imports_nothing_heavy():
    code = "import sys; from vidrec.ops import cli; print(' '.join(sys.modules))"
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not {"pyspark", "pandas", "deltalake", "great_expectations", "numpy", "pyarrow"} & mods


def test_unknown_setting_fails_with_a_clear_message(settings):
    env = {**os.environ, "VIDREC_NOPE": "1"}
    out = subprocess.run([VIDREC, "settings"], env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "VIDREC_NOPE" in out.stderr


@pytest.mark.spark
def test_ingest_prints_the_four_counts_and_lake_stats_agree(settings, tmp_path):
    from vidrec.sources import synthetic_events as sample
    sample.generate(settings.landing_dir, events=10_000, seed=3)
    counts = json.loads(run(settings, "ingest").stdout.strip().splitlines()[-1])
    assert counts["read"] == 10_000 == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    stats = json.loads(run(settings, "lake", "stats", "--json").stdout)
    assert stats["tables"]["events"]["rows"] == counts["accepted"]
    assert stats["tables"]["events_quarantine"]["rows"] == counts["quarantined"]
    assert stats["tables"]["events"]["version"] == 1


def test_run_rejects_a_bad_partition_date_before_starting_anything(settings):
    out = run(settings, "run", "build_trending", "--ds", "yesterday", check=False)
    assert out.returncode == 2 and "--ds must be a date like 2026-11-01" in out.stderr


def test_publish_status_without_redis_says_what_is_wrong(settings):
    from vidrec.ops import services
    s = settings.replace(redis_url=f"redis://127.0.0.1:{services.free_port()}/0")
    out = run(s, "publish", "status", check=False)
    assert out.returncode == 1 and f"cannot reach Redis at {s.redis_url}" in out.stderr


def test_eval_prints_a_table_and_json_for_any_csv(settings, tmp_path):
    rows = ["u,i,r"] + [f"a{u},{g}{i},5" for u in range(12) for g in ("x", "y") if (u % 2 == 0) == (g == "x")
                        for i in range(8)]
    data = tmp_path / "ratings.csv"
    data.write_text("\n".join(rows) + "\n")
    args = ["eval", "csv", "--path", str(data), "--user-col", "u", "--item-col", "i", "--k", "5"]
    table = run(settings, *args).stdout
    assert "| popularity |" in table and "| als |" in table and "| itemknn |" in table and "| two_stage |" in table
    result = json.loads(run(settings, *args, "--json").stdout.strip().splitlines()[-1])
    assert result["protocol"] == "msr" and result["k"] == 5
    assert set(result["recommenders"]) == {"popularity", "itemknn", "als", "two_stage"}
    assert 0 <= result["recommenders"]["als"]["ndcg@5"] <= 1
    assert 0 <= result["recommenders"]["two_stage"]["ndcg@5"] <= 1
    seeds = run(settings, *args, "--recommenders", "popularity", "--seeds", "1", "2").stdout
    assert "seeds [1, 2]: mean ± standard deviation" in seeds and " ± " in seeds.split("| popularity |")[1]


def test_eval_reads_a_catalog_csv_for_diversity_and_names_a_missing_column(settings, tmp_path):
    rows = ["u;i"] + [f"a{u};{g}{i}" for u in range(16) for g in ("x", "y") if (u % 2 == 0) == (g == "x")
                      for i in range(8)]
    data, catalog = tmp_path / "ratings.csv", tmp_path / "items.csv"
    data.write_text("\n".join(rows) + "\n")
    catalog.write_text("i;genre;author\n" + "\n".join(f"{g}{i};{g};c{i % 2}" for g in "xy" for i in range(8)) + "\n")
    args = ["eval", "csv", "--path", str(data), "--sep", ";", "--user-col", "u", "--item-col", "i", "--k", "4",
            "--recommenders", "popularity", "als", "--catalog", str(catalog), "--category-col", "genre"]
    result = json.loads(run(settings, *args, "--creator-col", "author", "--json").stdout.strip().splitlines()[-1])
    for name in ("popularity", "als"):
        assert 0 <= result["recommenders"][name]["category_diversity"] <= 1
        assert 0 < result["recommenders"][name]["creator_diversity"] <= 1  # 2 creators per genre
    out = run(settings, *args, check=False)  # --creator-col defaults to creator_id, not in this file
    assert out.returncode == 2 and "no column(s) ['creator_id']" in out.stderr and "author" in out.stderr


def test_eval_tune_prints_the_trials_and_writes_nothing_without_save(settings, tmp_path):
    from models.evaluation.harness import TUNED

    before = TUNED.read_text()
    rows = ["u,i"] + [f"a{u},{g}{i}" for u in range(16) for g in ("x", "y") if (u % 2 == 0) == (g == "x")
                      for i in range(8)]
    data = tmp_path / "ratings.csv"
    data.write_text("\n".join(rows) + "\n")
    out = run(settings, "eval", "csv", "--path", str(data), "--user-col", "u", "--item-col", "i", "--k", "5",
              "--tune", "--trials", "1", "--json").stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert [t["recommender"] for t in result["trials"]] == ["als", "two_stage"]
    assert set(result["params"]) == {"als", "two_stage"} and "test unused" in result["validation"]["how"]
    assert TUNED.read_text() == before


def test_eval_uses_the_parameters_file_of_the_nightly_and_save_replaces_that_file(settings, tmp_path):
    from models import parameters
    from models.evaluation.harness import TUNED

    rows = ["u,i"] + [f"a{u},{g}{i}" for u in range(16) for g in ("x", "y") if (u % 2 == 0) == (g == "x")
                      for i in range(8)]
    data, pinned = tmp_path / "ratings.csv", tmp_path / "pinned.json"
    data.write_text("\n".join(rows) + "\n")
    pinned.write_text(TUNED.read_text())
    args = ["eval", "csv", "--path", str(data), "--user-col", "u", "--item-col", "i", "--k", "5"]
    table = run(settings, *args, "--recommenders", "popularity").stdout
    assert f"parameters {TUNED} (sha256 {parameters.digest(TUNED)[:12]})" in table
    s = settings.replace(params_file=pinned)
    result = json.loads(run(s, *args, "--recommenders", "popularity", "--json").stdout.strip().splitlines()[-1])
    assert result["parameters"] == parameters.record(s) == {"path": str(pinned), "sha256": parameters.digest(TUNED)}
    shipped = TUNED.read_text()
    run(s, *args, "--tune", "--trials", "1", "--save")
    assert parameters.load(pinned)["chosen_by"].startswith("vidrec eval --tune --save on")
    assert TUNED.read_text() == shipped  # the shipped file is not the one in effect here: untouched
    own = tmp_path / "ratings-params.json"  # a data set's own file, with how it was chosen
    before = pinned.read_text()
    chosen = json.loads(run(s, *args, "--tune", "--trials", "1", "--save", str(own), "--json").stdout.splitlines()[-1])
    assert chosen["saved_to"] == str(own) and pinned.read_text() == before
    record = parameters.load(own)
    assert record["chosen_by"].startswith("vidrec eval --tune --save on ratings")
    assert record["params"] == chosen["params"]
    assert "test unused" in record["validation"]["how"]
    pinned.write_text('{"params": {}}')
    out = run(s, *args, "--recommenders", "popularity", check=False)
    assert out.returncode == 2 and f"parameters file {pinned} has no" in out.stderr
