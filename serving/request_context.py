"""The request's context applied to a home list: the list re-sorted by ``vidrec.context``'s model of the version
that holds it (the device the app says, ``?device=``; the UTC time of day and part of the week of the request; the
session's depth, ``?session_depth=`` or else counted from the watches the overlay holds, ``with_depth``).

The model travels with its version (the ``context`` field of the version's meta, written by publish from the
nightly's evaluation); ``ContextCache`` reads it once per version, in the background when the version is first
met (``Services.noticed``), so no request waits for it. A version whose model has weight 0 (re-sorting did not
clearly help on the holdout day; an experiment arm may still set a weight) or has none (published before context
models) serves its lists as they are, and so does a failing meta read (fail open, not cached).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from serving.state import UserState
from vidrec.context import ContextModel, depth
from vidrec.recstore.codec import Rows
from vidrec.recstore.keys import StoreUnavailable

MODELS_HELD = 8
IX_DURATION, IX_SCORE = 4, 5  # in a row (ITEM_FIELDS)


class Reordered(Sequence):
    """``rows`` in another order: item i is ``rows[order[i]]``."""

    __slots__ = ("rows", "order")

    def __init__(self, rows: Sequence, order: list[int]):
        self.rows, self.order = rows, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.rows[self.order[k]] for k in range(*i.indices(len(self)))]
        return self.rows[self.order[i]]


def scores_and_durations(rows: Sequence) -> tuple[list, list]:
    """Each item's score and duration_ms, without building the rows of a packed list."""
    if isinstance(rows, Rows):
        catalog = rows.catalog
        return rows.packed.scores, [catalog[i][IX_DURATION] if i else None for i in rows.packed.indexes]
    return [r[IX_SCORE] for r in rows], [r[IX_DURATION] for r in rows]


def with_depth(context: dict, state: UserState | None, now_ms: int) -> dict:
    """``context`` with the session's depth counted from the overlay's ``state`` (None: the overlay did not answer)
    when the app did not say it."""
    if "depth" in context or state is None:
        return context
    return {**context, "depth": depth(state.session_depth(now_ms))}


def resorted(rows: Sequence, model: ContextModel | None, context: dict, weight: float | None = None) -> Sequence:
    """``rows`` in the order ``model`` gives them in ``context`` (``rows`` itself when nothing moves); ``weight``
    replaces the model's (an experiment arm's ``context_weight``)."""
    if model is None or not rows:
        return rows
    if weight is not None:
        model = replace(model, weight=weight)
    if not model.weight:  # published for experiments, not applied by default
        return rows
    scores, durations = scores_and_durations(rows)
    if any(s is None for s in scores):
        return rows
    order = model.resorted(scores, durations, context)
    if order == list(range(len(rows))):
        return rows
    if isinstance(rows, Rows):  # still a packed list: the renderer's per-version cache of display fields serves it
        return Rows(rows.packed.reordered(order), rows.catalog, rows.rendered)
    return Reordered(rows, order)


class ContextCache:
    """The context model of each version met (the last MODELS_HELD): its meta read once, in the background, so a
    feed request never waits for it (the first requests of a version may come before it is known)."""

    def __init__(self, store):
        self.store = store
        self.models: OrderedDict[str, ContextModel | None] = OrderedDict()
        self._loading: set[str] = set()

    def known(self, version: str) -> bool:
        return version in self.models

    def model(self, version: str) -> ContextModel | None:
        return self.models.get(version)

    async def load(self, version: str) -> None:
        if version in self.models or version in self._loading:
            return
        self._loading.add(version)
        try:
            meta = await self.store.meta(version)
        except StoreUnavailable:
            return  # asked again when the version is next met
        finally:
            self._loading.discard(version)
        self.models[version] = ContextModel.from_json(meta.get("context"))
        if len(self.models) > MODELS_HELD:
            self.models.popitem(last=False)
