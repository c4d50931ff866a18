"""The batch jobs' Prometheus text files (vidrec.ops.job_metrics), written by real `vidrec run publish` runs
against the session's redis-server: duration, success and failure times, the partition day, the run's counts."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.redis


def vidrec_run(s, ds: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidrec.ops.cli", "run", "publish", "--ds", ds],
                          env={**os.environ, **s.as_env()}, capture_output=True, text=True, timeout=300)


def samples(s) -> dict:
    text = (s.metrics_dir / "vidrec_job_publish.prom").read_text()
    return {(x.name, tuple(sorted((k, v) for k, v in x.labels.items() if k != "job"))): x.value
            for family in text_string_to_metric_families(text) for x in family.samples}


def test_each_run_of_a_job_leaves_its_figures_for_prometheus(settings, redis_url, run):
    s = settings.replace(redis_url=redis_url)
    started = time.time()
    assert vidrec_run(s, "2026-10-01").returncode != 0  # no such run: refused
    failed = samples(s)
    assert failed[("vidrec_job_last_failure_timestamp_seconds", ())] >= started - 1
    assert ("vidrec_job_last_success_timestamp_seconds", ()) not in failed

    run.write(s)
    done = vidrec_run(s, run.DS)
    assert done.returncode == 0, done.stderr[-2000:]
    result, ok = json.loads(done.stdout.strip().splitlines()[-1]), samples(s)
    assert ok[("vidrec_job_output", (("field", "keys"),))] == result["keys"] > 0
    assert ok[("vidrec_job_last_success_timestamp_seconds", ())] >= failed[
        ("vidrec_job_last_failure_timestamp_seconds", ())]
    assert ok[("vidrec_job_last_success_ds_timestamp_seconds", ())] == dt.datetime.fromisoformat(
        run.DS).replace(tzinfo=dt.timezone.utc).timestamp()
    assert 0 < ok[("vidrec_job_last_run_seconds", ())] < 300

    assert vidrec_run(s, "2026-10-02").returncode != 0  # a later failure keeps the success's figures
    again = samples(s)
    assert again[("vidrec_job_output", (("field", "keys"),))] == result["keys"]
    assert again[("vidrec_job_last_success_timestamp_seconds", ())] == ok[
        ("vidrec_job_last_success_timestamp_seconds", ())]
    assert again[("vidrec_job_last_failure_timestamp_seconds", ())] > ok[
        ("vidrec_job_last_success_timestamp_seconds", ())]
