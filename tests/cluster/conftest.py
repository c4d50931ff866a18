"""A Spark standalone cluster on loopback, started from pyspark's own launcher: one master, one worker.

pyspark's wheel carries ``bin/spark-class`` and the jars but not ``sbin/start-master.sh``, so the
master and worker JVM classes are launched directly, each in its own process group, with their logs,
configuration and the worker's work folder in a temp folder. Whatever happens, both groups are stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import pytest

from vidrec.ops.services import free_port, wait_until

SPARK_HOME = Path(find_spec("pyspark").origin).parent
WORKER_CORES, WORKER_MEMORY = 1, "1g"


@dataclass
class Standalone:
    root: Path
    port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    def env(self) -> dict:
        (self.root / "conf").mkdir(parents=True, exist_ok=True)  # empty: nothing from the user's SPARK_CONF_DIR
        return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_CONF_DIR": str(self.root / "conf")}

    def _launch(self, name: str, *args: str) -> None:
        with open(self.root / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), *args], env=self.env(),
                                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)

    def state(self) -> dict:
        """The master's own view of the cluster (its web UI's JSON endpoint)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/json/", timeout=2) as resp:
            return json.load(resp)

    def _exited(self) -> bool:
        return any(p.poll() is not None for p in self.procs.values())

    def _wait(self, what: str, probe, timeout_s: float) -> None:
        if not wait_until(probe, timeout_s, interval_s=0.3, failed=self._exited, errors=(OSError, ValueError)):
            raise AssertionError(f"Spark standalone: {what} not reached in {timeout_s:.0f} s\n{self.log_tails()}")

    def start(self) -> None:
        """Launch the master, then the worker at once: the worker retries registering until the master listens."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._launch("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                     "--port", str(self.port), "--webui-port", str(self.web_port))
        self._launch("worker", "org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1",
                     "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY, "--webui-port", str(free_port()),
                     "--work-dir", str(self.work_dir))

    def wait_alive(self, timeout_s: float = 150) -> None:
        """Until the master answers and lists exactly one worker, ALIVE, with the core and memory it was given."""
        def one_alive_worker():
            workers = self.state()["workers"]
            return [(w["state"], w["cores"], w["memory"]) for w in workers] == [("ALIVE", WORKER_CORES, 1024)]
        self._wait("one ALIVE worker", one_alive_worker, timeout_s)

    def log_tails(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {p.name} (last {chars} chars)\n{p.read_text(errors='replace')[-chars:]}"
                         for p in sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        """SIGTERM each process group (the worker's group holds its executors), SIGKILL what is left."""
        for proc in reversed(list(self.procs.values())):
            for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue


@pytest.fixture
def standalone(tmp_path_factory):
    """Master and worker launched, not yet waited for: the test overlaps their start with its local run."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime (java not on PATH, JAVA_HOME unset): Spark needs Java 17+ (`make java-check`)")
    cluster = Standalone(tmp_path_factory.mktemp("spark-standalone"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
