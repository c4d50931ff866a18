"""The stored value of a list: packed round trip, the earlier JSON layout, its size, and the API's catalog cache."""

from __future__ import annotations

import json
import random
import zlib
from array import array

import pytest

from vidrec.recstore import codec
from vidrec.recstore.catalog import CatalogCache, VersionCatalog
from vidrec.recstore.keys import ITEM_FIELDS

TITLES = [f"关于主题 {i % 97} 的视频 第{i}集 🎬" if i % 3 == 0 else f"Toy Story {i} (1995), the \"cut\"\n"
          for i in range(20_000)]
CATALOG = {f"v{i}": (f"v{i}", title, f"c{i % 701}", ["comedy", "música", "sports"][i % 3], 1000 * i)
           for i, title in enumerate(TITLES)}
INDEX = {v: i + 1 for i, v in enumerate(CATALOG)}  # each video's position in the version's catalog


def realistic_items(n: int = 150, seed: int = 1) -> list[dict]:
    """A home list as the rank job writes it: 10 seed videos named in reasons, explore items from creators,
    real-length MovieLens-style and Chinese titles, scores with 6 decimals."""
    rng = random.Random(seed)
    seeds = [f"v{rng.randrange(20_000)}" for _ in range(10)]
    items = []
    for score in sorted((round(rng.random(), 6) for _ in range(n)), reverse=True):
        video = f"v{rng.randrange(1_000_000)}"
        source = rng.choices(["als", "cowatch", "content", "explore", "fresh"], [50, 25, 10, 10, 5])[0]
        reason = ("because you watched " + CATALOG[rng.choice(seeds)][1] if source in ("als", "cowatch")
                  else f"new from c{rng.randrange(50_000)}" if source in ("explore", "fresh")
                  else "popular in " + rng.choice(["comedy", "música", "sports"]))
        items.append({"video_id": video, "score": score, "reason": reason, "source": source})
    return items


def rows_of(items: list[dict], catalog: dict) -> list[list]:
    return [[*catalog.get(it["video_id"], (it["video_id"], *codec.NO_FIELDS[:4])), it.get("score"), it.get("reason"),
             it.get("source")] for it in items]


def test_packed_round_trip_gives_the_same_items_with_unicode_and_odd_values():
    items = realistic_items()
    items += [{"video_id": "v3", "score": None, "reason": None, "source": None},  # nulls stay null
              {"video_id": "v6", "score": float("nan"), "reason": "weird \"quote\" \\ \u2028 \x00", "source": "x"},
              {"video_id": "v9", "score": -12.5, "reason": "", "source": "als"},
              {"video_id": "ünï/cødé id", "score": 1.0, "reason": "🎬 new", "source": "fresh"}]
    value = codec.encode_items(items, INDEX)
    assert value[:1] == codec.PACKED
    expected = rows_of(items, CATALOG)
    expected[-3][5] = None  # NaN is stored as null, as the JSON layout did
    assert codec.decode_rows(value, CATALOG) == expected
    assert codec.decode_rows(codec.encode_rows(expected, INDEX), CATALOG) == expected
    without_index = codec.decode_rows(codec.encode_items(items), CATALOG)  # no catalog: null display fields
    assert without_index == [[row[0], *codec.NO_FIELDS[:4], *row[5:]] for row in expected]
    whole = codec.decode_value(value).scores[-1]
    assert whole == 1 and isinstance(whole, int)  # a whole score reads back as the JSON text "1" did


def test_scores_keep_six_decimals_exactly_as_json_numbers():
    scores = [0.123456, 0.99, 1e-06, 3.000001, -0.5, 1234.567891, 0.1234567]
    decoded = codec.decode_value(codec.encode_items([{"video_id": "v1", "score": s} for s in scores])).scores
    assert decoded == [json.loads(json.dumps(round(s, 6))) for s in scores]


def test_the_earlier_json_layout_still_decodes():
    legacy = json.dumps([["v1", "Video 1", "c1", "music", 1000, 0.5, "because", "als"]]).encode()
    assert codec.decode_rows(legacy) == [["v1", "Video 1", "c1", "music", 1000, 0.5, "because", "als"]]
    assert codec.decode_rows(codec.encode_video(dict(zip(ITEM_FIELDS, ["v1", "T", "c1", "m", 5])))) == [
        "v1", "T", "c1", "m", 5]


class MillionVideoCatalog:
    """Positions in a 1M-video catalog ("v<i>" at i + 1): big indexes compress worst."""

    def get(self, video_id: str, default: int = 0) -> int:
        return int(video_id[1:]) + 1


def test_a_home_list_of_150_realistic_items_stays_under_4_kb():
    """4 KB is the budget per user in Redis (MEMORY USAGE adds ~100-250 bytes of key and allocator overhead)."""
    sizes = [len(codec.encode_items(realistic_items(150, seed), MillionVideoCatalog())) for seed in range(20)]
    legacy = len(json.dumps(rows_of(realistic_items(150, 0), CATALOG), ensure_ascii=False).encode())
    assert max(sizes) <= 3500, sizes
    assert legacy > 5 * max(sizes)


def test_decoding_is_a_header_two_small_json_arrays_and_three_arrays_of_numbers():
    items = realistic_items(150)
    body = zlib.decompress(codec.encode_items(items, INDEX)[1:])
    n, len_strings, len_ids, flags = codec.HEADER.unpack_from(body)
    assert n == 150 and flags == codec.FLAG_UNKNOWN_VIDEOS  # ids up to v999999, the catalog has 20k
    assert len(body) == codec.HEADER.size + len_strings + len_ids + 4 * n + 8 * n + 4 * n
    strings = json.loads(body[codec.HEADER.size:codec.HEADER.size + len_strings])  # each reason once
    assert strings == list(dict.fromkeys(s for it in items for s in (it["reason"], it["source"])))
    assert len(strings) < 60


def test_version_catalog_holds_rows_by_position_and_stays_bounded():
    cat = VersionCatalog(max_videos=3)
    assert cat.missing(array("I", [2, 5, 0, 2])) == [0, 1, 3]  # position 0 (not in the catalog) is never missing
    rows = cat.add({2: ("b",), 5: ("e",)})
    assert cat.missing(array("I", [2, 5, 0])) == [] and rows[2] == ("b",) and rows is cat.rows
    assert cat.missing(array("I", [7, 5])) == [0]
    assert cat.add({7: ("g",)}) is rows and len(cat) == 3
    grown = cat.add({9: ("i",)}, keep=array("I", [9, 5]))  # over the bound: starts over, keeping 5
    assert grown is not rows and len(cat) == 2 and grown[5] == ("e",) and grown[2] is None
    assert rows[2] == ("b",)  # a list already handed out stays whole


def test_rows_are_built_when_read_and_behave_as_a_list():
    items = realistic_items(5)
    packed = codec.decode_value(codec.encode_items(items, INDEX))
    rows = codec.join(packed, CATALOG)
    expected = rows_of(items, CATALOG)
    assert len(rows) == 5 and rows[0] == expected[0] and rows[-1] == expected[-1] and rows[1:3] == expected[1:3]
    assert list(rows) == expected and rows == expected and [r for r in rows if r[0] != rows[0][0]] == expected[1:]


def test_catalog_cache_keeps_the_recent_versions_only():
    cache = CatalogCache(max_videos=10, max_versions=2)
    cache.of("v1").add({1: ("one",)})
    cache.of("v2").add({1: ("two",)})
    assert cache.of("v1").rows[1] == ("one",)  # v1 used last: v2 is now the least recently used
    cache.of("v3")
    assert cache.versions() == ["v1", "v3"]
    assert cache.of("v2").missing(array("I", [1])) == [0]  # dropped, starts empty again


@pytest.mark.parametrize("n", [0, 1, 300])
def test_lists_of_any_length_round_trip(n):
    items = [{"video_id": f"v{i}", "score": i / 7, "reason": f"r{i}", "source": f"s{i % 3}"} for i in range(n)]
    assert codec.decode_rows(codec.encode_items(items, INDEX), CATALOG) == rows_of(
        [{**it, "score": round(it["score"], 6)} for it in items], CATALOG)
