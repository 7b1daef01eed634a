"""What model, reranker, guard and contributor plugins implement, and the data they are given:
the objects plugins register through the hooks in ``infogap.server.core.plugins.hookspecs``
and import from ``infogap.server.plugin``. The serving path calls them directly, no hook."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from infogap.server.core.domain import Behaviour, Interest, ScoredItem, SegmentMembership

if TYPE_CHECKING:
    from infogap.server.core.domain import ProfileFacts


def user_feature_names(attributes: Mapping[str, str], allowed: Iterable[str] | None) -> list[str]:
    """Feature names of a user's attributes: ``key=value`` for each allowed attribute."""
    keys = attributes.keys() if allowed is None else [k for k in allowed if k in attributes]
    return [f"{key}={attributes[key]}" for key in sorted(keys)]


TITLE_ATTRIBUTE = "title"  # names an item in reasons; one value per item, so no feature


def item_feature_names(
    tags: Iterable[str], attributes: Mapping[str, str], allowed: Iterable[str] | None
) -> list[str]:
    """An item's ``tag=T`` per tag, ``key=value`` per allowed attribute (None: all but title)."""
    keys = [k for k in attributes if k != TITLE_ATTRIBUTE] if allowed is None else allowed
    return [f"tag={tag}" for tag in sorted(set(tags))] + [
        f"{key}={attributes[key]}" for key in sorted(keys) if key in attributes
    ]


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows are users or items, columns are named features with weight 1 (no identity columns)."""

    names: tuple[str, ...]
    matrix: sp.csr_matrix

    @classmethod
    def from_rows(cls, rows: list[list[str]]) -> FeatureMatrix:
        names = tuple(sorted({name for row in rows for name in row}))
        index = {name: i for i, name in enumerate(names)}
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indices: list[int] = []
        for row_number, row in enumerate(rows):
            indices.extend(index[name] for name in row)
            indptr[row_number + 1] = len(indices)
        data = np.ones(len(indices), dtype=np.float32)
        matrix = sp.csr_matrix(
            (data, np.asarray(indices, dtype=np.int32), indptr), shape=(len(rows), len(names))
        )
        return cls(names, matrix)


@dataclass(frozen=True)
class TimedEvents:
    """Events with a positive training signal, column-wise and oldest first: row ``n`` is
    the user ``user_ids[user_rows[n]]`` touching the item ``item_ids[item_columns[n]]`` at
    ``time_us[n]`` (Unix microseconds).

    .. versionadded:: 0.3
    """

    user_rows: np.ndarray  # int64
    item_columns: np.ndarray  # int64
    time_us: np.ndarray  # int64


def no_timed_events() -> TimedEvents:
    """The timed events of a data set that has none (the default of ``TrainingData``)."""
    empty = np.empty(0, dtype=np.int64)
    return TimedEvents(empty, empty, empty)


@dataclass(frozen=True)
class TrainingData:
    """One catalog's stored history, ready for fitting.

    Row ``u`` of ``interactions`` is the user ``user_ids[u]``; column ``i`` is the item
    ``item_ids[i]``. ``item_ids`` covers every item of the catalog (with or without events), and
    its order is the index space every model of this training run scores over.
    """

    catalog: str
    user_ids: np.ndarray  # object array of str
    item_ids: np.ndarray  # object array of str
    interactions: sp.coo_matrix  # float32 weights > 0: event weights summed per (user, item)
    user_features: FeatureMatrix  # aligned with user_ids
    item_features: FeatureMatrix  # aligned with item_ids
    event_count: int
    user_segments: FeatureMatrix = FeatureMatrix((), sp.csr_matrix((0, 0)))
    """Named segments (rule and data-driven) each user belongs to, aligned with user_ids;
    empty when no segment is defined."""
    interaction_times: sp.coo_matrix | None = None
    """Where ``interactions`` has an entry, the Unix time (microseconds, float64) of the pair's
    latest event; None when not known. Validation splits by it (each user's latest)."""
    load_timed_positives: Callable[[], TimedEvents] = no_timed_events
    """The positive events one by one with their times, read from the store only when a model
    calls it (e.g. buy-again's repurchase cycles); ``interactions`` has their sums."""


@dataclass(frozen=True)
class Aggregate:
    """A figure that mixes many users and leaves the server (e.g. item popularity).

    ``contributions`` has one row per contributing user and one column per key; ``values`` are
    the figures to release, one per key (initially the column sums of ``contributions``).
    ``catalog``, ``kind`` and ``scope`` name the release, so that a guard can tell repeated
    releases of the same figure (e.g. to reuse an earlier noisy one).
    """

    catalog: str
    kind: str
    keys: np.ndarray
    contributions: sp.csr_matrix
    values: np.ndarray
    scope: str = ""
    """Which users the figure covers, e.g. a segment name; empty for all of the catalog's."""

    def with_values(self, values: np.ndarray) -> Aggregate:
        return replace(self, values=values)


def release_through(stages: Iterable[AggregateStage]) -> Callable[[Aggregate], Aggregate]:
    """A function passing an aggregate through ``stages`` in the order given
    (``Registrations.aggregate_stages()``: the ordinary guards, then the privacy guard)."""
    ordered = tuple(stages)

    def release(aggregate: Aggregate) -> Aggregate:
        for guard in ordered:
            aggregate = guard.release(aggregate)
        return aggregate

    return release


@dataclass(frozen=True)
class TrainingContext:
    """What a model gets besides the data when it trains."""

    catalog: str
    release_aggregate: Callable[[Aggregate], Aggregate]
    """Passes an aggregate through every registered guard, then the privacy guard (if any);
    may raise ``ResourceExhausted`` when the privacy budget is spent.

    .. versionchanged:: 0.3
       The ``settings`` field is gone: a plugin gets its own validated config instead."""
    time_budget_seconds: float | None = None
    """How long this fit may take (``lifecycle.model_time_budget_seconds``; None: no limit):
    a trainer that foresees a longer one raises ``ModelSkipped`` saying so. *New in 0.4.*"""


class UserQuery:
    """The user a request is about. Everything beyond the id is loaded only if asked for."""

    def __init__(
        self,
        user_id: str,
        load_attributes: Callable[[str], Mapping[str, str]],
        load_recent_items: Callable[[str], np.ndarray] = lambda _: np.empty(0, dtype=np.int64),
        load_segments: Callable[[str], list[str]] = lambda _: [],
        load_history: Callable[[str], np.ndarray] | None = None,
        *,
        include_seen: bool = False,
    ) -> None:
        self.user_id = user_id
        self.include_seen = include_seen
        """Whether the request asked for items the user already interacted with
        (``RecommendRequest.include_seen``): a repeat-purchase model serves only then."""
        self._load_attributes = load_attributes
        self._load_recent_items = load_recent_items
        self._load_segments = load_segments
        self._load_history = load_history

    @cached_property
    def attributes(self) -> Mapping[str, str]:
        """The user's CRM attributes; empty for a user never upserted."""
        return self._load_attributes(self.user_id)

    @cached_property
    def recent_item_positions(self) -> np.ndarray:
        """Items (positions in the index space) the user interacted with since the model was
        trained, oldest first: what a model folds in to stay fresh without retraining."""
        return self._load_recent_items(self.user_id)

    @cached_property
    def history_item_positions(self) -> np.ndarray:
        """Every item (position) the user interacted with, those known at training first, then
        the recent ones: what an ``ExplainingModel`` names as evidence.

        .. versionadded:: 0.4"""
        if self._load_history is None:
            return self.recent_item_positions
        return self._load_history(self.user_id)

    @cached_property
    def segments(self) -> list[str]:
        """Names of the segments (rule and data-driven) the user belongs to now."""
        return self._load_segments(self.user_id)


@dataclass(frozen=True)
class ScoreResult:
    """Scores over the training run's item index space, and why (shown to callers as reason)."""

    scores: np.ndarray  # float32, one per item, higher is better
    reason: str


@runtime_checkable
class TrainedModel(Protocol):
    """A fitted model, ready to serve one catalog. Must be safe to call from many threads."""

    strategy: str
    parameters: Mapping[str, str]
    metrics: Mapping[str, float]
    user_count: int

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        """Scores every item for ``user``, or returns None when this model cannot (the next
        strategy in the serving order is then asked)."""

    def similar_items(self, item_index: int) -> np.ndarray | None:
        """Similarity of every item to item ``item_index``, or None if this model has no notion
        of item similarity."""

    def save(self, directory: Path) -> None:
        """Writes the model into an existing empty ``directory``: plain arrays (``.npz`` without
        pickle) and JSON, never pickles."""


@runtime_checkable
class ExtensibleModel(Protocol):
    """Optional for a ``TrainedModel``: take in items upserted after training, without
    retraining. Models without it rank such items last until the next training."""

    def with_new_items(self, item_features: list[list[str]]) -> TrainedModel:
        """A copy of the model whose index space has the new items appended, in order.

        :param item_features: for each new item, its feature names (``item_feature_names``).
        """


@runtime_checkable
class ForgetfulModel(Protocol):
    """Optional for a ``TrainedModel``: forget one user (erasure) without retraining. The core
    retrains catalogs whose models lack it, in the background, after an erasure."""

    def without_user(self, user_id: str) -> TrainedModel:
        """A copy of the model holding nothing of ``user_id`` (vectors, counts, ids)."""


class PaddedModel:
    """Wraps a model that cannot take in new items: they score just below its lowest score.

    Build it with ``padded``, which keeps the wrapped model's ``ForgetfulModel`` capability."""

    def __init__(self, model: TrainedModel, base_item_count: int, new_item_count: int) -> None:
        self._model = model
        self._base_item_count = base_item_count
        self._padding = new_item_count
        self.strategy = model.strategy
        self.parameters = model.parameters
        self.metrics = model.metrics
        self.user_count = model.user_count

    def _pad(self, scores: np.ndarray) -> np.ndarray:
        floor = float(scores.min()) - 1.0 if len(scores) else 0.0
        return np.concatenate([scores, np.full(self._padding, floor, dtype=scores.dtype)])

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        result = self._model.score_user(user)
        return None if result is None else ScoreResult(self._pad(result.scores), result.reason)

    def similar_items(self, item_index: int) -> np.ndarray | None:
        if item_index >= self._base_item_count:
            return None
        similarities = self._model.similar_items(item_index)
        return None if similarities is None else self._pad(similarities)

    def save(self, directory: Path) -> None:
        self._model.save(directory)

    def __getattr__(self, name: str) -> Any:
        # The wrapped model's explanations and item vectors stay available (``isinstance``
        # finds them only if it has them), answering for the positions it knows.
        if name == "explain" and hasattr(self._model, "explain"):
            return self._explain
        if name == "item_vectors" and hasattr(self._model, "item_vectors"):
            return self._item_vectors
        if name == "explanation_lead" and hasattr(self._model, "explanation_lead"):
            return self._model.explanation_lead
        raise AttributeError(name)

    def _explain(self, user: UserQuery, item_positions: np.ndarray, limit: int) -> list[Any]:
        known = item_positions < self._base_item_count
        explained: list[Any] = [[] for _ in item_positions]
        if known.any():
            inner = self._model.explain(user, item_positions[known], limit)  # type: ignore[attr-defined]
            for index, contributions in zip(np.flatnonzero(known), inner):
                explained[index] = contributions
        return explained

    def _item_vectors(self, item_positions: np.ndarray) -> np.ndarray:
        known = item_positions < self._base_item_count
        inner = self._model.item_vectors(item_positions[known])  # type: ignore[attr-defined]
        vectors = np.zeros((len(item_positions), inner.shape[1]), dtype=np.float32)
        vectors[known] = inner
        return vectors


class ForgetfulPaddedModel(PaddedModel):
    """A ``PaddedModel`` around a ``ForgetfulModel``: it forgets users too."""

    def __init__(self, model: ForgetfulModel, base_item_count: int, new_item_count: int) -> None:
        super().__init__(model, base_item_count, new_item_count)  # type: ignore[arg-type]
        self._forgetful = model

    def without_user(self, user_id: str) -> TrainedModel:
        inner = self._forgetful.without_user(user_id)
        return padded(inner, self._base_item_count, self._padding)


def padded(model: TrainedModel, base_item_count: int, new_item_count: int) -> PaddedModel:
    """``model`` with ``new_item_count`` items appended that it ranks last; a
    ``ForgetfulModel`` stays one."""
    if isinstance(model, ForgetfulModel):
        return ForgetfulPaddedModel(model, base_item_count, new_item_count)
    return PaddedModel(model, base_item_count, new_item_count)


class ModelSkipped(Exception):
    """Raised by ``ModelTrainer.train`` when the strategy does not fit this catalog (too many
    items for a dense model, too little data...). The host trains the other strategies, leaves
    this one out of the run and records ``skipped: <strategy>: <reason>`` in the training
    decision; ``Train`` does not fail.

    .. versionadded:: 0.4
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class ModelTrainer(Protocol):
    """A recommendation strategy, registered through ``infogap_register_models``."""

    strategy: str
    """Unique name, shown as the response's ``strategy`` (e.g. "lightfm", "popularity")."""

    def train(self, data: TrainingData, context: TrainingContext) -> TrainedModel:
        """Fits a model on ``data``. May raise ``InfoGapError`` subclasses, or ``ModelSkipped``
        when the strategy does not fit this catalog."""

    def load(self, directory: Path, item_ids: np.ndarray) -> TrainedModel:
        """Reads back what ``TrainedModel.save`` wrote; ``item_ids`` is its index space."""


@dataclass(frozen=True)
class RerankContext:
    """What a reranker knows about the request."""

    user_id: str
    catalog: str
    count: int
    strategy: str
    tags_of: Callable[[str], tuple[str, ...]]
    """The tags of a candidate item."""
    diversity: float | None = None
    """The request's diversity knob in [0, 1] (0 off), or None when the request leaves it to
    the configured default.

    .. versionadded:: 0.4"""
    item_vectors: Callable[[Sequence[str]], np.ndarray | None] = lambda _: None
    """The serving model's representations of the given items (one row each), or None when
    it offers none (``ItemVectorModel``).

    .. versionadded:: 0.4"""
    eligible_items: Callable[[Sequence[str]], list[ScoredItem]] = lambda _: []
    """Of the given item ids, those this request may return (known, active, unseen, through
    the filters), scored by the serving model. A reranker may add these to the candidates
    (e.g. exploration slots); nothing else.

    .. versionadded:: 0.4"""


@runtime_checkable
class Reranker(Protocol):
    """Reorders or drops candidates after scoring, registered via ``infogap_register_rerankers``."""

    name: str
    order: int
    """Rerankers run in ascending ``order``."""

    def rerank(self, context: RerankContext, candidates: list[ScoredItem]) -> list[ScoredItem]:
        """Returns the candidates to keep, best first. Must not add items it was not given,
        except those ``context.eligible_items`` returned."""


@runtime_checkable
class AggregateStage(Protocol):
    """One stage of the aggregate pipeline: what ``AggregateGuard`` and ``PrivacyGuard`` share."""

    name: str

    def release(self, aggregate: Aggregate) -> Aggregate:
        """Returns the aggregate as it may be released (bounded, noised, suppressed...)."""


@runtime_checkable
class AggregateGuard(Protocol):
    """Transforms aggregates before release, registered via ``infogap_register_aggregate_guards``.

    Ordinary guards run in ascending ``order``; the privacy guard (``PrivacyGuard``) always runs
    after all of them, whatever their order."""

    name: str
    order: int
    """Guards run in ascending ``order``, all of them before the privacy guard."""

    def release(self, aggregate: Aggregate) -> Aggregate:
        """Returns the aggregate as it may be released (bounded, suppressed...)."""


@runtime_checkable
class PrivacyGuard(Protocol):
    """The last stage of the aggregate pipeline (e.g. differential-privacy noise), registered via
    ``infogap_register_privacy_guard``; a server has at most one.

    .. versionadded:: 0.3
    """

    name: str

    def release(self, aggregate: Aggregate) -> Aggregate:
        """Returns the aggregate as it may leave the server. What earlier guards did is in
        ``aggregate``; nothing runs after this. May raise ``ResourceExhausted``."""


@dataclass
class ProfileDraft:
    """A profile being assembled; each contributor fills its part."""

    facts: ProfileFacts
    """Everything computed for the user (counts, windows, RFM, interests...)."""
    segments: Callable[[], list[SegmentMembership]]
    """The user's segment memberships (rule and cluster), evaluated when first called."""
    behaviour: Behaviour | None = None
    interests: list[Interest] = field(default_factory=list)
    segment_memberships: list[SegmentMembership] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)
    """Fields third-party contributors add (JSON values), shown as ``Profile.extra``."""


@runtime_checkable
class ProfileContributor(Protocol):
    """Adds a part to profiles, registered via ``infogap_register_profile_contributors``."""

    name: str
    order: int
    """Contributors run in ascending ``order``; each sees what earlier ones wrote."""

    def contribute(self, draft: ProfileDraft) -> None:
        """Fills its part of ``draft`` from ``draft.facts``. Called for every profile served,
        so it must be fast; expensive work belongs in training or a cache."""


@dataclass
class Registrations:
    """Everything the plugins registered, collected once at start."""

    trainers: dict[str, ModelTrainer] = field(default_factory=dict)
    rerankers: list[Reranker] = field(default_factory=list)
    aggregate_guards: list[AggregateGuard] = field(default_factory=list)
    privacy_guard: PrivacyGuard | None = None
    profile_contributors: list[ProfileContributor] = field(default_factory=list)
    provided_by: dict[str, list[str]] = field(default_factory=dict)  # plugin -> "model:lightfm"

    def add_trainer(self, trainer: ModelTrainer) -> None:
        if trainer.strategy in self.trainers:
            raise ValueError(f"model strategy {trainer.strategy!r} registered twice")
        self.trainers[trainer.strategy] = trainer

    def aggregate_stages(self) -> tuple[AggregateStage, ...]:
        """The aggregate pipeline: every ordinary guard by ascending order, then the privacy
        guard, fixed last whatever the orders declared."""
        ordinary = sorted(self.aggregate_guards, key=lambda guard: guard.order)
        last = () if self.privacy_guard is None else (self.privacy_guard,)
        return (*ordinary, *last)
