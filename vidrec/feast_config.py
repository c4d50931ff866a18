"""Feast's configuration, from Settings: the one mechanism batch jobs and serving both use. Stdlib only at import.

feature_repo/feature_store.yaml reads ``${VIDREC_FEAST_DIR}``, ``${VIDREC_LAKE_ROOT}`` and
``${FEAST_REDIS_CONNECTION}`` (Feast's "host:port,db=N" form of VIDREC_REDIS_URL; deliberately not a
VIDREC_ name, which Settings.from_env would reject as unknown). In this process they are filled from
Settings into a ``RepoConfig`` (``repo_config``) and a store is built on it (``open_store``): nothing here
reads or writes os.environ. Only a child process that loads the repo itself (the feast CLI, which imports
feature_repo/data_sources.py) gets them as environment variables: ``feast_env(settings)``.
"""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from vidrec.settings import Settings

REDIS_ENV = "FEAST_REDIS_CONNECTION"
FEATURE_REPO = Path(__file__).resolve().parents[1] / "feature_repo"
_VAR = re.compile(r"\$\{(\w+)\}")


def redis_connection_string(url: str) -> str:
    """redis://[:password@]host:port/db -> Feast's "host:port,db=N[,password=...][,ssl=true]"."""
    u = urlparse(url)
    if u.scheme not in ("redis", "rediss"):
        raise ValueError(f"VIDREC_REDIS_URL must be redis:// or rediss://, not {url!r}")
    db = (u.path or "/0").lstrip("/") or "0"
    parts = [f"{u.hostname or '127.0.0.1'}:{u.port or 6379}", f"db={int(db)}"]
    if u.password:
        parts.append(f"password={unquote(u.password)}")
    if u.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def feast_env(settings: Settings) -> dict[str, str]:
    """The variables feature_store.yaml and data_sources.py expand (for a feast CLI child's environment)."""
    return {"VIDREC_FEAST_DIR": str(settings.feast_dir), "VIDREC_LAKE_ROOT": str(settings.lake_root),
            REDIS_ENV: redis_connection_string(settings.redis_url)}


def repo_config(settings: Settings, repo_path: Path = FEATURE_REPO):
    """feature_store.yaml with its ${VAR}s filled from settings (never from, nor into, os.environ)."""
    import yaml
    from feast.repo_config import RepoConfig

    env = feast_env(settings)

    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            unknown = sorted(set(_VAR.findall(value)) - set(env))
            if unknown:
                raise KeyError(f"feature_store.yaml uses {unknown}, which vidrec does not know how to fill")
            return _VAR.sub(lambda m: env[m.group(1)], value)
        return value

    config = RepoConfig(**fill(yaml.safe_load((Path(repo_path) / "feature_store.yaml").read_text())))
    config.repo_path = Path(repo_path)
    return config


@functools.lru_cache(maxsize=65536)  # the active users' keys, built once
def online_key(project: str, version: int, user_id: str) -> bytes:
    """The Redis key of the hash in which Feast's Redis online store keeps ``user_id``'s features (every view
    keyed by the user entity), encoded by Feast's own helpers (``entity_key_serialization_version`` ``version``)."""
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    entity = EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=user_id)])
    return _redis_key(project, entity, entity_key_serialization_version=version)


def open_store(settings: Settings, repo_path: Path = FEATURE_REPO):
    """The project's ``FeatureStore(config=repo_config(...))``; raises when Feast is not set up.

    Opening never creates anything: a missing registry means `vidrec run feast_apply` has not run yet.
    """
    if not (Path(repo_path) / "feature_store.yaml").exists():
        raise FileNotFoundError(f"no Feast repo at {repo_path}")
    config = repo_config(settings, repo_path)
    registry = Path(config.registry.path)
    if config.registry.registry_type == "file" and not registry.exists():
        raise FileNotFoundError(f"no Feast registry at {registry}: run `vidrec run feast_apply` first")
    from feast import FeatureStore

    return FeatureStore(config=config)


def install_duckdb_delta(home: Path | None = None) -> Path:
    """Make DuckDB's delta extension loadable offline (from the duckdb-ext-delta wheel).

    Feast's DuckDB offline store reads the Delta feature tables through it; DuckDB would otherwise download
    it at run time, which this environment forbids. Python code can also point DuckDB at the wheel's folder
    with ``extension_directory``; the copy serves the CLIs. A no-op once `make setup` ran.
    """
    import duckdb
    import duckdb_ext

    version = duckdb.__version__
    src_root = Path(list(duckdb_ext.__path__)[0]) / "extensions"
    found = sorted(src_root.glob(f"v{version}/*/delta.duckdb_extension"))
    if not found:
        raise SystemExit(f"duckdb-ext-delta has no delta extension for duckdb {version} under {src_root}")
    src = found[0]
    dest = (home or Path.home()) / ".duckdb" / "extensions" / f"v{version}" / src.parent.name / src.name
    if not dest.exists() or dest.stat().st_size != src.stat().st_size:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return dest
