"""Unit tests of the differential-privacy plugin's mechanism and the privacy-budget ledger."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from infogap.plugins.differential_privacy import (
    DifferentialPrivacyGuard,
    bound_contributions,
    bounded_counts,
    discrete_laplace,
)
from infogap.server.config import PrivacySettings
from infogap.server.core.errors import ResourceExhausted
from infogap.server.core.plugins.protocols import Aggregate
from infogap.server.core.privacy.ledger import BudgetExhausted, PrivacyLedger
from infogap.server.core.store import Store

START = datetime(2026, 3, 10, 12, 0)


class Clock:
    """A settable clock for the ledger."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def ledger_on(path: Path, clock: Clock | None = None, **privacy: object) -> PrivacyLedger:
    return PrivacyLedger(Store(path), PrivacySettings(enabled=True, **privacy), clock or Clock())


def aggregate(
    contributions: sp.csr_matrix, keys: list[str] | None = None, scope: str = ""
) -> Aggregate:
    keys = keys or [f"item-{i}" for i in range(contributions.shape[1])]
    return Aggregate(
        catalog="default",
        kind="item_popularity",
        keys=np.array(keys, dtype=object),
        contributions=contributions,
        values=np.asarray(contributions.sum(axis=0)).ravel(),
        scope=scope,
    )


def test_discrete_laplace_noise_has_the_variance_of_its_scale():
    scale = 5.0
    draws = np.asarray(discrete_laplace(scale)([0] * 100_000), dtype=float)
    # Discrete Laplace with P(k) proportional to a^|k|, a = exp(-1/scale): variance 2a/(1-a)^2.
    a = math.exp(-1 / scale)
    expected = 2 * a / (1 - a) ** 2
    # The sample variance's relative standard error is about sqrt(5 / n) = 0.7%: 5% is far out.
    assert draws.var() == pytest.approx(expected, rel=0.05)
    assert abs(draws.mean()) < 0.1
    assert np.all(draws == np.round(draws))  # integer noise, not floating-point Laplace


def test_contribution_bounding_keeps_each_users_heaviest_items_once():
    weights = np.arange(1, 101, dtype=np.float32)  # user 0: 100 items, item 99 heaviest
    rows = np.concatenate([np.zeros(100, dtype=int), [1, 1]])
    columns = np.concatenate([np.arange(100), [0, 1]])
    data = np.concatenate([weights, [5.0, 5.0]])
    contributions = sp.csr_matrix((data, (rows, columns)), shape=(2, 100))
    bounded = bound_contributions(contributions, max_keys=3)
    assert sorted(bounded[0].indices.tolist()) == [97, 98, 99]
    assert sorted(bounded[1].indices.tolist()) == [0, 1]
    assert set(bounded.data.tolist()) == {1}
    counts = bounded_counts(contributions, max_keys=3)
    assert counts.sum() == 5 and counts[[0, 1, 97, 98, 99]].tolist() == [1, 1, 1, 1, 1]


def test_guard_releases_bounded_counts_and_pays_for_them(tmp_path):
    ledger = ledger_on(tmp_path, epsilon_per_window=1e9)
    # So large an epsilon makes the noise 0 with certainty for all purposes: what is left is
    # the bounding.
    guard = DifferentialPrivacyGuard(
        PrivacySettings(epsilon_per_release=1e5, max_contributions_per_user=4), ledger
    )
    greedy = sp.csr_matrix(np.arange(1, 101, dtype=np.float32)[None, :])  # one user, 100 items
    released = guard.release(aggregate(greedy))
    assert released.values.sum() == 4 and released.values[-4:].tolist() == [1, 1, 1, 1]
    budget = ledger.report("default")
    assert budget.epsilon_spent == pytest.approx(1e5) and budget.delta_spent == 0
    (release,) = budget.releases
    assert "discrete Laplace" in release.description and "at most 4 items" in release.description


def test_ledger_caps_a_window_and_renews_in_the_next(tmp_path):
    clock = Clock()
    ledger = ledger_on(tmp_path, clock, epsilon_per_window=1.0, window_days=30)
    keys, values = np.array(["a"], dtype=object), np.array([1.0])
    for _ in range(10):  # ten releases of 0.1 fit a budget of 1.0 despite rounding
        ledger.spend("default", "item_popularity", "", 0.1, "test", keys, values)
    assert ledger.remaining("default") == pytest.approx(0)
    with pytest.raises(BudgetExhausted):
        ledger.spend("default", "item_popularity", "", 0.1, "test", keys, values)
    assert ledger.remaining("other") == 1.0  # budgets are per catalog
    start = ledger.window_start(clock.now)
    assert start == datetime(1970, 1, 1) + (clock.now - datetime(1970, 1, 1)) // timedelta(
        30
    ) * timedelta(30)
    clock.now = start + timedelta(days=30)
    assert ledger.remaining("default") == 1.0
    assert ledger.report("default").releases == ()


def test_last_release_is_kept_per_scope_and_aligned_to_new_keys(tmp_path):
    ledger = ledger_on(tmp_path)
    keys = np.array(["a", "b"], dtype=object)
    ledger.spend(
        "default", "segment_item_popularity", "segment=red", 0.1, "red", keys, np.array([3.0, 4.0])
    )
    ledger.spend(
        "default",
        "segment_item_popularity",
        "segment=blue",
        0.1,
        "blue",
        keys,
        np.array([5.0, 6.0]),
    )
    red = ledger.last_release("default", "segment_item_popularity", "segment=red")
    assert red is not None and red.values.tolist() == [3.0, 4.0]
    assert red.aligned_to(np.array(["b", "new", "a"], dtype=object)).tolist() == [4.0, 0.0, 3.0]
    assert ledger.last_release("default", "segment_item_popularity", "segment=green") is None


@pytest.mark.parametrize("on_exhausted", ["reuse", "refuse"])
def test_exhausted_budget_reuses_or_refuses(tmp_path, on_exhausted):
    ledger = ledger_on(tmp_path, epsilon_per_window=1.0)
    privacy = PrivacySettings(epsilon_per_release=1.0, on_exhausted=on_exhausted)
    guard = DifferentialPrivacyGuard(privacy, ledger)
    contributions = sp.csr_matrix(np.ones((50, 8), dtype=np.float32))
    first = guard.release(aggregate(contributions))
    if on_exhausted == "refuse":
        with pytest.raises(ResourceExhausted):
            guard.release(aggregate(contributions))
        assert len(ledger.report("default").releases) == 1
        return
    again = guard.release(aggregate(contributions))
    assert again.values.tolist() == first.values.tolist()
    assert [r.epsilon for r in ledger.report("default").releases] == [1.0, 0.0]
    # Never raw counts: a figure never released before cannot be reused, so it is refused.
    with pytest.raises(ResourceExhausted, match="no earlier release"):
        guard.release(aggregate(contributions, scope="segment=new"))
