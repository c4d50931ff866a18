"""The one parameters file: ALS, co-watch (retrieval) and ranker parameters that the nightly and ``vidrec eval`` read.

Which file (``resolve``), first match wins:

1. ``VIDREC_PARAMS_FILE`` when set;
2. ``<artifact_root>/params/two_stage.json`` when it exists (written by the weekly ``tune_params`` job,
   ``models.evaluation.lake_tuning``, only when its parameters beat the current ones on the lake);
3. the shipped ``models/tuned/two_stage.json`` (``vidrec eval ... --tune --save``).

The format is the one ``models.evaluation.tuning`` writes: ``{"chosen_by": ..., "params": {"als": {...},
"two_stage": {"candidates": {...}, "als": {...}, "ranker": {...}, "per_user": ..., "negatives_per_user": ...,
...}}}``. The nightly reads the ``two_stage`` section (its ALS is the one retrieval uses); the harness's
``als`` baseline reads the top-level ``als``. ``record`` (path and sha256 of the file's bytes) goes into
every job's entry of the run manifest. A missing or malformed file is a ``ParamsFileError`` naming the path.
Stdlib only; nothing here knows the parameter classes (they check their own keys with ``section``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from vidrec.settings import Settings

SHIPPED = Path(__file__).resolve().parent / "tuned" / "two_stage.json"
TUNED_NAME = "two_stage.json"


class ParamsFileError(ValueError):
    """The parameters file is missing or malformed (the message names the path)."""


def tuned_path(settings: Settings) -> Path:
    """``<artifact_root>/params/two_stage.json``: where the weekly tuning writes (it may not exist yet)."""
    return Path(settings.artifact_root) / "params" / TUNED_NAME


def resolve(settings: Settings) -> Path:
    """The parameters file in effect for ``settings`` (see the module docstring for the order)."""
    if str(settings.params_file) not in ("", "."):
        return Path(settings.params_file)
    tuned = tuned_path(settings)
    return tuned if tuned.exists() else SHIPPED


def load(path: Path) -> dict:
    """The whole record of the file at ``path`` (``params.two_stage`` checked to be an object)."""
    path = Path(path)
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ParamsFileError(f"parameters file {path} does not exist (VIDREC_PARAMS_FILE, or "
                              f"`vidrec eval ... --tune --save` writes one)") from None
    except (OSError, ValueError) as exc:
        raise ParamsFileError(f"parameters file {path} is not readable JSON: {exc}") from None
    two_stage = record.get("params", {}).get("two_stage") if isinstance(record, dict) else None
    if not isinstance(two_stage, dict) or not isinstance(record["params"].get("als", {}), dict):
        raise ParamsFileError(f"parameters file {path} has no \"params\": {{\"two_stage\": {{...}}}} object")
    for name in ("candidates", "als", "ranker"):
        if not isinstance(two_stage.get(name, {}), dict):
            raise ParamsFileError(f"parameters file {path}: params.two_stage.{name} must be an object")
    return record


def digest(path: Path) -> str:
    """sha256 of the file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def record(settings: Settings) -> dict:
    """``{"path", "sha256"}`` of the file in effect (what the run manifest records); checked by ``load``."""
    path = resolve(settings)
    load(path)
    return {"path": str(path), "sha256": digest(path)}


def params(settings: Settings) -> dict:
    """The ``params`` section of the file in effect: ``{"als": {...}, "two_stage": {...}}``."""
    return load(resolve(settings))["params"]


def two_stage(settings: Settings) -> dict:
    """The ``params.two_stage`` section: what the nightly runs."""
    return params(settings)["two_stage"]


def section(settings: Settings, name: str, kind=None) -> dict:
    """A copy of ``params.two_stage.<name>`` ("candidates", "als" or "ranker"); with a dataclass ``kind``,
    a key that is not one of its fields is a ``ParamsFileError`` (a typo never passes silently)."""
    values = dict(two_stage(settings).get(name, {}))
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(kind)}) if kind is not None else []
    if unknown:
        raise ParamsFileError(f"parameters file {resolve(settings)}: params.two_stage.{name} has unknown "
                              f"key(s) {unknown} for {kind.__name__}")
    return values


def per_user(settings: Settings) -> int:
    """Candidates kept per user: ``VIDREC_CANDIDATES_PER_USER`` when non-zero, else the file's ``per_user``."""
    if settings.candidates_per_user:
        return int(settings.candidates_per_user)
    value = two_stage(settings).get("per_user")
    if not isinstance(value, int) or value < 1:
        raise ParamsFileError(f"parameters file {resolve(settings)}: params.two_stage.per_user must be a "
                              f"positive integer, not {value!r}")
    return value


def negatives_per_user(settings: Settings, default: int | None = None) -> int | None:
    """Unlabeled (not engaged) candidates the ranker's training set keeps per user: the file's
    ``negatives_per_user`` (null: all of them); ``default`` when the file does not say."""
    values = two_stage(settings)
    value = values.get("negatives_per_user", default)
    if value is not None and (not isinstance(value, int) or value < 0):
        raise ParamsFileError(f"parameters file {resolve(settings)}: params.two_stage.negatives_per_user must "
                              f"be a non-negative integer or null, not {value!r}")
    return value


def negative_sampling(settings: Settings, default: str = "uniform") -> str:
    """How the ranker's training set draws those rows: the file's ``negative_sampling`` ("uniform" or
    "popularity", ``models.ranking.training_set.negative_weights``); ``default`` when the file does not say."""
    value = two_stage(settings).get("negative_sampling", default)
    if value not in ("uniform", "popularity"):
        raise ParamsFileError(f"parameters file {resolve(settings)}: params.two_stage.negative_sampling must "
                              f"be \"uniform\" or \"popularity\", not {value!r}")
    return value


def write(content: dict, path: Path) -> Path:
    """Write ``content`` as the parameters file ``path`` atomically (a temporary file in the same folder,
    then a rename): a job that reads the file sees the old one or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(tmp, path)
    return path
