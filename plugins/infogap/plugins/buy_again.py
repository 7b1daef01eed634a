"""Repeat-purchase strategy ("buy again") for catalogs of consumables: ranks the items a user
already bought by how often they bought them and by whether they are due again.

Each item has a repurchase cycle: the median interval between two consecutive purchases of it
by the same user, pooled over every user (items nobody bought twice get the median cycle of
the catalogue). An item bought ``n`` times, last ``e`` ago, with cycle ``c`` scores::

    log(1 + n) * (floor + exp(-(log((e + 1 day) / c))^2 / (2 width^2)))

so an item is most wanted when the time since its last purchase reaches its cycle, and the
frequency keeps staples on top. Items the user never bought follow, by popularity.

It serves only the catalogs named in ``buy_again.catalogs`` (none by default), and only when
the request asks for already-seen items (``include_seen``); otherwise it returns None and the next strategy answers. "Now" is the catalog's latest event at training
plus the wall time since, so a history imported in bulk is read as if it had just ended.
Events recorded since training count as purchases made now.

Options: the ``[buy_again]`` section (``BuyAgainConfig``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from infogap.server.plugin import (
    ModelTrainer,
    ScoreResult,
    TimedEvents,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
    no_timed_events,
)

STRATEGY = "buy_again"
ARRAYS_FILE = "buy_again.npz"
META_FILE = "meta.json"
DAY_US = 86_400 * 1_000_000
REASON = "you buy this regularly"


class BuyAgainConfig(BaseModel):
    """Options of the repeat-purchase strategy: the ``[buy_again]`` section."""

    model_config = ConfigDict(extra="forbid")

    catalogs: list[str] = Field(
        default_factory=list,
        description='The catalogs of consumables it serves ("*": every catalog); elsewhere it '
        "trains nothing and never answers. Empty by default.",
    )

    width: float = Field(
        default=1.5, gt=0, description="How sharply being due counts, in log-time units."
    )
    shrinkage: float = Field(
        default=10.0,
        ge=0,
        description="Weight, in repeat purchases, of the item's pooled cycle against the user's "
        "own interval for it.",
    )
    floor: float = Field(
        default=1.0, ge=0, description="Share of an item's score that does not depend on timing."
    )


def repurchase_cycles(events: TimedEvents, item_count: int) -> np.ndarray:
    """Median interval (microseconds) between consecutive purchases of each item by the same
    user, pooled over users; the catalogue's median for items never bought twice."""
    order = np.lexsort((events.time_us, events.item_columns, events.user_rows))
    users, items = events.user_rows[order], events.item_columns[order]
    times = events.time_us[order]
    same = (users[1:] == users[:-1]) & (items[1:] == items[:-1])
    gaps = (times[1:] - times[:-1])[same]
    gap_items = items[1:][same]
    positive = gaps > 0  # the same basket twice is one purchase
    gaps, gap_items = gaps[positive], gap_items[positive]
    fallback = float(np.median(gaps)) if len(gaps) else float(30 * DAY_US)
    cycles = np.full(item_count, fallback)
    if len(gaps):
        by_item = np.argsort(gap_items, kind="stable")
        gap_items, gaps = gap_items[by_item], gaps[by_item]
        starts = np.flatnonzero(np.r_[True, gap_items[1:] != gap_items[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(gaps)]):
            cycles[gap_items[start]] = float(np.median(gaps[start:end]))
    return cycles


class BuyAgainModel:
    """Per-user purchase counts and last times, per-item cycles; scoring is numpy."""

    strategy = STRATEGY

    def __init__(
        self,
        *,
        user_ids: np.ndarray,
        indptr: np.ndarray,
        items: np.ndarray,
        counts: np.ndarray,
        last_us: np.ndarray,
        first_us: np.ndarray,
        cycles_us: np.ndarray,
        popularity: np.ndarray,
        data_end_us: int,
        trained_at: float,
        config: BuyAgainConfig,
        clock: Callable[[], float] = time.time,
        serves: bool = True,
    ) -> None:
        self._serves = serves
        self._user_ids = user_ids
        self._user_index = {user_id: row for row, user_id in enumerate(user_ids.tolist())}
        self._indptr, self._items = indptr.astype(np.int64), items.astype(np.int64)
        self._counts, self._last_us = counts.astype(np.float64), last_us.astype(np.int64)
        self._first_us = first_us.astype(np.int64)
        self._cycles_us = cycles_us.astype(np.float64)
        self._popularity = popularity.astype(np.float64)
        self._data_end_us, self._trained_at = int(data_end_us), float(trained_at)
        self._config = config
        self._clock = clock
        self.parameters: Mapping[str, str] = {
            key: str(value) for key, value in config.model_dump().items()
        }
        self.metrics: Mapping[str, float] = {
            "median_cycle_days": float(np.median(cycles_us)) / DAY_US if len(cycles_us) else 0.0
        }
        self.user_count = len(user_ids)

    def now_us(self) -> int:
        elapsed = max(self._clock() - self._trained_at, 0.0)
        return self._data_end_us + int(elapsed * 1_000_000)

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        if not (self._serves and user.include_seen):
            return None
        return self.scores_at(user.user_id, user.recent_item_positions, self.now_us())

    def scores_at(self, user_id: str, recent: np.ndarray, now_us: int) -> ScoreResult | None:
        """The user's scores at time ``now_us``, with ``recent`` bought at that time; None
        for a user who bought nothing."""
        row = self._user_index.get(user_id)
        if row is None:
            items = np.empty(0, np.int64)
            counts, last, first = np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64)
        else:
            span = slice(self._indptr[row], self._indptr[row + 1])
            items, counts, last = self._items[span], self._counts[span], self._last_us[span]
            first = self._first_us[span]
        if len(recent):
            fresh, fresh_counts = np.unique(recent, return_counts=True)
            total = np.zeros(len(self._popularity))
            total[items] = counts
            total[fresh] += fresh_counts
            stamp = np.zeros(len(self._popularity), dtype=np.int64)
            stamp[items] = last
            stamp[fresh] = now_us
            began = np.full(len(self._popularity), now_us, dtype=np.int64)
            began[items] = first
            items = np.flatnonzero(total)
            counts, last, first = total[items], stamp[items], began[items]
        if not len(items):
            return None
        elapsed = np.maximum(now_us - last, 0) + DAY_US
        # The user's own interval for the item, shrunk towards the item's pooled cycle.
        repeats = counts - 1
        own = (last - first) / np.maximum(repeats, 1)
        shrink = self._config.shrinkage
        cycle = (shrink * self._cycles_us[items] + repeats * own) / (shrink + repeats)
        timing = np.log(elapsed / np.maximum(cycle, DAY_US)) / self._config.width
        due = np.exp(-0.5 * timing**2)
        # Never-bought items score in [-1, 0) by popularity, under every bought item (> 0).
        scores = self._popularity - 1.0
        scores[items] = np.log1p(counts) * (self._config.floor + due) + 1e-6
        return ScoreResult(scores.astype(np.float32), REASON)

    def similar_items(self, item_index: int) -> np.ndarray | None:
        return None

    def without_user(self, user_id: str) -> BuyAgainModel:
        """The model without the user's purchases (the cycles and popularity stay as trained
        until the next training)."""
        row = self._user_index.get(user_id)
        if row is None:
            return self
        start, end = self._indptr[row], self._indptr[row + 1]
        keep = np.r_[0:start, end : len(self._items)]
        return BuyAgainModel(
            user_ids=np.delete(self._user_ids, row),
            indptr=np.r_[self._indptr[: row + 1], self._indptr[row + 2 :] - (end - start)],
            items=self._items[keep],
            counts=self._counts[keep],
            last_us=self._last_us[keep],
            first_us=self._first_us[keep],
            cycles_us=self._cycles_us,
            popularity=self._popularity,
            data_end_us=self._data_end_us,
            trained_at=self._trained_at,
            config=self._config,
            clock=self._clock,
            serves=self._serves,
        )

    def save(self, directory: Path) -> None:
        np.savez(
            directory / ARRAYS_FILE,
            user_ids=self._user_ids.astype(str),
            indptr=self._indptr,
            items=self._items,
            counts=self._counts,
            last_us=self._last_us,
            first_us=self._first_us,
            cycles_us=self._cycles_us,
            popularity=self._popularity,
        )
        meta = {
            "data_end_us": self._data_end_us,
            "trained_at": self._trained_at,
            "serves": self._serves,
        }
        (directory / META_FILE).write_text(json.dumps(meta))


class BuyAgainTrainer:
    """Counts purchases per (user, item) and the items' repurchase cycles."""

    strategy = STRATEGY

    def __init__(self, config: BuyAgainConfig, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock

    def train(self, data: TrainingData, context: TrainingContext) -> TrainedModel:
        item_count = len(data.item_ids)
        catalogs = self._config.catalogs
        serves = "*" in catalogs or data.catalog in catalogs
        events = data.load_timed_positives() if serves else no_timed_events()
        if not serves:
            empty = np.empty(0, dtype=np.int64)
            pairs = (np.zeros(1, dtype=np.int64), empty, np.empty(0), empty, empty)
            cycles = np.full(item_count, float(DAY_US))
            data_end, trained_at = 0, 0.0
            data = replace(data, user_ids=np.empty(0, dtype=object))
        elif len(events.time_us):
            pairs = _purchases_per_pair(events, data.interactions.shape)
            cycles = repurchase_cycles(events, item_count)
            data_end, trained_at = int(events.time_us.max()), self._clock()
        else:
            # No times known: the summed signals stand for counts, every item equally due.
            matrix = sp.csr_matrix(data.interactions)
            matrix.sum_duplicates()
            matrix.sort_indices()
            zero = np.zeros(matrix.nnz, dtype=np.int64)
            pairs = (matrix.indptr, matrix.indices, matrix.data.astype(np.float64), zero, zero)
            cycles = np.full(item_count, float(DAY_US))
            data_end, trained_at = 0, 0.0
        indptr, items, counts, last, first = pairs
        totals = np.bincount(items, weights=counts, minlength=item_count)
        peak = totals.max() if len(totals) else 0.0
        popularity = totals / peak * 0.999 if peak > 0 else totals
        return BuyAgainModel(
            serves=serves,
            user_ids=data.user_ids,
            indptr=indptr,
            items=items,
            counts=counts,
            last_us=last,
            first_us=first,
            cycles_us=cycles,
            popularity=popularity,
            data_end_us=data_end,
            trained_at=trained_at,
            config=self._config,
            clock=self._clock,
        )

    def load(self, directory: Path, item_ids: np.ndarray) -> TrainedModel:
        meta = json.loads((directory / META_FILE).read_text())
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            model = BuyAgainModel(
                user_ids=arrays["user_ids"].astype(object),
                indptr=arrays["indptr"],
                items=arrays["items"],
                counts=arrays["counts"],
                last_us=arrays["last_us"],
                first_us=arrays["first_us"],
                cycles_us=arrays["cycles_us"],
                popularity=arrays["popularity"],
                data_end_us=meta["data_end_us"],
                trained_at=meta["trained_at"],
                config=self._config,
                clock=self._clock,
                serves=meta["serves"],
            )
        if len(model._popularity) != len(item_ids):
            raise ValueError(f"{directory}: model has a different item count than its catalog")
        return model


def _purchases_per_pair(
    events: TimedEvents, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows of (user, item) pairs: ``indptr``, item columns, purchase counts (one per
    distinct time, so that a basket's view and purchase count once) and the latest time."""
    keys = events.user_rows * shape[1] + events.item_columns
    order = np.lexsort((events.time_us, keys))
    keys, times = keys[order], events.time_us[order]
    distinct = np.r_[True, (keys[1:] != keys[:-1]) | (times[1:] != times[:-1])]
    keys, times = keys[distinct], times[distinct]
    pair_keys, starts, counts = np.unique(keys, return_index=True, return_counts=True)
    last = times[starts + counts - 1]
    first = times[starts]
    rows = pair_keys // shape[1]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=shape[0]))]
    return indptr, pair_keys % shape[1], counts.astype(np.float64), last, first


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return BuyAgainConfig


@hookimpl
def infogap_register_models(
    register: Callable[[ModelTrainer], None], config: BuyAgainConfig
) -> None:
    # Without a catalog of consumables named, nothing is trained, listed or served.
    if config.catalogs:
        register(BuyAgainTrainer(config))
