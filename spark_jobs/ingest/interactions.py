"""events -> interactions (silver): one row per kept event, with watch fraction and a label weight."""

from __future__ import annotations

from vidrec.tables import EVENT_WEIGHTS, INTERACTIONS, WATCH_WEIGHT_CAP


def with_interaction_columns(events):
    """events(event fields, ds, duration_ms) plus watch_fraction and weight, every input column kept.

    watch_fraction = watch_ms / duration_ms (null when either is missing). weight is the event type's
    weight from vidrec.tables.EVENT_WEIGHTS; a watch weighs min(watch_fraction, WATCH_WEIGHT_CAP).
    """
    from pyspark.sql import functions as F

    fraction = F.when(F.col("duration_ms") > 0, F.col("watch_ms") / F.col("duration_ms"))
    weight = F.lit(None).cast("double")
    for event_type, w in EVENT_WEIGHTS.items():
        value = F.least(F.coalesce(fraction, F.lit(0.0)), F.lit(WATCH_WEIGHT_CAP)) if w is None else F.lit(float(w))
        weight = F.when(F.col("event_type") == event_type, value).otherwise(weight)
    return events.withColumn("watch_fraction", fraction).withColumn("weight", weight)


def to_interactions(events):
    """events(event fields, ds, duration_ms) -> interactions(INTERACTIONS.schema)."""
    return with_interaction_columns(events).select(*INTERACTIONS.columns)
