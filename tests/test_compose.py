"""docker-compose.yml, read as data (no Docker needed): every service, volume and variable it names is real.

``problems(doc)`` lists everything wrong with a loaded compose file; the real file must have none, and
each check is shown to fire on a copy of the file with one thing broken (so none of them is vacuous).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from vidrec.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "db migrate"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
INTERPOLATED = re.compile(r"^\$\{[A-Z_]+(:?-[^}]*)?\}$")


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def env(service: dict) -> dict[str, str]:
    e = service.get("environment") or {}
    return dict(item.split("=", 1) for item in e) if isinstance(e, list) else {k: str(v) for k, v in e.items()}


def mounts(service: dict) -> dict[str, str]:
    """target path -> source (a named volume, or a host path starting with . or /)."""
    out = {}
    for item in service.get("volumes") or []:
        source, target = (item["source"], item["target"]) if isinstance(item, dict) else item.split(":")[:2]
        out[target] = source
    return out


def depends(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    return {d: "service_started" for d in deps} if isinstance(deps, list) else {
        d: (spec or {}).get("condition", "service_started") for d, spec in deps.items()}


def airflow_services(doc: dict) -> dict[str, str]:
    """service -> airflow subcommand, for every service whose command is `airflow ...`."""
    return {name: " ".join(command(s)[1:]) for name, s in doc["services"].items() if command(s)[:1] == ["airflow"]}


def structure_problems(doc: dict) -> list[str]:
    out = []
    services, declared = doc.get("services") or {}, set(doc.get("volumes") or {})
    used = set()
    for name, s in services.items():
        if not (s.get("image") or s.get("build")):
            out.append(f"{name}: neither image nor build")
        for target, source in mounts(s).items():
            if source.startswith((".", "/")):
                if not (REPO / source).exists():
                    out.append(f"{name}: bind mount source {source} does not exist")
                continue
            used.add(source)
            if source not in declared:
                out.append(f"{name}: volume {source} is not declared")
        for dep, condition in depends(s).items():
            if dep not in services:
                out.append(f"{name}: depends_on {dep}, which is not a service")
            elif condition not in CONDITIONS:
                out.append(f"{name}: unknown depends_on condition {condition}")
            elif condition == "service_healthy" and "healthcheck" not in services[dep]:
                out.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
        for port in s.get("ports") or []:
            if not str(port).startswith("127.0.0.1:"):
                out.append(f"{name}: port {port} is published beyond localhost")
    out += [f"volume {v} is declared but never mounted" for v in sorted(declared - used)]
    return out + image_problems(doc)


def image_problems(doc: dict) -> list[str]:
    """The project's image: its Dockerfile exists, creates every volume folder it is mounted on (owned by the
    image's user, so a new named volume is writable), and every /app path the services name is in the repo."""
    built = {n: s for n, s in doc["services"].items() if isinstance(s.get("build"), dict)}
    if not built:
        return ["no service builds the project's image"]
    build = next(iter(built.values()))["build"]
    dockerfile = REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    if not dockerfile.is_file():
        return [f"the image's Dockerfile {dockerfile} does not exist"]
    made = set(" ".join(re.findall(r"mkdir -p ([^\n\\&]+)", dockerfile.read_text())).split())
    out = []
    for name, s in built.items():
        out += [f"{name}: volume {src} is mounted on {target}, which the Dockerfile does not create"
                for target, src in mounts(s).items() if not src.startswith((".", "/")) and target not in made]
        out += [f"{name}: {key}={value} is not in the repository (the image has it at /app)"
                for key, value in env(s).items() if value.startswith("/app/")
                and not (REPO / value[len("/app/"):]).exists()]
    return out


def variable_problems(doc: dict) -> list[str]:
    out = []
    fields = {f.name for f in dataclasses.fields(Settings)}
    for name, s in doc["services"].items():
        e = env(s)
        vidrec = {k: v for k, v in e.items() if k.startswith(PREFIX)}
        for key in vidrec:
            if key[len(PREFIX):].lower() not in fields:
                out.append(f"{name}: {key} is not a setting of vidrec.settings.Settings")
        if vidrec and all(k[len(PREFIX):].lower() in fields for k in vidrec):
            try:
                Settings.from_env(vidrec)
            except ValueError as exc:
                out.append(f"{name}: {exc}")
        for key, value in e.items():
            if SECRET_NAME.search(key) and not INTERPOLATED.match(value):
                out.append(f"{name}: {key} holds a literal value; secrets come from the environment")
            password = urlparse(value).password if "://" in value else None
            if password and not INTERPOLATED.match(password):
                out.append(f"{name}: {key} has a literal password in its URL")
    return out


def airflow_problems(doc: dict) -> list[str]:
    services, anchor = doc["services"], {k: str(v) for k, v in (doc.get("x-airflow-env") or {}).items()}
    roles = airflow_services(doc)
    out = [f"no service runs `airflow {c}`" for c in sorted(AIRFLOW_COMMANDS - set(roles.values()))]
    out += [f"{n}: runs `airflow {c}`, not one component per service" for n, c in roles.items()
            if c not in AIRFLOW_COMMANDS]
    executor, conn = anchor.get("AIRFLOW__CORE__EXECUTOR"), anchor.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if executor not in ("LocalExecutor", "CeleryExecutor", "KubernetesExecutor"):
        out.append(f"x-airflow-env: AIRFLOW__CORE__EXECUTOR is {executor!r}, not a distributed-capable executor")
    if not conn.startswith("postgresql") or urlparse(conn).hostname not in services:
        out.append(f"x-airflow-env: metadata DB {conn!r} is not Postgres in a compose service")
    init = [n for n, c in roles.items() if c == "db migrate"]
    for name in roles:
        e = env(services[name])
        if any(e.get(k) != v for k, v in anchor.items()):
            out.append(f"{name}: does not carry x-airflow-env unchanged (executor, DB, ports, AIRFLOW_HOME)")
        if e.get("AIRFLOW_HOME") != e.get("VIDREC_AIRFLOW_HOME"):
            out.append(f"{name}: AIRFLOW_HOME and VIDREC_AIRFLOW_HOME differ")
        if roles[name] != "db migrate" and not any(depends(services[name]).get(i) == "service_completed_successfully"
                                                   for i in init):
            out.append(f"{name}: does not wait for the one-shot `airflow db migrate` service")
    api = [n for n, c in roles.items() if c == "api-server"]
    url = urlparse(anchor.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", ""))
    if url.hostname not in api or str(url.port) != anchor.get("AIRFLOW__API__PORT"):
        out.append(f"x-airflow-env: execution API {url.geturl()!r} is not the api-server service on its port")
    return out


def spark_problems(doc: dict) -> list[str]:
    services, out = doc["services"], []
    masters = {n for n, s in services.items() if "org.apache.spark.deploy.master.Master" in command(s)}
    workers = {n: command(s) for n, s in services.items() if "org.apache.spark.deploy.worker.Worker" in command(s)}
    drivers = {n: env(s) for n, s in services.items() if env(s).get("VIDREC_SPARK_MASTER")}
    if not masters or not workers:
        return [f"needs a Spark master and worker service, found {sorted(masters)} and {sorted(workers)}"]
    for name, e in drivers.items():
        url = urlparse(e["VIDREC_SPARK_MASTER"])
        master_cmd = command(services[url.hostname]) if url.hostname in masters else []
        if url.scheme != "spark" or url.hostname not in masters or str(url.port) not in master_cmd:
            out.append(f"{name}: VIDREC_SPARK_MASTER {url.geturl()} is not the master service and its --port")
        out += [f"{w}: registers with {[a for a in c if a.startswith('spark://')]}, not {url.geturl()}"
                for w, c in workers.items() if url.geturl() not in c]
    scheduler = next((n for n, c in airflow_services(doc).items() if c == "scheduler"), None)
    local = scheduler and doc["x-airflow-env"].get("AIRFLOW__CORE__EXECUTOR") == "LocalExecutor"
    for driver in [scheduler] * bool(local) + sorted(connect_servers(doc)):  # drivers the executors call back
        e = env(services[driver])  # (LocalExecutor: the scheduler runs the tasks, each its own driver without Connect)
        if not (e.get("SPARK_LOCAL_IP") == e.get("SPARK_LOCAL_HOSTNAME") == driver):
            out.append(f"{driver}: the Spark driver must listen on and advertise its service name, not loopback")
    out += connect_problems(doc)
    for worker in [*workers, *connect_servers(doc)]:  # the executors and the Connect server's driver
        for path_var in ("VIDREC_LAKE_ROOT", "VIDREC_DATA_DIR"):
            if scheduler is None:
                break
            path = env(services[scheduler]).get(path_var)
            if path is None or mounts(services[scheduler]).get(path) != mounts(services[worker]).get(path):
                out.append(f"{worker}: does not mount the volume of {path_var}={path} as {scheduler} does")
    return out


def connect_servers(doc: dict) -> set[str]:
    return {n for n, s in doc["services"].items() if command(s)[:3] == ["vidrec", "services", "connect-server"]}


def connect_problems(doc: dict) -> list[str]:
    """VIDREC_SPARK_REMOTE names the service running `vidrec services connect-server` (which binds that URL's
    port)."""
    services, servers = doc["services"], connect_servers(doc)
    urls = {n: env(s)["VIDREC_SPARK_REMOTE"] for n, s in services.items() if env(s).get("VIDREC_SPARK_REMOTE")}
    return [f"{n}: VIDREC_SPARK_REMOTE {url} is not a connect-server service on that port" for n, url in urls.items()
            if url != "auto" and (urlparse(url).hostname not in servers or urls.get(urlparse(url).hostname) != url)]


def redis_problems(doc: dict) -> list[str]:
    services = doc["services"]
    redis = [n for n, s in services.items() if str(s.get("image", "")).startswith("redis")]
    if not redis:
        return ["no redis service"]
    s, out = services[redis[0]], []
    cmd = command(s)
    pairs = dict(zip(cmd[1::2], cmd[2::2])) if cmd[:1] == ["redis-server"] else {}
    if pairs.get("--appendonly") != "yes":
        out.append(f"{redis[0]}: no persistence (`--appendonly yes` missing from {cmd})")
    if pairs.get("--dir", "/data") not in mounts(s):
        out.append(f"{redis[0]}: its data folder {pairs.get('--dir', '/data')} is not on a volume")
    for name, svc in services.items():
        url = env(svc).get("VIDREC_REDIS_URL")
        if url and urlparse(url).hostname not in redis:
            out.append(f"{name}: VIDREC_REDIS_URL {url} is not the redis service")
    return out


def problems(doc: dict) -> list[str]:
    return (structure_problems(doc) + variable_problems(doc) + airflow_problems(doc) + spark_problems(doc)
            + redis_problems(doc))


def test_the_compose_file_names_only_real_services_volumes_and_settings():
    assert problems(load()) == []


def test_the_stack_has_the_cluster_shape():
    doc = load()
    assert set(airflow_services(doc).values()) == AIRFLOW_COMMANDS
    assert {"postgres", "redis", "spark-master", "spark-worker", "spark-connect", "api"} <= set(doc["services"])
    assert "standalone" not in airflow_services(doc).values()


def _break(doc: dict, how: str) -> dict:
    doc = copy.deepcopy(doc)
    s = doc["services"]  # services merged from one anchor share dicts: replace them, never edit in place
    if how == "volume":
        del doc["volumes"]["lake"]
    elif how == "setting":
        s["api"]["environment"] = {**s["api"]["environment"], "VIDREC_SPARK_MASTR": "local[2]"}
    elif how == "depends":
        s["api"]["depends_on"] = {**s["api"]["depends_on"], "redis-cache": {"condition": "service_healthy"}}
    elif how == "executor":
        s["airflow-triggerer"]["environment"] = {**s["airflow-triggerer"]["environment"],
                                                 "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor"}
    elif how == "master":
        s["airflow-scheduler"]["environment"] = {**s["airflow-scheduler"]["environment"],
                                                 "VIDREC_SPARK_MASTER": "spark://spark-master:7078"}
    elif how == "redis":
        s["redis"]["command"] = ["redis-server", "--appendonly", "no"]
    elif how == "secret":
        s["postgres"]["environment"] = {**s["postgres"]["environment"], "POSTGRES_PASSWORD": "hunter2"}
    elif how == "worker-lake":
        s["spark-worker"]["volumes"] = ["data:/data"]
    elif how == "driver":
        s["airflow-scheduler"]["environment"] = {**s["airflow-scheduler"]["environment"], "SPARK_LOCAL_IP": "127.0.0.1"}
    elif how == "remote":
        s["airflow-scheduler"]["environment"] = {**s["airflow-scheduler"]["environment"],
                                                 "VIDREC_SPARK_REMOTE": "sc://spark-connect:15003"}
    elif how == "connect-lake":
        s["spark-connect"]["volumes"] = ["data:/data"]
    elif how == "connect-ip":
        s["spark-connect"]["environment"] = {**s["spark-connect"]["environment"], "SPARK_LOCAL_IP": "127.0.0.1"}
    elif how == "folder":
        s["api"]["volumes"] = ["data:/srv/data"]
    elif how == "image":
        s["spark-master"].pop("build"), s["spark-master"].pop("image")
    return doc


@pytest.mark.parametrize("how, expected", [
    ("volume", "volume lake is not declared"),
    ("setting", "VIDREC_SPARK_MASTR is not a setting"),
    ("depends", "depends_on redis-cache, which is not a service"),
    ("executor", "airflow-triggerer: does not carry x-airflow-env unchanged"),
    ("master", "is not the master service and its --port"),
    ("redis", "no persistence"),
    ("secret", "POSTGRES_PASSWORD holds a literal value"),
    ("worker-lake", "spark-worker: does not mount the volume of VIDREC_LAKE_ROOT"),
    ("image", "spark-master: neither image nor build"),
    ("driver", "airflow-scheduler: the Spark driver must listen on and advertise its service name"),
    ("remote", "airflow-scheduler: VIDREC_SPARK_REMOTE sc://spark-connect:15003 is not a connect-server service"),
    ("connect-lake", "spark-connect: does not mount the volume of VIDREC_LAKE_ROOT"),
    ("connect-ip", "spark-connect: the Spark driver must listen on and advertise its service name"),
    ("folder", "api: volume data is mounted on /srv/data, which the Dockerfile does not create"),
])
def test_each_check_fires_on_a_broken_copy(how, expected):
    found = problems(_break(load(), how))
    assert any(expected in p for p in found), found
