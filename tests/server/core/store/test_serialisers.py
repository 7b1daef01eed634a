"""Stored forms of domain objects read back equal to what was stored, and look as documented."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from infogap.server.core.domain import (
    Experiment,
    ExperimentStatus,
    ModelInfo,
    TrainingDecision,
    Variant,
)
from infogap.server.core.store import serialisers
from tests.server.core.store.conformance.builders import PLAN

T0 = datetime(2024, 3, 10, 12, 0, 0, 123456)

EXPERIMENTS = [
    Experiment(
        name="e",
        catalog="c",
        variants=(
            Variant("control", 0.5),
            Variant("treatment", 0.5, ("als", "popularity"), False, "v7", ("diversity",)),
        ),
        description="two arms",
        attribution_window_seconds=7200.0,
        status=ExperimentStatus.STOPPED,
        created_at=T0,
        started_at=datetime(2024, 3, 11),
        stopped_at=datetime(2024, 3, 12),
    ),
    Experiment(
        name=ExperimentStatus.DRAFT, catalog="d", variants=(Variant("only", 1.0),), created_at=T0
    ),
]


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.name)
def test_experiment_round_trip(experiment: Experiment) -> None:
    row = serialisers.experiment_to_row(experiment)
    assert len(row) == len(serialisers.EXPERIMENT_COLUMNS)
    assert serialisers.experiment_from_row(row) == experiment


def test_variants_are_stored_as_a_json_list_control_first() -> None:
    stored = json.loads(serialisers.variants_to_json(EXPERIMENTS[0].variants))
    assert stored == [
        {
            "name": "control",
            "share": 0.5,
            "strategies": [],
            "blend": True,
            "model_version": "",
            "excluded_rerankers": [],
        },
        {
            "name": "treatment",
            "share": 0.5,
            "strategies": ["als", "popularity"],
            "blend": False,
            "model_version": "v7",
            "excluded_rerankers": ["diversity"],
        },
    ]


def test_model_round_trip() -> None:
    info = ModelInfo(
        catalog="c",
        strategy="lightfm",
        version="20240310-120000",
        trained_at=T0,
        training_seconds=2.5,
        user_count=10,
        item_count=20,
        event_count=300,
        parameters={"epochs": "10", "loss": "warp"},
        metrics={"ndcg@10": 0.31, "recall@10": 0.2},
    )
    row = serialisers.model_to_row(info, "models/c/lightfm")
    assert len(row) == len(serialisers.MODEL_COLUMNS)
    assert json.loads(row[8]) == {"epochs": "10", "loss": "warp"}
    assert serialisers.model_from_row(row) == (info, "models/c/lightfm")


@pytest.mark.parametrize("serving_value", [None, 0.3])
def test_decision_round_trip(serving_value: float | None) -> None:
    decision = TrainingDecision(
        catalog="c",
        candidate_version="v2",
        promoted=serving_value is None,
        metric="ndcg@10",
        candidate_value=0.31,
        serving_value=serving_value,
        serving_version="" if serving_value is None else "v1",
        tolerance=0.01,
        reason="first model" if serving_value is None else "worse than serving",
        decided_at=T0,
        plan=PLAN if serving_value is None else None,
    )
    row = serialisers.decision_to_row(decision)
    assert len(row) == len(serialisers.DECISION_COLUMNS)
    assert serialisers.decision_from_row(row) == decision


def test_attributes_json_is_sorted_and_reads_back() -> None:
    text = serialisers.attributes_to_json({"b": "2", "a": "1"})
    assert text == '{"a": "1", "b": "2"}'
    assert serialisers.attributes_from_json(text) == {"a": "1", "b": "2"}
