"""The synthetic catalog: videos, creators, users and their tastes, plus the samplers events draw from.

Part of the seeded generator (``vidrec.sources.synthetic_events`` documents the model); real catalog statistics
come from ``vidrec.sources.kuairand``, the tables are built with ``vidrec.sources.landing_files``. Stdlib-only at
import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidrec.sources.kuairand import kuairand_features, read_kuairand
from vidrec.sources.landing_files import arrow_table, prefixed_ids
from vidrec.tables import USER_FIELDS, VIDEO_FIELDS


DAY_US = 86_400_000_000
UPLOAD_LEAD_DAYS = 60


CATEGORIES = ("Music", "Gaming", "Comedy", "Dance", "Food", "Sports", "Beauty", "Pets",
              "Education", "Tech", "Travel", "News")
CATEGORY_SHARES = (0.16, 0.14, 0.13, 0.10, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.04, 0.03)
TAG_WORDS = {
    "Music": ("pop", "hiphop", "cover", "live", "kpop", "guitar", "remix", "lyrics"),
    "Gaming": ("minecraft", "fortnite", "speedrun", "esports", "walkthrough", "retro", "mobile", "fps"),
    "Comedy": ("prank", "sketch", "standup", "parody", "fail", "meme", "skit", "reaction"),
    "Dance": ("choreo", "challenge", "ballet", "breakdance", "salsa", "tutorial", "duet", "trend"),
    "Food": ("recipe", "streetfood", "baking", "vegan", "asmr", "mukbang", "bbq", "dessert"),
    "Sports": ("football", "basketball", "cricket", "highlights", "fitness", "skate", "surf", "mma"),
    "Beauty": ("makeup", "skincare", "hair", "nails", "grwm", "fashion", "outfit", "haul"),
    "Pets": ("cats", "dogs", "puppy", "kitten", "birds", "aquarium", "rescue", "funnypets"),
    "Education": ("science", "history", "math", "language", "howto", "space", "lifehack", "facts"),
    "Tech": ("unboxing", "review", "smartphone", "coding", "ai", "gadgets", "pcbuild", "tips"),
    "Travel": ("vlog", "beach", "hiking", "roadtrip", "citytour", "camping", "drone", "hotel"),
    "News": ("politics", "economy", "weather", "world", "local", "interview", "breaking", "explainer"),
}
REGIONS = ("us", "in", "br", "id", "mx", "de", "gb", "jp")
REGION_SHARES = (0.30, 0.18, 0.14, 0.10, 0.08, 0.07, 0.07, 0.06)
LANGUAGES = ("en", "hi", "pt", "id", "es", "de", "ja")
THUMBNAILS, PAGES = "https://img.example.com/thumb/", "https://videos.example.com/watch/"  # + video id: made-up links
REGION_LANGUAGE = (0, 1, 2, 3, 4, 5, 0, 6)  # index into LANGUAGES per region; "in" is 40% "en"
AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARES = (0.10, 0.30, 0.27, 0.16, 0.10, 0.07)
DEVICE_SHARES = (0.55, 0.30, 0.10, 0.05)
SURFACE_SHARES = (0.60, 0.20, 0.12, 0.08)
SHARED_SURFACES = ("home", "related", "trending", "search")  # the surfaces of SURFACE_SHARES, in its order

# ---------------------------------------------------------------- catalog


@dataclass
class Catalog:
    """Numpy arrays of the catalog plus the lookup structures the event generator samples from."""

    start_us: int
    end_us: int
    v_category: object
    v_creator: object
    v_duration: object
    v_upload: object
    v_language: object
    v_tags: object  # pyarrow ListArray of strings
    u_region: object
    u_age: object
    u_device: object
    u_signup: object
    u_activity_cum: object
    u_tastes: object  # (n_users, 3) category ids, -1 when unused
    u_taste_cum: object  # (n_users, 3) cumulative taste weights, last column 1
    pick_key: object  # videos sorted by (category, upload): category << 44 | upload offset
    pick_cum: object  # cumulative popularity in that order, with a leading 0
    pick_video: object  # video index in that order
    category_start: object
    time_grid: object  # diurnal inverse CDF: quantile grid -> time
    time_cdf: object
    video_ids: object = None  # Arrow "v<i>" strings, taken per event
    user_ids: object = None


def seeded_rng(seed: int, *keys: int):
    import numpy as np

    return np.random.default_rng([seed % (1 << 63), *keys])


def activity_window(start: str, days: int) -> tuple[int, int]:
    import numpy as np

    start_us = int(np.datetime64(start, "us").astype(np.int64))
    return start_us, start_us + days * DAY_US


def build_catalog(seed: int, n_users: int, n_videos: int, window: tuple[int, int],
                  catalog_path: Path | None = None) -> Catalog:
    """Build the seeded catalog (videos, users, tastes) and its sampling structures."""
    import numpy as np

    kuai = read_kuairand(catalog_path, len(CATEGORIES)) if catalog_path is not None else None
    videos = _make_videos(seeded_rng(seed, 0, 1), n_videos, window, kuai)
    users = _make_users(seeded_rng(seed, 0, 2), n_users, window[0])
    return Catalog(start_us=window[0], end_us=window[1], **videos, **users,
                   **_pick_index(seeded_rng(seed, 0, 3), videos, window), **_diurnal(window),
                   video_ids=prefixed_ids("v", np.arange(n_videos)), user_ids=prefixed_ids("u", np.arange(n_users)))


def weighted_choice(rng, shares, n: int):
    """``n`` draws of indices with probabilities ``shares`` (vectorized, int32)."""
    import numpy as np

    cum = np.cumsum(shares, dtype=np.float64)
    return np.searchsorted(cum / cum[-1], rng.random(n), side="right").astype(np.int32)


def _make_videos(rng, n: int, window: tuple[int, int], kuai: dict | None) -> dict:
    import numpy as np

    counts = _creator_counts(rng, n, kuai)
    creator = rng.permutation(np.repeat(np.arange(len(counts), dtype=np.int32), counts))
    c_category = weighted_choice(rng, CATEGORY_SHARES, len(counts))
    category = np.where(rng.random(n) < 0.85, c_category[creator], rng.integers(0, len(CATEGORIES), n))
    category[: len(CATEGORIES)] = np.arange(len(CATEGORIES))  # every category has a video
    c_language = np.asarray(REGION_LANGUAGE)[weighted_choice(rng, REGION_SHARES, len(counts))]
    language = c_language[creator]
    language[(language == 1) & (rng.random(n) < 0.4)] = 0  # "in": hindi or english
    start_us, end_us = window
    upload = rng.integers(start_us - UPLOAD_LEAD_DAYS * DAY_US, end_us, n)
    upload[: len(CATEGORIES)] = start_us - rng.integers(DAY_US, UPLOAD_LEAD_DAYS * DAY_US, len(CATEGORIES))
    if kuai is None:
        duration, tags = _builtin_durations(rng, n), _builtin_tags(rng, category)
    else:
        duration, tags = kuairand_features(rng, category, kuai, len(CATEGORIES))
    return dict(v_category=category.astype(np.int32), v_creator=creator, v_duration=duration,
                v_upload=upload, v_language=language, v_tags=tags)


def _creator_counts(rng, n_videos: int, kuai: dict | None):
    """Videos per creator (heavy-tailed, mean ~8; or resampled from KuaiRand), summing to ``n_videos``."""
    import numpy as np

    counts = np.empty(0, dtype=np.int64)
    while counts.sum() < n_videos:
        if kuai is None:
            more = np.maximum(1, np.rint(rng.lognormal(1.2, 1.2, n_videos // 4 + 16))).astype(np.int64)
        else:
            more = rng.choice(kuai["creator_counts"], n_videos // 2 + 16)
        counts = np.concatenate([counts, more])
    total = np.cumsum(counts)
    k = int(np.searchsorted(total, n_videos)) + 1
    counts = counts[:k]
    counts[-1] -= total[k - 1] - n_videos
    return counts


def _builtin_durations(rng, n: int):
    import numpy as np

    seconds = np.clip(rng.lognormal(np.log(45.0), 0.9, n), 5.0, 1200.0)
    return np.rint(seconds * 1000).astype(np.int64)


def _builtin_tags(rng, category):
    """1-3 distinct tags per video from its category's vocabulary."""
    import numpy as np
    import pyarrow as pa

    words = pa.array([w for c in CATEGORIES for w in TAG_WORDS[c]])
    per = len(TAG_WORDS[CATEGORIES[0]])
    n = len(category)
    k = weighted_choice(rng, (0.3, 0.45, 0.25), n) + 1
    first, step = rng.integers(0, per, n), rng.choice(np.array([1, 3, 5, 7]), n)
    row = np.repeat(np.arange(n), k)
    j = np.arange(len(row)) - np.repeat(np.cumsum(k) - k, k)
    values = category[row] * per + (first[row] + j * step[row]) % per
    offsets = np.concatenate([[0], np.cumsum(k)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), words.take(pa.array(values)))


# ---------------------------------------------------------------- users


def _make_users(rng, n: int, start_us: int) -> dict:
    import numpy as np

    tastes, taste_cum = _tastes(rng, n)
    return dict(
        u_region=weighted_choice(rng, REGION_SHARES, n), u_age=weighted_choice(rng, AGE_SHARES, n),
        u_device=weighted_choice(rng, DEVICE_SHARES, n),
        u_signup=start_us - rng.integers(DAY_US, 3 * 365 * DAY_US, n),
        u_activity_cum=np.cumsum(rng.lognormal(0.0, 1.2, n)),
        u_tastes=tastes, u_taste_cum=taste_cum,
    )


def _tastes(rng, n: int):
    """1-3 distinct favourite categories per user (popular categories likelier), with weights."""
    import numpy as np

    gumbel = np.log(np.asarray(CATEGORY_SHARES)) - np.log(-np.log(rng.random((n, len(CATEGORIES)))))
    tastes = np.argsort(-gumbel, axis=1)[:, :3].astype(np.int32)
    k = weighted_choice(rng, (0.3, 0.45, 0.25), n) + 1
    used = np.arange(3) < k[:, None]
    tastes[~used] = -1
    weight = (rng.random((n, 3)) + np.array([1.0, 0.5, 0.25])) * used
    cum = np.cumsum(weight, axis=1) / weight.sum(axis=1, keepdims=True)
    cum[:, 2] = 1.0
    return tastes, cum


# ---------------------------------------------------------------- sampling structures


def _pick_index(rng, videos: dict, window: tuple[int, int]) -> dict:
    """Videos sorted by (category, upload) with cumulative Zipf popularity, for time-aware picks."""
    import numpy as np

    n = len(videos["v_category"])
    popularity = (1.0 + rng.permutation(n)) ** -0.9
    upload = videos["v_upload"] - (window[0] - UPLOAD_LEAD_DAYS * DAY_US)
    key = (videos["v_category"].astype(np.int64) << 44) | upload
    order = np.argsort(key, kind="stable")
    size = np.bincount(videos["v_category"], minlength=len(CATEGORIES))
    return dict(pick_key=key[order], pick_cum=np.concatenate([[0.0], np.cumsum(popularity[order])]),
                pick_video=order.astype(np.int32), category_start=np.cumsum(size) - size)


def _diurnal(window: tuple[int, int]) -> dict:
    """Inverse CDF of a daily activity curve (quiet at 04:00 UTC, busiest at 16:00 UTC)."""
    import numpy as np

    grid = np.linspace(window[0], window[1], int((window[1] - window[0]) // (DAY_US // 96)) + 1)
    hours = (grid - window[0]) / 3_600_000_000 % 24
    rate = 1.0 + 0.6 * np.sin((hours - 10.0) / 24.0 * 2 * np.pi)
    cdf = np.concatenate([[0.0], np.cumsum((rate[1:] + rate[:-1]) / 2)])
    return dict(time_grid=grid, time_cdf=cdf / cdf[-1])


# ---------------------------------------------------------------- catalog tables


def videos_table(cat: Catalog):
    """The catalog's videos as an Arrow table with ``VIDEO_FIELDS``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(cat.v_category)
    number = pc.cast(pa.array(np.arange(n)), pa.string())
    category = pa.array(CATEGORIES).take(pa.array(cat.v_category))
    columns = {
        "video_id": cat.video_ids, "title": pc.binary_join_element_wise(category, "video", number, " "),
        "creator_id": prefixed_ids("c", cat.v_creator), "category": category, "tags": cat.v_tags,
        "duration_ms": pa.array(cat.v_duration), "upload_ts": pa.array(cat.v_upload, type=pa.timestamp("us", tz="UTC")),
        "language": pa.array(LANGUAGES).take(pa.array(cat.v_language)),
        "thumbnail_url": pc.binary_join_element_wise(THUMBNAILS, cat.video_ids, ".jpg", ""),
        "url": pc.binary_join_element_wise(PAGES, cat.video_ids, ""),
    }
    return arrow_table(columns, VIDEO_FIELDS)


def users_table(cat: Catalog):
    """The catalog's users as an Arrow table with ``USER_FIELDS``."""
    import pyarrow as pa

    columns = {
        "user_id": cat.user_ids, "region": pa.array(REGIONS).take(pa.array(cat.u_region)),
        "age_band": pa.array(AGE_BANDS).take(pa.array(cat.u_age)),
        "signup_ts": pa.array(cat.u_signup, type=pa.timestamp("us", tz="UTC")),
    }
    return arrow_table(columns, USER_FIELDS)
