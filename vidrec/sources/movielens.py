"""Import MovieLens (100K or latest-small) as landing files: a real event stream for the lake.

``import_movielens(path, out_dir)`` detects the format from the files in ``path``:

- ML-100K: ``u.data`` (user, item, rating, unix ts; tab-separated), ``u.item`` (pipe-separated,
  latin-1: id, title, release date, video release date, IMDb URL, 19 genre flags), ``u.user``
  (id, age, gender, occupation, zip) and ``u.genre`` (genre names);
- ml-latest-small: ``ratings.csv``, ``movies.csv`` (``|``-separated genres) and, optionally,
  ``tags.csv`` (user tags).

and writes ``videos/``, ``users/`` and ``events/`` parquet files under ``out_dir`` (named
``movielens-100k-events.parquet`` and so on, schemas from ``vidrec.tables``).

Mapping rule: exactly **one event per rating** (100,000 ratings -> 100,000 events).

| rating (half stars round up) | event_type | watch_ms |
|---|---|---|
| 5 | like | duration (full watch) |
| 4 | watch | 0.9 x duration |
| 3 | watch | 0.6 x duration |
| 2 | skip | 0.15 x duration |
| 1 | dislike | 0.05 x duration |

- ``event_id`` = ``ml-<userId>-<movieId>``; ``user_id`` = ``u<userId>``; ``video_id`` = ``v<movieId>``;
  ``ts`` = the rating's timestamp (UTC); ``session_id`` = ``ml-<userId>-<YYYY-MM-DD>`` (the
  rating's UTC day); ``surface`` = ``home``; ``device`` = ``web``; ``region`` = the user's region.
- Videos: ``duration_ms`` is a deterministic pseudo-random feature length, 80-150 min, from a hash
  of (movie id, seed). MovieLens has no creators, so ``creator_id`` = ``c<k>`` where ``k`` is the
  same kind of hash of the movie id into ``max(1, n_movies // 5)`` buckets (a stable pseudo-creator
  with ~5 movies). ``category`` = the first genre (``unknown`` when none); ``tags`` = all genres,
  lowercased, plus, for latest-small, up to 10 distinct lowercased user tags of the movie;
  ``language`` = ``en``; ``title`` as in the dataset; ``url``: ML-100K's IMDb URL, latest-small's IMDb page
  from links.csv; ``thumbnail_url``: none (MovieLens has no images).
- ``upload_ts``: ML-100K: the release date, clamped to the movie's first rating (a few release
  dates are later than ratings, and no event may precede its video's upload); when missing, the
  first rating. latest-small: the movie's first rating, else its first user tag, else the
  dataset's last rating (unrated movies arrive as cold-start videos).
- Users: ``signup_ts`` = the user's first rating. ML-100K: ``region`` = ``us-<first zip digit>``
  (``other`` for non-numeric zips) and ``age_band`` from age (``under-13``, ``13-17``, ``18-24``,
  ``25-34``, ``35-44``, ``45-54``, ``55+``). latest-small: both ``unknown``.
"""

from __future__ import annotations

from pathlib import Path

from vidrec.sources.landing_files import arrow_table, prefixed_ids, write_parquet
from vidrec.tables import EVENT_FIELDS, USER_FIELDS, VIDEO_FIELDS

ML100K_FILES = ("u.data", "u.item", "u.user")
LATEST_FILES = ("ratings.csv", "movies.csv")
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western")
LEVEL_EVENT = ("dislike", "skip", "watch", "watch", "like")  # rating 1..5
LEVEL_FRACTION = (0.05, 0.15, 0.6, 0.9, 1.0)
AGE_BINS = (-1, 12, 17, 24, 34, 44, 54, 200)
AGE_LABELS = ("under-13", "13-17", "18-24", "25-34", "35-44", "45-54", "55+")
MAX_USER_TAGS = 10


def import_movielens(path: Path, out_dir: Path, *, seed: int = 42) -> dict:
    """Turn a MovieLens folder into landing files under ``out_dir``; return counts and file paths."""
    path = Path(path)
    if all((path / f).exists() for f in ML100K_FILES):
        data = _read_100k(path)
    elif all((path / f).exists() for f in LATEST_FILES):
        data = _read_latest(path)
    else:
        raise ValueError(
            f"{path} is not a MovieLens folder: expected {', '.join(ML100K_FILES)} (ML-100K) "
            f"or {', '.join(LATEST_FILES)} (ml-latest-small)")
    return _write(data, Path(out_dir), seed)


# ---------------------------------------------------------------- readers


def _read_100k(path: Path) -> dict:
    import pandas as pd

    ratings = pd.read_csv(path / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    items = pd.read_csv(path / "u.item", sep="|", header=None, encoding="latin-1")
    names = _genre_names(path / "u.genre")
    flags = items.iloc[:, 5:5 + len(names)].to_numpy().astype(bool)
    release = pd.to_datetime(items[2], format="%d-%b-%Y", errors="coerce", utc=True)
    movies = pd.DataFrame({"item": items[0].to_numpy(), "title": items[1].fillna("").to_numpy(),
                           "category": _first_genre(flags, names), "release_s": _epoch_s(release),
                           "url": items[4].where(items[4].notna(), None).to_numpy()})
    row, col = flags.nonzero()
    genre_tags = pd.DataFrame({"item": movies["item"].to_numpy()[row], "tag": pd.Index(names)[col].str.lower()})
    users = pd.read_csv(path / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"],
                        dtype={"zip": "string"})
    digit = users["zip"].str[0].fillna("x")
    users["region"] = ("us-" + digit).where(digit.str.isdigit(), "other")
    users["age_band"] = pd.cut(users["age"], AGE_BINS, labels=AGE_LABELS).astype(str)
    return {"dataset": "ml-100k", "slug": "100k", "ratings": ratings, "movies": movies,
            "tags": genre_tags, "users": users[["user", "region", "age_band"]]}


def _genre_names(path: Path) -> list[str]:
    import pandas as pd

    if not path.exists():
        return list(ML100K_GENRES)
    genres = pd.read_csv(path, sep="|", names=["name", "idx"], encoding="latin-1").dropna()
    return genres.sort_values("idx")["name"].tolist()


def _first_genre(flags, names):
    import numpy as np

    first = np.asarray(names, dtype=object)[flags.argmax(axis=1)]
    return np.where(flags.any(axis=1), first, "unknown")


def _epoch_s(times):
    """UTC datetimes -> float seconds since the epoch (NaN when missing)."""
    import numpy as np

    seconds = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]").astype(np.int64)
    return np.where(times.isna().to_numpy(), np.nan, seconds.astype(np.float64))


def _read_latest(path: Path) -> dict:
    import numpy as np
    import pandas as pd

    r = pd.read_csv(path / "ratings.csv")
    ratings = pd.DataFrame({"user": r["userId"], "item": r["movieId"], "rating": r["rating"], "ts": r["timestamp"]})
    m = pd.read_csv(path / "movies.csv")
    genres = m["genres"].fillna("").str.split("|").explode()
    genres = genres[(genres != "") & (genres != "(no genres listed)")]
    first = genres.groupby(level=0).first().reindex(m.index).fillna("unknown")
    movies = pd.DataFrame({"item": m["movieId"], "title": m["title"].fillna(""), "category": first,
                           "release_s": np.nan, "url": _imdb_urls(path / "links.csv", m["movieId"])})
    tags = pd.DataFrame({"item": m["movieId"].to_numpy()[genres.index], "tag": genres.str.lower().to_numpy()})
    tags, tag_first_s = _with_user_tags(path / "tags.csv", tags)
    movies["release_s"] = movies["item"].map(tag_first_s)  # only used when a movie has no rating
    users = pd.DataFrame({"user": np.unique(ratings["user"]), "region": "unknown", "age_band": "unknown"})
    return {"dataset": "ml-latest-small", "slug": "latest-small", "ratings": ratings, "movies": movies,
            "tags": tags, "users": users}


def _with_user_tags(path: Path, genre_tags):
    """Genre tags followed by up to MAX_USER_TAGS distinct lowercased user tags per movie; first tag time."""
    import pandas as pd

    if not path.exists():
        return genre_tags, pd.Series(dtype=float)
    t = pd.read_csv(path)
    t["tag"] = t["tag"].astype(str).str.strip().str.lower()
    first_s = t.groupby("movieId")["timestamp"].min().astype(float)
    user = t[t["tag"] != ""].sort_values(["movieId", "timestamp"], kind="stable")
    user = user.drop_duplicates(["movieId", "tag"])
    user = user[user.groupby("movieId").cumcount() < MAX_USER_TAGS]
    tags = pd.concat([genre_tags, pd.DataFrame({"item": user["movieId"], "tag": user["tag"]})])
    return tags.drop_duplicates(["item", "tag"]), first_s


# ---------------------------------------------------------------- writing


def _write(data: dict, out_dir: Path, seed: int) -> dict:
    ratings, stem = data["ratings"], f"movielens-{data['slug']}"
    videos = _videos_table(data["movies"], data["tags"], ratings, seed)
    users = _users_table(data["users"], ratings)
    events = _events_table(ratings, data["users"], seed)
    files = [write_parquet(t, out_dir / kind / f"{stem}-{kind}.parquet")
             for kind, t in (("videos", videos), ("users", users), ("events", events))]
    return {"dataset": data["dataset"], "out": str(out_dir), "videos": videos.num_rows,
            "users": users.num_rows, "events": events.num_rows, "ratings": len(ratings),
            "files": [str(f) for f in files]}


def _unit_hash(ids, seed: int, salt: int):
    """A deterministic uniform [0, 1) per id (splitmix64 of id, seed and salt), vectorized."""
    import numpy as np

    mix = np.uint64((seed * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) % (1 << 64))
    x = np.asarray(ids).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + mix
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def duration_ms(items, seed: int):
    """Feature-length duration per movie id: 80-150 minutes, deterministic in (id, seed)."""
    import numpy as np

    return np.rint((80.0 + 70.0 * _unit_hash(items, seed, 1)) * 60_000).astype(np.int64)


def _str(values):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(values), pa.string())


def _join(*parts, sep: str = ""):
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, sep)


def _imdb_urls(links: Path, movie_ids):
    """Each movie's IMDb page from links.csv (imdbId), None where it has none (or there is no links.csv)."""
    import pandas as pd

    if not links.exists():
        return [None] * len(movie_ids)
    ids = pd.read_csv(links, dtype={"imdbId": "Int64"}).set_index("movieId")["imdbId"].reindex(movie_ids)
    return [None if pd.isna(i) else f"https://www.imdb.com/title/tt{int(i):07d}/" for i in ids]


def _ts(seconds):
    import numpy as np
    import pyarrow as pa

    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def _videos_table(movies, tags, ratings, seed: int):
    import numpy as np
    import pyarrow as pa

    item = movies["item"].to_numpy()
    first_rating = ratings.groupby("item")["ts"].min().reindex(item).to_numpy(np.float64)
    fallback = np.where(np.isnan(first_rating), movies["release_s"].to_numpy(np.float64), first_rating)
    upload = np.fmin(movies["release_s"].to_numpy(np.float64), first_rating)
    upload = np.where(np.isnan(upload), fallback, upload)
    upload = np.where(np.isnan(upload), ratings["ts"].max(), upload)
    creator = np.floor(_unit_hash(item, seed, 2) * max(1, len(item) // 5)).astype(np.int64)
    columns = {
        "video_id": prefixed_ids("v", item), "title": pa.array(movies["title"].astype(str).to_numpy()),
        "creator_id": prefixed_ids("c", creator), "category": pa.array(movies["category"].astype(str).to_numpy()),
        "tags": _list_column(item, tags), "duration_ms": pa.array(duration_ms(item, seed)),
        "upload_ts": _ts(upload), "language": pa.array(np.full(len(item), "en")),
        "thumbnail_url": pa.nulls(len(item), pa.string()), "url": pa.array(movies["url"].to_numpy(), pa.string()),
    }
    return arrow_table(columns, VIDEO_FIELDS)


def _list_column(keys, long):
    """A list<string> array aligned with ``keys`` from a long (item, tag) frame, keeping its order."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    pos = pd.Index(keys).get_indexer(long["item"])
    keep = pos >= 0
    pos = pos[keep]
    order = np.argsort(pos, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(pos, minlength=len(keys)))]).astype(np.int32)
    values = pa.array(long["tag"].to_numpy(dtype=object)[keep][order], type=pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _users_table(users, ratings):
    import pyarrow as pa

    first = ratings.groupby("user")["ts"].min().reindex(users["user"]).fillna(ratings["ts"].min())
    columns = {
        "user_id": prefixed_ids("u", users["user"].to_numpy()), "region": pa.array(users["region"].astype(str)),
        "age_band": pa.array(users["age_band"].astype(str)), "signup_ts": _ts(first.to_numpy()),
    }
    return arrow_table(columns, USER_FIELDS)


def _events_table(ratings, users, seed: int):
    """One event per rating, following the module's mapping rule."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    user, item = _str(ratings["user"].to_numpy()), _str(ratings["item"].to_numpy())
    level = np.clip(np.ceil(ratings["rating"].to_numpy(np.float64)), 1, 5).astype(np.int64) - 1
    watch = np.rint(np.asarray(LEVEL_FRACTION)[level] * duration_ms(ratings["item"].to_numpy(), seed))
    ts = _ts(ratings["ts"].to_numpy())
    at = pd.Index(users["user"]).get_indexer(ratings["user"])
    region = np.where(at >= 0, users["region"].astype(str).to_numpy()[at], "unknown")
    n = len(ratings)
    columns = {
        "event_id": _join("ml", user, item, sep="-"), "user_id": _join("u", user), "video_id": _join("v", item),
        "event_type": pa.array(LEVEL_EVENT).take(pa.array(level)), "watch_ms": pa.array(watch.astype(np.int64)),
        "ts": ts, "session_id": _join("ml", user, pc.strftime(ts, format="%Y-%m-%d"), sep="-"),
        "device": pa.array(np.full(n, "web")), "region": pa.array(region),
        "surface": pa.array(np.full(n, "home")),
        "rec_id": pa.nulls(n, pa.string()), "position": pa.nulls(n, pa.int32()),  # not from a feed
    }
    return arrow_table(columns, EVENT_FIELDS)
