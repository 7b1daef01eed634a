"""The recommendation pipeline: score with the first strategy that knows the user, filter,
take the top, rerank. Runs on every request, so it calls registered objects directly and keeps
per-request work to a few numpy operations."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from infogap.server.core.domain import (
    BucketPlan,
    Recommendation,
    RecommendationFilter,
    ScoredItem,
)
from infogap.server.core.errors import FailedPrecondition, NotFound
from infogap.server.core.models.explanations import EventTypesOf, explain_items
from infogap.server.core.models.serving import CatalogServing
from infogap.server.core.plugins.capabilities import ItemVectorModel, implements
from infogap.server.core.plugins.protocols import (
    RerankContext,
    Reranker,
    ScoreResult,
    TrainedModel,
    UserQuery,
)

UNKNOWN_ITEM_REASON = "unknown item"


def top_positions(scores: np.ndarray, eligible: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` best eligible scores, best first; equal scores in position
    order. One partial sort over the whole array: the request path's hottest numpy."""
    masked = np.where(eligible, scores, -np.inf)
    if count < len(masked):
        candidates = np.argpartition(-masked, count - 1)[:count]
    else:
        candidates = np.arange(len(masked))
    ranked = candidates[np.lexsort((candidates, -masked[candidates]))]
    return ranked[masked[ranked] > -np.inf]


BLEND_POOL = 100  # at least this many of each list's best enter a blend


def blended_positions(
    primary: np.ndarray, secondary: np.ndarray, weight: float, eligible: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``count`` best eligible positions of a convex mix of two score arrays' rank-
    normalised scores: ``(1 - weight) * r(primary) + weight * r(secondary)``, where ``r`` is
    1 for a list's best, falling by equal steps to 0 past its top ``pool`` (the larger of
    ``BLEND_POOL`` and twice ``count``). Ranks, not raw scores, so scales of different models
    mix fairly. Returns the positions (best first; equal mixes in position order), their mixed
    scores, and whether each owes more to ``secondary`` than to ``primary``."""
    pool = max(BLEND_POOL, 2 * count)
    tops = top_positions(primary, eligible, pool), top_positions(secondary, eligible, pool)
    union = np.union1d(*tops)
    shares = []
    for top, share in zip(tops, (1.0 - weight, weight)):
        ranked = np.zeros(len(union))
        ranked[np.searchsorted(union, top)] = 1.0 - np.arange(len(top)) / pool
        shares.append(share * ranked)
    mixed = shares[0] + shares[1]
    order = np.lexsort((union, -mixed))[:count]
    return union[order], mixed[order], shares[1][order] > shares[0][order]


def new_recommendation_id() -> str:
    return os.urandom(16).hex()  # as unique as a UUID4, a tenth of the cost


def interleave(
    primary: list[ScoredItem], secondary: list[ScoredItem], primary_share: float, count: int
) -> list[ScoredItem]:
    """Merges two ranked lists so that about ``primary_share`` of every prefix comes from
    ``primary``; each list keeps its order and an item appears once."""
    merged: list[ScoredItem] = []
    chosen: set[str] = set()
    next_primary = next_secondary = from_primary = 0
    while len(merged) < count and (next_primary < len(primary) or next_secondary < len(secondary)):
        take_primary = next_secondary >= len(secondary) or (
            next_primary < len(primary) and from_primary < primary_share * (len(merged) + 1)
        )
        if take_primary:
            item, next_primary = primary[next_primary], next_primary + 1
        else:
            item, next_secondary = secondary[next_secondary], next_secondary + 1
        if item.item_id in chosen:
            continue
        chosen.add(item.item_id)
        merged.append(item)
        from_primary += take_primary
    return merged


def _top_items(
    serving: CatalogServing, result: ScoreResult, eligible: np.ndarray, count: int
) -> list[ScoredItem]:
    positions = top_positions(result.scores, eligible, count)
    reason = result.reason
    return [
        ScoredItem(item_id, score, reason)
        for item_id, score in zip(
            serving.items.item_ids[positions].tolist(), result.scores[positions].tolist()
        )
    ]


def _vectors_of(
    serving: CatalogServing, model: TrainedModel
) -> Callable[[Sequence[str]], np.ndarray | None]:
    if not implements(model, ItemVectorModel):
        return lambda _: None
    vector_model = cast(ItemVectorModel, model)  # what implements() checked
    positions = serving.items.positions

    def vectors(item_ids: Sequence[str]) -> np.ndarray:
        return vector_model.item_vectors(np.array([positions[i] for i in item_ids], dtype=np.int64))

    return vectors


def _eligible_items(
    serving: CatalogServing, result: ScoreResult, eligible: np.ndarray, given: set[str]
) -> Callable[[Sequence[str]], list[ScoredItem]]:
    positions = serving.items.positions

    def eligible_items(item_ids: Sequence[str]) -> list[ScoredItem]:
        found = []
        for item_id in item_ids:
            position = positions.get(item_id)
            if position is not None and eligible[position]:
                found.append(ScoredItem(item_id, float(result.scores[position]), result.reason))
                given.add(item_id)
        return found

    return eligible_items


@dataclass(frozen=True)
class _Served:
    """A list before reranking: what served it, and which model each item came from
    (explanations ask that model)."""

    strategy: str
    items: list[ScoredItem]
    sources: dict[str, TrainedModel]
    model: TrainedModel  # the first model: rerankers get its item vectors and scores
    result: ScoreResult

    @classmethod
    def alone(cls, model: TrainedModel, result: ScoreResult, items: list[ScoredItem]) -> _Served:
        return cls(
            model.strategy, items, dict.fromkeys((i.item_id for i in items), model), model, result
        )


class RecommendationPipeline:
    """Serves Recommend, SimilarItems and RankItems from a ``CatalogServing``."""

    def __init__(
        self,
        rerankers: Sequence[Reranker],
        load_attributes: Callable[[str], Mapping[str, str]],
        load_segments: Callable[[str], list[str]],
        rerank_depth_factor: int,
        blend_below_interactions: int | None,
        event_types_of: EventTypesOf = lambda _user, _catalog, _items: {},
        explanation_evidence: int = 0,
    ) -> None:
        """``blend_below_interactions`` overrides the serving plans chosen at Train with a
        fixed rule (``serving.blend_below_interactions``); None serves the plans."""
        self._rerankers = tuple(rerankers)
        self._load_attributes = load_attributes
        self._load_segments = load_segments
        self._rerank_depth_factor = rerank_depth_factor
        self._blend_below = blend_below_interactions
        self._event_types_of = event_types_of
        self._explanation_evidence = explanation_evidence

    def _query(
        self,
        serving: CatalogServing,
        user_id: str,
        recent: np.ndarray | None = None,
        include_seen: bool = False,
    ) -> UserQuery:
        load_recent = serving.recent_positions if recent is None else lambda _: recent
        return UserQuery(
            user_id,
            self._load_attributes,
            load_recent,
            self._load_segments,
            load_history=lambda user: serving.seen_positions(user, recent),
            include_seen=include_seen,
        )

    def _score(
        self, serving: CatalogServing, query: UserQuery, first: str = ""
    ) -> tuple[TrainedModel, ScoreResult]:
        """The first model that scores the user: the one named ``first``, if serving, then
        the serving order."""
        models: Sequence[TrainedModel] = serving.models
        if first:
            models = sorted(models, key=lambda model: model.strategy != first)
        for model in models:
            result = model.score_user(query)
            if result is not None:
                return model, result
        user_id = query.user_id
        raise FailedPrecondition(
            f"no model of catalog {serving.catalog!r} can score user {user_id!r}; "
            "enable a cold-start strategy such as 'popularity'"
        )

    def recommend(
        self,
        serving: CatalogServing,
        user_id: str,
        count: int,
        item_filter: RecommendationFilter,
        include_seen: bool,
        blend: bool = True,
        excluded_rerankers: tuple[str, ...] = (),
        diversity: float | None = None,
    ) -> Recommendation:
        """``blend`` False serves the first model alone, where the plan (or the override
        rule) would mix it with the baseline."""
        recent = serving.recent_positions(user_id)
        query = self._query(serving, user_id, recent, include_seen)
        seen = serving.seen_positions(user_id, recent)
        eligible = serving.items.eligible(item_filter)
        if not include_seen:
            eligible[seen] = False
        rerankers = self._rerankers
        if excluded_rerankers:
            rerankers = tuple(r for r in rerankers if r.name not in excluded_rerankers)
        depth = count * self._rerank_depth_factor if rerankers else count
        if self._blend_below is not None or serving.plan is None:
            served = self._by_rule(serving, query, len(seen), eligible, depth, blend)
        else:
            bucket = serving.plan.bucket_of(len(seen), serving.is_new_user(user_id))
            served = self._by_plan(serving, query, bucket, eligible, depth, blend)
        strategy, items, sources = served.strategy, served.items, served.sources
        model, result = served.model, served.result
        if rerankers:
            given = {item.item_id for item in items}
            context = RerankContext(
                user_id,
                serving.catalog,
                count,
                strategy,
                serving.items.tags_of,
                diversity=diversity,
                item_vectors=_vectors_of(serving, model),
                eligible_items=_eligible_items(serving, result, eligible, given),
            )
            items = self._rerank(rerankers, context, items, given)
        final = items[:count]
        if self._explanation_evidence:
            final = explain_items(
                final,
                sources,
                query,
                serving.catalog,
                serving.items.positions,
                serving.items.item_ids,
                serving.items.title_of,
                self._event_types_of,
                self._explanation_evidence,
            )
        return Recommendation(new_recommendation_id(), tuple(final), serving.version, strategy)

    def _by_plan(
        self,
        serving: CatalogServing,
        query: UserQuery,
        bucket: BucketPlan,
        eligible: np.ndarray,
        depth: int,
        blend: bool,
    ) -> _Served:
        """The user's bucket's choice: its model (or the serving order's fallback), mixed
        with the baseline's list when the bucket says so (as validation measured it)."""
        model, result = self._score(serving, query, bucket.model)
        other = next((m for m in serving.models if m.strategy == bucket.blend_with), None)
        if blend and model.strategy == bucket.model and other is not None and other is not model:
            mixed_with = other.score_user(query)
            if mixed_with is not None:
                positions, scores, from_other = blended_positions(
                    result.scores, mixed_with.scores, bucket.blend_weight, eligible, depth
                )
                item_ids = serving.items.item_ids[positions].tolist()
                reasons = (result.reason, mixed_with.reason)
                items = [
                    ScoredItem(item_id, score, reasons[second])
                    for item_id, score, second in zip(
                        item_ids, scores.tolist(), from_other.tolist()
                    )
                ]
                sources = {
                    item_id: other if second else model
                    for item_id, second in zip(item_ids, from_other.tolist())
                }
                strategy = f"blend:{model.strategy}+{other.strategy}"
                return _Served(strategy, items, sources, model, result)
        return _Served.alone(model, result, _top_items(serving, result, eligible, depth))

    def _by_rule(
        self,
        serving: CatalogServing,
        query: UserQuery,
        interactions: int,
        eligible: np.ndarray,
        depth: int,
        blend: bool,
    ) -> _Served:
        """The serving order, interleaved with the cold-start list below
        ``serving.blend_below_interactions`` when that override is set."""
        model, result = self._score(serving, query)
        served = _Served.alone(model, result, _top_items(serving, result, eligible, depth))
        blend_below = self._blend_below or 0
        fallback = serving.models[-1]
        if blend and interactions < blend_below and fallback is not model:
            # Few interactions: the personalized list is uncertain, so it is interleaved with
            # the cold-start one; the personalized share grows with the interaction count.
            cold = fallback.score_user(query)
            if cold is not None:
                share = 0.5 + 0.5 * interactions / blend_below
                cold_items = _top_items(serving, cold, eligible, depth)
                items = interleave(served.items, cold_items, share, depth)
                from_cold = {id(item) for item in cold_items}  # interleave keeps the objects
                sources = {i.item_id: fallback if id(i) in from_cold else model for i in items}
                strategy = f"{model.strategy}+{fallback.strategy}"
                return _Served(strategy, items, sources, model, result)
        return served

    @staticmethod
    def _rerank(
        rerankers: Sequence[Reranker],
        context: RerankContext,
        items: list[ScoredItem],
        given: set[str],
    ) -> list[ScoredItem]:
        for reranker in rerankers:
            # A reranker may reorder and drop candidates, and add only what
            # ``context.eligible_items`` handed it (``given`` grows with those), never invent.
            items = [item for item in reranker.rerank(context, items) if item.item_id in given]
        return items

    def similar_items(
        self, serving: CatalogServing, item_id: str, count: int, item_filter: RecommendationFilter
    ) -> Recommendation:
        position = serving.items.positions.get(item_id)
        if position is None:
            raise NotFound(
                f"item {item_id!r} is not known to the model of catalog {serving.catalog!r}"
            )
        for model in serving.models:
            similarities = model.similar_items(position)
            if similarities is not None:
                eligible = serving.items.eligible(item_filter)
                eligible[position] = False
                positions = top_positions(similarities, eligible, count)
                reason = f"similar to {serving.items.title_of(item_id)}"
                items = tuple(
                    ScoredItem(serving.items.item_ids[p], float(similarities[p]), reason)
                    for p in positions
                )
                return Recommendation("", items, serving.version, model.strategy)
        raise FailedPrecondition(
            f"no model of catalog {serving.catalog!r} provides item similarity"
        )

    def rank_items(
        self, serving: CatalogServing, user_id: str, item_ids: Sequence[str]
    ) -> Recommendation:
        model, result = self._score(serving, self._query(serving, user_id))
        positions = serving.items.positions
        known = [(item_id, positions[item_id]) for item_id in item_ids if item_id in positions]
        known.sort(key=lambda pair: -result.scores[pair[1]])
        items = [ScoredItem(i, float(result.scores[p]), result.reason) for i, p in known]
        items += [
            ScoredItem(item_id, 0.0, UNKNOWN_ITEM_REASON)
            for item_id in item_ids
            if item_id not in positions
        ]
        return Recommendation(
            new_recommendation_id(), tuple(items), serving.version, model.strategy
        )
