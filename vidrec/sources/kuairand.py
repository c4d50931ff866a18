"""KuaiRand catalog statistics: real durations, tag lists and videos-per-creator counts for the synthetic catalog.

``read_kuairand`` reads a ``kuairand-catalog`` folder; ``kuairand_features`` draws, for each synthetic video,
a KuaiRand row of the same category. Stdlib-only at import time.
"""

from __future__ import annotations

from pathlib import Path


def read_kuairand(path: Path, n_categories: int) -> dict:
    """Durations, tag lists and videos-per-creator counts from a ``kuairand-catalog`` folder.

    Rows are grouped into ``n_categories`` categories by their first tag id (ids ordered by frequency and
    dealt round-robin), so videos of one category share real tag combinations.
    """
    import numpy as np
    import pandas as pd

    csv = Path(path) / "video_features_basic_pure.csv"
    if not csv.exists():
        raise ValueError(f"{path}: expected video_features_basic_pure.csv (KuaiRand-Pure catalog)")
    df = pd.read_csv(csv, usecols=["video_id", "author_id", "video_duration", "tag"], dtype={"tag": "string"})
    counts = df["author_id"].value_counts().to_numpy()
    df = df[df["video_duration"] > 0].reset_index(drop=True)
    first = df["tag"].str.split(",").str[0]
    order = first.value_counts().index
    deal = pd.Series(np.arange(len(order)) % n_categories, index=order)
    category = first.map(deal).fillna(df["video_id"] % n_categories).to_numpy(np.int64)
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


def kuairand_features(rng, category, kuai: dict, n_categories: int):
    """For each video, a KuaiRand row of the same category: its duration and its tags."""
    import numpy as np
    import pyarrow as pa

    order = np.argsort(kuai["category"], kind="stable")
    size = np.bincount(kuai["category"], minlength=n_categories)
    first = np.cumsum(size) - size
    size_v, first_v = size[category], first[category]
    empty = size_v == 0  # a category without rows draws from all rows
    size_v, first_v = np.where(empty, len(order), size_v), np.where(empty, 0, first_v)
    pos = first_v + (rng.random(len(category)) * size_v).astype(np.int64)
    row = order[np.minimum(pos, len(order) - 1)]
    return kuai["durations"][row], kuai["tags"].take(pa.array(row))
