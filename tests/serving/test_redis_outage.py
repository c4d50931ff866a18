"""Redis killed while the real API (a uvicorn process) is under a bounded load: no 5xx, answers marked degraded,
and once Redis is back (from its append-only file) the same API serves the published lists again, no restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from vidrec import api_keys
from vidrec.ops import services

pytestmark = pytest.mark.redis
CONNECTIONS = 8


async def load(base: str, key: str, seconds: float, during=None) -> list[tuple[float, int, bool | None]]:
    """CONNECTIONS clients asking for home feeds for ``seconds``; ``during`` runs once, a third of the way in."""
    answers, stop = [], time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=5) as client:
        async def user(i: int) -> None:
            while time.monotonic() < stop:
                r = await client.get("/api/v1/recommendations/home", params={"user_id": f"u{1 + i % 2}"})
                degraded = r.json().get("degraded") if r.status_code == 200 else None
                answers.append((time.monotonic(), r.status_code, degraded))

        async def interrupt() -> None:
            await asyncio.sleep(seconds / 3)
            during()

        await asyncio.gather(*(user(i) for i in range(CONNECTIONS)), *([interrupt()] if during else []))
    return answers


def test_redis_killed_under_load_gives_no_5xx_and_the_api_recovers_without_a_restart(settings, run, tmp_path):
    from models import publish

    port, api_port = services.free_port(), services.free_port()
    redis_dir = tmp_path / "redis"
    redis_proc = services.start_redis(port, redis_dir, persist=True)
    s = settings.replace(redis_url=f"redis://127.0.0.1:{port}/0", api_auth="keys")
    run.write(s)
    publish.run(s, run.DS)
    key = api_keys.add(s.api_keys_file, "load", "reader")
    redis_proc_ref = [redis_proc]
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "serving.app:create_app_from_env",
                            "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"],
                           env={**os.environ, **s.as_env()}, start_new_session=True)
    base = f"http://127.0.0.1:{api_port}"
    try:
        assert services.wait_until(lambda: httpx.get(base + "/readyz").status_code == 200, 60, interval_s=0.2,
                                   errors=(httpx.HTTPError,))
        killed_at = []

        def kill() -> None:
            killed_at.append(time.monotonic())
            redis_proc_ref[0].send_signal(signal.SIGKILL)
            redis_proc_ref[0].wait()

        answers = asyncio.run(load(base, key, 4.0, during=kill))
        assert answers and {code for _, code, _ in answers} == {200}  # not one 5xx, nor anything else
        before = [d for t, _, d in answers if t < killed_at[0]]
        after = [d for t, _, d in answers if t > killed_at[0] + 0.5]
        assert before and not any(before)
        assert after and all(after)  # Redis gone: every answer says degraded
        assert httpx.get(base + "/readyz").status_code == 503

        redis_proc_ref[0] = services.start_redis(port, redis_dir, persist=True)  # back, from its append-only file
        assert services.wait_until(lambda: httpx.get(base + "/readyz").status_code == 200, 10, interval_s=0.2)
        answers = asyncio.run(load(base, key, 1.0))
        assert {code for _, code, _ in answers} == {200} and not any(d for _, _, d in answers)
        home = httpx.get(base + "/api/v1/recommendations/home", params={"user_id": "u1", "count": "5"},
                         headers={"Authorization": f"Bearer {key}"}).json()
        assert [it["video_id"] for it in home["items"]] == run.HOME["u1"][:5]
    finally:
        api.terminate()
        api.wait(timeout=10)
        if redis_proc_ref[0].poll() is None:
            redis_proc_ref[0].terminate()
            redis_proc_ref[0].wait(timeout=10)
