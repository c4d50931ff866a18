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
from vidrec.recstore.keys import LINK_FIELDS, VIDEO_FIELDS

dumps = orjson.dumps


def _head(fields: tuple) -> bytes:
    """The display fields (CATALOG_FIELDS; the links only when not null) as the start of an item's JSON object
    (no closing brace)."""
    head = dict(zip(VIDEO_FIELDS, fields))
    head.update((f, v) for f, v in zip(LINK_FIELDS, fields[len(VIDEO_FIELDS):]) if v is not None)
    return dumps(head)[:-1]


def _items(rows: Sequence, positions: Sequence[int], reason: str | None = None, source: str | None = None) -> list:
    """The items at ``positions`` of ``rows`` as JSON objects; ``reason`` (with ``source``) replaces their own."""
    if not (isinstance(rows, Rows) and rows.rendered is not None):
        items = [row_to_item(rows[i]) for i in positions]
        return [dumps(item if reason is None else {**item, "reason": reason, "source": source}) for item in items]
    packed, rendered, out = rows.packed, rows.rendered, []
    for i in positions:  # the hot path: every feed's items
        index = packed.indexes[i]
        head = rendered.get(index) if index else None
        if head is None:
            head = _head(rows.head(i))
            if index:
                rendered[index] = head
        score, own_reason, own_source = packed.tail(i)
        if reason is not None:
            own_reason, own_source = reason, source
        out.append(b'%b,"score":%b,"reason":%b,"source":%b}' % (head, dumps(score), dumps(own_reason),
                                                                  dumps(own_source)))
    return out


def items_json(rows: Sequence, positions: Sequence[int]) -> bytes:
    """The JSON array of the items at ``positions`` of ``rows``."""
    return b"[" + b",".join(_items(rows, positions)) + b"]"


def picks_json(picks: Sequence[tuple]) -> bytes:
    """The JSON array of picks (rows, i, reason, source), as ``serving.reaction.blend`` makes them."""
    return b"[" + b",".join([_items(rows, (i,), reason, source)[0] for rows, i, reason, source in picks]) + b"]"


def feed_json(rows: Sequence | None, positions: Sequence, **fields) -> bytes:
    """``{"items": [the items at positions], **fields}`` as JSON bytes; with ``rows`` None, ``positions`` are
    picks (``picks_json``)."""
    rest = dumps(fields)
    items = picks_json(positions) if rows is None else items_json(rows, positions)
    return b'{"items":' + items + (b"," + rest[1:] if len(rest) > 2 else b"}")
