"""context_lifts: the lifts recover a built-in device x length effect, thin cells are shrunk, bands match the API's,
the week's part and the session's depth are the API's."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from spark_jobs import quality
from spark_jobs.features import context
from spark_jobs.features import gate as feature_quality
from vidrec import context as model
from vidrec.tables import CONTEXT_LIFTS, INTERACTIONS

pytestmark = pytest.mark.spark
DS = "2026-11-10"
T = dt.datetime(2026, 11, 11)
SHORT, LONG = 20_000, 900_000  # bands 0 and 3


def _rows(device: str, duration: int, fractions: list[float], hour: int = 20):
    ts = dt.datetime(2026, 11, 10, hour)  # on ds
    return [(f"{device}-{duration}-{i}-{hour}", "u", "v", "watch", ts, int(f * duration), duration, f, f, "home",
             "us", device, DS) for i, f in enumerate(fractions)]


def _lifts(spark, rows) -> dict:
    out = context.build_context_lifts(spark.createDataFrame(rows, INTERACTIONS.schema), DS)
    return {(r.dimension, r.value, r.band): r for r in out.collect()}


def test_lifts_recover_a_device_by_length_effect_and_shrink_thin_cells(spark):
    rows = (_rows("tv", LONG, [0.9] * 400) + _rows("tv", SHORT, [0.3] * 400)
            + _rows("android", LONG, [0.3] * 400) + _rows("android", SHORT, [0.9] * 400)
            + _rows("web", LONG, [1.0] * 3) + _rows("web", SHORT, [0.6, 0.6, 0.6, 2.6], hour=8))
    lifts = _lifts(spark, rows)
    tv_long, tv_short = lifts[("device", "tv", 3)].log_lift, lifts[("device", "tv", 0)].log_lift
    droid_long, droid_short = lifts[("device", "android", 3)].log_lift, lifts[("device", "android", 0)].log_lift
    assert tv_long > 0.2 and tv_short < -0.2 and droid_long < -0.2 and droid_short > 0.2
    assert abs(lifts[("device", "web", 3)].log_lift) < 0.05  # 3 watches: almost all prior
    assert lifts[("device", "tv", 3)].watches == 400 and lifts[("device", "tv", 3)].mean_fraction == pytest.approx(0.9)
    # a watch fraction above 1 (a replay) counts as 1; the daypart comes from the UTC hour
    assert lifts[("daypart", "morning", 0)].mean_fraction == pytest.approx(0.7)
    assert {k[1] for k in lifts if k[0] == "daypart"} == {"evening", "morning"}
    bad = [r for r in lifts.values() if not -model.MAX_ABS_LIFT <= r.log_lift <= model.MAX_ABS_LIFT]
    assert not bad and all(math.isfinite(r.log_lift) for r in lifts.values())


def test_weekpart_and_session_depth_are_those_the_api_computes(spark):
    # one user: a session of 6 watches 2 minutes apart (each watched 60 s), 40 minutes idle after the last one's
    # end, a new session of 2; Saturday 2026-11-07 and Tuesday 2026-11-10 (UTC)
    start, gaps = dt.datetime(2026, 11, 10, 9), [0, 2, 4, 6, 8, 10, 51, 53]
    watches = [(f"e{i}", "u", f"v{i}", "watch", start + dt.timedelta(minutes=m), 60_000, 120_000, 0.5, 0.5, "home",
                "us", None, DS) for i, m in enumerate(gaps)]
    saturday = [("s0", "w", "v0", "watch", dt.datetime(2026, 11, 7, 23, 59), 60_000, 120_000, 0.5, 0.5, "home", "us",
                 None, "2026-11-07")]
    lifts = _lifts(spark, watches + saturday)
    assert {k[1]: r.watches for k, r in lifts.items() if k[0] == "depth"} == {"first": 3, "early": 4, "deep": 2}
    assert [model.depth(n) for n in (0, 1, 3, 4, 50)] == ["first", "early", "early", "deep", "deep"]
    assert {k[1]: r.watches for k, r in lifts.items() if k[0] == "weekpart"} == {"weekday": 8, "weekend": 1}
    assert model.request_context(None, dt.datetime(2026, 11, 7, 23, 59, tzinfo=dt.timezone.utc))["weekpart"] == \
        "weekend"
    assert "device" not in {k[0] for k in lifts}  # no device said: no device cells


def test_the_spark_bands_are_the_api_bands(spark):
    edges = [d + e for d in model.EDGES_MS for e in (-1, 0, 1)] + [1, 5_000_000]
    rows = [r for d in edges for r in _rows("tv", d, [0.5])]
    df = spark.createDataFrame(rows, INTERACTIONS.schema).select("duration_ms", context.duration_band(
        context.F.col("duration_ms")).alias("band"))
    assert {r.duration_ms: r.band for r in df.collect()} == {d: model.band(d) for d in edges}


def test_the_gate_rules_catch_a_bad_lift_row(spark):
    good = {"dimension": "device", "value": "tv", "band": 1, "watches": 5, "mean_fraction": 0.5, "log_lift": 0.1,
            "event_ts": T, "ds": DS}
    bad = [{"dimension": "weather"}, {"band": 4}, {"watches": 0}, {"mean_fraction": 1.5}, {"log_lift": 3.0}]
    frame = spark.createDataFrame([tuple({**good, **b}[c] for c in CONTEXT_LIFTS.columns) for b in [{}, *bad]],
                                  CONTEXT_LIFTS.schema)
    report = quality.run_suite(frame, feature_quality.context_rules(DS), "ctx_bad")
    assert report["failures"] == {"unknown_dimension": 1, "band_out_of_range": 1, "no_watches": 1,
                                  "mean_fraction_out_of_range": 1, "log_lift_out_of_range": 1}
