"""Seeded synthetic catalog and event stream: the demo's default landing data.

``generate(out_dir, events=N, seed=S)`` writes ``videos/videos-S.parquet``, ``users/users-S.parquet``
and ``events/events-S-NNNNN.parquet`` (or ``.jsonl``), one file per ``chunk_events`` events. Events
are streamed: they are generated in fixed blocks of ``BLOCK_EVENTS`` (block ``b`` uses the RNG
``default_rng([seed, 1, b])`` and covers the ``b``-th slice of the activity window), then re-cut into
files, so the content depends only on ``seed``, ``events``, ``days`` and ``start``, never on the
chunk size. Every file is written under a temporary name and renamed into place.

The model, so that recommenders have something to find:

- sizes grow with ``events``: users ~ events/50 (200..5M), videos ~ events/100 (300..1M),
  creators ~ videos/8 with heavy-tailed (log-normal) videos per creator; 12 categories, each
  creator has a main category (85% of its videos); tags from a per-category vocabulary.
- video popularity is Zipf-like within each category; uploads arrive at a constant daily rate
  over the 60 days before the window and during it; a video is only shown after its upload.
- each user has 1-3 favourite categories; 80% of exposures come from them. Users have
  heavy-tailed activity, a region (skewed shares), a device and an age band.
- a session is a run of exposures (mean 5) of one user. Each exposure is an ``impression``,
  then possibly ``click``, ``watch``, ``like``, ``share``, ``dislike``, or ``skip`` and
  ``not_interested``. In-taste exposures are watched longer and liked more; off-taste ones are
  skipped more. Mix: ~40% impressions, ~30% watches, ~10% clicks, ~9% skips, ~7% likes.
- ``watch_ms`` is set on watch events only (0 elsewhere): duration x fraction, where short
  videos (< 30 s) are sometimes replayed, never beyond 3x their duration.

With ``catalog_path`` (a KuaiRand ``kuairand-catalog`` folder), video durations, tags and the
videos-per-creator distribution are sampled from ``video_features_basic_pure.csv`` instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vidrec.tables import DEVICES, EVENT_FIELDS, EVENT_TYPES, SURFACES, USER_FIELDS, VIDEO_FIELDS

BLOCK_EVENTS = 1 << 17
DAY_US = 86_400_000_000
UPLOAD_LEAD_DAYS = 60
MAX_USERS, MAX_VIDEOS = 5_000_000, 1_000_000

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
REGION_LANGUAGE = (0, 1, 2, 3, 4, 5, 0, 6)  # index into LANGUAGES per region; "in" is 40% "en"
AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARES = (0.10, 0.30, 0.27, 0.16, 0.10, 0.07)
DEVICE_SHARES = (0.55, 0.30, 0.10, 0.05)
SURFACE_SHARES = (0.60, 0.20, 0.12, 0.08)

# Per exposure, one column per event kind, in the order the events happen.
KINDS = ("impression", "click", "watch", "like", "share", "dislike", "skip", "not_interested")
KIND_OFFSET_MS = (0, 400, 900, 900, 1_200, 1_000, 1_500, 2_500)
KIND_AFTER_WATCH = (0, 0, 0, 1, 1, 1, 0, 0)  # like/share/dislike happen at the end of the watch
# Probabilities [off-taste, in-taste]; click/like/share are conditional on a watch, skip on no
# watch, not_interested on a skip.
P_WATCH, P_SKIP, P_CLICK = (0.40, 0.85), (0.92, 0.80), (0.25, 0.35)
P_LIKE, P_SHARE, P_DISLIKE, P_NOT_INTERESTED = (0.08, 0.26), (0.01, 0.06), (0.06, 0.005), (0.18, 0.03)
P_NEW_SESSION, P_FROM_TASTE = 0.2, 0.8


def generate(out_dir: Path, *, events: int, seed: int = 42, days: int = 7, start: str = "2026-11-01",
             fmt: str = "parquet", catalog_path: Path | None = None, chunk_events: int = 500_000) -> dict:
    """Write a seeded catalog and ``events`` events as landing files under ``out_dir``; return a summary."""
    if fmt not in ("parquet", "jsonl"):
        raise ValueError(f"fmt must be 'parquet' or 'jsonl', not {fmt!r}")
    if events < 0 or chunk_events <= 0 or days <= 0:
        raise ValueError("events must be >= 0, chunk_events and days positive")
    out_dir = Path(out_dir)
    n_users, n_videos = sizes(events)
    cat = build_catalog(seed, n_users, n_videos, _window(start, days), catalog_path)
    files = [write_parquet(videos_table(cat), out_dir / "videos" / f"videos-{seed}.parquet"),
             write_parquet(users_table(cat), out_dir / "users" / f"users-{seed}.parquet")]
    files += _write_events(_rechunk(_event_blocks(cat, seed, events), chunk_events),
                           out_dir / "events", f"events-{seed}", fmt)
    return {"out": str(out_dir), "videos": n_videos, "users": n_users, "events": events,
            "files": [str(f) for f in files], "seed": seed}


def sizes(events: int) -> tuple[int, int]:
    """(users, videos) for an event count."""
    return min(max(200, events // 50), MAX_USERS), min(max(300, events // 100), MAX_VIDEOS)


# ---------------------------------------------------------------- writing


def write_parquet(table, path: Path) -> Path:
    """Write ``table`` to ``path`` atomically (temporary name in the same folder, then rename)."""
    import pyarrow.parquet as pq

    plain = [c for c in ("event_id", "session_id", "title") if c in table.column_names]
    dictionary = [c for c in table.column_names if c not in plain]
    return _atomic(path, lambda tmp: pq.write_table(table, tmp, use_dictionary=dictionary))


def write_jsonl(table, path: Path) -> Path:
    """Write ``table`` as JSON lines, timestamps as ISO-8601 UTC strings with milliseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            ms = pc.cast(table.column(i), pa.timestamp("ms", tz="UTC"), safe=False)
            table = table.set_column(i, field.name, pc.strftime(ms, format="%Y-%m-%dT%H:%M:%SZ"))
    frame = table.to_pandas()
    return _atomic(path, lambda tmp: frame.to_json(tmp, orient="records", lines=True, force_ascii=False))


def _write_events(tables, folder: Path, stem: str, fmt: str) -> list[Path]:
    """Write each table to ``stem-NNNNN.fmt``; a writer thread overlaps writing a chunk with generating the next."""
    from concurrent.futures import ThreadPoolExecutor

    write = write_parquet if fmt == "parquet" else write_jsonl
    files, pending = [], None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for i, table in enumerate(tables):
            future = pool.submit(write, table, folder / f"{stem}-{i:05d}.{fmt}")
            if pending is not None:
                files.append(pending.result())
            pending = future
        if pending is not None:
            files.append(pending.result())
    return files


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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


def _rng(seed: int, *keys: int):
    import numpy as np

    return np.random.default_rng([seed % (1 << 63), *keys])


def _window(start: str, days: int) -> tuple[int, int]:
    import numpy as np

    start_us = int(np.datetime64(start, "us").astype(np.int64))
    return start_us, start_us + days * DAY_US


def build_catalog(seed: int, n_users: int, n_videos: int, window: tuple[int, int],
                  catalog_path: Path | None = None) -> Catalog:
    """Build the seeded catalog (videos, users, tastes) and its sampling structures."""
    import numpy as np

    kuai = read_kuairand(catalog_path) if catalog_path is not None else None
    videos = _make_videos(_rng(seed, 0, 1), n_videos, window, kuai)
    users = _make_users(_rng(seed, 0, 2), n_users, window[0])
    return Catalog(start_us=window[0], end_us=window[1], **videos, **users,
                   **_pick_index(_rng(seed, 0, 3), videos, window), **_diurnal(window),
                   video_ids=_ids("v", np.arange(n_videos)), user_ids=_ids("u", np.arange(n_users)))


def _choice(rng, shares, n: int):
    """``n`` draws of indices with probabilities ``shares`` (vectorized, int32)."""
    import numpy as np

    cum = np.cumsum(shares, dtype=np.float64)
    return np.searchsorted(cum / cum[-1], rng.random(n), side="right").astype(np.int32)


def _make_videos(rng, n: int, window: tuple[int, int], kuai: dict | None) -> dict:
    import numpy as np

    counts = _creator_counts(rng, n, kuai)
    creator = rng.permutation(np.repeat(np.arange(len(counts), dtype=np.int32), counts))
    c_category = _choice(rng, CATEGORY_SHARES, len(counts))
    category = np.where(rng.random(n) < 0.85, c_category[creator], rng.integers(0, len(CATEGORIES), n))
    category[: len(CATEGORIES)] = np.arange(len(CATEGORIES))  # every category has a video
    c_language = np.asarray(REGION_LANGUAGE)[_choice(rng, REGION_SHARES, len(counts))]
    language = c_language[creator]
    language[(language == 1) & (rng.random(n) < 0.4)] = 0  # "in": hindi or english
    start_us, end_us = window
    upload = rng.integers(start_us - UPLOAD_LEAD_DAYS * DAY_US, end_us, n)
    upload[: len(CATEGORIES)] = start_us - rng.integers(DAY_US, UPLOAD_LEAD_DAYS * DAY_US, len(CATEGORIES))
    if kuai is None:
        duration, tags = _builtin_durations(rng, n), _builtin_tags(rng, category)
    else:
        duration, tags = _kuairand_features(rng, category, kuai)
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
    k = _choice(rng, (0.3, 0.45, 0.25), n) + 1
    first, step = rng.integers(0, per, n), rng.choice(np.array([1, 3, 5, 7]), n)
    row = np.repeat(np.arange(n), k)
    j = np.arange(len(row)) - np.repeat(np.cumsum(k) - k, k)
    values = category[row] * per + (first[row] + j * step[row]) % per
    offsets = np.concatenate([[0], np.cumsum(k)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), words.take(pa.array(values)))


# ---------------------------------------------------------------- KuaiRand catalog statistics


def read_kuairand(path: Path) -> dict:
    """Durations, tag lists and videos-per-creator counts from a ``kuairand-catalog`` folder.

    Rows are grouped into our categories by their first tag id (ids ordered by frequency and dealt
    round-robin), so videos of one category share real tag combinations.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    csv = Path(path) / "video_features_basic_pure.csv"
    if not csv.exists():
        raise ValueError(f"{path}: expected video_features_basic_pure.csv (KuaiRand-Pure catalog)")
    df = pd.read_csv(csv, usecols=["video_id", "author_id", "video_duration", "tag"], dtype={"tag": "string"})
    counts = df["author_id"].value_counts().to_numpy()
    df = df[df["video_duration"] > 0].reset_index(drop=True)
    first = df["tag"].str.split(",").str[0]
    order = first.value_counts().index
    deal = pd.Series(np.arange(len(order)) % len(CATEGORIES), index=order)
    category = first.map(deal).fillna(df["video_id"] % len(CATEGORIES)).to_numpy(np.int64)
    return {"durations": df["video_duration"].to_numpy(np.int64), "tags": _tag_lists(df["tag"]),
            "category": category, "creator_counts": counts.astype(np.int64)}


def _tag_lists(tag):
    """KuaiRand "39,68" strings -> lists ["tag39", "tag68"] (missing -> [])."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = pc.split_pattern(pa.array(tag.fillna(""), type=pa.string()), ",")
    values, parent = pc.list_flatten(lists), pc.list_parent_indices(lists).to_numpy()
    keep = pc.not_equal(values, "").to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parent[keep], minlength=len(lists)))])
    values = pc.binary_join_element_wise("tag", values.filter(pa.array(keep)), "")
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def _kuairand_features(rng, category, kuai: dict):
    """For each video, a KuaiRand row of the same category: its duration and its tags."""
    import numpy as np
    import pyarrow as pa

    order = np.argsort(kuai["category"], kind="stable")
    size = np.bincount(kuai["category"], minlength=len(CATEGORIES))
    first = np.cumsum(size) - size
    size_v, first_v = size[category], first[category]
    empty = size_v == 0  # a category without rows draws from all rows
    size_v, first_v = np.where(empty, len(order), size_v), np.where(empty, 0, first_v)
    pos = first_v + (rng.random(len(category)) * size_v).astype(np.int64)
    row = order[np.minimum(pos, len(order) - 1)]
    return kuai["durations"][row], kuai["tags"].take(pa.array(row))


# ---------------------------------------------------------------- users


def _make_users(rng, n: int, start_us: int) -> dict:
    import numpy as np

    tastes, taste_cum = _tastes(rng, n)
    return dict(
        u_region=_choice(rng, REGION_SHARES, n), u_age=_choice(rng, AGE_SHARES, n),
        u_device=_choice(rng, DEVICE_SHARES, n),
        u_signup=start_us - rng.integers(DAY_US, 3 * 365 * DAY_US, n),
        u_activity_cum=np.cumsum(rng.lognormal(0.0, 1.2, n)),
        u_tastes=tastes, u_taste_cum=taste_cum,
    )


def _tastes(rng, n: int):
    """1-3 distinct favourite categories per user (popular categories likelier), with weights."""
    import numpy as np

    gumbel = np.log(np.asarray(CATEGORY_SHARES)) - np.log(-np.log(rng.random((n, len(CATEGORIES)))))
    tastes = np.argsort(-gumbel, axis=1)[:, :3].astype(np.int32)
    k = _choice(rng, (0.3, 0.45, 0.25), n) + 1
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


# ---------------------------------------------------------------- events


def _event_blocks(cat: Catalog, seed: int, events: int):
    """Yield event tables of ``BLOCK_EVENTS`` rows (the last one shorter), block ``b`` seeded by (seed, b)."""
    n_blocks = -(-events // BLOCK_EVENTS)
    for b in range(n_blocks):
        n = min(BLOCK_EVENTS, events - b * BLOCK_EVENTS)
        yield _block(cat, seed, b, n_blocks, n)


def _rechunk(tables, chunk_events: int):
    """Re-cut a stream of tables into tables of exactly ``chunk_events`` rows (the last one shorter)."""
    import pyarrow as pa

    pending, held = [], 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= chunk_events:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, chunk_events)
            pending, held = [merged.slice(chunk_events)], held - chunk_events
    if held:
        yield pa.concat_tables(pending)


def _block(cat: Catalog, seed: int, b: int, n_blocks: int, n: int):
    import numpy as np

    rng = _rng(seed, 1, b)
    n_exp = int(n / 2.2) + 64
    while True:
        exp = _exposures(rng, cat, n_exp, (b / n_blocks, (b + 1) / n_blocks))
        flags, watch_ms = _outcomes(rng, exp["in_taste"], cat.v_duration[exp["video"]])
        if flags.sum() >= n:
            break
        n_exp *= 2
    exp["t"] = _exposure_times(rng, exp, flags, watch_ms, cat.end_us)
    cell = np.flatnonzero(flags)[:n]
    return _event_table(cat, seed, b, b * BLOCK_EVENTS, exp, watch_ms, cell)


def _exposures(rng, cat: Catalog, n: int, quantiles: tuple[float, float]) -> dict:
    """Sessions of exposures: who, when (session start), on which surface, which video."""
    import numpy as np

    new = rng.random(n) < P_NEW_SESSION
    new[0] = True
    session = np.cumsum(new) - 1
    n_sess = int(session[-1]) + 1
    s_user = np.searchsorted(cat.u_activity_cum, rng.random(n_sess) * cat.u_activity_cum[-1], side="right")
    s_user = np.minimum(s_user, len(cat.u_activity_cum) - 1)
    s_start = np.interp(rng.uniform(*quantiles, n_sess), cat.time_cdf, cat.time_grid).astype(np.int64)
    s_start = np.clip(s_start, cat.start_us, cat.end_us - 1)
    s_surface = _choice(rng, SURFACE_SHARES, n_sess)
    user, start = s_user[session], s_start[session]
    video, in_taste = _pick_videos(rng, cat, user, start)
    return dict(session=session, new=new, user=user, start=start, surface=s_surface[session],
                video=video, in_taste=in_taste)


def _pick_videos(rng, cat: Catalog, user, t_us):
    """A category from the user's tastes (or any, 20%), then a video by popularity among those already uploaded."""
    import numpy as np

    n = len(user)
    tastes, cum = cat.u_tastes[user], cat.u_taste_cum[user]
    u = rng.random(n)
    col = (u > cum[:, 0]).astype(np.int64) + (u > cum[:, 1])
    category = np.where(rng.random(n) < P_FROM_TASTE, tastes[np.arange(n), col],
                        rng.integers(0, len(CATEGORIES), n))
    in_taste = (tastes == category[:, None]).any(axis=1)
    upload_base = cat.start_us - UPLOAD_LEAD_DAYS * DAY_US
    lo = cat.category_start[category]
    hi = np.searchsorted(cat.pick_key, (category.astype(np.int64) << 44) | (t_us - upload_base), side="right")
    w_lo, w_hi = cat.pick_cum[lo], cat.pick_cum[hi]
    pos = np.searchsorted(cat.pick_cum, w_lo + rng.random(n) * (w_hi - w_lo), side="right") - 1
    return cat.pick_video[np.clip(pos, lo, hi - 1)], in_taste


def _outcomes(rng, in_taste, duration):
    """(n, len(KINDS)) flags of the events each exposure yields, and the watch time of watched ones."""
    import numpy as np

    t = in_taste.astype(np.int64)
    r = rng.random((len(t), 7))

    def p(pair):
        return np.asarray(pair)[t]

    watch = r[:, 0] < p(P_WATCH)
    skip = ~watch & (r[:, 1] < p(P_SKIP))
    like = watch & (r[:, 3] < p(P_LIKE))
    flags = np.column_stack([
        np.ones(len(t), dtype=bool), watch & (r[:, 2] < p(P_CLICK)), watch, like,
        watch & (r[:, 4] < p(P_SHARE)), ~like & (r[:, 5] < p(P_DISLIKE)), skip,
        skip & (r[:, 6] < p(P_NOT_INTERESTED)),
    ])
    return flags, np.where(watch, _watch_ms(rng, in_taste, duration), 0)


def _watch_ms(rng, in_taste, duration):
    """Watch time: a Beta fraction (longer in taste); short videos are sometimes replayed (< 3x)."""
    import numpy as np

    n = len(duration)
    fraction = np.where(in_taste, rng.beta(4.0, 1.8, n), rng.beta(1.2, 3.5, n))
    replay = (duration < 30_000) & (rng.random(n) < np.where(in_taste, 0.35, 0.05))
    fraction = np.where(replay, 1.0 + rng.random(n) * 2.0, fraction)
    return np.rint(duration * np.clip(fraction, 0.02, 3.0)).astype(np.int64)


def _exposure_times(rng, exp: dict, flags, watch_ms, end_us: int):
    """Each exposure starts after the previous one of its session ended (watch time plus a gap)."""
    import numpy as np

    dwell_ms = np.where(flags[:, 2], 900 + watch_ms, 2_500) + rng.exponential(3_000, len(watch_ms))
    ends = np.cumsum(dwell_ms)
    begins = ends - dwell_ms
    offset = begins - begins[np.flatnonzero(exp["new"])][exp["session"]]
    return np.minimum(exp["start"] + (offset * 1000).astype(np.int64), end_us - 1)


def _event_table(cat: Catalog, seed: int, b: int, first_id: int, exp: dict, watch_ms, cell):
    """One row per set flag: exposure ``cell // 8``, kind ``cell % 8``."""
    import numpy as np
    import pyarrow as pa

    e, k = cell // len(KINDS), cell % len(KINDS)
    user, is_watch = exp["user"][e], k == KINDS.index("watch")
    w = watch_ms[e]
    ts = exp["t"][e] + np.asarray(KIND_OFFSET_MS)[k] * 1000 + np.asarray(KIND_AFTER_WATCH)[k] * w * 1000
    kind_type = np.array([EVENT_TYPES.index(x) for x in KINDS])[k]
    sessions = _ids(f"s{seed}-{b}-", np.arange(exp["session"][-1] + 1))
    columns = {
        "event_id": _ids(f"e{seed}-", np.arange(first_id, first_id + len(cell))),
        "user_id": cat.user_ids.take(pa.array(user)), "video_id": cat.video_ids.take(pa.array(exp["video"][e])),
        "event_type": pa.array(EVENT_TYPES).take(pa.array(kind_type)),
        "watch_ms": pa.array(np.where(is_watch, w, 0).astype(np.int64)),
        "ts": pa.array(np.minimum(ts, cat.end_us - 1), type=pa.timestamp("us", tz="UTC")),
        "session_id": sessions.take(pa.array(exp["session"][e])),
        "device": pa.array(DEVICES).take(pa.array(cat.u_device[user])),
        "region": pa.array(REGIONS).take(pa.array(cat.u_region[user])),
        "surface": pa.array(SURFACES).take(pa.array(exp["surface"][e])),
    }
    return _table(columns, EVENT_FIELDS)


def _ids(prefix: str, numbers):
    """``prefix + str(n)`` for each number, as an Arrow string array (vectorized)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _table(columns: dict, ddl: str):
    import pyarrow as pa

    from vidrec.tables import arrow_schema

    schema = arrow_schema(ddl)
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


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
        "creator_id": _ids("c", cat.v_creator), "category": category, "tags": cat.v_tags,
        "duration_ms": pa.array(cat.v_duration), "upload_ts": pa.array(cat.v_upload, type=pa.timestamp("us", tz="UTC")),
        "language": pa.array(LANGUAGES).take(pa.array(cat.v_language)),
    }
    return _table(columns, VIDEO_FIELDS)


def users_table(cat: Catalog):
    """The catalog's users as an Arrow table with ``USER_FIELDS``."""
    import pyarrow as pa

    columns = {
        "user_id": cat.user_ids, "region": pa.array(REGIONS).take(pa.array(cat.u_region)),
        "age_band": pa.array(AGE_BANDS).take(pa.array(cat.u_age)),
        "signup_ts": pa.array(cat.u_signup, type=pa.timestamp("us", tz="UTC")),
    }
    return _table(columns, USER_FIELDS)
