"""models.packing: list files -> packed-list bodies, whole lists at a time, in any row order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from models.io import whole_keys
from models.packing import encode_lists, is_grouped
from models.publish import build_catalog
from vidrec.recstore import codec


def _items(seed: int = 0, users: int = 40, per_user: int = 9):
    rng = np.random.default_rng(seed)
    n = users * per_user
    table = pa.table({
        "user_id": [f"u{i // per_user:03d}" for i in range(n)],
        "rank": np.tile(np.arange(1, per_user + 1), users),
        "video_id": [f"v{x}" for x in rng.integers(0, 60, n)],  # v50..v59 are not in the catalog
        "score": rng.random(n).round(3),
        "reason": [f"because {x}" for x in rng.integers(0, 4, n)],
        "source": rng.choice(["als", "cowatch", "trending"], n).tolist(),
    })
    return table.take(pa.array(rng.permutation(n)))  # rows of a key apart, ranks out of order


def _decoded(encoded) -> dict:
    out = {}
    for key, body in zip(encoded.keys.to_pylist(), encoded.values.to_pylist()):
        packed = codec.decode_value(codec.pack(body))
        out[key] = [(v, *packed.tail(i)) for i, v in enumerate(packed.video_ids)]
    return out


def test_lists_encoded_in_parts_of_a_few_rows_equal_one_pass_and_keep_rank_order():
    items = _items()
    catalog = build_catalog(pa.table({"video_id": [f"v{i}" for i in range(50)], "title": ["t"] * 50,
                                      "creator_id": ["c"] * 50, "category": ["x"] * 50, "duration_ms": [1000] * 50}))
    whole = encode_lists(items, "user_id", catalog, None, part_rows=10**9)
    parts = encode_lists(items, "user_id", catalog, None, part_rows=7)
    assert parts.keys.num_chunks > 10 and whole.keys.num_chunks == 1
    assert _decoded(parts) == _decoded(whole)
    assert (parts.items, parts.dropped_unknown) == (whole.items, whole.dropped_unknown)
    rows = items.to_pylist()
    known = [r for r in rows if int(r["video_id"][1:]) < 50]
    assert parts.dropped_unknown == len(rows) - len(known) > 0
    for key, got in _decoded(parts).items():
        mine = sorted((r for r in known if r["user_id"] == key), key=lambda r: r["rank"])
        assert got == [(r["video_id"], r["score"], r["reason"], r["source"]) for r in mine]


def test_batches_of_a_grouped_file_come_back_as_whole_lists_in_file_order():
    items = _items(seed=1)
    grouped = items.sort_by([("user_id", "ascending"), ("rank", "ascending")])
    assert is_grouped(grouped["user_id"]) and not is_grouped(items["user_id"])
    tables = list(whole_keys(grouped.to_batches(max_chunksize=4), "user_id"))
    assert len(tables) > 10 and pa.concat_tables(tables).equals(grouped)
    lasts = [t["user_id"][-1].as_py() for t in tables]
    firsts = [t["user_id"][0].as_py() for t in tables]
    assert all(a != b for a, b in zip(lasts, firsts[1:]))  # no list is cut between two tables
