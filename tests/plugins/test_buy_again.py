"""Buy again: already-bought items, ordered by when they are due, only when asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest
import scipy.sparse as sp

from infogap.plugins.buy_again import DAY_US, BuyAgainConfig, BuyAgainModel, BuyAgainTrainer
from infogap.server.plugin import (
    FeatureMatrix,
    TimedEvents,
    TrainingContext,
    TrainingData,
    UserQuery,
)
from infogap.server.plugin.testing import ConformanceData, ModelConformance, conformance_data

NOW = 1_750_000_000.0  # the wall clock the tests run at


@dataclass(frozen=True)
class AskingForSeen(ConformanceData):
    """The kit's data, every request asking for already-seen items."""

    def query(self, user_id: str, recent: Sequence[int] = ()) -> UserQuery:
        plain = super().query(user_id, recent)
        return UserQuery(
            user_id,
            lambda u: self.user_attributes.get(u, {}),
            lambda _: plain.recent_item_positions,
            include_seen=True,
        )


def _kit_with_times() -> AskingForSeen:
    kit = conformance_data()
    matrix = kit.training.interactions
    times = (1_700_000_000 + np.arange(matrix.nnz) * 3_600) * 1_000_000
    events = TimedEvents(matrix.row.astype(np.int64), matrix.col.astype(np.int64), times)
    training = replace(kit.training, load_timed_positives=lambda: events)
    return AskingForSeen(training, kit.user_attributes)


class TestBuyAgainConformance(ModelConformance):
    folds_in = True

    def make_trainer(self) -> BuyAgainTrainer:
        return BuyAgainTrainer(BuyAgainConfig(catalogs=["kit"]), clock=lambda: NOW)

    def make_data(self) -> ConformanceData:
        return _kit_with_times()


def _trained(events: list[tuple[int, int, float]], **config: object) -> BuyAgainModel:
    """A model of users 0..2 and items 0..4 from (user, item, day) purchases."""
    rows, items, days = (np.array(column) for column in zip(*events))
    order = np.argsort(days, kind="stable")
    timed = TimedEvents(
        rows[order].astype(np.int64),
        items[order].astype(np.int64),
        (days[order] * DAY_US).astype(np.int64),
    )
    training = TrainingData(
        catalog="kit",
        user_ids=np.array([f"kit-user-{n:03d}" for n in range(3)], dtype=object),
        item_ids=np.array([f"kit-item-{n}" for n in range(5)], dtype=object),
        interactions=sp.coo_matrix((np.ones(len(rows), np.float32), (rows, items)), shape=(3, 5)),
        user_features=FeatureMatrix.from_rows([[] for _ in range(3)]),
        item_features=FeatureMatrix.from_rows([[] for _ in range(5)]),
        event_count=len(rows),
        load_timed_positives=lambda: timed,
    )
    settings = BuyAgainConfig(**{"catalogs": ["kit"], **config})
    model = BuyAgainTrainer(settings, clock=lambda: NOW).train(
        training, TrainingContext("kit", lambda a: a)
    )
    assert isinstance(model, BuyAgainModel)
    return model


def _ranked(model: BuyAgainModel, user: int, day: float) -> list[int]:
    result = model.scores_at(f"kit-user-{user:03d}", np.empty(0, np.int64), int(day * DAY_US))
    assert result is not None
    return np.argsort(-result.scores, kind="stable").tolist()


def test_bought_items_come_first_ordered_by_when_they_are_due() -> None:
    # Item 0 is bought every 7 days, item 1 every 30 (by users 1 and 2 too, for the cycles).
    history = [(u, 0, d) for u in range(3) for d in (46, 53, 60)]
    history += [(u, 1, d) for u in range(3) for d in (0, 30, 60)]
    model = _trained(history, shrinkage=0.0)
    # Day 67: item 0 is due (7 days since), item 1 is not (7 of its 30 days).
    assert _ranked(model, 0, 67)[:2] == [0, 1]
    # Day 88: item 0 is long overdue (28 days), item 1 nearly due (28 of 30).
    assert _ranked(model, 0, 88)[:2] == [1, 0]


def test_frequency_counts_when_both_are_equally_due() -> None:
    history = [(0, 2, d) for d in (0, 10, 20, 30)] + [(0, 3, d) for d in (10, 30)]
    history += [(1, 3, d) for d in (0, 10, 20)]
    model = _trained(history)
    assert _ranked(model, 0, 40)[:2] == [2, 3]


def test_never_bought_items_follow_by_popularity() -> None:
    history = [(0, 4, 0.0), (1, 2, 0.0), (2, 2, 1.0), (1, 3, 2.0)]
    model = _trained(history)
    assert _ranked(model, 0, 3)[:3] == [4, 2, 3]


def test_it_answers_only_when_seen_items_are_asked_for() -> None:
    model = _trained([(0, 1, 0.0), (0, 1, 5.0)])
    attributes = lambda _: {}  # noqa: E731
    asked = UserQuery("kit-user-000", attributes, include_seen=True)
    assert model.score_user(asked) is not None
    assert model.score_user(UserQuery("kit-user-000", attributes)) is None
    # A user who bought nothing gets the next strategy, unless they just bought something.
    assert model.score_user(UserQuery("kit-nobody", attributes, include_seen=True)) is None
    fresh = UserQuery("kit-nobody", attributes, lambda _: np.array([3, 3]), include_seen=True)
    result = model.score_user(fresh)
    assert result is not None and int(np.argmax(result.scores)) == 3


def test_catalogs_not_named_are_not_served() -> None:
    kit = _kit_with_times()
    model = BuyAgainTrainer(BuyAgainConfig(catalogs=["groceries"])).train(
        kit.training, TrainingContext("kit", lambda a: a)
    )
    assert model.user_count == 0
    assert model.score_user(kit.query("kit-user-000", [1])) is None


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="colour"):
        BuyAgainConfig.model_validate({"colour": "red"})
