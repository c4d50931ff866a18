"""Data-quality rules and their Great Expectations suites.

Each rule is declared once and rendered two ways: as a Great Expectations expectation (GX validates the
whole batch and reports per-rule failure counts), and as a Spark condition that names the first rule a
row breaks (so bad rows go to quarantine with that reason, and good rows go on). A suite that cannot
fail is caught by tests that feed each rule a failing frame.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from vidrec.settings import Settings
from vidrec.tables import DURATION_MS, EVENT_TYPES, SURFACES, TS, WATCH_MS

SERVED_SURFACES = tuple(s for s in SURFACES if s != "search")  # the API's feeds

MALFORMED = "malformed_record"
MAX_WATCH_MS = "_max_watch_ms"  # derived: duration_ms * max_watch_ratio (null when the video is unknown)


class ValidationFailed(RuntimeError):
    """A Great Expectations gate failed: the stage stops and the last good output keeps serving."""


@dataclass(frozen=True)
class Rule:
    """One expectation: ``kind`` is not_null | in_set | between | a_ge_b. ``name`` is the quarantine reason."""

    name: str
    column: str
    kind: str
    params: dict = field(default_factory=dict)

    def failed(self):
        """Spark column: True where the row breaks this rule (nulls break only not_null rules)."""
        from pyspark.sql import functions as F

        c = F.col(self.column)
        if self.kind == "not_null":
            return c.isNull()
        if self.kind == "in_set":
            cond = ~c.isin(list(self.params["values"]))
        elif self.kind == "between":
            lo, hi = self.params.get("min"), self.params.get("max")
            parts = ([c < F.lit(lo)] if lo is not None else []) + ([c > F.lit(hi)] if hi is not None else [])
            cond = parts[0] if len(parts) == 1 else parts[0] | parts[1]
        elif self.kind == "a_ge_b":
            cond = c < F.col(self.params["other"])
        else:
            raise ValueError(f"unknown rule kind {self.kind!r}")
        return F.coalesce(cond, F.lit(False))

    def expectation(self):
        import great_expectations.expectations as gxe

        meta = {"rule": self.name}
        if self.kind == "not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=self.column, meta=meta)
        if self.kind == "in_set":
            return gxe.ExpectColumnValuesToBeInSet(column=self.column, value_set=list(self.params["values"]), meta=meta)
        if self.kind == "between":
            return gxe.ExpectColumnValuesToBeBetween(column=self.column, min_value=self.params.get("min"),
                                                     max_value=self.params.get("max"), meta=meta)
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=self.column, column_B=self.params["other"], or_equal=True,
            ignore_row_if="either_value_is_missing", meta=meta)


def _parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.timezone.utc).replace(tzinfo=None)


def event_rules(settings: Settings, now: dt.datetime) -> list[Rule]:
    """Rules for incoming events, in the order reasons are assigned. ``now`` bounds future timestamps.

    Expects the frame to carry ``duration_ms`` from the catalog (null: unknown video) and ``_max_watch_ms``.
    Timestamps compare as naive UTC (the Spark session runs in UTC).
    """
    latest = now.astimezone(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=settings.max_clock_skew_s)
    required = ["event_id", "user_id", "video_id", "event_type", TS]
    return [
        *[Rule(f"missing_{c}", c, "not_null") for c in required],
        Rule("unknown_event_type", "event_type", "in_set", {"values": EVENT_TYPES}),
        Rule("negative_watch_ms", WATCH_MS, "between", {"min": 0}),
        Rule("ts_out_of_bounds", TS, "between", {"min": _parse_ts(settings.min_event_ts), "max": latest}),
        Rule("unknown_video_id", DURATION_MS, "not_null"),
        Rule("watch_ms_beyond_duration", MAX_WATCH_MS, "a_ge_b", {"other": WATCH_MS}),
    ]


def video_rules() -> list[Rule]:
    return [Rule("missing_video_id", "video_id", "not_null"), Rule("missing_duration_ms", DURATION_MS, "not_null"),
            Rule("nonpositive_duration_ms", DURATION_MS, "between", {"min": 1})]


def user_rules() -> list[Rule]:
    return [Rule("missing_user_id", "user_id", "not_null")]


def served_rules() -> list[Rule]:
    """Rules for the served log's records (one per feed response); ``served_checks`` are those GX validates on
    the staged rows too (the video ids are exploded into rows by then)."""
    return [*served_checks(), Rule("missing_video_ids", "video_ids", "not_null")]


def served_checks() -> list[Rule]:
    return [Rule("missing_rec_id", "rec_id", "not_null"), Rule("missing_served_at", "served_at", "not_null"),
            Rule("unknown_surface", "surface", "in_set", {"values": SERVED_SURFACES})]


def interaction_rules(settings: Settings) -> list[Rule]:
    """The silver table's contract: checked before interactions are committed."""
    return [
        *[Rule(f"missing_{c}", c, "not_null") for c in ("event_id", "user_id", "video_id", "ts", "weight", "ds")],
        Rule("unknown_event_type", "event_type", "in_set", {"values": EVENT_TYPES}),
        Rule("watch_fraction_out_of_range", "watch_fraction", "between", {"min": 0.0, "max": settings.max_watch_ratio}),
    ]


def first_failed_rule(rules: list[Rule]):
    """Spark column: the name of the first rule the row breaks, or null for a good row."""
    from pyspark.sql import functions as F

    return F.coalesce(*[F.when(r.failed(), F.lit(r.name)) for r in rules])


def run_suite(df, rules: list[Rule], suite_name: str, result_format: str = "BASIC") -> dict:
    """Validate a Spark (or pandas) DataFrame with a GX suite built from ``rules``.

    Returns {"success", "evaluated", "failures": {rule: unexpected_count}}; with result_format
    "BOOLEAN_ONLY" (faster: no counts) the counts are None. Nothing is raised here.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    pandas = type(df).__module__.startswith("pandas")
    source = ctx.data_sources.add_pandas(suite_name) if pandas else ctx.data_sources.add_spark(suite_name)
    asset = source.add_dataframe_asset(suite_name)
    batch_def = asset.add_batch_definition_whole_dataframe(suite_name)
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name, expectations=[r.expectation() for r in rules]))
    definition = ctx.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite))
    result = definition.run(batch_parameters={"dataframe": df}, result_format=result_format)
    failures = {}
    for r in result.results:
        if not r.success:
            rule = r.expectation_config.meta.get("rule", r.expectation_config.type)
            count = (r.result or {}).get("unexpected_count")
            failures[rule] = None if count is None else int(count)
            if r.exception_info and r.exception_info.get("raised_exception"):
                failures[rule] = f"error: {r.exception_info.get('exception_message')}"
    return {"suite": suite_name, "success": bool(result.success), "evaluated": len(result.results),
            "failures": failures}


def validate_or_raise(df, rules: list[Rule], suite_name: str, result_format: str = "BASIC") -> dict:
    """A gate: raise ValidationFailed when any expectation fails."""
    report = run_suite(df, rules, suite_name, result_format)
    if not report["success"]:
        raise ValidationFailed(f"{suite_name} failed: {report['failures']}")
    return report
