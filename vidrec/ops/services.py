"""Local services for the demo: a private redis-server on loopback (`vidrec services up|down|status`), the
long-lived Spark Connect server the Spark jobs attach to when VIDREC_SPARK_REMOTE is a loopback URL, and the
long-lived Great Expectations server the ingest sends its frames to (VIDREC_GX_SOCKET).

Tests use ``start_redis`` too, on a free port of their own, so demo and tests run the same real server.
Also what every started child process needs: ``spawn`` (a background process with a pidfile),
``vidrec_command``/``child_env`` (how to run `vidrec` with these settings) and ``wait_until`` (poll until ready).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from spark_jobs import session
from vidrec.settings import Settings


def wait_until(probe: Callable[[], object], timeout_s: float, *, interval_s: float = 0.05,
               failed: Callable[[], object] | None = None,
               errors: tuple[type[BaseException], ...] = (OSError,)) -> bool:
    """Call ``probe`` every ``interval_s`` seconds until it returns something truthy: True, or False after ``timeout_s``.

    A probe that raises one of ``errors`` is not ready yet. ``failed`` is asked after each miss; when it
    returns something truthy (say, the process being waited for exited) the wait stops at once with False.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if probe():
                return True
        except errors:
            pass
        if failed is not None and failed():
            return False
        time.sleep(interval_s)
    return False


def venv_bin() -> Path:
    """The bin folder of the running interpreter's environment: where `airflow` and `vidrec` live."""
    return Path(sys.executable).parent


def vidrec_command() -> str:
    return str(venv_bin() / "vidrec")


def child_env(settings: Settings) -> dict:
    return {**os.environ, **settings.as_env()}


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if not path:
        raise RuntimeError("redis-server is not installed: run `make setup` (Debian: apt-get install redis-server)")
    return path


def ping(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something on host:port answers PING with PONG (plain RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(port: int, data_dir: Path, host: str = "127.0.0.1", wait_s: float = 10.0,
                persist: bool = False) -> subprocess.Popen:
    """Start a real redis-server on loopback, in its own process group, and wait for PONG (after it has loaded
    its data). ``persist``: an append-only file in ``data_dir``, fsynced every second (no snapshots), so a restart
    keeps what was written up to a second before a crash, and everything on a clean stop."""
    data_dir.mkdir(parents=True, exist_ok=True)
    durability = ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else ["--appendonly", "no"]
    cmd = [redis_binary(), "--port", str(port), "--bind", host, "--dir", str(data_dir), "--save", "", *durability,
           "--logfile", str(data_dir / "redis.log"), "--protected-mode", "yes"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    if wait_until(lambda: ping(host, port), wait_s, failed=lambda: proc.poll() is not None):
        return proc
    if proc.poll() is not None:
        raise RuntimeError(f"redis-server exited with {proc.returncode}; see {data_dir / 'redis.log'}")
    proc.kill()
    raise RuntimeError(f"redis-server did not answer on {host}:{port} within {wait_s}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _endpoint(settings: Settings) -> tuple[str, int]:
    url = urlparse(settings.redis_url)
    return url.hostname or "127.0.0.1", url.port or 6379


def _pidfile(settings: Settings, name: str) -> Path:
    return Path(settings.data_dir) / "run" / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def running_pid(settings: Settings, name: str) -> int | None:
    path = _pidfile(settings, name)
    if path.exists() and _alive(int(path.read_text())):
        return int(path.read_text())
    return None


def spawn(settings: Settings, name: str, cmd: list[str], env: dict | None = None) -> int:
    """Start a background process in its own session (so `down` stops its whole group); log to data_dir/run."""
    run_dir = Path(settings.data_dir) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _pidfile(settings, name).write_text(str(proc.pid))
    return proc.pid


def redis_up(settings: Settings) -> dict:
    host, port = _endpoint(settings)
    if host not in ("127.0.0.1", "localhost"):
        return {"redis": "external", "url": settings.redis_url}
    if ping(host, port):
        return {"redis": "running", "url": settings.redis_url, "started": False}
    proc = start_redis(port, settings.redis_dir, host="127.0.0.1", wait_s=300.0, persist=True)
    _pidfile(settings, "redis").parent.mkdir(parents=True, exist_ok=True)
    _pidfile(settings, "redis").write_text(str(proc.pid))
    return {"redis": "running", "url": settings.redis_url, "started": True, "pid": proc.pid}


def spark_connect_up(settings: Settings, wait_s: float = 180.0) -> dict:
    """Start the long-lived Spark Connect server of VIDREC_SPARK_REMOTE (``auto``: sc://127.0.0.1:15002) when it
    is a loopback URL nobody serves."""
    url = session.connect_url(settings)
    if not url:
        return {"spark_connect": "not configured (jobs start Spark in-process)"}
    host, port = session.connect_endpoint(url)
    if host not in ("127.0.0.1", "localhost"):
        return {"spark_connect": "external", "url": url}
    if wait_until(lambda: session.listening(url), 0.3):
        return {"spark_connect": "running", "url": url, "started": False}
    env = {**child_env(settings), "SPARK_LOCAL_IP": "127.0.0.1"}
    pid = spawn(settings, "spark-connect", session.connect_server_command(settings, "127.0.0.1", port), env=env)
    if not wait_until(lambda: session.listening(url), wait_s, interval_s=0.5, failed=lambda: not _alive(pid)):
        raise RuntimeError(f"the Spark Connect server did not listen on {host}:{port} within {wait_s:.0f}s; see "
                           f"{Path(settings.data_dir) / 'run' / 'spark-connect.log'}")
    return {"spark_connect": "running", "url": url, "started": True, "pid": pid}


def connect_server(settings: Settings) -> None:
    """The Spark Connect server of VIDREC_SPARK_REMOTE in the foreground, on all interfaces: a container's main
    process (docker-compose.yml's spark-connect). It never returns."""
    port = session.connect_endpoint(session.connect_url(settings))[1]
    cmd = session.connect_server_command(settings, "0.0.0.0", port)
    os.execv(cmd[0], cmd)


def gx_up(settings: Settings, wait_s: float = 120.0) -> dict:
    """Start the long-lived Great Expectations server on VIDREC_GX_SOCKET (spark_jobs.ingest.gx_process): each
    ingest then sends it its frames instead of importing GX (~6 s of CPU) in a helper of its own."""
    from spark_jobs.ingest import gx_process

    path = gx_process.socket_path(settings.gx_socket)
    if running_pid(settings, "gx") and gx_process.listening(path):
        return {"great_expectations": "running", "socket": str(path), "started": False}
    pid = spawn(settings, "gx", [sys.executable, "-m", "spark_jobs.ingest.gx_process", "--socket", str(path)],
                env=child_env(settings))
    if not wait_until(lambda: gx_process.listening(path), wait_s, interval_s=0.2, failed=lambda: not _alive(pid)):
        raise RuntimeError(f"the Great Expectations server did not listen on {path} within {wait_s:.0f}s; see "
                           f"{Path(settings.data_dir) / 'run' / 'gx.log'}")
    return {"great_expectations": "running", "socket": str(path), "started": True, "pid": pid}


def up(settings: Settings) -> dict:
    """redis-server (and, when it serves nothing while a gated run exists, that run published again: `vidrec
    publish restore`), the Spark Connect server, the GX server."""
    from vidrec.ops import versions

    redis, restored = redis_up(settings), None
    if redis["redis"] == "running":
        try:
            restored = versions.restore(settings)
        except Exception as exc:  # the services still come up; the API serves its fallbacks meanwhile
            restored = {"restored": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"redis": redis, "restore": restored, "spark_connect": spark_connect_up(settings),
            "great_expectations": gx_up(settings)}


def down(settings: Settings) -> dict:
    """Stop every process that vidrec started (redis-server, Spark Connect, GX server, API, Airflow), whole process
    groups."""
    stopped = {}
    run_dir = Path(settings.data_dir) / "run"
    for pidfile in sorted(run_dir.glob("*.pid")) if run_dir.exists() else []:
        pid = int(pidfile.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped[pidfile.stem] = "stopped"
        except ProcessLookupError:
            stopped[pidfile.stem] = "was not running"
        pidfile.unlink()
    return stopped or {"redis": "not started by vidrec"}


def status(settings: Settings) -> dict:
    host, port = _endpoint(settings)
    out = {"redis": "running" if ping(host, port) else "stopped", "url": settings.redis_url}
    url = session.connect_url(settings)
    if url:
        listening = wait_until(lambda: session.listening(url), 0.3)
        out["spark_connect"] = {"url": url, "state": "running" if listening else "stopped",
                                "jobs": f"attach to {url}" if listening or settings.spark_remote != session.AUTO
                                else "start Spark in-process (auto, no server)"}
    for name in ("gx", "api", "airflow"):
        if _pidfile(settings, name).exists():
            out[name] = "running" if running_pid(settings, name) else "stopped"
    return out
