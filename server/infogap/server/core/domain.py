"""Domain objects shared by the store, the use cases, the plugins and the transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

DEFAULT_CATALOG = "default"


def utc_now() -> datetime:
    """The current time as the store keeps times: naive, in UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    catalog: str = DEFAULT_CATALOG
    attributes: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True, slots=True)
class RecordResult:
    stored_count: int
    duplicate_count: int


@dataclass(frozen=True, slots=True)
class RecommendationFilter:
    include_tags: frozenset[str] = frozenset()
    exclude_tags: frozenset[str] = frozenset()
    exclude_item_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Evidence:
    """One thing behind a recommended item: an item of the user's own history (``item_id``,
    with ``event_type``, what they did with it) or a feature (``feature``, e.g.
    ``age=25-34``); ``weight`` is how much it contributed, higher is more."""

    weight: float
    item_id: str = ""
    feature: str = ""
    event_type: str = ""


@dataclass(frozen=True, slots=True)
class ScoredItem:
    item_id: str
    score: float
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What Recommend, SimilarItems and RankItems answer."""

    recommendation_id: str
    items: tuple[ScoredItem, ...]
    model_version: str
    strategy: str
    experiment: str = ""  # the running experiment that served it, if any
    variant: str = ""


@dataclass(frozen=True, slots=True)
class EventTypeCount:
    type: str
    count: int
    value_sum: float


@dataclass(frozen=True, slots=True)
class CatalogActivity:
    catalog: str
    event_count: int
    distinct_item_count: int


@dataclass(frozen=True, slots=True)
class WindowCounts:
    days: int
    event_count: int
    event_type_counts: tuple[EventTypeCount, ...]


@dataclass(frozen=True, slots=True)
class Rfm:
    recency_days: float | None
    frequency: int
    monetary: float


@dataclass(frozen=True, slots=True)
class Behaviour:
    event_count: int = 0
    event_type_counts: tuple[EventTypeCount, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    catalog_activities: tuple[CatalogActivity, ...] = ()
    windows: tuple[WindowCounts, ...] = ()
    rfm: Rfm = Rfm(None, 0, 0.0)
    active_days: int = 0


@dataclass(frozen=True, slots=True)
class Interest:
    feature: str  # "tag:Comedy" or "<attribute>:<value>"
    score: float
    evidence_count: int


@dataclass(frozen=True, slots=True)
class SegmentMembership:
    name: str
    kind: str  # "rule" or "cluster"


@dataclass(frozen=True)
class Profile:
    user_id: str
    attributes: Mapping[str, str]
    attributes_updated: datetime | None
    behaviour: Behaviour
    as_of: datetime | None = None
    interests: tuple[Interest, ...] = ()
    segments: tuple[SegmentMembership, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserPatch:
    user_id: str
    set_attributes: Mapping[str, str] = field(default_factory=dict)
    unset_attributes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    kind: str  # "rule" or "cluster"
    rule: str
    description: str
    size: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    catalog: str
    strategy: str
    version: str
    trained_at: datetime
    training_seconds: float
    user_count: int
    item_count: int
    event_count: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One serving candidate's validation figure in one activity bucket."""

    candidate: str  # e.g. "lightfm", "popularity", "blend:lightfm+popularity@0.25"
    value: float


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """What serves the users of one activity bucket, and the evidence behind it.

    The bucket holds users with ``min_interactions`` to ``max_interactions`` (inclusive; None:
    no upper bound) interactions. ``model`` is asked first (the serving order's fallback for a
    user it cannot score); with ``blend_with``, its list is mixed with that model's, which gets
    ``blend_weight`` of the rank-normalised score.
    """

    min_interactions: int
    max_interactions: int | None
    validation_users: int
    model: str
    blend_with: str
    blend_weight: float
    scores: tuple[CandidateScore, ...]
    reason: str

    @property
    def label(self) -> str:
        low, high = self.min_interactions, self.max_interactions
        if high is None:
            return f"{low}+"
        return str(low) if high == low else f"{low}-{high}"

    @property
    def candidate(self) -> str:
        """The chosen candidate's name, as in ``scores``."""
        if not self.blend_with:
            return self.model
        return f"blend:{self.model}+{self.blend_with}@{self.blend_weight:g}"

    def holds(self, interactions: int) -> bool:
        high = self.max_interactions
        return interactions >= self.min_interactions and (high is None or interactions <= high)


@dataclass(frozen=True, slots=True)
class ServingPlan:
    """The serving choice per user-activity bucket, chosen on validation at Train: one set of
    buckets for the users the models were trained on, one for users new since (whose few
    events models fold in); without the latter, new users take the former."""

    metric: str
    baseline: str  # the strategy no bucket may do worse than (popularity)
    buckets: tuple[BucketPlan, ...]  # by increasing interactions, covering 0 and up
    new_user_buckets: tuple[BucketPlan, ...] = ()  # the same, for users new since training

    def bucket_of(self, interactions: int, new_user: bool = False) -> BucketPlan:
        buckets = self.new_user_buckets if new_user and self.new_user_buckets else self.buckets
        for bucket in buckets:
            if bucket.holds(interactions):
                return bucket
        return buckets[-1]

    @property
    def all_buckets(self) -> tuple[BucketPlan, ...]:
        return self.buckets + self.new_user_buckets


@dataclass(frozen=True, slots=True)
class TrainingDecision:
    catalog: str
    candidate_version: str
    promoted: bool
    metric: str
    candidate_value: float
    serving_value: float | None
    serving_version: str
    tolerance: float
    reason: str
    decided_at: datetime
    plan: ServingPlan | None = None  # the run's serving plan; None without validation


@dataclass(frozen=True, slots=True)
class CatalogEventCounts:
    """How many events a catalog has stored, and how many of them were received since a time
    (the recent ingestion rate is ``received_since`` over the seconds since then)."""

    catalog: str
    event_count: int
    received_since: int


@dataclass(frozen=True, slots=True)
class TrainReport:
    models: tuple[ModelInfo, ...]
    total_seconds: float
    decision: TrainingDecision


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    source: str
    enabled: bool
    hooks: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventBatch:
    """A batch of events as columns: the ingestion hot path never builds one object per event."""

    event_ids: list[str]
    user_ids: list[str]
    item_ids: list[str]
    catalogs: list[str]
    types: list[str]
    values: list[float]
    times_us: list[int | None]  # UTC microseconds since the epoch; None: when received
    recommendation_ids: list[str]
    contexts: list[Mapping[str, str]]

    def __len__(self) -> int:
        return len(self.event_ids)


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    user_id: str
    rows_removed: Mapping[str, int]
    deleted_at: datetime


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm of an experiment: how its users are served, and its share of the traffic."""

    name: str
    share: float
    strategies: tuple[str, ...] = ()  # serve only these strategies, in this order; () all
    blend: bool = True  # interleave cold-start items for users with few interactions
    model_version: str = ""  # serve this trained version of the catalog; "" the current one
    excluded_rerankers: tuple[str, ...] = ()  # registered rerankers this variant does without


class ExperimentStatus(StrEnum):
    """Where an experiment is in its life. It only moves forward, and a stopped experiment
    never runs again. The values are what the store keeps."""

    DRAFT = "draft"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    catalog: str
    variants: tuple[Variant, ...]  # the first is the control
    description: str = ""
    attribution_window_seconds: float = 0.0  # 0: experiments.attribution_window_hours
    status: ExperimentStatus = ExperimentStatus.DRAFT
    created_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """A measured value with its standard error and confidence interval (at the level the
    report says)."""

    value: float
    standard_error: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against the control on one metric."""

    metric: str
    relative_lift: float  # (variant - control) / control
    lift_low: float  # interval of the relative lift, excluding 0 exactly when significant
    lift_high: float
    p_value: float  # two-sided test of "no difference"
    significant: bool  # p below the significance level (Bonferroni-corrected)


@dataclass(frozen=True, slots=True)
class VariantResult:
    variant: str
    share: float
    users: int
    recommendations: int
    impressions: int
    clicks: int
    conversions: int
    revenue: float
    ctr: Estimate
    conversion_rate: Estimate
    revenue_per_user: Estimate
    comparisons: tuple[Comparison, ...] = ()  # empty for the control


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: Experiment
    variants: tuple[VariantResult, ...]
    primary_metric: str
    significance_level: float  # before the Bonferroni split
    # The level of every interval in the report: 1 - significance_level / comparisons, the
    # level at which each comparison is decided.
    confidence_level: float
    sample_ratio_p_value: float
    sample_ratio_mismatch: bool
    winner: str  # the variant that won on the primary metric; "" when none did
    conclusion: str  # one sentence a person can act on
    generated_at: datetime


@dataclass(frozen=True)
class ProfileFacts:
    """Everything known about one user as of ``as_of``; events after it are ignored."""

    user_id: str
    as_of: datetime
    known: bool  # upserted, or has events up to as_of
    attributes: Mapping[str, str] = field(default_factory=dict)
    attributes_updated: datetime | None = None
    event_count: int = 0
    counts_by_type: Mapping[str, int] = field(default_factory=dict)
    value_by_type: Mapping[str, float] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    window_counts: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    catalog_activities: tuple[CatalogActivity, ...] = ()
    active_days: int = 0
    recency_days: float | None = None
    frequency: int = 0
    monetary: float = 0.0
    interests: tuple[Interest, ...] = ()  # every feature with evidence, strongest first
    cluster: str | None = None  # the data-driven segment, if the user was clustered

    @property
    def interest_scores(self) -> Mapping[str, float]:
        return {interest.feature: interest.score for interest in self.interests}
