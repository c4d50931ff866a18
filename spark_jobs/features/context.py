"""interactions (last 30 days) -> context_lifts: how much each request context changes the watching of each video
length, as of the end of ds (the model ``vidrec.context`` describes and the API applies).

For each context dimension (``vidrec.context.DIMENSIONS``: device; the UTC hour's daypart; weekday or weekend; the
watch's depth into its session), each of its values and each duration band (``vidrec.context.EDGES_MS``), over the
watch events of the window with a known video length:

- ``watches``: how many; ``mean_fraction``: their mean watch fraction, each capped at 1;
- ``log_lift`` = log(m_vb / (m_v x m_b / m)): m_vb the cell's mean, shrunk towards what independence predicts
  (m_v x m_b / m: the value's mean times the band's, over the overall mean) by PRIOR_WATCHES pseudo-watches,
  so a thin cell says little; clipped to +-``vidrec.context.MAX_ABS_LIFT``.

Only the interaction is kept: a device where everything is watched longer, or a band watched longer everywhere,
has lift 0. The ranker knows the band's own effect from the video's features, and a shift common to every
video of a list does not change its order.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.features.windows import EVENT_TS, MAX_WINDOW, as_of, conform, read_window, ts_literal, within
from spark_jobs.features.windows import write_partition
from vidrec.context import DAYPART_STARTS, DAYPARTS, DEPTH_STARTS, DEPTHS, DIMENSIONS, EDGES_MS, MAX_ABS_LIFT
from vidrec.context import SESSION_GAP_S, WEEKPART_STARTS, WEEKPARTS
from vidrec.settings import Settings
from vidrec.tables import CONTEXT_LIFTS, DS, DURATION_MS, EVENT_ID, EVENT_TYPE, TS, USER_ID, WATCH_FRACTION, WATCH_MS

PRIOR_WATCHES = 200.0


def _bucket(col: Column, starts, labels) -> Column:
    """labels[i] for the last start <= col (``starts`` ascending; col below the first: labels[0])."""
    out = F.lit(labels[0])
    for start, label in zip(starts[1:], labels[1:]):
        out = F.when(col >= F.lit(start), F.lit(label)).otherwise(out)
    return out


def duration_band(col: Column) -> Column:
    """``vidrec.context.band`` as a Spark expression (only for positive lengths)."""
    return _bucket(col, (0, *EDGES_MS), list(range(len(EDGES_MS) + 1)))


def session_number() -> Column:
    """Over watch events (each user's all there): the number of the watch's session among its user's (a session
    ends when ``vidrec.context.SESSION_GAP_S`` pass between a watch's end and the next watch's start)."""
    by_user = Window.partitionBy(USER_ID).orderBy(TS, EVENT_ID)
    start = F.unix_micros(F.col(TS))
    prev_end = F.lag(start + F.coalesce(F.col(WATCH_MS), F.lit(0)) * 1000).over(by_user)
    new = (prev_end.isNull() | (start - prev_end > F.lit(SESSION_GAP_S * 1_000_000))).cast("long")
    return F.sum(new).over(by_user.rowsBetween(Window.unboundedPreceding, Window.currentRow))


def build_context_lifts(interactions: DataFrame, ds: str) -> DataFrame:
    """interactions(INTERACTIONS) -> context_lifts(CONTEXT_LIFTS), the watch events of MAX_WINDOW days to ds."""
    at = as_of(ds)
    watches = (interactions.where((F.col(EVENT_TYPE) == "watch") & within(MAX_WINDOW, at))
               .withColumn("_session", session_number()))
    in_session = Window.partitionBy(USER_ID, "_session").orderBy(TS, EVENT_ID)
    watches = (watches.withColumn("_earlier", F.row_number().over(in_session) - 1)
               .where((F.col(DURATION_MS) > 0) & F.col(WATCH_FRACTION).isNotNull())
               .select(F.least(F.col(WATCH_FRACTION), F.lit(1.0)).alias("_y"),
                       duration_band(F.col(DURATION_MS)).alias("band"), F.col("device"),
                       _bucket(F.hour(TS), DAYPART_STARTS, DAYPARTS).alias("daypart"),
                       _bucket(F.weekday(TS), WEEKPART_STARTS, WEEKPARTS).alias("weekpart"),
                       _bucket(F.col("_earlier"), DEPTH_STARTS, DEPTHS).alias("depth")))
    by_dimension = [watches.where(F.col(d).isNotNull()).select(F.lit(d).alias("dimension"),
                                                               F.col(d).cast("string").alias("value"), "band", "_y")
                    for d in DIMENSIONS]
    cells = (reduce(DataFrame.unionByName, by_dimension).groupBy("dimension", "value", "band")
             .agg(F.count("_y").alias("watches"), F.sum("_y").alias("_sum")))
    return conform(_with_lifts(cells).withColumn(EVENT_TS, ts_literal(at)).withColumn(DS, F.lit(ds)), CONTEXT_LIFTS)


def _with_lifts(cells: DataFrame) -> DataFrame:
    """cells(dimension, value, band, watches, _sum) + mean_fraction and the shrunk, clipped log_lift."""
    def mean_over(*keys: str) -> Column:
        w = Window.partitionBy(*keys)
        return F.sum("_sum").over(w) / F.sum("watches").over(w)

    expected = mean_over("dimension", "value") * mean_over("dimension", "band") / mean_over("dimension")
    shrunk = (F.col("_sum") + F.lit(PRIOR_WATCHES) * expected) / (F.col("watches") + F.lit(PRIOR_WATCHES))
    lift = F.when(expected > 0, F.log(shrunk / expected)).otherwise(F.lit(0.0))
    return cells.select("dimension", "value", "band", "watches",
                        (F.col("_sum") / F.col("watches")).alias("mean_fraction"),
                        F.greatest(F.lit(-MAX_ABS_LIFT), F.least(F.lit(MAX_ABS_LIFT), lift)).alias("log_lift"))


def run(settings: Settings, ds: str) -> dict:
    """`vidrec run build_context --ds D`: replace partition D of context_lifts."""
    lake, interactions = read_window(settings, ds)
    return write_partition(lake, CONTEXT_LIFTS, build_context_lifts(interactions, ds), ds)
