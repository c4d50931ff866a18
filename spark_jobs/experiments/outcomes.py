"""served items x the events that name them (rec_id, position) -> per experiment and arm, the moments of each
user's sums, so the statistics (``spark_jobs.experiments.stats``) need only a few numbers per arm, whatever the
traffic.

Per served item: ``clicked`` (a click or a watch of it), ``watch_ms`` (summed over its watch events), ``liked``,
``not_interested`` (each 0 or 1). Per user (the unit of randomization): their sums and ``impressions`` (items
served). Per arm: ``users``, and for each metric x and y = impressions: sum x, sum x^2, sum x*y (ratio metrics
over users need the covariance with impressions: the delta method).
"""

from __future__ import annotations

from spark_jobs.lake import BaseLake
from vidrec.dates import days_ending, shift_ds
from vidrec.tables import DS, EVENTS, SERVED

METRICS = ("clicked", "watch_ms", "liked", "not_interested")
IMPRESSIONS = "impressions"


def item_outcomes(events):
    """(rec_id, position) -> what was done with that served item, from the events that carry both."""
    from pyspark.sql import functions as F

    kind = F.col("event_type")
    return (events.where(F.col("rec_id").isNotNull() & F.col("position").isNotNull())
            .groupBy("rec_id", "position")
            .agg(F.max(kind.isin("click", "watch").cast("long")).alias("clicked"),
                 F.sum(F.when(kind == "watch", F.col("watch_ms")).otherwise(0)).cast("long").alias("watch_ms"),
                 F.max((kind == "like").cast("long")).alias("liked"),
                 F.max((kind == "not_interested").cast("long")).alias("not_interested")))


def arm_moments(served, events):
    """(experiment, arm) -> users and the moments of each user's sums (module docstring)."""
    from pyspark.sql import functions as F

    items = (served.where(F.col("experiment").isNotNull() & F.col("user_id").isNotNull())
             .join(item_outcomes(events), ["rec_id", "position"], "left").fillna(0, list(METRICS)))
    per_user = items.groupBy("experiment", "arm", "user_id").agg(
        F.count(F.lit(1)).alias(IMPRESSIONS), *[F.sum(m).alias(m) for m in METRICS])
    y = F.col(IMPRESSIONS).cast("double")
    sums = [F.count(F.lit(1)).alias("users"), F.sum(y).alias("sum_impressions"),
            F.sum(y * y).alias("sq_impressions")]
    for m in METRICS:
        x = F.col(m).cast("double")
        sums += [F.sum(x).alias(f"sum_{m}"), F.sum(x * x).alias(f"sq_{m}"), F.sum(x * y).alias(f"xy_{m}")]
    return per_user.groupBy("experiment", "arm").agg(*sums)


def collect(lake: BaseLake, ds: str, days: int, experiment: str | None = None) -> dict[str, dict[str, dict]]:
    """{experiment: {arm: moments}} over the ``days`` days of served items ending at ``ds`` (events up to a day
    later: a video is watched after it was shown)."""
    from pyspark.sql import functions as F

    served_days = days_ending(ds, days)
    served = lake.read(SERVED, partitions={DS: served_days})
    if experiment is not None:
        served = served.where(F.col("experiment") == experiment)
    events = lake.read(EVENTS, partitions={DS: [*served_days, shift_ds(ds, 1)]})
    out: dict[str, dict[str, dict]] = {}
    for row in arm_moments(served, events).collect():
        out.setdefault(row["experiment"], {})[row["arm"]] = {k: v for k, v in row.asDict().items()
                                                             if k not in ("experiment", "arm")}
    return out
