"""Synthetic stand-ins for the data sets the project keeps aside: the offline harness's other domains.

Each set is a seeded ratings frame (user_id, video_id, rating, ts) and a catalog (video_id, title,
creator_id, category, upload_ts), from one generative model with a knob for what drives choices:

- every video has a **quality** (normal) and a latent **profile** (``DIM`` factors around its
  category's centre); every user a **taste** (factors around 1-3 favourite categories);
- a user's utility for a video is ``quality_weight * quality + taste_weight * <taste, profile>``, and a
  user with ``n`` interactions picks ``n`` videos without replacement with probability proportional to
  ``exp(utility)`` (Gumbel top-k), among the videos uploaded before their last interaction;
- interactions per user are log-normal around ``per_user`` (at least ``min_per_user``); the rating
  (1..5) grows with the utility; timestamps are spread over ``days`` after each video's upload.

Sets (``SETS``):

- ``quality``: dense short-video positives (1.4k users, 3.3k videos, ~150 per user), item quality
  dominates taste: popularity is a strong baseline that a personal model has to recover and add to;
- ``taste``: taste dominates quality (personal signal wins; popularity is weak);
- ``ml-1m``: MovieLens-1M-sized (6k users, 3.7k items, ~1M ratings), a mix of both: for training time;
- ``feed``: a short-video feed with engagement signals (``signals``; ``models.evaluation.signals``): each
  row also has a ``watch_fraction`` and ``liked``, ``shared``, ``not_interested`` flags. The watch fraction
  and the like grow with the utility, a like also with the video's own likeability and a share mostly with
  its shareability (so each objective has signal of its own); every user has one category they do not want,
  whose videos still reach them by quality and are marked not interested seven times in ten (elsewhere
  rarely, on low utility). That is what the multi-objective ranker and its composite are measured on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from vidrec.tables import TS, USER_ID, VIDEO_ID

DIM = 16
START = pd.Timestamp("2026-01-01", tz="UTC")


@dataclass(frozen=True)
class SetParams:
    users: int
    videos: int
    per_user: float          # median interactions per user
    quality_weight: float    # utility per standard deviation of video quality
    taste_weight: float      # utility per unit of <taste, profile>
    categories: int = 20
    creators: int = 400
    days: int = 90
    min_per_user: int = 5
    spread: float = 0.8      # sigma of log(interactions per user)
    signals: bool = False    # also watch_fraction, liked, shared, not_interested per row (``_signals``)


SETS = {
    "quality": SetParams(users=1400, videos=3300, per_user=120, quality_weight=2.0, taste_weight=0.3),
    "taste": SetParams(users=2000, videos=3000, per_user=50, quality_weight=0.4, taste_weight=2.0),
    "ml-1m": SetParams(users=6040, videos=3700, per_user=121, quality_weight=1.0, taste_weight=1.5),
    "feed": SetParams(users=1500, videos=3000, per_user=80, quality_weight=1.0, taste_weight=1.5, signals=True),
}


def make(name: str, seed: int = 42, **overrides) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ratings, catalog) of the set ``name`` (``SETS``), fields of ``SetParams`` overridden by keyword."""
    if name not in SETS:
        raise ValueError(f"unknown synthetic set {name!r}: one of {sorted(SETS)}")
    params = replace(SETS[name], **overrides)
    ratings, catalog = generate(params, seed)
    ratings.attrs["name"] = f"synthetic-{name}"
    return ratings, catalog


def generate(p: SetParams, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng([seed, 14])
    centres = rng.normal(0, 1, (p.categories, DIM)) / np.sqrt(DIM)
    category = rng.integers(0, p.categories, p.videos)
    profile = centres[category] + rng.normal(0, 0.5, (p.videos, DIM)) / np.sqrt(DIM)
    quality = rng.normal(0, 1, p.videos)
    upload_day = rng.uniform(-p.days, p.days * 0.8, p.videos)  # some videos arrive during the window
    favourites = rng.integers(0, p.categories, (p.users, 3))
    n_fav = rng.integers(1, 4, p.users)
    mask = np.arange(3)[None, :] < n_fav[:, None]
    taste = (centres[favourites] * mask[..., None]).sum(axis=1) / n_fav[:, None]
    taste = (taste + rng.normal(0, 0.5, (p.users, DIM)) / np.sqrt(DIM)) * np.sqrt(DIM)
    counts = np.clip(np.round(p.per_user * np.exp(rng.normal(0, p.spread, p.users))), p.min_per_user,
                     p.videos // 2).astype(int)
    last_day = rng.uniform(p.days * 0.3, p.days, p.users)  # each user's last active day
    users, videos, utilities = [], [], []
    for u in range(p.users):
        utility = p.quality_weight * quality + p.taste_weight * (profile @ taste[u])
        available = np.flatnonzero(upload_day < last_day[u])
        noisy = utility[available] + rng.gumbel(size=len(available))
        n = min(counts[u], len(available))
        picked = available[np.argpartition(-noisy, n - 1)[:n]]
        users.append(np.full(n, u))
        videos.append(picked)
        utilities.append(utility[picked])
    user, video, utility = np.concatenate(users), np.concatenate(videos), np.concatenate(utilities)
    first = np.maximum(upload_day[video], 0.0)
    day = first + rng.random(len(video)) * np.maximum(last_day[user] - first, 0.01)
    z = (utility - utility.mean()) / (utility.std() or 1.0)
    rating = np.clip(np.round(3.5 + z + rng.normal(0, 0.7, len(z))), 1, 5).astype(np.int8)
    ratings = pd.DataFrame({USER_ID: user + 1, VIDEO_ID: video + 1, "rating": rating,
                            TS: (START.timestamp() + day * 86_400).astype(np.int64)})
    if p.signals:  # a stream of its own: the sets without signals stay as they were
        ratings = ratings.assign(**_signals(p, seed, user, video, z, category, favourites))
    creator = (category * (p.creators // p.categories) + rng.integers(0, p.creators // p.categories, p.videos))
    catalog = pd.DataFrame({VIDEO_ID: np.arange(1, p.videos + 1), "title": [f"video {i}" for i in range(1, p.videos + 1)],
                            "creator_id": [f"c{c}" for c in creator], "category": [f"cat{c}" for c in category],
                            "upload_ts": START + pd.to_timedelta(upload_day, unit="D")})
    return ratings.sort_values([TS, USER_ID]).reset_index(drop=True), catalog


def _signals(p: SetParams, seed: int, user: np.ndarray, video: np.ndarray, z: np.ndarray, category: np.ndarray,
             favourites: np.ndarray) -> dict:
    """watch_fraction, liked, shared, not_interested per row (see the module docstring)."""
    rng = np.random.default_rng([seed, 15])
    likeability, shareability = rng.normal(0, 1, p.videos), rng.normal(0, 1, p.videos)
    avoid = rng.integers(0, p.categories, p.users)
    for _ in range(3):  # not one of the user's favourites
        clash = (avoid[:, None] == favourites).any(axis=1)
        avoid[clash] = rng.integers(0, p.categories, int(clash.sum()))
    unwanted = category[video] == avoid[user]
    chance = np.where(unwanted, 0.7, _sigmoid(-5.0 - 1.5 * z))
    rejected = rng.random(len(z)) < chance
    fraction = _sigmoid(1.2 * z + rng.normal(0, 0.8, len(z)))
    fraction = np.where(rejected, fraction * 0.1, fraction).clip(0.01, 1.0)
    liked = (rng.random(len(z)) < _sigmoid(-1.5 + z + likeability[video])) & ~rejected
    shared = (rng.random(len(z)) < _sigmoid(-3.5 + 0.5 * z + 1.5 * shareability[video])) & ~rejected
    return {"watch_fraction": fraction.round(3), "liked": liked.astype(np.int8), "shared": shared.astype(np.int8),
            "not_interested": rejected.astype(np.int8)}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
