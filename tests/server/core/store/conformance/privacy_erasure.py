"""Store conformance: the privacy ledger and erasure."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from infogap.server.core.domain import User
from infogap.server.core.errors import BudgetExhausted
from infogap.server.core.store import PrivacyRelease, Store
from tests.server.core.store.conformance.builders import (
    DAY,
    T0,
    TYPE_WEIGHTS,
    events,
    impressions,
    pairs,
    release,
)


class PrivacyAndErasure:
    # -- the privacy ledger -------------------------------------------------------------

    def test_spending_is_capped_per_window_and_refusals_write_nothing(self, store: Store) -> None:
        window = T0 - DAY
        store.append_privacy_release("c", release(0.9, window - timedelta(seconds=1)))  # before
        keys, values = np.array(["i1", "i2"], dtype=object), np.array([3.0, 1.5])
        store.spend_privacy_budget(
            "c", release(0.6), keys, values, window_start=window, epsilon_budget=1.0
        )
        with pytest.raises(BudgetExhausted) as refused:
            store.spend_privacy_budget(
                "c",
                release(0.5, T0 + DAY),
                np.array(["i9"], dtype=object),
                np.array([9.0]),
                window_start=window,
                epsilon_budget=1.0,
            )
        assert refused.value.message == (
            "catalog 'c' has spent epsilon 0.6 of 1 in the current window; releasing "
            "popularity would take 0.5 more"
        )
        assert store.privacy_spent("c", window) == pytest.approx(0.6)
        assert store.privacy_spent("c", window - DAY) == pytest.approx(1.5)
        assert store.privacy_releases("c", window) == [release(0.6)]
        kept = store.last_privacy_release("c", "popularity", "")
        assert kept is not None
        assert kept.keys.dtype == object and kept.keys.tolist() == ["i1", "i2"]
        assert kept.values.dtype == np.float64 and kept.values.tolist() == [3.0, 1.5]
        assert (kept.released_at, kept.description) == (T0, "popularity at 0.6")
        # Another catalog's budget is its own.
        store.spend_privacy_budget(
            "d", release(1.0), keys, values, window_start=window, epsilon_budget=1.0
        )
        assert store.privacy_spent("d", window) == 1.0

    def test_a_budget_takes_releases_that_add_up_to_it_exactly(self, store: Store) -> None:
        # 0.1 + 0.2 is 0.30000000000000004 in floating point: still within a budget of 0.3.
        keys, values = np.array(["i1"], dtype=object), np.array([1.0])
        for epsilon in (0.1, 0.2):
            store.spend_privacy_budget(
                "c", release(epsilon), keys, values, window_start=T0, epsilon_budget=0.3
            )
        with pytest.raises(BudgetExhausted):
            store.spend_privacy_budget(
                "c", release(1e-6, T0 + DAY), keys, values, window_start=T0, epsilon_budget=0.3
            )
        assert [r.epsilon for r in store.privacy_releases("c", T0)] == [0.1, 0.2]

    def test_releases_in_time_then_recorded_order_and_kept_values_per_figure(
        self, store: Store
    ) -> None:
        keys = np.array(["i1"], dtype=object)
        later, earlier = release(0.2, T0 + DAY), release(0.1, T0)
        store.spend_privacy_budget(
            "c", later, keys, np.array([2.0]), window_start=T0, epsilon_budget=5.0
        )
        store.spend_privacy_budget(
            "c", earlier, keys, np.array([1.0]), window_start=T0, epsilon_budget=5.0
        )
        reuse = release(0.0, T0)
        store.append_privacy_release("c", reuse)
        segment = PrivacyRelease("segment_size", "s1", 0.3, 1e-6, T0, "sizes")
        store.spend_privacy_budget(
            "c", segment, keys, np.array([7.0]), window_start=T0, epsilon_budget=5.0
        )
        assert store.privacy_releases("c", T0) == [earlier, reuse, segment, later]
        assert store.privacy_releases("c", T0 + DAY) == [later]
        assert store.privacy_releases("d", T0) == []
        assert store.privacy_spent("d", T0) == 0.0
        popularity = store.last_privacy_release("c", "popularity", "")
        assert popularity is not None and popularity.values.tolist() == [1.0]  # the last paid
        sizes = store.last_privacy_release("c", "segment_size", "s1")
        assert sizes is not None and sizes.values.tolist() == [7.0]
        assert store.last_privacy_release("c", "segment_size", "s2") is None
        assert store.last_privacy_release("d", "popularity", "") is None

    # -- erasure ------------------------------------------------------------------------

    def test_delete_user_removes_the_user_everywhere(self, store: Store) -> None:
        store.upsert_users([User("u1", {"a": "1"}), User("u2")], T0)
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "recommendation_id": "r1"},
                {"event_id": "e2", "user_id": "u1", "item_id": "i2"},
                {"event_id": "e3", "user_id": "u2"},
            )
        )
        store.replace_clusters([("k", "all", 2)], {"u1": "k", "u2": "k"}, T0)
        store.insert_impressions(impressions(("r1", "E", "control", "u1", ["i1"], T0)))
        assert store.delete_user("u1") == {
            "users": 1,
            "events": 2,
            "user_clusters": 1,
            "impressions": 1,
        }
        assert store.get_user("u1") is None and store.user_attributes(["u1"]) == {}
        assert pairs(store.seen_pairs("c", ["click"])) == [("u2", "i1")]
        assert store.weighted_events("c", TYPE_WEIGHTS).column("user_id").to_pylist() == ["u2"]
        assert store.clusters() == [("k", "all", 1)] and store.cluster_members("k") == ["u2"]
        assert store.active_days(T0, ["u1"]) == {}
        outcomes = store.experiment_outcomes(
            "E", click_types=["click"], conversion_types=[], window_seconds=60, skew_seconds=0
        )
        assert outcomes.num_rows == 0
        assert store.delete_user("u1") == {
            "users": 0,
            "events": 0,
            "user_clusters": 0,
            "impressions": 0,
        }
        assert store.get_user("u2") == ({}, T0)

    def test_an_erased_users_event_sent_again_is_stored_again(self, store: Store) -> None:
        store.insert_events(events({"event_id": "e1", "user_id": "u1"}))
        assert store.delete_user("u1")["events"] == 1
        assert store.insert_events(events({"event_id": "e1", "user_id": "u1"})) == {"e1"}
        assert pairs(store.seen_pairs("c", ["click"])) == [("u1", "i1")]
