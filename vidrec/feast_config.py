"""The environment Feast's feature_store.yaml expands, from Settings. Stdlib only: batch and serving share it.

feature_repo/feature_store.yaml reads ``${VIDREC_FEAST_DIR}``, ``${VIDREC_LAKE_ROOT}`` and
``${FEAST_REDIS_CONNECTION}`` (Feast's "host:port,db=N" form of VIDREC_REDIS_URL; deliberately not a
VIDREC_ name, which Settings.from_env would reject as unknown).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from vidrec.settings import Settings

REDIS_ENV = "FEAST_REDIS_CONNECTION"
FEATURE_REPO = Path(__file__).resolve().parents[1] / "feature_repo"


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
    """The variables feature_store.yaml and data_sources.py expand."""
    return {"VIDREC_FEAST_DIR": str(settings.feast_dir), "VIDREC_LAKE_ROOT": str(settings.lake_root),
            REDIS_ENV: redis_connection_string(settings.redis_url)}
