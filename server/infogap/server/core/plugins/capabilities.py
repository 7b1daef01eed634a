"""Optional model capabilities for explanations and reranking, and the item feedback counts
rerankers may read. Plugins import these from ``infogap.server.plugin``.

A ``TrainedModel`` may also implement:

- ``ExplainingModel``: says what is behind each item it recommended (the user's own items, or
  features), so the response's reasons name them and carry them as evidence;
- ``ItemVectorModel``: offers its item representations, so rerankers (diversity) can compare
  items the way the model does.

Both are checked with ``isinstance`` and called only for the final few items of a request.

.. versionadded:: 0.4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from infogap.server.core.plugins.protocols import UserQuery


@dataclass(frozen=True, slots=True)
class Contribution:
    """One piece of evidence a model gives for an item.

    Either ``item_position`` (an item of the user's history, a position in the index space,
    as in ``UserQuery.history_item_positions``) or ``feature`` (a feature name such as
    ``age=25-34``, ``occupation=student`` or ``segment:loyal``) is set. ``weight`` is how much
    it contributed to the item's score, higher is more (e.g. a dot product).
    """

    weight: float
    item_position: int = -1
    feature: str = ""


@runtime_checkable
class ExplainingModel(Protocol):
    """Optional for a ``TrainedModel``: the evidence behind the items it scored.

    The server turns the evidence into each item's reason ("because you rated A and B",
    "popular with customers aged 25-34") and returns it as data (``ScoredItem.evidence``).
    A model may also set ``explanation_lead``, how a reason made of features starts ("liked by
    customers" gives "liked by customers aged 25-34"; the default "popular" gives "popular with
    customers aged 25-34", "popular in occupation=student"). Reasons made of items read
    "because you bought A and rated B", from the user's events.

    Example, for an item-neighbour model with an item-item similarity matrix ``S``::

        def explain(self, user, item_positions, limit):
            history = user.history_item_positions
            out = []
            for item in item_positions:
                weights = S[history, item]          # how much each own item pulls this one
                best = np.argsort(-weights)[:limit]
                out.append([Contribution(float(weights[b]), item_position=int(history[b]))
                            for b in best if weights[b] > 0])
            return out
    """

    def explain(
        self, user: UserQuery, item_positions: np.ndarray, limit: int
    ) -> list[list[Contribution]]:
        """The evidence for each of ``item_positions`` (the final top items of a request that
        this model scored for ``user``), strongest first, at most ``limit`` each.

        Called once per request, after ``score_user`` answered for the same ``user``, with the
        few items actually returned: it may cost O(len(item_positions) x history), never the
        whole catalogue. An empty list for an item keeps the reason ``score_user`` gave.

        :param user: the same query ``score_user`` was given.
        :param item_positions: positions in the model's index space (int64).
        :param limit: at most this many contributions per item.
        :return: one list per position, in the order given.
        """


@runtime_checkable
class ItemVectorModel(Protocol):
    """Optional for a ``TrainedModel``: its item representations, for rerankers comparing
    items (the diversity reranker's cosine similarity)."""

    def item_vectors(self, item_positions: np.ndarray) -> np.ndarray:
        """Rows of the model's item representations (float32, one per position, in order)."""


@dataclass(frozen=True)
class ItemExposure:
    """Per item of a catalog, how often it was shown and clicked, and how many other events
    it has: what an exploration reranker needs to tell new items and sample their click rate.
    Aligned arrays; ``item_ids`` is every stored item of the catalog."""

    item_ids: np.ndarray  # object array of str
    impressions: np.ndarray  # int64
    clicks: np.ndarray  # int64
    other_events: np.ndarray  # int64: events of every other type


class ItemFeedback(Protocol):
    """Reads ``ItemExposure`` from the store; handed to ``infogap_register_rerankers``.

    A query over the catalog's events: call it at start or periodically (e.g. every few
    minutes), never per request."""

    def exposure(
        self, catalog: str, impression_types: Sequence[str], click_types: Sequence[str]
    ) -> ItemExposure:
        """The counts of ``catalog``'s items; events of ``impression_types`` count as
        impressions, of ``click_types`` as clicks, every other type as ``other_events``."""


class NoItemFeedback:
    """An ``ItemFeedback`` with no events (for a plugin host built without a store)."""

    def exposure(
        self, catalog: str, impression_types: Sequence[str], click_types: Sequence[str]
    ) -> ItemExposure:
        none = np.zeros(0, dtype=np.int64)
        return ItemExposure(np.empty(0, dtype=object), none, none.copy(), none.copy())


_IMPLEMENTS: dict[tuple[type, type], bool] = {}


def implements(model: object, capability: type) -> bool:
    """``isinstance(model, capability)`` for a runtime-checkable protocol, remembered per class:
    a protocol check inspects every member, too slow for each request. A class answering
    members through ``__getattr__`` (a wrapper) may differ per instance: checked each time."""
    if hasattr(type(model), "__getattr__"):
        return isinstance(model, capability)
    key = (type(model), capability)
    found = _IMPLEMENTS.get(key)
    if found is None:
        found = _IMPLEMENTS[key] = isinstance(model, capability)
    return found
