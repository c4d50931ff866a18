"""The model jobs end to end on a tiny real Delta lake: train_als -> ... -> rank -> evaluate, artifacts checked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models import manifest, parameters
from models.evaluation import gate as evaluate
from models.ranking import objectives, rank, ranker, training_set
from models.ranking.rerank import creator_window_ok
from models.retrieval import als, ann_index, candidates
from vidrec.settings import OBJECTIVES

DS = "2026-11-07"


def test_jobs_end_to_end_write_consistent_artifacts(settings, world_big, write_lake):
    settings = settings.replace(topn=10, candidates_per_user=40, als_factors=4, als_iterations=8, active_days=7)
    write_lake(settings, *world_big)
    params = training_set.TrainingSetParams(label_days=2, negatives_per_user=10, features="none")
    summary = training_set.run(settings, DS, params)
    assert summary["feature_source"] == "none" and summary["train"] > 0 and summary["valid"] > 0
    assert als.run(settings, DS)["users"] > 0
    assert ann_index.run(settings, DS)["recall@100"] == 1.0
    cands = candidates.run(settings, DS)
    assert cands["users"] > 0 and cands["candidates"] <= 40 * cands["users"]
    trained = objectives.run(settings, DS)
    assert trained["auc"] is not None and trained["objectives"]["watch"]["auc"] is not None
    ranked = rank.run(settings, DS)
    result = evaluate.run(settings, DS)
    assert result["gate"]["passed"] and result["ndcg@10"] > result["popularity"]["ndcg@10"]
    for measured in (result, result["popularity"], result["retrieval"]):  # the product's objectives, on the holdout
        assert {"composite_ndcg@10", "like@10", "not_interested@10"} <= set(measured)
    assert result["composite_ndcg@10"] > result["popularity"]["composite_ndcg@10"]
    assert result["previous"] is None and "no context lifts" in result["context"]["note"]  # none built
    assert result["gate"]["notes"][0].startswith("bootstrap:")  # the tiny holdout is below min_users

    out = settings.artifact_root / "runs" / DS
    m = manifest.read_manifest(settings, DS)
    assert set(m["jobs"]) == {"build_training_set", "train_als", "build_index", "build_candidates", "train_ranker",
                              "rank", "evaluate"}
    assert m["jobs"]["train_als"]["inputs"]["interactions"] == 0 and m["params_digest"]
    heads = m["jobs"]["train_ranker"]["objectives"]  # per-objective AUC (or why a head was skipped), the weights
    assert set(heads) == set(OBJECTIVES) and heads["watch"]["auc"] > 0.5
    assert all(h["trained"] == ("skipped" not in h) for h in heads.values())
    assert m["jobs"]["train_ranker"]["weights"] == m["jobs"]["rank"]["weights"] == settings.weights()
    assert "composite_ndcg@10" in m["jobs"]["train_ranker"]["metrics"]
    used = parameters.record(settings)  # the file the run read, in every job's entry and in the run's
    assert used["path"] == str(parameters.SHIPPED) and m["parameters"] == used
    assert all(job["parameters"] == used for job in m["jobs"].values())
    assert (out / "evaluation.json").exists() and "popularity" in m["metrics"]
    assert m["gate"]["passed"] and m["context"] is None  # top level, where publish reads them

    home = pd.read_parquet(out / "lists" / "home.parquet")
    assert list(home.columns) == ["user_id", "rank", "video_id", "score", "reason", "source"]
    assert home.groupby("user_id").size().max() <= 10 + 50 and ranked["users"] == home["user_id"].nunique()
    assert home["reason"].str.len().gt(0).all()
    inter, videos, _ = world_big
    seen = inter[inter["event_type"].isin(["watch", "like", "share", "dislike", "not_interested"])]
    assert not set(zip(home["user_id"], home["video_id"])) & set(zip(seen["user_id"], seen["video_id"]))
    creators = home.merge(videos[["video_id", "creator_id"]], on="video_id").sort_values(["user_id", "rank"])
    assert all(creator_window_ok(g["creator_id"], settings.creator_max_per_window, settings.creator_window)
               for _, g in creators.groupby("user_id"))
    for name, key in (("related", "video_id"), ("trending", "region"), ("coldstart", "region"), ("category", "genre"),
                      ("fresh", "region")):
        frame = pd.read_parquet(out / "lists" / f"{name}.parquet")
        assert len(frame) and frame["reason"].notna().all()
        assert (frame.groupby(key)["rank"].min() == 1).all()
    cold = pd.read_parquet(out / "lists" / "coldstart.parquet")
    assert {"us", "de", "global"} <= set(cold["region"])
    genres = pd.read_parquet(out / "lists" / "category.parquet").merge(videos[["video_id", "category"]], on="video_id")
    assert (genres["genre"] == genres["category"]).all() and genres["genre"].nunique() > 1
    fresh = pd.read_parquet(out / "lists" / "fresh.parquet").merge(videos[["video_id", "upload_ts"]], on="video_id")
    assert "global" in set(fresh["region"]) and fresh["source"].isin(["fresh", "explore"]).all()
    days = candidates.CandidateParams.from_settings(settings).fresh_days
    assert (fresh["upload_ts"] > pd.Timestamp(DS, tz="UTC") - pd.Timedelta(days=days + 1)).all()
    assert np.isfinite(home["score"]).all()


def test_a_nightly_stage_reads_the_pinned_parameters_file_and_its_manifest_names_it(settings, world_big,
                                                                                      write_lake, tmp_path):
    """train_als on a small lake with VIDREC_PARAMS_FILE: the model has the file's ALS, the entry names the file."""
    import hashlib

    write_lake(settings, *world_big)
    record = json.loads(parameters.SHIPPED.read_text())
    record["params"]["two_stage"]["als"] = {"factors": 3, "regularization": 0.5, "alpha": 1.0, "iterations": 4}
    pinned = parameters.write(record, tmp_path / "pinned.json")
    settings = settings.replace(params_file=pinned, active_days=7)
    als.run(settings, DS)
    entry = manifest.read_manifest(settings, DS)["jobs"]["train_als"]
    assert entry["parameters"] == {"path": str(pinned), "sha256": hashlib.sha256(pinned.read_bytes()).hexdigest()}
    assert [entry["params"][k] for k in ("factors", "regularization", "alpha", "iterations")] == [3, 0.5, 1.0, 4]
    model, _ = als.load_als(settings.artifact_root / "runs" / DS / "als")
    assert model.item_factors.shape[1] == 3


def evaluated_with_yesterday_serving(settings, world_big, write_lake):
    """Today's run trained and evaluated, then copied as yesterday's run (the serving model, same ranker):
    (settings, eval params, today's metrics, runs folder)."""
    import shutil

    settings = settings.replace(topn=10, candidates_per_user=40, als_factors=4, als_iterations=8, active_days=7)
    write_lake(settings, *world_big)
    training_set.run(settings, DS, training_set.TrainingSetParams(label_days=2, negatives_per_user=10, features="none"))
    objectives.run(settings, DS)
    params = evaluate.EvalParams(min_users=10)
    metrics = evaluate.run(settings, DS, params)
    runs = settings.artifact_root / "runs"
    shutil.copytree(runs / DS, runs / "2026-11-06")
    return settings, params, metrics, runs


def test_candidates_and_ranking_in_chunks_of_users_give_the_lists_of_one_piece(settings, world_big, write_lake):
    """build_candidates and rank work a few users at a time, in forked workers (after ALS and XGBoost ran in
    this process): the candidates and the lists do not change."""
    settings = settings.replace(topn=10, candidates_per_user=40, als_factors=4, als_iterations=8, active_days=7,
                                workers=1)
    write_lake(settings, *world_big)
    training_set.run(settings, DS, training_set.TrainingSetParams(label_days=2, negatives_per_user=10,
                                                                   features="none"))
    als.run(settings, DS), ann_index.run(settings, DS), candidates.run(settings, DS), objectives.run(settings, DS)
    out = settings.artifact_root / "runs" / DS
    cands = pd.read_parquet(out / "candidates.parquet")
    assert cands["user_id"].is_monotonic_increasing and cands["user_id"].nunique() > 5
    forked = candidates.run(settings.replace(workers=3), DS, chunk_rows=100)  # chunks of a few users, forked
    pd.testing.assert_frame_equal(pd.read_parquet(out / "candidates.parquet"), cands)
    assert forked["users"] == cands["user_id"].nunique() and forked["candidates"] == len(cands)
    assert sum(forked["best_source"].values()) == len(cands)
    assert not (out / candidates.CANDIDATE_PARTS).exists()
    rank.run(settings, DS, rank.RankParams(chunk_rows=10**9))
    whole = pd.read_parquet(out / "lists" / "home.parquet")
    ranked = rank.run(settings.replace(workers=3), DS, rank.RankParams(chunk_rows=57))  # pieces end inside users
    pieces = pd.read_parquet(out / "lists" / "home.parquet")
    assert len(pieces) > 0 and pieces["user_id"].nunique() == cands["user_id"].nunique() == ranked["users"]
    pd.testing.assert_frame_equal(pieces, whole)
    assert ranked["home"] == len(whole) and sum(ranked["sources"].values()) == len(whole)
    assert not (out / "lists" / rank.HOME_PARTS).exists()


def test_evaluate_compares_with_the_serving_run_on_the_same_holdout(settings, world_big, write_lake):
    settings, params, first, runs = evaluated_with_yesterday_serving(settings, world_big, write_lake)
    again = evaluate.run(settings, DS, params)
    assert again["previous"]["ds"] == "2026-11-06" and again["previous"]["same_holdout"]
    assert again["previous"]["ndcg@10"] == pytest.approx(first["ndcg@10"])
    # a serving model that was better than today's beyond the tolerance blocks the new one
    (runs / "2026-11-06" / "ranker" / "ranker.json").write_text('{"features": ["no_such_feature"]}')
    evaluation = runs / "2026-11-06" / "evaluation.json"
    stored = json.loads(evaluation.read_text())
    stored["metrics"]["ndcg@10"] = first["ndcg@10"] * 1.5
    evaluation.write_text(json.dumps(stored))
    with pytest.raises(evaluate.GateFailed, match="below the serving model"):
        evaluate.run(settings, DS, params)
    with pytest.raises(evaluate.GateFailed, match="too little evidence"):
        evaluate.run(settings, DS)  # 50 users needed to replace a serving model; this holdout has fewer
    assert json.loads((runs / DS / "evaluation.json").read_text())["gate"]["passed"] is False
    assert manifest.read_manifest(settings, DS)["gate"]["passed"] is False


def test_gate_refuses_a_deliberately_worse_model_and_logs_its_numbers(settings, world_big, write_lake, caplog):
    """Today's ranker is trained on inverted labels (it learns to put engaged videos last); the serving
    run's ranker, re-measured on today's holdout, is better beyond the tolerance: evaluate refuses, logs
    both models' numbers, and the gate result that publish reads says failed."""
    import logging
    import shutil

    from models import io
    settings, params, good, runs = evaluated_with_yesterday_serving(settings, world_big, write_lake)  # serves

    rows = io.read_parquet(runs / DS / "training_set.parquet")
    train = rows[rows["split"] == "train"]
    features = ranker.feature_columns(rows)
    inverted = train.assign(label=(train["label"] == 0).astype("int8"))
    worse = ranker.fit_ranker(inverted, features, ranker.RankerParams(), seed=1)
    _, meta = ranker.load_ranker(runs / DS / "ranker")
    ranker.save_ranker(worse, meta, runs / DS / "ranker")
    shutil.rmtree(runs / DS / "ranker" / "heads")  # the worse model is the whole scorer: its watch head alone

    with caplog.at_level(logging.ERROR, logger="vidrec.evaluate"):
        with pytest.raises(evaluate.GateFailed, match="below the serving model"):
            evaluate.run(settings, DS, params)
    stored = json.loads((runs / DS / "evaluation.json").read_text())
    assert stored["gate"]["passed"] is False and manifest.read_manifest(settings, DS)["gate"]["passed"] is False
    assert stored["previous"]["ds"] == "2026-11-06" and stored["previous"]["same_holdout"]
    assert stored["previous"]["ndcg@10"] == pytest.approx(good["ndcg@10"])
    assert stored["metrics"]["ndcg@10"] < good["ndcg@10"] * (1 - params.tolerance)
    assert {"map", "hit_rate@10", "coverage", "mean_popularity", "category_diversity"} <= set(stored["metrics"])
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "model rejected, the serving model (2026-11-06) stays" in message
    assert f"{stored['metrics']['ndcg@10']}" in message
    from models import publish
    with pytest.raises(publish.PublishRefused, match="gate failed"):  # what `vidrec run publish` checks first
        publish.check_gate(manifest.read_manifest(settings, DS))


def test_psi_and_watch_time_lift_are_in_the_manifest_and_a_shifted_feature_fails_the_gate(settings, world_big,
                                                                                          write_lake):
    """PSI per ranker feature lands in the manifest; a feature moved far on the latest day fails the gate
    when a model serves (it stays), and is a note when nothing serves (the fallback is popularity)."""
    from models import io

    settings, _, _, runs = evaluated_with_yesterday_serving(settings, world_big, write_lake)
    m = manifest.read_manifest(settings, DS)
    assert m["drift"]["psi"] == {} and "rows (< 1000)" in m["drift"]["skipped"]  # a tiny day: PSI would be noise
    assert m["metrics"]["watch_time"] == {"model_ms_per_user": 0.0, "popularity_ms_per_user": 0.0, "lift": None}

    params = evaluate.EvalParams(min_users=10, drift_min_rows=10)  # measured on this tiny world all the same
    rows = io.read_parquet(runs / DS / "training_set.parquet")
    features = ranker.feature_columns(rows)
    shifted = "video_popularity" if "video_popularity" in features else features[0]
    latest = (rows["split"] == "valid") & (rows["label_ds"] == DS)  # the latest day's values moved far away
    rows.loc[latest, shifted] = rows.loc[latest, shifted] * 10 + 1000
    io.write_parquet(rows, runs / DS / "training_set.parquet")
    with pytest.raises(evaluate.GateFailed, match=f"feature drift: {shifted} has PSI"):
        evaluate.run(settings, DS, params)
    m = manifest.read_manifest(settings, DS)
    assert set(m["drift"]["psi"]) == set(features) and m["drift"]["max_psi"] == settings.drift_max_psi == 0.25
    assert m["gate"]["passed"] is False and shifted in m["drift"]["failed"] and m["drift"]["psi"][shifted] > 1

    import shutil
    shutil.rmtree(runs / "2026-11-06")  # nothing serves: the same drift is a note, and the run passes
    assert evaluate.run(settings, DS, params)["gate"]["passed"]
    notes = manifest.read_manifest(settings, DS)["gate"]["notes"]
    assert any(n.startswith(f"feature drift: {shifted} has PSI") and "nothing serving" in n for n in notes)
