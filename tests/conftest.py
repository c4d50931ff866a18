"""Shared fixtures: settings on a temp folder, one local Spark session, one real redis-server."""

from __future__ import annotations

import os

# One BLAS kernel on every x86 machine, set before numpy loads OpenBLAS: OpenBLAS picks its kernels by CPU, and
# on the tests' tiny worlds another kernel's rounding can reorder nearly tied scores (test_lake_tuning's
# contest between a crippled and a tuned parameters file flipped on an AVX-512 machine).
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import logging  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from vidrec.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("VIDREC_SPARK_REMOTE", "")  # Spark in each test's own process unless a test names a server
logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO line at interpreter exit hits a closed stream


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", spark_shuffle_partitions=2, spark_driver_memory="1g", spark_remote="")


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.session import build_spark

    session = build_spark(Settings(spark_shuffle_partitions=2, spark_driver_memory="1g", spark_remote=""))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free loopback port for the whole test session; stopped at the end."""
    from vidrec.ops import services
    port = services.free_port()
    proc = services.start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def ml100k() -> Path:
    path = DATASETS / "ml-100k"
    if not (path / "u.data").exists():
        pytest.skip(f"MovieLens 100K not found at {path} (../shared/datasets beside the repo)")
    return path


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst


def traces_in(folder: Path, needle: str) -> list[str]:
    """Files under ``folder`` that hold ``needle``: Parquet and .npz files read back (their values are
    compressed or UTF-32 on disk), every other file byte for byte (the Delta log's JSON included)."""
    import json

    import numpy as np
    import pyarrow.parquet as pq

    hits = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else []:
        if path.suffix == ".parquet" and not path.name.startswith("."):
            found = needle in json.dumps(pq.read_table(path).to_pylist(), default=str)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                found = any(needle in str(data[name].tolist()) for name in data.files)
        else:
            found = needle.encode() in path.read_bytes()
        hits += [str(path.relative_to(folder))] if found else []
    return hits


@pytest.fixture(scope="session")
def traces():
    """``traces_in`` (test modules cannot import conftest under importlib mode)."""
    return traces_in
