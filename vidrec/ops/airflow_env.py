"""Run Airflow against this project: its AIRFLOW_HOME, its dags/ folder and the same VIDREC_* settings.

Stdlib only. This module reads ``os.environ`` only to copy it into a child process's environment;
settings come from the ``Settings`` object it is given (VIDREC_* variables are rebuilt from it).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Mapping

from vidrec.ops import services
from vidrec.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
DB_CONN = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
API_PORT = "8080"  # never 8793/8794: those are Airflow's log servers (STACK.md)

# Airflow configuration owned by the project: these always win over the caller's environment.
AIRFLOW_CONFIG = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",  # the default 32 forks 32 workers of ~130 MB each
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # nothing runs until someone unpauses it
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",  # pick up new DAG files within a minute
    "AIRFLOW__API__PORT": API_PORT,
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{API_PORT}/execution/",
}

# Process-level defaults for tasks; the caller's environment may override them.
TASK_DEFAULTS = {
    "SPARK_LOCAL_IP": "127.0.0.1",
    "GX_ANALYTICS_ENABLED": "false",
    "OPENBLAS_NUM_THREADS": "1",
}


def sqlite_path(settings: Settings) -> Path:
    return Path(settings.airflow_home) / "airflow.db"


def airflow_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for an `airflow` process (and the tasks it runs) working on this project.

    ``base`` defaults to ``os.environ``. Its VIDREC_* variables are replaced by ``settings.as_env()``,
    so tasks see exactly these settings. The metadata DB is SQLite in AIRFLOW_HOME unless ``base``
    already names one (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``, as in docker-compose).
    """
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith(PREFIX)}
    env.update(settings.as_env())
    env.update(AIRFLOW_CONFIG)
    env["AIRFLOW_HOME"] = str(settings.airflow_home)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    env.setdefault(DB_CONN, f"sqlite:///{sqlite_path(settings)}")
    for key, value in TASK_DEFAULTS.items():
        env.setdefault(key, value)
    env["PATH"] = os.pathsep.join([str(services.venv_bin()), env.get("PATH") or os.defpath])
    return env


def airflow_command() -> list[str]:
    """The venv's `airflow` script, or `python -m airflow` where the script is missing."""
    script = services.venv_bin() / "airflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "airflow"]


def db_is_migrated(settings: Settings) -> bool:
    """True when the project's SQLite metadata DB exists and carries Airflow's schema."""
    path = sqlite_path(settings)
    if not path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            return con.execute("select 1 from alembic_version limit 1").fetchone() is not None
    except sqlite3.Error:
        return False


def ensure_db(settings: Settings, env: Mapping[str, str]) -> int:
    """Create the SQLite metadata DB on first use (`airflow db migrate`, ~2-5 s); 0 when ready.

    A DB named by the caller (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` in ``base``) is left alone.
    """
    if env.get(DB_CONN) != f"sqlite:///{sqlite_path(settings)}" or db_is_migrated(settings):
        return 0
    Path(settings.airflow_home).mkdir(parents=True, exist_ok=True)
    done = subprocess.run([*airflow_command(), "db", "migrate"], env=dict(env), capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        print(f"vidrec: `airflow db migrate` failed with exit code {done.returncode}", file=sys.stderr)
    return done.returncode


def run_airflow(settings: Settings, args: list[str], *, timeout: float | None = None,
                log_file: Path | None = None) -> int:
    """Run ``airflow <args>`` for this project; returns its exit code.

    Migrates the metadata DB first when it is missing. `dags list` reads the DB, which in Airflow 3
    only knows DAGs after they are serialized, so it reserializes the dags folder first.
    With ``timeout`` (seconds) the command runs in its own process group, killed whole on expiry.
    With ``log_file`` its output goes to that file instead of the terminal.
    """
    args = list(args[1:] if args[:1] == ["--"] else args)
    env = airflow_env(settings)
    if args[:1] != ["db"]:
        code = ensure_db(settings, env)
        if code:
            return code
    if args[:2] == ["dags", "list"] and "--local" not in args:
        done = subprocess.run([*airflow_command(), "dags", "reserialize"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            return done.returncode
    if log_file is None:
        return _run([*airflow_command(), *args], env, timeout)
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as out:
        return _run([*airflow_command(), *args], env, timeout, out)


def test_dag(settings: Settings, dag_id: str, logical_date: str, *, timeout: float | None = None,
             log_file: Path | None = None) -> int:
    """``airflow dags test <dag_id> <logical_date>``: one whole DAG run in-process; 0 when it succeeded."""
    return run_airflow(settings, ["dags", "test", dag_id, logical_date], timeout=timeout, log_file=log_file)


test_dag.__test__ = False  # a function named test_* that pytest must not collect when imported by a test


def _run(cmd: list[str], env: Mapping[str, str], timeout: float | None, out=None) -> int:
    streams = {"stdout": out, "stderr": subprocess.STDOUT} if out is not None else {}
    if timeout is None:
        return subprocess.run(cmd, env=dict(env), **streams).returncode
    proc = subprocess.Popen(cmd, env=dict(env), start_new_session=True, **streams)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"vidrec: {' '.join(cmd[-4:])} timed out after {timeout:g} s", file=sys.stderr)
        return 124


def start_ui(settings: Settings, wait_s: float = 180.0) -> dict:
    """`airflow standalone` in the background (API server + UI, scheduler, DAG processor, triggerer), after the
    services its tasks use (`vidrec services up`: redis-server, the warm Spark Connect server, the GX server).

    Returns the address and the admin login that Airflow's simple auth manager generated.
    """
    started = services.up(settings)
    env = airflow_env(settings)
    if ensure_db(settings, env):
        raise RuntimeError("airflow db migrate failed")
    url = f"http://127.0.0.1:{API_PORT}"
    if not services.running_pid(settings, "airflow"):
        services.spawn(settings, "airflow", [*airflow_command(), "standalone"], env)
    if not services.wait_until(lambda: _answers(url + "/api/v2/monitor/health"), wait_s, interval_s=1):
        raise RuntimeError(f"Airflow did not answer on {url} within {wait_s:g} s; see {settings.data_dir}/run")
    passwords = Path(settings.airflow_home) / "simple_auth_manager_passwords.json.generated"
    login = json.loads(passwords.read_text()) if passwords.exists() else {}
    return {"airflow": url, "login": login, "log": str(Path(settings.data_dir) / "run" / "airflow.log"),
            "services": started}


def _answers(url: str) -> bool:
    """True when ``url`` answers with a success status (urlopen raises OSError otherwise)."""
    with urllib.request.urlopen(url, timeout=2):
        return True
