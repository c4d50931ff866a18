"""Experiments: declared in one JSON file, checked when loaded, and a user's arm by a consistent hash. Stdlib only.

The file (``VIDREC_EXPERIMENTS_FILE``) is ``{"experiments": [ ... ]}``, each experiment::

    {"name": "ranker-v2", "salt": "2026-12-a", "surfaces": ["home"],
     "arms": [{"name": "control", "share": 0.5},
              {"name": "treatment", "share": 0.5, "version": "2026-12-01-1a2b3c4d",
               "policy": {"exploration_share": 0.2, "creator_max_per_window": 1}}]}

An arm serves the active version unless it names one (``version``), re-ranked by its ``policy`` (only the keys
of POLICY_KEYS). Shares are positive and add up to 1. Names and salts are unique and a surface belongs to one
experiment at most; a user is in every experiment at once, each assigning independently by its own salt. A
user's arm: the first 8 bytes of BLAKE2b(salt + ":" + user_id), as a fraction of 2^64, against the arms'
cumulative shares. Stable across requests, restarts and machines, it needs no stored state; changing an
experiment's salt reshuffles its users. A canary (``vidrec publish --canary``) is one more experiment, on every
surface, that takes its share of users before the file's experiments (``assign``).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

CANARY = "canary"
POLICY_KEYS = {"exploration_share": float, "creator_max_per_window": int, "blend_share": float, "serve": str,
               "context_weight": float}  # context_weight: the request context model's weight (0: off), vidrec.context
SERVE_LISTS = ("trending",)  # policy "serve": the arm gets this list instead (the popularity baseline)
SURFACES = ("home", "related", "trending", "category", "fresh")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ExperimentError(ValueError):
    """The experiments file is wrong; the message says where and what."""


@dataclass(frozen=True)
class Arm:
    name: str
    share: float
    version: str | None = None
    policy: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    """What serves one request: the experiment and arm it falls in (None: none applies), the version its
    arm names (None: the active one) and the arm's re-rank policy."""

    experiment: str | None = None
    arm: str | None = None
    version: str | None = None
    policy: dict = field(default_factory=dict)


NONE = Assignment()


@dataclass(frozen=True)
class Experiment:
    name: str
    salt: str
    arms: tuple[Arm, ...]
    surfaces: tuple[str, ...] = ("home",)
    assignments: tuple[Assignment, ...] = field(init=False, repr=False, compare=False)  # one per arm, made once
    bounds: tuple[float, ...] = field(init=False, repr=False, compare=False)  # the arms' cumulative shares

    def __post_init__(self) -> None:
        object.__setattr__(self, "assignments", tuple(Assignment(self.name, a.name, a.version, a.policy)
                                                       for a in self.arms))
        object.__setattr__(self, "bounds", tuple(itertools.accumulate(a.share for a in self.arms))[:-1])

    def arm_of(self, user_id: str) -> Arm:
        """The user's arm (``bucket`` against the cumulative shares; the last arm takes any rounding rest)."""
        return self.arms[bisect.bisect_right(self.bounds, bucket(self.salt, user_id))]

    def assigned(self, user_id: str) -> Assignment:
        return self.assignments[bisect.bisect_right(self.bounds, bucket(self.salt, user_id))]


def canary(version: str, share: float) -> Experiment:
    """The canary of ``version`` as an experiment named ``canary-<version>``: ``share`` of the users (on every
    surface) get it, the rest (``control``) the active version. Its salt is the version, so each canary draws its
    own users."""
    return Experiment(f"{CANARY}-{version}", f"{CANARY}:{version}",
                      (Arm("control", 1.0 - share), Arm(CANARY, share, version)), SURFACES)


def assign(experiments: dict[str, Experiment], surface: str, user_id: str | None,
           canary_of: Experiment | None = None) -> Assignment:
    """The request's assignment: a user in the canary's arm gets the canary; anyone else the arm of the
    experiment on ``surface`` (``by_surface``), or the canary's control arm, or NONE. No user, no assignment."""
    if user_id is None:
        return NONE
    held = NONE
    if canary_of is not None:
        held = canary_of.assigned(user_id)
        if held.version is not None:
            return held
    experiment = experiments.get(surface)
    return held if experiment is None else experiment.assigned(user_id)


def by_surface(experiments: tuple[Experiment, ...]) -> dict[str, Experiment]:
    """surface -> the experiment on it (``parse`` allows one per surface)."""
    return {s: e for e in experiments for s in e.surfaces}


def bucket(salt: str, user_id: str) -> float:
    """A uniform number in [0, 1) for (salt, user): the same everywhere, every time."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def parse(doc: dict) -> tuple[Experiment, ...]:
    """Experiments from the file's JSON; ExperimentError names the first problem."""
    if not isinstance(doc, dict) or not isinstance(doc.get("experiments"), list):
        raise ExperimentError('expected {"experiments": [...]}')
    out = [_experiment(e, i) for i, e in enumerate(doc["experiments"])]
    for what in ("name", "salt"):
        values = [getattr(e, what) for e in out]
        if len(set(values)) != len(values):
            raise ExperimentError(f"experiment {what}s must be unique, got {values}")
    surfaces = [s for e in out for s in e.surfaces]
    if len(set(surfaces)) != len(surfaces):
        raise ExperimentError(f"a surface belongs to one experiment at most, got {surfaces}")
    if any(e.name.startswith(CANARY) for e in out):
        raise ExperimentError(f"names starting with {CANARY!r} are the canaries' (`vidrec publish --canary`)")
    return tuple(out)


def _experiment(e, i: int) -> Experiment:
    where = f"experiments[{i}]"
    if not isinstance(e, dict):
        raise ExperimentError(f"{where}: expected an object")
    unknown = set(e) - {"name", "salt", "arms", "surfaces"}
    if unknown:
        raise ExperimentError(f"{where}: unknown keys {sorted(unknown)}")
    name, salt = e.get("name"), e.get("salt")
    for key, value in (("name", name), ("salt", salt)):
        if not isinstance(value, str) or not _NAME.match(value):
            raise ExperimentError(f"{where}.{key}: 1-64 of [A-Za-z0-9._-], got {value!r}")
    surfaces = e.get("surfaces", ["home"])
    if not isinstance(surfaces, list) or not surfaces or any(s not in SURFACES for s in surfaces):
        raise ExperimentError(f"{where}.surfaces: a non-empty list of {SURFACES}, got {surfaces!r}")
    arms = e.get("arms")
    if not isinstance(arms, list) or not arms:
        raise ExperimentError(f"{where}.arms: a non-empty list")
    parsed = tuple(_arm(a, f"{where}.arms[{j}]") for j, a in enumerate(arms))
    if len({a.name for a in parsed}) != len(parsed):
        raise ExperimentError(f"{where}.arms: names must be unique")
    if abs(sum(a.share for a in parsed) - 1.0) > 1e-9:
        raise ExperimentError(f"{where}.arms: shares must add up to 1, got {sum(a.share for a in parsed)}")
    return Experiment(name, salt, parsed, tuple(surfaces))


def _arm(a, where: str) -> Arm:
    if not isinstance(a, dict) or set(a) - {"name", "share", "version", "policy"}:
        raise ExperimentError(f"{where}: an object of name, share, version, policy")
    name, share, version, policy = a.get("name"), a.get("share"), a.get("version"), a.get("policy", {})
    if not isinstance(name, str) or not _NAME.match(name):
        raise ExperimentError(f"{where}.name: 1-64 of [A-Za-z0-9._-], got {name!r}")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ExperimentError(f"{where}.share: a number in (0, 1], got {share!r}")
    if version is not None and (not isinstance(version, str) or not _NAME.match(version)):
        raise ExperimentError(f"{where}.version: a published version's name, got {version!r}")
    if not isinstance(policy, dict) or set(policy) - set(POLICY_KEYS):
        raise ExperimentError(f"{where}.policy: keys among {sorted(POLICY_KEYS)}, got {policy!r}")
    for key, value in policy.items():
        kind = POLICY_KEYS[key]
        if kind is str:
            if value not in SERVE_LISTS:
                raise ExperimentError(f"{where}.policy.{key}: one of {SERVE_LISTS}, got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ExperimentError(f"{where}.policy.{key}: a {kind.__name__}, got {value!r}")
        if value < 0:
            raise ExperimentError(f"{where}.policy.{key}: not negative, got {value!r}")
    return Arm(name, float(share), version, {k: POLICY_KEYS[k](v) for k, v in policy.items()})


def load(path: str | Path | None) -> tuple[Experiment, ...]:
    """The experiments of the file at ``path`` (none when ``path`` is empty); ExperimentError when it is wrong."""
    if not path:
        return ()
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExperimentError(f"{path}: {exc}") from exc
    try:
        return parse(doc)
    except ExperimentError as exc:
        raise ExperimentError(f"{path}: {exc}") from None
