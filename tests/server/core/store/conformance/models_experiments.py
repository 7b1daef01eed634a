"""Store conformance: model records, training decisions, experiments and impressions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infogap.server.core.domain import ExperimentStatus
from infogap.server.core.errors import AlreadyExists, InvalidArgument, NotFound
from infogap.server.core.store import Store
from tests.server.core.store.conformance.builders import (
    DAY,
    T0,
    decision,
    events,
    experiment,
    impressions,
    model,
)


class ModelsAndExperiments:
    # -- models -------------------------------------------------------------------------

    def test_promoted_training_replaces_the_serving_models(self, store: Store) -> None:
        v1 = [model("als", "v1"), model("pop", "v1")]
        store.record_training(v1, ["m/v1/als", "m/v1/pop"], decision("v1", True))
        store.record_training(
            [model("als", "v1", "d")], ["m/d/als"], decision("v1", True, catalog="d")
        )
        store.record_training([model("als", "v2")], ["m/v2/als"], decision("v2", False, T0 + DAY))
        assert store.serving_models() == [
            (model("als", "v1"), "m/v1/als"),
            (model("pop", "v1"), "m/v1/pop"),
            (model("als", "v1", "d"), "m/d/als"),
        ]
        store.record_training([model("als", "v3")], ["m/v3/als"], decision("v3", True, T0 + DAY))
        assert store.serving_models() == [
            (model("als", "v3"), "m/v3/als"),
            (model("pop", "v1"), "m/v1/pop"),
            (model("als", "v1", "d"), "m/d/als"),
        ]
        assert store.model_version("c", "v1") == [
            (model("als", "v1"), "m/v1/als"),
            (model("pop", "v1"), "m/v1/pop"),
        ]
        assert store.model_version("c", "v2") == [(model("als", "v2"), "m/v2/als")]
        assert store.model_version("d", "v2") == []

    def test_a_version_keeps_its_checksum_until_it_is_replaced(self, store: Store) -> None:
        v1 = [model("als", "v1"), model("pop", "v1")]
        store.record_training(v1, ["m/v1/als", "m/v1/pop"], decision("v1", True), "c1")
        store.record_training([model("als", "v2")], ["m/v2/als"], decision("v2", False))
        assert store.version_checksum("c", "v1") == "c1"
        assert store.version_checksum("c", "v2") == ""  # recorded without one
        assert store.version_checksum("c", "v3") is None
        assert store.version_checksum("d", "v1") is None
        store.set_version_checksum("c", "v1", "c1-rewritten")
        assert store.version_checksum("c", "v1") == "c1-rewritten"
        assert store.version_checksum("c", "v2") == ""
        with pytest.raises(NotFound, match="v3"):
            store.set_version_checksum("c", "v3", "c3")
        assert store.version_checksum("c", "v3") is None
        # The checksum changes no model record.
        assert store.model_version("c", "v1") == [
            (model("als", "v1"), "m/v1/als"),
            (model("pop", "v1"), "m/v1/pop"),
        ]

    def test_last_decisions_latest_per_catalog(self, store: Store) -> None:
        assert store.last_decisions() == {}
        store.record_training([], [], decision("v1", True, T0))
        store.record_training([], [], decision("v2", False, T0 + DAY))
        store.record_training([], [], decision("v3", False, T0))
        store.record_training([], [], decision("w1", True, T0, catalog="d"))
        store.record_training([], [], decision("w2", False, T0, catalog="d"))  # tie: by version
        assert store.last_decisions() == {
            "c": decision("v2", False, T0 + DAY),
            "d": decision("w2", False, T0, catalog="d"),
        }

    def test_training_history_newest_first_per_catalog(self, store: Store) -> None:
        assert store.training_history("c", 10) == []
        store.record_training([], [], decision("v1", True, T0))
        store.record_training([], [], decision("v2", False, T0 + DAY))
        store.record_training([], [], decision("v3", False, T0))  # tie with v1: by version
        store.record_training([], [], decision("w1", True, T0, catalog="d"))
        assert store.training_history("c", 10) == [
            decision("v2", False, T0 + DAY),
            decision("v3", False, T0),
            decision("v1", True, T0),
        ]
        assert store.training_history("c", 2) == [
            decision("v2", False, T0 + DAY),
            decision("v3", False, T0),
        ]
        assert store.training_history("d", 10) == [decision("w1", True, T0, catalog="d")]

    # -- experiments --------------------------------------------------------------------

    def test_create_experiment_round_trips_and_refuses_a_taken_name(self, store: Store) -> None:
        store.create_experiment(experiment("old", T0))
        store.create_experiment(experiment("b-new", T0 + DAY))
        store.create_experiment(experiment("a-new", T0 + DAY))
        with pytest.raises(AlreadyExists):
            store.create_experiment(experiment("old", T0 + 2 * DAY))
        assert store.experiments() == [
            experiment("a-new", T0 + DAY),
            experiment("b-new", T0 + DAY),
            experiment("old", T0),
        ]

    def test_experiment_status_moves_only_from_the_expected_one(self, store: Store) -> None:
        store.create_experiment(experiment("e"))
        assert (
            store.set_experiment_status("e", ExperimentStatus.STOPPED, T0, ExperimentStatus.RUNNING)
            is False
        )
        assert (
            store.set_experiment_status(
                "e", ExperimentStatus.RUNNING, T0 + DAY, ExperimentStatus.DRAFT
            )
            is True
        )
        assert (
            store.set_experiment_status(
                "e", ExperimentStatus.RUNNING, T0 + 2 * DAY, ExperimentStatus.DRAFT
            )
            is False
        )
        (running,) = store.experiments()
        assert (running.status, running.started_at, running.stopped_at) == (
            ExperimentStatus.RUNNING,
            T0 + DAY,
            None,
        )
        assert (
            store.set_experiment_status(
                "e", ExperimentStatus.STOPPED, T0 + 3 * DAY, ExperimentStatus.RUNNING
            )
            is True
        )
        (stopped,) = store.experiments()
        assert (stopped.status, stopped.started_at, stopped.stopped_at) == (
            ExperimentStatus.STOPPED,
            T0 + DAY,
            T0 + 3 * DAY,
        )
        with pytest.raises(NotFound):
            store.set_experiment_status(
                "missing", ExperimentStatus.RUNNING, T0, ExperimentStatus.DRAFT
            )
        with pytest.raises(InvalidArgument):
            store.set_experiment_status("e", ExperimentStatus.DRAFT, T0, ExperimentStatus.STOPPED)

    def test_experiment_outcomes_attribute_feedback_to_served_lists(self, store: Store) -> None:
        store.insert_impressions(
            impressions(
                ("r1", "E", "control", "u1", ["i1", "i2"], T0),
                ("r2", "E", "treatment", "u2", ["i3"], T0),
                ("r3", "E", "control", "u1", ["i4"], T0),
                ("r4", "other", "control", "u3", ["i1"], T0),
            )
        )
        second = timedelta(seconds=1)
        store.insert_events(
            events(
                # counted once: two clicks on the same served item of one list
                {
                    "event_id": "e1",
                    "user_id": "u1",
                    "recommendation_id": "r1",
                    "event_time": T0 + 10 * second,
                },
                {
                    "event_id": "e2",
                    "user_id": "u1",
                    "recommendation_id": "r1",
                    "event_time": T0 + 20 * second,
                },
                # not a click on a served item; a conversion counts whatever the item
                {"event_id": "e3", "user_id": "u1", "item_id": "i9", "recommendation_id": "r1"},
                {
                    "event_id": "e4",
                    "user_id": "u1",
                    "item_id": "i9",
                    "recommendation_id": "r1",
                    "type": "purchase",
                    "value": 20.0,
                },
                # outside the window after the list
                {
                    "event_id": "e5",
                    "user_id": "u1",
                    "item_id": "i4",
                    "recommendation_id": "r3",
                    "type": "purchase",
                    "value": 50.0,
                    "event_time": T0 + 2 * 3600 * second,
                },
                # within the allowed skew before the list
                {
                    "event_id": "e6",
                    "user_id": "u2",
                    "item_id": "i3",
                    "recommendation_id": "r2",
                    "event_time": T0 - 5 * second,
                },
                # another user's feedback on u2's list is not attributed
                {"event_id": "e7", "user_id": "u1", "item_id": "i3", "recommendation_id": "r2"},
            )
        )
        outcomes = store.experiment_outcomes(
            "E",
            click_types=["click"],
            conversion_types=["purchase"],
            window_seconds=3600.0,
            skew_seconds=10.0,
        )
        assert outcomes.to_pylist() == [
            {
                "variant": "control",
                "lists": 2,
                "impressions": 3,
                "clicks": 1,
                "conversions": 1,
                "revenue": 20.0,
            },
            {
                "variant": "treatment",
                "lists": 1,
                "impressions": 1,
                "clicks": 1,
                "conversions": 0,
                "revenue": 0.0,
            },
        ]
        unknown = store.experiment_outcomes(
            "none", click_types=["click"], conversion_types=[], window_seconds=1, skew_seconds=0
        )
        assert unknown.num_rows == 0
