"""A feed's JSON, rendered from the rows it serves: ``feed_json(rows, positions, **fields)``.

The bytes are those of the standard library's compact, non-ASCII-kept encoding of ``{"items": [...], **fields}``
(orjson renders them; ``tests/serving/test_feeds.py`` checks the equality). For ``Rows`` (a packed list joined
with the version's catalog) each video's display fields are rendered once per version and process and kept in
the version's catalog (``VersionCatalog.rendered``), so a request renders only each item's score, reason and
source: the work per request follows the ``count`` items it returns, not the list's length.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from vidrec.recstore.codec import Rows, row_to_item
from vidrec.recstore.keys import VIDEO_FIELDS

dumps = orjson.dumps


def _head(fields: tuple) -> bytes:
    """The display fields as the start of an item's JSON object (no closing brace)."""
    return dumps(dict(zip(VIDEO_FIELDS, fields)))[:-1]


def _packed_items(rows: Rows, positions: Sequence[int]) -> bytes:
    packed, rendered, out = rows.packed, rows.rendered, []
    for i in positions:
        index = packed.indexes[i]
        head = rendered.get(index) if index else None
        if head is None:
            head = _head(rows.head(i))
            if index:
                rendered[index] = head
        score, reason, source = packed.tail(i)
        out.append(b'%b,"score":%b,"reason":%b,"source":%b}' % (head, dumps(score), dumps(reason), dumps(source)))
    return b"[" + b",".join(out) + b"]"


def items_json(rows: Sequence, positions: Sequence[int]) -> bytes:
    """The JSON array of the items at ``positions`` of ``rows``."""
    if isinstance(rows, Rows) and rows.rendered is not None:
        return _packed_items(rows, positions)
    return dumps([row_to_item(rows[i]) for i in positions])


def feed_json(rows: Sequence, positions: Sequence[int], **fields) -> bytes:
    """``{"items": [the items at positions], **fields}`` as JSON bytes."""
    rest = dumps(fields)
    return b'{"items":' + items_json(rows, positions) + (b"," + rest[1:] if len(rest) > 2 else b"}")
