"""Great Expectations over a staged batch, without another pass over the whole batch.

The classifier evaluates the same rules as the suites, row by row (``tests/spark_jobs/test_quality.py``
checks, rule by rule, that a rule's Spark condition and its expectation agree), so every row that breaks
an event rule is staged as ``rejected`` and every accepted row whose silver row breaks the silver contract
as ``unfit``. What GX would find on the whole batch is therefore found on those rows alone:

- exact failure counts per rule (what GX reports as ``unexpected_count``): one Spark aggregate over the
  failing rows; no job at all when there are none;
- GX itself validates a bounded frame: up to ``WITNESSES`` failing rows per rule that has failures, plus
  ``SAMPLE_ROWS`` accepted rows read from the staged files. A rule fails on this frame exactly when it
  fails on the batch; the sample catches a rule that would wrongly pass or fail good rows. Any difference
  between GX's verdicts and the counts is reported (and fails the silver gate).

The frame is bounded whatever the batch size, so GX runs on pandas (its Spark engine costs seconds of
jobs per suite even on small frames), in a helper process (spark_jobs.ingest.gx_process).
"""

from __future__ import annotations

import logging
from functools import reduce
from pathlib import Path

from spark_jobs import quality
from spark_jobs.ingest import gx_process
from spark_jobs.ingest.classify import ACCEPTED, REASON, REJECTED, UNFIT, with_max_watch
from spark_jobs.ingest.staging import outcome_dir, read_outcome, rejected_ddl
from vidrec.tables import EVENT_FIELDS, INTERACTIONS, SERVED_FIELDS, arrow_schema

log = logging.getLogger("vidrec.ingest")
SAMPLE_ROWS = 10_000  # accepted rows validated beside the failing ones
WITNESSES = 20  # failing rows per failed rule handed to GX
STAGED_EVENT_DDL = rejected_ddl(EVENT_FIELDS, "ds string", "duration_ms long")
SERVED_CHECKED_DDL = ("rec_id string, user_id string, experiment string, arm string, surface string, version string, "
                      "served_at timestamp")  # the columns a served record and its staged items share


def rule_failures(bad, rules: list[quality.Rule]) -> dict[str, int]:
    """Rows breaking each rule (not only the first broken), in one aggregate; rules without failures left out."""
    from pyspark.sql import functions as F

    row = bad.select(*[F.sum(r.failed().cast("long")).alias(f"r{i}") for i, r in enumerate(rules)]).first()
    return {r.name: int(row[f"r{i}"]) for i, r in enumerate(rules) if row[f"r{i}"]}


def _witnesses(bad, rules: list[quality.Rule], failed: dict[str, int]):
    """Up to WITNESSES rows for each failed rule, as Arrow (one Spark job)."""
    parts = [bad.where(r.failed()).limit(WITNESSES) for r in rules if r.name in failed]
    return reduce(lambda a, b: a.unionByName(b), parts).toArrow()


def _sample(root: Path, ddl: str):
    """The first SAMPLE_ROWS accepted rows, read from the staged files (no Spark job)."""
    import pyarrow as pa

    schema, parts, rows = arrow_schema(ddl), [], 0
    for batch in _batches(outcome_dir(root, ACCEPTED), schema.names):
        parts.append(pa.Table.from_batches([batch]).cast(schema))
        rows += batch.num_rows
        if rows >= SAMPLE_ROWS:
            break
    return pa.concat_tables(parts).slice(0, SAMPLE_ROWS) if parts else schema.empty_table()


def _batches(folder: Path, columns: list[str]):
    """The folder's rows batch by batch, decoded only as far as they are taken (a dataset's head decodes whole
    row groups, in parallel, to keep a few rows)."""
    import pyarrow.parquet as pq

    for path in sorted(folder.glob("*.parquet")):
        yield from pq.ParquetFile(path).iter_batches(SAMPLE_ROWS, columns=columns, use_threads=False)


def _frame(tables, ddl: str):
    """Arrow tables -> one pandas frame; timestamps as naive UTC (what the rules compare with)."""
    import pyarrow as pa

    schema = arrow_schema(ddl)
    table = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("us")))
    return table.to_pandas()


def _report(bad, root: Path, ddl: str, rules: list[quality.Rule], name: str, failing: int, prepare=None) -> dict:
    """GX on the witnesses of ``bad`` (the staged failing rows) and the sample, with the exact counts."""
    failed = rule_failures(bad, rules) if failing else {}
    tables = [_sample(root, ddl)] + ([_witnesses(bad, rules, failed)] if failed else [])
    frame = _frame(tables, ddl)
    report = gx_process.run_suite(prepare(frame) if prepare else frame, rules, name)
    if set(report["failures"]) != set(failed):
        report["disagreements"] = sorted(set(report["failures"]) ^ set(failed))
        log.warning("%s: GX and the classifier disagree on %s", name, report["disagreements"])
    report["failures"] = {rule: failed.get(rule, report["failures"][rule]) for rule in report["failures"]}
    report["checked"] = {"failing": sum(t.num_rows for t in tables[1:]), "sample": tables[0].num_rows}
    return report


def check_events(spark, root: Path, rules: list[quality.Rule], max_watch_ratio: float, rejected: int) -> dict:
    """The events suite for the batch staged under ``root`` (malformed lines aside: they have no fields)."""
    from pyspark.sql import functions as F

    bad = read_outcome(spark, root, REJECTED, STAGED_EVENT_DDL).where(F.col(REASON) != F.lit(quality.MALFORMED))
    return _report(with_max_watch(bad, max_watch_ratio), root, STAGED_EVENT_DDL, rules, "events_batch", rejected,
                   lambda f: f.assign(**{quality.MAX_WATCH_MS: f["duration_ms"] * max_watch_ratio}))


def check_interactions(spark, root: Path, rules: list[quality.Rule], unfit: int) -> dict:
    """The silver gate: raises ValidationFailed when a rule fails, or when GX and the classifier disagree."""
    bad = read_outcome(spark, root, UNFIT, INTERACTIONS.schema)
    report = _report(bad, root, INTERACTIONS.schema, rules, "interactions_batch", unfit)
    if unfit or not report["success"] or report.get("disagreements"):
        raise quality.ValidationFailed(f"interactions_batch failed ({unfit} unfit rows): {report['failures']}, "
                                       f"disagreements {report.get('disagreements', [])}")
    return report


def check_served(spark, root: Path, rejected: int) -> dict:
    """The served suite for the batch's served records staged under ``root`` (their items: the sample)."""
    from pyspark.sql import functions as F

    bad = read_outcome(spark, root, REJECTED, rejected_ddl(SERVED_FIELDS)).where(
        F.col(REASON) != F.lit(quality.MALFORMED))
    return _report(bad, root, SERVED_CHECKED_DDL, quality.served_checks(), "served_batch", rejected)
