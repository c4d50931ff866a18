"""Public datasets for offline evaluation: interactions (MovieLens 100K, ml-latest-small, any CSV) and,
where the dataset has one, its catalog (MovieLens genres and release dates, or any catalog CSV) in the
shape the nightly code reads (video_id, title, creator_id, category, upload_ts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.evaluation.signals import RATING, SIGNALS
from vidrec.tables import TS, USER_ID, VIDEO_ID

ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western"]


def load_interactions(path, fmt: str = "auto", sep: str = ",", user_col: str = USER_ID, item_col: str = VIDEO_ID,
                      rating_col: str | None = None, ts_col: str | None = None) -> pd.DataFrame:
    """(user_id, video_id[, rating][, ts]) from a MovieLens folder or a CSV.

    ``fmt``: "ml-100k" (``u.data``: tab separated user, item, rating, ts), "ml-latest" (``ratings.csv``:
    userId, movieId, rating, timestamp), "csv" (``sep``/column names as given) or "auto" (a folder with
    ``u.data`` or ``ratings.csv``, else a CSV file). For MovieLens the column arguments are ignored.
    ``ts`` is Unix seconds as read. A CSV's engagement signals (``models.evaluation.signals.SIGNALS``:
    watch_fraction, liked, shared, not_interested), when it has all of them, are kept under those names.
    The frame's ``attrs["name"]`` is the dataset name (folder or file stem).
    """
    path = Path(path)
    if fmt == "auto":
        if path.is_dir() and (path / "u.data").exists():
            fmt = "ml-100k"
        elif path.is_dir() and (path / "ratings.csv").exists():
            fmt = "ml-latest"
        elif path.is_file():
            fmt = "csv"
        else:
            raise FileNotFoundError(f"no u.data, ratings.csv or CSV file at {path}")
    if fmt == "ml-100k":
        src = path / "u.data" if path.is_dir() else path
        df = pd.read_csv(src, sep="\t", header=None, names=[USER_ID, VIDEO_ID, RATING, TS])
        name = path.name if path.is_dir() else path.parent.name
    elif fmt == "ml-latest":
        src = path / "ratings.csv" if path.is_dir() else path
        df = pd.read_csv(src).rename(columns={"userId": USER_ID, "movieId": VIDEO_ID, "rating": RATING,
                                              "timestamp": TS})[[USER_ID, VIDEO_ID, RATING, TS]]
        name = path.name if path.is_dir() else path.parent.name
    elif fmt == "csv":
        cols = {user_col: USER_ID, item_col: VIDEO_ID}
        if rating_col:
            cols[rating_col] = RATING
        if ts_col:
            cols[ts_col] = TS
        missing = set(cols) - set(pd.read_csv(path, sep=sep, nrows=0).columns)
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))}")
        df = pd.read_csv(path, sep=sep, usecols=lambda c: c in cols or c in SIGNALS).rename(columns=cols)
        df = df[[*cols.values(), *(SIGNALS if set(SIGNALS) <= set(df.columns) else ())]]
        name = path.stem
    else:
        raise ValueError(f"unknown fmt {fmt!r}: auto, ml-100k, ml-latest or csv")
    df.attrs["name"] = name
    return df.reset_index(drop=True)


def load_catalog(path, fmt: str = "auto") -> pd.DataFrame | None:
    """(video_id, title, creator_id, category, upload_ts) of a MovieLens folder, or None (CSV data sets
    carry no catalog). ``category`` is the movie's first listed genre; ``upload_ts`` the release date
    (ml-100k) or None; MovieLens has no creators, so ``creator_id`` is None (every movie stands alone)."""
    path = Path(path)
    if fmt in ("auto", "ml-100k") and path.is_dir() and (path / "u.item").exists():
        item = pd.read_csv(path / "u.item", sep="|", header=None, encoding="latin-1")
        flags = item.iloc[:, 5:5 + len(ML100K_GENRES)].to_numpy()
        return pd.DataFrame({VIDEO_ID: item[0], "title": item[1], "creator_id": None,
                             "category": np.asarray(ML100K_GENRES, dtype=object)[flags.argmax(axis=1)],
                             "upload_ts": pd.to_datetime(item[2], format="%d-%b-%Y", errors="coerce", utc=True)})
    if fmt in ("auto", "ml-latest") and path.is_dir() and (path / "movies.csv").exists():
        movies = pd.read_csv(path / "movies.csv")
        return pd.DataFrame({VIDEO_ID: movies["movieId"], "title": movies["title"], "creator_id": None,
                             "category": movies["genres"].str.split("|").str[0], "upload_ts": pd.NaT})
    return None


def load_catalog_csv(path, item_col: str = VIDEO_ID, category_col: str | None = "category",
                     creator_col: str | None = "creator_id", upload_col: str | None = None,
                     sep: str = ",") -> pd.DataFrame:
    """(video_id, title, creator_id, category, upload_ts) from any catalog CSV: ``item_col`` names the
    item (the interactions' item ids), the other columns are optional (None: not in the file). Upload
    times are parsed as dates, or Unix seconds when numeric. A named column that is missing is an error
    that lists the file's columns."""
    header = pd.read_csv(path, sep=sep, nrows=0).columns
    wanted = {item_col: VIDEO_ID, category_col: "category", creator_col: "creator_id", upload_col: "upload_ts"}
    wanted = {src: dst for src, dst in wanted.items() if src}
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(f"catalog {path}: no column(s) {missing}; it has {list(header)}")
    raw = pd.read_csv(path, sep=sep, usecols=list(wanted)).rename(columns=wanted)
    out = pd.DataFrame({VIDEO_ID: raw[VIDEO_ID], "title": raw[VIDEO_ID]})
    for col in ("creator_id", "category"):
        out[col] = raw[col].astype(str).where(raw[col].notna(), None) if col in raw else None
    up = raw["upload_ts"] if "upload_ts" in raw else pd.Series(pd.NaT, index=raw.index)
    if pd.api.types.is_numeric_dtype(up) and up.notna().any():
        out["upload_ts"] = pd.to_datetime(up, unit="s", utc=True)
    else:
        out["upload_ts"] = pd.to_datetime(up, utc=True, errors="coerce")
    return out.drop_duplicates(VIDEO_ID).reset_index(drop=True)


def align_catalog(catalog: pd.DataFrame, interactions: pd.DataFrame) -> pd.DataFrame:
    """``catalog`` with its item ids in the interactions' type (both files are read with inferred
    types: ids 7 and "7" must meet)."""
    ids = catalog[VIDEO_ID]
    if ids.dtype != interactions[VIDEO_ID].dtype:
        kind = interactions[VIDEO_ID].dtype
        try:
            ids = ids.astype(kind) if kind != object else ids.astype(str)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"catalog item ids are not {kind} like the interactions' ids: {exc}") from exc
    return catalog.assign(**{VIDEO_ID: ids})
