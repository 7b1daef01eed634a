"""The recommendation pipeline: score with the first strategy that knows the user, filter,
take the top, rerank. Runs on every request, so it calls registered objects directly and keeps
per-request work to a few numpy operations."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from infogap.server.core.domain import (
    BucketPlan,
    Recommendation,
    RecommendationFilter,
    ScoredItem,
)
from infogap.server.core.errors import FailedPrecondition, NotFound
from infogap.server.core.models.serving import CatalogServing
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


class RecommendationPipeline:
    """Serves Recommend, SimilarItems and RankItems from a ``CatalogServing``."""

    def __init__(
        self,
        rerankers: Sequence[Reranker],
        load_attributes: Callable[[str], Mapping[str, str]],
        load_segments: Callable[[str], list[str]],
        rerank_depth_factor: int,
        blend_below_interactions: int | None,
    ) -> None:
        """``blend_below_interactions`` overrides the serving plans chosen at Train with a
        fixed rule (``serving.blend_below_interactions``); None serves the plans."""
        self._rerankers = tuple(rerankers)
        self._load_attributes = load_attributes
        self._load_segments = load_segments
        self._rerank_depth_factor = rerank_depth_factor
        self._blend_below = blend_below_interactions

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
            strategy, items = self._by_rule(serving, query, len(seen), eligible, depth, blend)
        else:
            bucket = serving.plan.bucket_of(len(seen))
            strategy, items = self._by_plan(serving, query, bucket, eligible, depth, blend)
        if rerankers:
            context = RerankContext(
                user_id, serving.catalog, count, strategy, serving.items.tags_of
            )
            items = self._rerank(rerankers, context, items)
        return Recommendation(
            new_recommendation_id(), tuple(items[:count]), serving.version, strategy
        )

    def _by_plan(
        self,
        serving: CatalogServing,
        query: UserQuery,
        bucket: BucketPlan,
        eligible: np.ndarray,
        depth: int,
        blend: bool,
    ) -> tuple[str, list[ScoredItem]]:
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
                return f"blend:{model.strategy}+{other.strategy}", items
        return model.strategy, _top_items(serving, result, eligible, depth)

    def _by_rule(
        self,
        serving: CatalogServing,
        query: UserQuery,
        interactions: int,
        eligible: np.ndarray,
        depth: int,
        blend: bool,
    ) -> tuple[str, list[ScoredItem]]:
        """The serving order, interleaved with the cold-start list below
        ``serving.blend_below_interactions`` when that override is set."""
        model, result = self._score(serving, query)
        items = _top_items(serving, result, eligible, depth)
        strategy = model.strategy
        blend_below = self._blend_below or 0
        fallback = serving.models[-1]
        if blend and interactions < blend_below and fallback is not model:
            # Few interactions: the personalized list is uncertain, so it is interleaved with
            # the cold-start one; the personalized share grows with the interaction count.
            cold = fallback.score_user(query)
            if cold is not None:
                share = 0.5 + 0.5 * interactions / blend_below
                cold_items = _top_items(serving, cold, eligible, depth)
                items = interleave(items, cold_items, share, depth)
                strategy = f"{model.strategy}+{fallback.strategy}"
        return strategy, items

    @staticmethod
    def _rerank(
        rerankers: Sequence[Reranker], context: RerankContext, items: list[ScoredItem]
    ) -> list[ScoredItem]:
        given = {item.item_id for item in items}
        for reranker in rerankers:
            # A reranker may reorder and drop candidates, never invent them.
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
                reason = f"similar to {item_id}"
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
