"""The privacy-budget ledger: windows, per-catalog budgets, the last release per scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from infogap.server.config import PrivacySettings
from infogap.server.core.privacy.ledger import BudgetExhausted, PrivacyLedger
from infogap.server.core.store import DuckDBStore

START = datetime(2026, 3, 10, 12, 0)


class Clock:
    """A settable clock for the ledger."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def ledger_on(path: Path, clock: Clock | None = None, **privacy: object) -> PrivacyLedger:
    return PrivacyLedger(
        DuckDBStore(path), PrivacySettings(enabled=True, **privacy), clock or Clock()
    )


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
