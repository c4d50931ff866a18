"""``run_dir/manifest.json``: what every job of a run read, used and produced.

One file per run (``<artifact_root>/runs/<ds>/manifest.json``)::

    {"ds": ..., "code": {"vidrec": "0.1.0", "git": "5d6af19-dirty"},
     "params_digest": sha256 over every job's params,
     "parameters": {"path": ..., "sha256": ...},                     # the parameters file (models.parameters)
     "gate": {"passed": ..., "reasons": [...]}, "metrics": {...},      # set by evaluate; read by publish
     "jobs": {"train_als": {"params": {...}, "params_digest": ..., "inputs": {"interactions": 3},
                            "parameters": {"path": ..., "sha256": ...},
                            "rows": {...}, "metrics": {...}, "seconds": 2.1, ...}, ...}}

Each job replaces only its own entry, under an exclusive lock, so jobs of one run may finish in any
order. The run-level ``params_digest`` changes when any job's params change (Gorse's config digest).
Every entry records the parameters file in effect when the job finished (path and sha256 of its bytes);
the run-level ``parameters`` is that of the latest job, with ``"mixed": true`` when the jobs of the run
did not all read the same file (the weekly tuning replaced it in the middle of a run).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from models import io, parameters
from vidrec.settings import Settings

FILE = "manifest.json"
GATE_INPUTS = ("build_training_set", "train_ranker")  # what evaluate measures: a newer one voids the gate


def params_digest(params) -> str:
    """sha256 of the params as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


@lru_cache(maxsize=1)
def code_version() -> dict:
    """The package version and, when the code runs from a git checkout, ``git describe``."""
    import vidrec

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], capture_output=True, text=True,
                             timeout=5, cwd=Path(vidrec.__file__).resolve().parent)
        git = out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"vidrec": vidrec.__version__, "git": git}


@contextmanager
def _locked(path: Path):
    with open(path.with_name("." + path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_manifest(settings: Settings, ds: str) -> dict:
    """The run's manifest (``{}`` when no job of the run has finished)."""
    path = io.run_path(settings, ds) / FILE
    return io.read_json(path) if path.exists() else {}


def update_manifest(settings: Settings, ds: str, job: str, *, params: dict | None = None,
                    inputs: dict | None = None, run_fields: dict | None = None, **parts) -> dict:
    """Replace ``job``'s entry (params, their digest, input table versions and any other ``parts``).

    ``run_fields`` are set at the top level (evaluate sets ``gate`` and ``metrics``, which publish reads).
    The gate starts "not passed"; a job in ``GATE_INPUTS`` resets it, because evaluate measured the ranker
    and held-out rows that job just replaced. rank and the retrieval jobs do not: evaluate reads none of
    their outputs and runs beside them (the ranker rank scores with is train_ranker's, which evaluate
    measured; re-training it voids the gate and, in the DAG, clears both rank and evaluate).
    """
    path = io.run_dir(settings, ds) / FILE
    with _locked(path):
        manifest = io.read_json(path) if path.exists() else {}
        entry = {"params": params or {}, "params_digest": params_digest(params or {}), "inputs": inputs or {},
                 "parameters": parameters.record(settings)}
        entry.update(parts)
        manifest.setdefault("jobs", {})[job] = entry
        manifest["ds"] = ds
        read = {e["parameters"]["sha256"] for e in manifest["jobs"].values() if "parameters" in e}
        manifest["parameters"] = {**entry["parameters"], **({"mixed": True} if len(read) > 1 else {})}
        if job in GATE_INPUTS or "gate" not in manifest:
            manifest["gate"] = {"passed": False, "reasons": [f"not evaluated since {job} ran"]}
        manifest.update(run_fields or {})
        manifest["code"] = code_version()
        manifest["params_digest"] = params_digest({j: e["params"] for j, e in manifest["jobs"].items()})
        io.write_json(manifest, path)
    return manifest
