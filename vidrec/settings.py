"""The one settings object. Built from ``VIDREC_*`` environment variables; the only reader of os.environ."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

PREFIX = "VIDREC_"

# Paths that default to a folder under data_dir when left empty.
_DERIVED_DIRS = {
    "lake_root": "lake",
    "landing_dir": "landing",
    "staging_dir": "staging",
    "artifact_root": "artifacts",
    "redis_dir": "redis",
    "airflow_home": "airflow",
    "feast_dir": "feast",
    "gx_socket": "run/gx.sock",
    "api_keys_file": "api_keys.json",
    "metrics_dir": "metrics",
    "privacy_dir": "privacy",
}


# What the ranker predicts per candidate (models.ranking.objectives), each weighed by objective_weights: watch
# (>= half, or liked/shared: the LambdaMART head), click, like, share, not_interested (or disliked).
OBJECTIVES = ("watch", "click", "like", "share", "not_interested")


@dataclass(frozen=True)
class Settings:
    """Every tunable of vidrec. Field ``x`` is set by environment variable ``VIDREC_X``.

    Path fields left empty default to a folder under ``data_dir``. Tests construct ``Settings(...)``
    directly; services and the CLI use ``Settings.from_env()``.
    """

    data_dir: Path = field(default=Path("var"), metadata={"help": "root of all local state (lake, landing, ...)"})
    lake_root: Path = field(default=Path(""), metadata={"help": "Delta Lake tables (default data_dir/lake)"})
    landing_dir: Path = field(default=Path(""), metadata={"help": "incoming event/catalog files (data_dir/landing)"})
    staging_dir: Path = field(default=Path(""), metadata={"help": "per-batch staged output (data_dir/staging)"})
    artifact_root: Path = field(default=Path(""), metadata={"help": "models and indexes (data_dir/artifacts)"})
    redis_dir: Path = field(default=Path(""), metadata={"help": "local redis-server data and log (data_dir/redis)"})
    airflow_home: Path = field(default=Path(""), metadata={"help": "AIRFLOW_HOME for make demo/airflow"})
    feast_dir: Path = field(default=Path(""), metadata={"help": "Feast registry and state (data_dir/feast)"})
    redis_url: str = field(default="redis://127.0.0.1:6390/0", metadata={"help": "Redis (features, top-N lists)"})
    spark_master: str = field(default="local[2]", metadata={"help": "Spark master (local[2], spark://..., yarn)"})
    spark_shuffle_partitions: int = field(default=4, metadata={"help": "spark.sql.shuffle.partitions"})
    spark_driver_memory: str = field(default="2g", metadata={"help": "spark.driver.memory"})
    spark_remote: str = field(default="auto", metadata={
        "help": "Spark Connect URL (sc://host:port) of a long-lived Spark the jobs attach to; auto: the server of "
                "`vidrec services up` (sc://127.0.0.1:15002) when it runs, else in-process; empty: in-process"})
    gx_socket: Path = field(default=Path(""), metadata={
        "help": "Unix socket of the long-lived Great Expectations server of `vidrec services up` that ingest "
                "sends its frames to (data_dir/run/gx.sock; none listening: a helper process per ingest)"})
    delta_mode: str = field(default="auto", metadata={"help": "auto | bridge (delta-rs) | native (delta-spark jars)"})
    min_event_ts: str = field(default="1995-01-01T00:00:00Z", metadata={"help": "events before this are quarantined"})
    max_clock_skew_s: int = field(default=86400, metadata={"help": "events this far past ingest time are quarantined"})
    max_watch_ratio: float = field(default=20.0, metadata={"help": "watch_ms above ratio x duration is quarantined"})
    seed: int = field(default=42, metadata={"help": "seed for generators and models"})
    api_host: str = field(default="127.0.0.1", metadata={"help": "address the API listens on"})
    api_port: int = field(default=8000, metadata={"help": "port of the API (make serve)"})
    metrics_dir: Path = field(default=Path(""), metadata={
        "help": "the batch jobs' Prometheus text files, one per job (data_dir/metrics; node_exporter's textfile "
                "collector reads them)"})
    api_auth: str = field(default="keys", metadata={
        "help": "keys: every route but /healthz, /readyz and /openapi.json needs an API key with its role; "
                "off: the API is open to anyone who reaches it (local use only)"})
    api_keys_file: Path = field(default=Path(""), metadata={
        "help": "hashed API keys of `vidrec keys` (data_dir/api_keys.json), re-read by the API when it changes"})
    api_metrics_dir: str = field(default="", metadata={
        "help": "`vidrec serve --workers N` (N > 1): the folder of the workers' metric files, which /metrics adds "
                "up (empty: a fresh temporary folder per start)"})
    privacy_dir: Path = field(default=Path(""), metadata={
        "help": "requests to forget a user, waiting for `vidrec privacy process`, and the audit of those done "
                "(data_dir/privacy)"})
    lake_history_hours: int = field(default=168, metadata={
        "help": "how long the Delta tables keep old file versions and log entries (time travel) after a change: "
                "`vidrec privacy process` and `vidrec maintenance vacuum` remove older ones, and a forgotten user's "
                "rows with them"})
    retention_days: int = field(default=365, metadata={
        "help": "`vidrec maintenance retention` deletes the rows of the day-partitioned tables (events, "
                "interactions, served, quarantine, feature days) older than this many days before the newest "
                "events (0: keep everything)"})
    pseudonym_key: str = field(default="", metadata={
        "help": "secret key of the keyed hash (HMAC-SHA256) that replaces user ids when VIDREC_PSEUDONYMIZE is on "
                "and names a user in the privacy audit (empty: the audit records no subject); never commit it"})
    pseudonymize: bool = field(default=False, metadata={
        "help": "replace every user id at ingest by its keyed hash under VIDREC_PSEUDONYM_KEY (the lake, features, "
                "models and lists hold no clear id; the API maps the caller's id the same way)"})
    topn: int = field(default=100, metadata={"help": "length of each published list"})
    params_file: Path = field(default=Path(""), metadata={
        "help": "ALS, co-watch and ranker parameters of the nightly and `vidrec eval` (default: artifact_root/"
                "params/two_stage.json when the weekly tuning wrote it, else models/tuned/two_stage.json)"})
    candidates_per_user: int = field(default=0, metadata={
        "help": "candidates kept per user before ranking (0: the parameters file's per_user)"})
    active_days: int = field(default=30, metadata={"help": "users active in this many days get a home feed"})
    exploration_share: float = field(default=0.1, metadata={"help": "share of a feed for fresh, under-exposed videos"})
    creator_max_per_window: int = field(default=2, metadata={"help": "at most this many videos of one creator ..."})
    creator_window: int = field(default=10, metadata={"help": "... in any this many consecutive items"})
    publish_ttl_s: int = field(default=259200, metadata={"help": "published versions expire after this long"})
    drift_max_psi: float = field(default=0.25, metadata={
        "help": "the nightly's gate fails when a ranker feature's population stability index between the training "
                "set and the latest day is above this (noted above 0.1)"})
    objective_weights: str = field(default="watch=1,click=0.2,like=0.5,share=0.5,not_interested=-1", metadata={
        "help": "the ranker's composite score: weight per predicted probability (watch, click, like, share, "
                "not_interested; a missing one weighs 0)"})
    experiments_file: str = field(default="", metadata={
        "help": "the A/B experiments the API runs (JSON, vidrec/experiments.py; empty: none), checked at start"})
    overlay_timeout_ms: int = field(default=30, metadata={"help": "time budget for the real-time overlay"})
    cowatch_method: str = field(default="", metadata={
        "help": "co-watch retrieval and related videos: ease (catalogs up to 20k videos, else cosine) or cosine "
                "(empty: the parameters file's)"})
    als_factors: int = field(default=0, metadata={"help": "ALS embedding size (0: the parameters file's)"})
    als_iterations: int = field(default=0, metadata={"help": "ALS iterations (0: the parameters file's)"})
    ann_brute_force_below: int = field(default=20000, metadata={
        "help": "catalogs with fewer videos are searched exactly (ScaNN brute force), larger ones by the tree"})
    ann_head_share: float = field(default=0.02, metadata={
        "help": "share of videos with the largest ALS norms scored exactly beside the tree (0: tree only)"})
    ann_num_leaves: int = field(default=0, metadata={"help": "k-means tree leaves (0: sqrt of the tree's videos)"})
    ann_leaves_to_search: int = field(default=0, metadata={
        "help": "leaves searched per query (0: the fewest reaching ANN_RECALL_TARGET on sampled users, per build)"})
    ann_reorder: int = field(default=0, metadata={"help": "tree hits re-scored exactly per query (0: 8 x 100)"})
    ann_recall_target: float = field(default=0.95, metadata={"help": "recall@100 the leaves are tuned to reach"})
    use_gpu: bool = field(default=False, metadata={"help": "let implicit use CUDA (never probed)"})
    workers: int = field(default=0, metadata={
        "help": "processes a model job spreads its chunks of users over (build_candidates, rank), threads publish "
                "packs lists in (0: the machine's cores, 1: none)"})

    def __post_init__(self) -> None:
        base = Path(self.data_dir).absolute()
        object.__setattr__(self, "data_dir", base)
        for name, sub in _DERIVED_DIRS.items():
            value = getattr(self, name)
            path = base / sub if str(value) in ("", ".") else Path(value).absolute()
            object.__setattr__(self, name, path)
        if str(self.params_file) not in ("", "."):  # empty: resolved by models.parameters
            object.__setattr__(self, "params_file", Path(self.params_file).absolute())
        if self.delta_mode not in ("auto", "bridge", "native"):
            raise ValueError(f"VIDREC_DELTA_MODE must be auto, bridge or native, not {self.delta_mode!r}")
        if self.cowatch_method not in ("", "ease", "cosine"):
            raise ValueError(f"VIDREC_COWATCH_METHOD must be ease or cosine (or empty), not {self.cowatch_method!r}")
        if self.api_auth not in ("keys", "off"):
            raise ValueError(f"VIDREC_API_AUTH must be keys or off, not {self.api_auth!r}")
        if self.pseudonymize and not self.pseudonym_key:
            raise ValueError("VIDREC_PSEUDONYMIZE needs VIDREC_PSEUDONYM_KEY (a secret, never in the repo)")
        if self.lake_history_hours < 0:
            raise ValueError("VIDREC_LAKE_HISTORY_HOURS must be 0 or more")
        if self.retention_days < 0:
            raise ValueError("VIDREC_RETENTION_DAYS must be 0 or more")
        if self.max_watch_ratio <= 0:
            raise ValueError("VIDREC_MAX_WATCH_RATIO must be positive")
        self.weights()  # VIDREC_OBJECTIVE_WEIGHTS parses

    def weights(self) -> dict[str, float]:
        """``objective_weights`` as {objective: weight}, every one of ``OBJECTIVES`` present (0 when not given)."""
        out = dict.fromkeys(OBJECTIVES, 0.0)
        for part in filter(None, (p.strip() for p in self.objective_weights.split(","))):
            name, _, value = part.partition("=")
            try:
                weight = float(value)
            except ValueError:
                weight = None
            if name.strip() not in out or weight is None or not math.isfinite(weight):
                raise ValueError(f"VIDREC_OBJECTIVE_WEIGHTS: {part!r} is not objective=number "
                                 f"(objectives: {', '.join(OBJECTIVES)})")
            out[name.strip()] = weight
        if not any(out.values()):
            raise ValueError("VIDREC_OBJECTIVE_WEIGHTS: every weight is 0")
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Read ``VIDREC_*`` variables; an unknown ``VIDREC_*`` name is an error (typos never pass)."""
        environ = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values: dict = {}
        unknown = []
        for key, raw in environ.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX):].lower()
            if name not in known:
                unknown.append(key)
                continue
            values[name] = _cast(known[name], raw, key)
        if unknown:
            raise ValueError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; known: "
                + ", ".join(sorted(PREFIX + n.upper() for n in known))
            )
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The settings as ``VIDREC_*`` variables, for child processes (Airflow tasks, Feast)."""
        return {PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


def _cast(f: dataclasses.Field, raw: str, key: str):
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if kind == "Path":
            return Path(raw)
        return raw
    except ValueError as exc:
        raise ValueError(f"{key}={raw!r} is not a valid {kind}") from exc


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting: the README table and `vidrec settings`."""
    rows = []
    for f in fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else ""
        if f.name in _DERIVED_DIRS:
            default = f"$VIDREC_DATA_DIR/{_DERIVED_DIRS[f.name]}"
        rows.append((PREFIX + f.name.upper(), str(default), f.metadata.get("help", "")))
    return rows
