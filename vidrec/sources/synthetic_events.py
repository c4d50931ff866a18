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
- a session is a run of exposures (mean 5) of one user, on one device: the user's own (70%) or any.
  Each exposure is an ``impression``,
  then possibly ``click``, ``watch``, ``like``, ``share``, ``dislike``, or ``skip`` and
  ``not_interested``. In-taste exposures are watched longer and liked more; off-taste ones are
  skipped more. Mix: ~40% impressions, ~30% watches, ~10% clicks, ~9% skips, ~7% likes.
- ``watch_ms`` is set on watch events only (0 elsewhere): duration x fraction, where short
  videos (< 30 s) are sometimes replayed, never beyond 3x their duration.
- context (``vidrec.sources.synthetic_context``): the session's device, UTC time of day and day of the week, and
  how many videos the session has watched so far, change how far a video is watched by its length: on a TV, in
  the evening, at the weekend and at a session's first video, long ones further; on a phone, in the morning and
  deep into a session, short ones. It is the effect the request context model (``vidrec.context``) learns.

With ``catalog_path`` (a KuaiRand ``kuairand-catalog`` folder), video durations, tags and the
videos-per-creator distribution are sampled from ``video_features_basic_pure.csv`` instead.
"""

from __future__ import annotations

from pathlib import Path

from vidrec.sources.landing_files import arrow_table, prefixed_ids, write_jsonl, write_parquet
from vidrec.sources.synthetic_catalog import (CATEGORIES, DAY_US, REGIONS, SHARED_SURFACES,
                                              SURFACE_SHARES, UPLOAD_LEAD_DAYS, Catalog, activity_window,
                                              build_catalog, seeded_rng, users_table, videos_table, weighted_choice)
from vidrec.sources.synthetic_context import earlier_watches, in_context, session_devices
from vidrec.tables import DEVICES, EVENT_FIELDS, EVENT_TYPES

BLOCK_EVENTS = 1 << 17
MAX_USERS, MAX_VIDEOS = 5_000_000, 1_000_000


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
    cat = build_catalog(seed, n_users, n_videos, activity_window(start, days), catalog_path)
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

    rng = seeded_rng(seed, 1, b)
    n_exp = int(n / 2.2) + 64
    while True:
        exp = _exposures(rng, cat, n_exp, (b / n_blocks, (b + 1) / n_blocks))
        flags, watch_ms = outcomes(rng, exp["in_taste"], cat.v_duration[exp["video"]])
        if flags.sum() >= n:
            break
        n_exp *= 2
    exp["device"] = session_devices(seeded_rng(seed, 2, b), cat.u_device, exp)
    watch_ms = in_context(watch_ms, cat.v_duration[exp["video"]], exp["device"], exp["start"],
                          earlier_watches(exp, flags[:, KINDS.index("watch")]))
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
    s_surface = weighted_choice(rng, SURFACE_SHARES, n_sess)
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


def outcomes(rng, in_taste, duration):
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
    sessions = prefixed_ids(f"s{seed}-{b}-", np.arange(exp["session"][-1] + 1))
    columns = {
        "event_id": prefixed_ids(f"e{seed}-", np.arange(first_id, first_id + len(cell))),
        "user_id": cat.user_ids.take(pa.array(user)), "video_id": cat.video_ids.take(pa.array(exp["video"][e])),
        "event_type": pa.array(EVENT_TYPES).take(pa.array(kind_type)),
        "watch_ms": pa.array(np.where(is_watch, w, 0).astype(np.int64)),
        "ts": pa.array(np.minimum(ts, cat.end_us - 1), type=pa.timestamp("us", tz="UTC")),
        "session_id": sessions.take(pa.array(exp["session"][e])),
        "device": pa.array(DEVICES).take(pa.array(exp["device"][e])),
        "region": pa.array(REGIONS).take(pa.array(cat.u_region[user])),
        "surface": pa.array(SHARED_SURFACES).take(pa.array(exp["surface"][e])),
        "rec_id": pa.nulls(len(cell), pa.string()), "position": pa.nulls(len(cell), pa.int32()),  # not from a feed
    }
    return arrow_table(columns, EVENT_FIELDS)
