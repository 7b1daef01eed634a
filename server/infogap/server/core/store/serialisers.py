"""How domain objects are stored: each as a row of plain values (str, float, bool, datetime,
JSON text) in the column order of its table, and back. Any backend writes and reads these rows,
so a value stored by one reads back the same from every other.

``X_to_row`` and ``X_from_row`` are inverses: ``X_from_row(X_to_row(x)) == x``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from infogap.server.core.domain import (
    BucketPlan,
    CandidateScore,
    Experiment,
    ExperimentStatus,
    ModelInfo,
    ServingPlan,
    TrainingDecision,
    Variant,
)

# The stored columns of each table, in the order of the rows below.
EXPERIMENT_COLUMNS = (
    "name",
    "catalog",
    "description",
    "variants",
    "attribution_window_seconds",
    "status",
    "created_at",
    "started_at",
    "stopped_at",
)
MODEL_COLUMNS = (
    "catalog",
    "strategy",
    "version",
    "trained_at",
    "training_seconds",
    "user_count",
    "item_count",
    "event_count",
    "parameters",
    "metrics",
    "path",
)
DECISION_COLUMNS = (
    "catalog",
    "candidate_version",
    "promoted",
    "metric",
    "candidate_value",
    "serving_value",
    "serving_version",
    "tolerance",
    "reason",
    "decided_at",
    "plan",
)


def attributes_to_json(attributes: Mapping[str, str]) -> str:
    """A user's or item's attributes as JSON text, keys sorted (equal maps, equal text)."""
    return json.dumps(dict(attributes), sort_keys=True)


def attributes_from_json(text: str) -> dict[str, str]:
    attributes: dict[str, str] = json.loads(text)
    return attributes


# -- experiments -------------------------------------------------------------------------------


def variants_to_json(variants: Sequence[Variant]) -> str:
    """An experiment's variants as a JSON list of objects, control first."""
    return json.dumps(
        [
            {
                "name": v.name,
                "share": v.share,
                "strategies": list(v.strategies),
                "blend": v.blend,
                "model_version": v.model_version,
                "excluded_rerankers": list(v.excluded_rerankers),
            }
            for v in variants
        ]
    )


def variants_from_json(text: str) -> tuple[Variant, ...]:
    return tuple(
        Variant(
            name=v["name"],
            share=v["share"],
            strategies=tuple(v["strategies"]),
            blend=v["blend"],
            model_version=v["model_version"],
            excluded_rerankers=tuple(v["excluded_rerankers"]),
        )
        for v in json.loads(text)
    )


def status_to_text(status: ExperimentStatus) -> str:
    """The stored text of a status ("draft", "running", "stopped"), as files have always held."""
    return status.value


def status_from_text(text: str) -> ExperimentStatus:
    return ExperimentStatus(text)


def experiment_to_row(experiment: Experiment) -> tuple[Any, ...]:
    """An experiment as a row of ``EXPERIMENT_COLUMNS``."""
    return (
        experiment.name,
        experiment.catalog,
        experiment.description,
        variants_to_json(experiment.variants),
        experiment.attribution_window_seconds,
        status_to_text(experiment.status),
        experiment.created_at,
        experiment.started_at,
        experiment.stopped_at,
    )


def experiment_from_row(row: Sequence[Any]) -> Experiment:
    return Experiment(
        name=row[0],
        catalog=row[1],
        description=row[2],
        variants=variants_from_json(row[3]),
        attribution_window_seconds=row[4],
        status=status_from_text(row[5]),
        created_at=row[6],
        started_at=row[7],
        stopped_at=row[8],
    )


# -- models and training decisions -------------------------------------------------------------


def model_to_row(info: ModelInfo, path: str) -> tuple[Any, ...]:
    """A trained model's info and its artifact path as a row of ``MODEL_COLUMNS``."""
    return (
        info.catalog,
        info.strategy,
        info.version,
        info.trained_at,
        info.training_seconds,
        info.user_count,
        info.item_count,
        info.event_count,
        json.dumps(dict(info.parameters)),
        json.dumps(dict(info.metrics)),
        path,
    )


def model_from_row(row: Sequence[Any]) -> tuple[ModelInfo, str]:
    """A row of ``MODEL_COLUMNS`` as the model's info and its artifact path."""
    info = ModelInfo(
        catalog=row[0],
        strategy=row[1],
        version=row[2],
        trained_at=row[3],
        training_seconds=row[4],
        user_count=row[5],
        item_count=row[6],
        event_count=row[7],
        parameters=json.loads(row[8]),
        metrics=json.loads(row[9]),
    )
    return info, row[10]


def plan_to_json(plan: ServingPlan) -> str:
    """A serving plan as JSON text (the ``plan`` column, and ``plan.json`` beside the models)."""
    return json.dumps(
        {
            "metric": plan.metric,
            "baseline": plan.baseline,
            "buckets": [_bucket_to_dict(b) for b in plan.buckets],
            "new_user_buckets": [_bucket_to_dict(b) for b in plan.new_user_buckets],
        }
    )


def _bucket_to_dict(bucket: BucketPlan) -> dict[str, Any]:
    return {
        "min_interactions": bucket.min_interactions,
        "max_interactions": bucket.max_interactions,
        "validation_users": bucket.validation_users,
        "model": bucket.model,
        "blend_with": bucket.blend_with,
        "blend_weight": bucket.blend_weight,
        "scores": [[c.candidate, c.value] for c in bucket.scores],
        "reason": bucket.reason,
    }


def _bucket_from_dict(value: dict[str, Any]) -> BucketPlan:
    return BucketPlan(
        min_interactions=value["min_interactions"],
        max_interactions=value["max_interactions"],
        validation_users=value["validation_users"],
        model=value["model"],
        blend_with=value["blend_with"],
        blend_weight=value["blend_weight"],
        scores=tuple(CandidateScore(name, figure) for name, figure in value["scores"]),
        reason=value["reason"],
    )


def plan_from_json(text: str) -> ServingPlan:
    value = json.loads(text)
    return ServingPlan(
        value["metric"],
        value["baseline"],
        tuple(_bucket_from_dict(b) for b in value["buckets"]),
        # Plans written before new users had buckets of their own have none.
        tuple(_bucket_from_dict(b) for b in value.get("new_user_buckets", ())),
    )


def decision_to_row(decision: TrainingDecision) -> tuple[Any, ...]:
    """A training run's promotion decision as a row of ``DECISION_COLUMNS``."""
    return (
        decision.catalog,
        decision.candidate_version,
        decision.promoted,
        decision.metric,
        decision.candidate_value,
        decision.serving_value,
        decision.serving_version,
        decision.tolerance,
        decision.reason,
        decision.decided_at,
        plan_to_json(decision.plan) if decision.plan is not None else None,
    )


def decision_from_row(row: Sequence[Any]) -> TrainingDecision:
    """A row of the training runs table (``decision_to_row``'s columns) as the decision."""
    values = dict(zip(DECISION_COLUMNS, row, strict=True))
    plan = values.pop("plan")
    return TrainingDecision(**values, plan=plan_from_json(plan) if plan is not None else None)
