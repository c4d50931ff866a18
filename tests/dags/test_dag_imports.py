"""DAG files stay thin: importing one pulls in airflow, pendulum and stdlib, never project or heavy code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vidrec.ops import airflow_env
from vidrec.settings import Settings

DAG_FILES = sorted(airflow_env.DAGS_FOLDER.glob("*.py"))
FORBIDDEN = {
    "pyspark", "implicit", "xgboost", "scann", "feast", "great_expectations", "pandas", "deltalake",
    "vidrec", "spark_jobs", "models", "serving",
}
IMPORT_AND_LIST_MODULES = "import runpy, sys; runpy.run_path(sys.argv[1]); print('@@MODULES@@', *sys.modules)"

def test_there_are_dag_files():
    assert DAG_FILES, f"no DAG files in {airflow_env.DAGS_FOLDER}"


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_file_imports_nothing_heavy_and_no_project_code(path, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env = airflow_env.airflow_env(Settings(data_dir=tmp_path / "var"), base=base)
    done = subprocess.run([sys.executable, "-c", IMPORT_AND_LIST_MODULES, str(path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    modules = done.stdout.split("@@MODULES@@", 1)[1].split()
    assert "airflow.sdk" in modules
    assert sorted({m.split(".")[0] for m in modules} & FORBIDDEN) == []
