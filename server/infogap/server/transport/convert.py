"""The one place where protobuf messages meet domain objects."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.server.core.domain import (
    BucketPlan,
    ErasureReceipt,
    Estimate,
    EventBatch,
    EventTypeCount,
    Experiment,
    ExperimentReport,
    ExperimentStatus,
    Item,
    ModelInfo,
    PluginInfo,
    Profile,
    Recommendation,
    RecommendationFilter,
    RecordResult,
    Segment,
    ServingPlan,
    TrainingDecision,
    User,
    UserPatch,
    Variant,
)
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.evaluation import EvaluationReport
from infogap.server.core.models.serving import NO_FILTER
from infogap.server.core.privacy.ledger import PrivacyBudget, PrivacyRelease
from infogap.v1 import (
    admin_service_pb2,
    entities_pb2,
    feedback_service_pb2,
    profile_service_pb2,
    recommend_service_pb2,
)


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def event_batch(events: Sequence[entities_pb2.Event]) -> EventBatch:
    """Columns of a batch in one pass: this runs for every event recorded."""
    batch = EventBatch([], [], [], [], [], [], [], [], [])
    for e in events:
        batch.event_ids.append(e.event_id)
        batch.user_ids.append(e.user_id)
        batch.item_ids.append(e.item_id)
        batch.catalogs.append(e.catalog)
        batch.types.append(e.type)
        batch.values.append(e.value)
        batch.times_us.append(
            e.time.seconds * 1_000_000 + e.time.nanos // 1000 if e.HasField("time") else None
        )
        batch.recommendation_ids.append(e.recommendation_id)
        batch.contexts.append(dict(e.context) if e.context else {})
    return batch


def record_response(result: RecordResult) -> feedback_service_pb2.RecordEventsResponse:
    return feedback_service_pb2.RecordEventsResponse(
        stored_count=result.stored_count, duplicate_count=result.duplicate_count
    )


def users(messages: Sequence[entities_pb2.User]) -> list[User]:
    return [User(m.user_id, dict(m.attributes)) for m in messages]


def items(messages: Sequence[entities_pb2.Item]) -> list[Item]:
    return [
        Item(
            item_id=m.item_id,
            catalog=m.catalog,
            attributes=dict(m.attributes),
            tags=tuple(m.tags),
            active=m.active if m.HasField("active") else True,
        )
        for m in messages
    ]


def user_patches(messages: Sequence[profile_service_pb2.UserPatch]) -> list[UserPatch]:
    return [
        UserPatch(m.user_id, dict(m.set_attributes), tuple(m.unset_attributes)) for m in messages
    ]


def optional_time(message: Any, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime() if message.HasField(field) else None


def _type_counts(counts: Sequence[EventTypeCount]) -> list[profile_service_pb2.EventTypeCount]:
    return [
        profile_service_pb2.EventTypeCount(type=c.type, count=c.count, value_sum=c.value_sum)
        for c in counts
    ]


def profile(value: Profile) -> profile_service_pb2.Profile:
    behaviour = value.behaviour
    extra = Struct()
    extra.update(dict(value.extra))
    return profile_service_pb2.Profile(
        user_id=value.user_id,
        attributes=dict(value.attributes),
        attributes_update_time=_timestamp(value.attributes_updated),
        behaviour=profile_service_pb2.Behaviour(
            event_count=behaviour.event_count,
            event_type_counts=_type_counts(behaviour.event_type_counts),
            first_seen_time=_timestamp(behaviour.first_seen),
            last_seen_time=_timestamp(behaviour.last_seen),
            catalog_activities=[
                profile_service_pb2.CatalogActivity(
                    catalog=a.catalog,
                    event_count=a.event_count,
                    distinct_item_count=a.distinct_item_count,
                )
                for a in behaviour.catalog_activities
            ],
            windows=[
                profile_service_pb2.WindowCounts(
                    days=w.days,
                    event_count=w.event_count,
                    event_type_counts=_type_counts(w.event_type_counts),
                )
                for w in behaviour.windows
            ],
            rfm=profile_service_pb2.Rfm(
                recency_days=behaviour.rfm.recency_days,
                frequency=behaviour.rfm.frequency,
                monetary=behaviour.rfm.monetary,
            ),
            active_days=behaviour.active_days,
        ),
        interests=[
            profile_service_pb2.Interest(
                feature=i.feature, score=i.score, evidence_count=i.evidence_count
            )
            for i in value.interests
        ],
        segments=[
            profile_service_pb2.SegmentMembership(name=m.name, kind=m.kind) for m in value.segments
        ],
        extra=extra,
        as_of_time=_timestamp(value.as_of),
    )


def segment(value: Segment) -> profile_service_pb2.Segment:
    return profile_service_pb2.Segment(
        name=value.name,
        kind=value.kind,
        rule=value.rule,
        description=value.description,
        size=value.size,
    )


def item_filter(message: recommend_service_pb2.RecommendationFilter) -> RecommendationFilter:
    if not (message.include_tags or message.exclude_tags or message.exclude_item_ids):
        return NO_FILTER
    return RecommendationFilter(
        include_tags=frozenset(message.include_tags),
        exclude_tags=frozenset(message.exclude_tags),
        exclude_item_ids=frozenset(message.exclude_item_ids),
    )


def add_scored_items(items: Any, value: Recommendation) -> None:
    """Appends the recommended items to a response's repeated ``items`` field (``add`` builds
    them in place: half the cost of building messages and copying them in)."""
    add = items.add
    for item in value.items:
        added = add(item_id=item.item_id, score=item.score, reason=item.reason)
        if item.evidence:
            add_evidence = added.evidence.add
            for e in item.evidence:
                add_evidence(
                    item_id=e.item_id, feature=e.feature, weight=e.weight, event_type=e.event_type
                )


def diversity(request: recommend_service_pb2.RecommendRequest) -> float | None:
    """The request's diversity knob, None when unset (the configured default applies)."""
    return request.diversity if request.HasField("diversity") else None


def model_info(value: ModelInfo) -> admin_service_pb2.ModelInfo:
    return admin_service_pb2.ModelInfo(
        catalog=value.catalog,
        strategy=value.strategy,
        version=value.version,
        trained_time=_timestamp(value.trained_at),
        training_seconds=value.training_seconds,
        user_count=value.user_count,
        item_count=value.item_count,
        event_count=value.event_count,
        parameters=dict(value.parameters),
        metrics=dict(value.metrics),
    )


def training_decision(value: TrainingDecision | None) -> admin_service_pb2.TrainingDecision | None:
    if value is None:
        return None
    return admin_service_pb2.TrainingDecision(
        candidate_version=value.candidate_version,
        promoted=value.promoted,
        metric=value.metric,
        candidate_value=value.candidate_value,
        serving_value=value.serving_value,
        serving_version=value.serving_version,
        tolerance=value.tolerance,
        reason=value.reason,
        decide_time=_timestamp(value.decided_at),
        plan=serving_plan(value.plan),
    )


def serving_plan(value: ServingPlan | None) -> admin_service_pb2.ServingPlan | None:
    if value is None:
        return None
    return admin_service_pb2.ServingPlan(
        metric=value.metric,
        baseline=value.baseline,
        buckets=[_bucket_plan(b) for b in value.buckets],
        new_user_buckets=[_bucket_plan(b) for b in value.new_user_buckets],
    )


def _bucket_plan(value: BucketPlan) -> admin_service_pb2.ActivityBucketPlan:
    return admin_service_pb2.ActivityBucketPlan(
        min_interactions=value.min_interactions,
        max_interactions=value.max_interactions,
        validation_users=value.validation_users,
        choice=value.candidate,
        model=value.model,
        blend_with=value.blend_with,
        blend_weight=value.blend_weight,
        candidates=[
            admin_service_pb2.CandidateScore(candidate=c.candidate, value=c.value)
            for c in value.scores
        ],
        reason=value.reason,
    )


def erasure_receipt(value: ErasureReceipt) -> admin_service_pb2.DeleteUserResponse:
    return admin_service_pb2.DeleteUserResponse(
        rows_removed=dict(value.rows_removed), delete_time=_timestamp(value.deleted_at)
    )


def plugin_info(value: PluginInfo) -> admin_service_pb2.PluginInfo:
    return admin_service_pb2.PluginInfo(
        name=value.name,
        source=value.source,
        enabled=value.enabled,
        hooks=list(value.hooks),
        provides=list(value.provides),
    )


def privacy_release(value: PrivacyRelease) -> admin_service_pb2.PrivacyRelease:
    # The message has no scope field: a segment's release names its segment in the description.
    description = f"{value.scope}: {value.description}" if value.scope else value.description
    return admin_service_pb2.PrivacyRelease(
        kind=value.kind,
        epsilon=value.epsilon,
        delta=value.delta,
        release_time=_timestamp(value.released_at),
        description=description,
    )


def privacy_budget(value: PrivacyBudget) -> admin_service_pb2.GetPrivacyBudgetResponse:
    return admin_service_pb2.GetPrivacyBudgetResponse(
        catalog=value.catalog,
        window_start_time=_timestamp(value.window_start),
        window_days=value.window_days,
        epsilon_budget=value.epsilon_budget,
        epsilon_spent=value.epsilon_spent,
        epsilon_remaining=value.epsilon_remaining,
        delta_spent=value.delta_spent,
        releases=[privacy_release(r) for r in value.releases],
    )


_EXPERIMENT_STATUS = {
    ExperimentStatus.DRAFT: admin_service_pb2.EXPERIMENT_STATUS_DRAFT,
    ExperimentStatus.RUNNING: admin_service_pb2.EXPERIMENT_STATUS_RUNNING,
    ExperimentStatus.STOPPED: admin_service_pb2.EXPERIMENT_STATUS_STOPPED,
}
_EXPERIMENT_STATUS_OF_MESSAGE = {number: status for status, number in _EXPERIMENT_STATUS.items()}


def experiment_status(value: admin_service_pb2.ExperimentStatus.ValueType) -> ExperimentStatus:
    """The status of an ``ExperimentStatus`` number, as a server sends it.

    :raises InvalidArgument: for UNSPECIFIED or a number this version does not know.
    """
    status = _EXPERIMENT_STATUS_OF_MESSAGE.get(value)
    if status is None:
        raise InvalidArgument("status", f"unknown ExperimentStatus value {value}")
    return status


def variant_definition(message: admin_service_pb2.ExperimentVariant) -> Variant:
    """A variant as sent; an unset blend is True."""
    return Variant(
        name=message.name,
        share=message.share,
        strategies=tuple(message.strategies),
        blend=message.blend if message.HasField("blend") else True,
        model_version=message.model_version,
        excluded_rerankers=tuple(message.excluded_rerankers),
    )


def variant(value: Variant) -> admin_service_pb2.ExperimentVariant:
    return admin_service_pb2.ExperimentVariant(
        name=value.name,
        share=value.share,
        strategies=value.strategies,
        blend=value.blend,
        model_version=value.model_version,
        excluded_rerankers=value.excluded_rerankers,
    )


def experiment_definition(message: admin_service_pb2.Experiment) -> Experiment:
    """A definition as sent; 0 as attribution window stands for the server's default."""
    window = message.attribution_window
    return Experiment(
        name=message.name,
        catalog=message.catalog,
        description=message.description,
        variants=tuple(variant_definition(v) for v in message.variants),
        attribution_window_seconds=window.seconds + window.nanos / 1e9
        if message.HasField("attribution_window")
        else 0.0,
    )


def experiment(value: Experiment) -> admin_service_pb2.Experiment:
    message = admin_service_pb2.Experiment(
        name=value.name,
        catalog=value.catalog,
        description=value.description,
        variants=[variant(v) for v in value.variants],
        status=_EXPERIMENT_STATUS[value.status],
        create_time=_timestamp(value.created_at),
        start_time=_timestamp(value.started_at),
        stop_time=_timestamp(value.stopped_at),
    )
    message.attribution_window.FromTimedelta(timedelta(seconds=value.attribution_window_seconds))
    return message


def metric_estimate(value: Estimate) -> admin_service_pb2.MetricEstimate:
    return admin_service_pb2.MetricEstimate(
        value=value.value, standard_error=value.standard_error, ci_low=value.low, ci_high=value.high
    )


def experiment_report(value: ExperimentReport) -> admin_service_pb2.GetExperimentReportResponse:
    return admin_service_pb2.GetExperimentReportResponse(
        experiment=experiment(value.experiment),
        variants=[
            admin_service_pb2.VariantReport(
                variant=v.variant,
                share=v.share,
                users=v.users,
                recommendations=v.recommendations,
                impressions=v.impressions,
                clicks=v.clicks,
                conversions=v.conversions,
                revenue=v.revenue,
                ctr=metric_estimate(v.ctr),
                conversion_rate=metric_estimate(v.conversion_rate),
                revenue_per_user=metric_estimate(v.revenue_per_user),
                comparisons=[
                    admin_service_pb2.MetricComparison(
                        metric=c.metric,
                        relative_lift=c.relative_lift,
                        lift_ci_low=c.lift_low,
                        lift_ci_high=c.lift_high,
                        p_value=c.p_value,
                        significant=c.significant,
                    )
                    for c in v.comparisons
                ],
            )
            for v in value.variants
        ],
        primary_metric=value.primary_metric,
        significance_level=value.significance_level,
        confidence_level=value.confidence_level,
        sample_ratio_p_value=value.sample_ratio_p_value,
        sample_ratio_mismatch=value.sample_ratio_mismatch,
        winner=value.winner,
        conclusion=value.conclusion,
        generate_time=_timestamp(value.generated_at),
    )


_EVALUATION_SPLITS: dict[int, str] = {
    admin_service_pb2.EVALUATION_SPLIT_UNSPECIFIED: "random",
    admin_service_pb2.EVALUATION_SPLIT_RANDOM: "random",
    admin_service_pb2.EVALUATION_SPLIT_TEMPORAL: "temporal",
    admin_service_pb2.EVALUATION_SPLIT_COLD_USERS: "cold-users",
    admin_service_pb2.EVALUATION_SPLIT_COLD_ITEMS: "cold-items",
}


def evaluation_split(value: int) -> str:
    split = _EVALUATION_SPLITS.get(value)
    if split is None:
        raise InvalidArgument("split", f"unknown EvaluationSplit value {value}")
    return split


def evaluation_report(evaluation: EvaluationReport) -> admin_service_pb2.EvaluateModelsResponse:
    """The evaluation's report: the headline figures as fields, everything as JSON and HTML."""
    report = evaluation.report
    return admin_service_pb2.EvaluateModelsResponse(
        protocol=report["protocol"],
        candidates=[
            admin_service_pb2.CandidateResult(
                candidate=key,
                label=candidate["label"],
                metrics={
                    name: admin_service_pb2.MetricEstimate(
                        value=figure["value"],
                        standard_error=math.nan,  # the interval is a bootstrap's
                        ci_low=figure["ci95"][0],
                        ci_high=figure["ci95"][1],
                    )
                    for name, figure in candidate["metrics"].items()
                },
                strategy_shares=candidate["strategy_share"],
            )
            for key, candidate in report["candidates"].items()
        ],
        report_json=json.dumps(report, allow_nan=True),
        report_html=evaluation.html,
    )
