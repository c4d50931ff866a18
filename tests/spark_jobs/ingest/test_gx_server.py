"""The long-lived Great Expectations server of `vidrec services up`: a real server process on a Unix socket,
answering what GX answers in-process, reporting errors without dying, and used by the ingest when it listens."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from spark_jobs import quality
from spark_jobs.ingest import gx_process
from vidrec.ops import services

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)


@pytest.fixture
def gx_server(settings):
    gx_process.stop()  # this process's helper, if an earlier test started one
    up = services.gx_up(settings)
    yield up
    gx_process.stop()
    services.down(settings)


def events_frame(n_bad: int) -> pd.DataFrame:
    rows = [{"event_id": f"e{i}", "user_id": f"u{i % 3}", "video_id": "v1",
             "event_type": "bogus" if i < n_bad else "watch", "watch_ms": 30_000, "duration_ms": 60_000,
             "ts": T0.replace(tzinfo=None), quality.MAX_WATCH_MS: 1_200_000} for i in range(20)]
    return pd.DataFrame(rows)  # timestamps as naive UTC, as the ingest hands them over


def test_the_server_answers_what_gx_answers_in_process(settings, gx_server):
    path = Path(gx_server["socket"])
    assert gx_server["started"] and stat.S_IMODE(os.stat(path).st_mode) == 0o600  # the owner's only
    assert services.gx_up(settings)["started"] is False and services.status(settings)["gx"] == "running"
    assert gx_process.start(settings.gx_socket) == "server"
    rules = quality.event_rules(settings, T0 + dt.timedelta(hours=1))
    remote = gx_process.run_suite(events_frame(4), rules, "remote")
    assert remote["failures"] == {"unknown_event_type": 4} and remote["success"] is False
    local = quality.run_suite(events_frame(4), rules, "remote")
    assert remote == local
    assert gx_process.run_suite(events_frame(0), rules, "clean")["success"] is True


def test_an_error_in_the_server_is_raised_here_and_the_server_goes_on(settings, gx_server):
    assert gx_process.start(settings.gx_socket) == "server"
    with pytest.raises(RuntimeError, match="Great Expectations failed in the server: AttributeError"):
        gx_process.run_suite(events_frame(1), [None], "broken")
    rules = quality.event_rules(settings, T0 + dt.timedelta(hours=1))
    assert gx_process.run_suite(events_frame(1), rules, "after")["failures"] == {"unknown_event_type": 1}


def test_without_a_server_the_ingest_uses_a_helper_of_its_own(settings):
    gx_process.stop()
    assert not gx_process.socket_path(settings.gx_socket).exists()
    try:
        assert gx_process.start(settings.gx_socket) == "helper"
        rules = quality.event_rules(settings, T0 + dt.timedelta(hours=1))
        assert gx_process.run_suite(events_frame(2), rules, "helper")["failures"] == {"unknown_event_type": 2}
    finally:
        gx_process.stop()


def test_a_socket_path_too_long_for_unix_gets_a_short_stable_name(tmp_path):
    long = tmp_path / ("d" * 120) / "gx.sock"
    short = gx_process.socket_path(long)
    assert len(os.fsencode(short)) < 100 and short == gx_process.socket_path(long)
    assert short != gx_process.socket_path(tmp_path / ("e" * 120) / "gx.sock")
    assert gx_process.socket_path(tmp_path / "gx.sock") == (tmp_path / "gx.sock").resolve()
