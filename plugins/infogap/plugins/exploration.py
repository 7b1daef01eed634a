"""Exploration reranker: a bounded number of slots for new items, chosen by Thompson sampling.

An item is *new* while it has fewer than ``max_impressions`` impressions and fewer than
``max_events`` events of other types (views, purchases, ratings...). Each new item's click rate
has a Beta posterior, ``Beta(prior_clicks + clicks, prior_misses + impressions - clicks)``; for
every list one value is drawn from each posterior, and the new items with the highest draws
take the last ``slots`` places of the list, per ``per`` items (1 of 10 by default), among those
the request may return (filters, seen items). An item that keeps being shown without clicks
draws low and stops being explored; one that gets clicks draws high until it stops being new.

The counts come from the stored events (``ItemFeedback``) and are refreshed every
``refresh_seconds`` per catalog, not per request: a request samples from counts in memory.

Options: ``[plugin_config.exploration]`` (``ExplorationConfig``). Off (not registered) while
``slots`` is 0, the default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from infogap.server.plugin import ItemFeedback, RerankContext, Reranker, ScoredItem, hookimpl

NAME = "exploration"
ORDER = 200  # after diversity: the explored items keep their places
REASON = "new in the catalog: shown so that we learn who likes it"
SAMPLED_PER_SLOT = 20  # best draws checked for eligibility per slot


class ExplorationConfig(BaseModel):
    """The exploration reranker's options."""

    model_config = ConfigDict(extra="forbid")

    slots: int = Field(
        default=0, ge=0, description="Places for new items per `per` items of a list; 0 is off."
    )
    per: int = Field(
        default=10,
        ge=1,
        description="A list of `count` items gets "
        "slots * count // per exploration places (1 of 10 by default).",
    )
    max_impressions: int = Field(default=100, ge=1, description="New below this many impressions.")
    max_events: int = Field(
        default=5, ge=1, description="New below this many events of other types."
    )
    impression_types: list[str] = Field(default_factory=lambda: ["impression"])
    click_types: list[str] = Field(default_factory=lambda: ["click"])
    prior_clicks: float = Field(default=1.0, gt=0, description="Beta prior: alpha.")
    prior_misses: float = Field(default=1.0, gt=0, description="Beta prior: beta.")
    refresh_seconds: float = Field(
        default=300.0, ge=0, description="How old a catalog's counts may get before a re-read."
    )
    seed: int | None = Field(default=None, description="Fixed seed of the draws (tests).")


def thompson_pick(
    clicks: np.ndarray,
    misses: np.ndarray,
    rng: np.random.Generator,
    count: int,
    prior: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Indices of the ``count`` items with the highest draws from ``Beta(prior[0] + clicks,
    prior[1] + misses)``, highest first."""
    draws = rng.beta(prior[0] + clicks, prior[1] + misses)
    return np.argsort(-draws, kind="stable")[:count]


@dataclass(frozen=True)
class NewItems:
    """A catalog's new items with their counts, as of ``read_at`` (monotonic seconds)."""

    read_at: float
    item_ids: np.ndarray
    clicks: np.ndarray
    misses: np.ndarray


class ExplorationReranker:
    """Puts Thompson-sampled new items in the last places of the list."""

    name = NAME
    order = ORDER

    def __init__(
        self,
        config: ExplorationConfig,
        feedback: ItemFeedback,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._feedback = feedback
        self._clock = clock
        self._rng = np.random.default_rng(config.seed)
        self._lock = threading.Lock()  # guards the generator and the cache
        self._new_items: dict[str, NewItems] = {}

    def slots_for(self, count: int) -> int:
        return self._config.slots * count // self._config.per

    def new_items(self, catalog: str) -> NewItems:
        """The catalog's new items, re-read when older than ``refresh_seconds``."""
        with self._lock:
            cached = self._new_items.get(catalog)
            now = self._clock()
            if cached is not None and now - cached.read_at < self._config.refresh_seconds:
                return cached
            c = self._config
            exposure = self._feedback.exposure(catalog, c.impression_types, c.click_types)
            new = (exposure.impressions < c.max_impressions) & (
                exposure.other_events < c.max_events
            )
            clicks = np.minimum(exposure.clicks[new], exposure.impressions[new])
            fresh = NewItems(
                now, exposure.item_ids[new], clicks, exposure.impressions[new] - clicks
            )
            self._new_items[catalog] = fresh
            return fresh

    def rerank(self, context: RerankContext, candidates: list[ScoredItem]) -> list[ScoredItem]:
        slots = self.slots_for(context.count)
        if not slots:
            return candidates
        new = self.new_items(context.catalog)
        shown = candidates[: context.count]
        new_ids = set(new.item_ids.tolist())
        slots -= sum(item.item_id in new_ids for item in shown)  # new items already in the list
        if slots <= 0 or not len(new.item_ids):
            return candidates
        with self._lock:
            prior = (self._config.prior_clicks, self._config.prior_misses)
            ranked = thompson_pick(
                new.clicks, new.misses, self._rng, slots * SAMPLED_PER_SLOT, prior
            )
        present = {item.item_id for item in shown}
        wanted = [i for i in new.item_ids[ranked].tolist() if i not in present]
        explored = [replace(item, reason=REASON) for item in context.eligible_items(wanted)]
        explored = explored[:slots]
        if not explored:
            return candidates
        explored_ids = {item.item_id for item in explored}
        kept = [item for item in candidates if item.item_id not in explored_ids]
        cut = len(shown) - len(explored)
        return kept[:cut] + explored + kept[cut:]


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return ExplorationConfig


@hookimpl
def infogap_register_rerankers(
    register: Callable[[Reranker], None], config: ExplorationConfig, item_feedback: ItemFeedback
) -> None:
    if config.slots:
        register(ExplorationReranker(config, item_feedback))
