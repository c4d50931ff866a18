"""What the batch jobs report to Prometheus: one text file per job in ``VIDREC_METRICS_DIR`` (data_dir/metrics).

Every `vidrec run <job>` and `vidrec ingest` rewrites ``vidrec_job_<job>.prom`` (written whole, then renamed: a
reader never sees half a file) with the run's duration, when it last succeeded or failed, the partition day it
ran for, and every count its result holds (rows, read, accepted, quarantined, keys, ...). Point node_exporter's
textfile collector at the folder (``--collector.textfile.directory``) and Prometheus scrapes them with the
machine's metrics; a failed run keeps the last success's figures and adds its failure time.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from pathlib import Path

from vidrec.settings import Settings


def _counts(result: dict) -> dict[str, float]:
    """The numeric top-level fields of a job's result (its counts and seconds), booleans left out."""
    return {k: float(v) for k, v in (result or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def write(settings: Settings, job: str, *, seconds: float, ok: bool, ds: str | None = None,
          result: dict | None = None) -> Path:
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
    from prometheus_client.parser import text_string_to_metric_families

    path = Path(settings.metrics_dir) / f"vidrec_job_{job}.prom"
    before = {}  # a failure keeps the last success's figures
    if path.exists():
        before = {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for f in text_string_to_metric_families(path.read_text()) for s in f.samples}
    registry, now = CollectorRegistry(), time.time()

    def gauge(name: str, text: str, value: float | None) -> None:
        if value is not None:
            Gauge(name, text, ["job"], registry=registry).labels(job).set(value)

    def kept(name: str) -> float | None:
        return before.get((name, (("job", job),)))

    gauge("vidrec_job_last_run_seconds", "Duration of the job's last run", seconds)
    gauge("vidrec_job_last_success_timestamp_seconds", "When the job last succeeded (Unix time)",
          now if ok else kept("vidrec_job_last_success_timestamp_seconds"))
    gauge("vidrec_job_last_failure_timestamp_seconds", "When the job last failed (Unix time)",
          kept("vidrec_job_last_failure_timestamp_seconds") if ok else now)
    if ok and ds:
        day = dt.datetime.fromisoformat(ds).replace(tzinfo=dt.timezone.utc).timestamp()
        gauge("vidrec_job_last_success_ds_timestamp_seconds", "The partition day of the last success", day)
    counts = _counts(result) if ok else {dict(labels)["field"]: v for (name, labels), v in before.items()
                                         if name == "vidrec_job_output"}
    if counts:
        g = Gauge("vidrec_job_output", "Counts of the job's last successful run, by field", ["job", "field"],
                  registry=registry)
        for field, value in counts.items():
            g.labels(job, field).set(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path


@contextmanager
def recorded(settings: Settings, job: str, ds: str | None = None):
    """Around one job: yields a dict to put the result in; writes the job's file on success and on failure."""
    started, out = time.perf_counter(), {}
    try:
        yield out
    except BaseException:
        write(settings, job, seconds=time.perf_counter() - started, ok=False, ds=ds)
        raise
    write(settings, job, seconds=time.perf_counter() - started, ok=True, ds=ds, result=out.get("result"))
