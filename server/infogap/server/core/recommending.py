"""The recommendation pipeline: score with the first strategy that knows the user, filter,
take the top, rerank. Runs on every request, so it calls registered objects directly and keeps
per-request work to a few numpy operations."""

from __future__ import annotations

import uuid
from typing import Callable, Mapping, Sequence

import numpy as np

from .domain import Recommendation, RecommendationFilter, ScoredItem
from .errors import FailedPrecondition, NotFound
from .modeling import RerankContext, Reranker, ScoreResult, TrainedModel, UserQuery
from .serving import CatalogServing

UNKNOWN_ITEM_REASON = "unknown item"


def top_positions(scores: np.ndarray, eligible: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` best eligible scores, best first (ties: lower position first)."""
    candidates = np.flatnonzero(eligible)
    if len(candidates) > count:
        best = np.argpartition(-scores[candidates], count - 1)[:count]
        candidates = np.sort(candidates[best])
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order]


def new_recommendation_id() -> str:
    return uuid.uuid4().hex


class RecommendationPipeline:
    """Serves Recommend, SimilarItems and RankItems from a ``CatalogServing``."""

    def __init__(
        self,
        rerankers: Sequence[Reranker],
        load_attributes: Callable[[str], Mapping[str, str]],
        rerank_depth_factor: int,
    ) -> None:
        self._rerankers = tuple(rerankers)
        self._load_attributes = load_attributes
        self._rerank_depth_factor = rerank_depth_factor

    def _score(self, serving: CatalogServing, user_id: str) -> tuple[TrainedModel, ScoreResult]:
        query = UserQuery(user_id, self._load_attributes)
        for model in serving.models:
            result = model.score_user(query)
            if result is not None:
                return model, result
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
    ) -> Recommendation:
        model, result = self._score(serving, user_id)
        eligible = serving.items.eligible(item_filter)
        if not include_seen:
            eligible[serving.seen_positions(user_id)] = False
        depth = count * self._rerank_depth_factor if self._rerankers else count
        positions = top_positions(result.scores, eligible, depth)
        item_ids = serving.items.item_ids
        items = [
            ScoredItem(item_ids[p], float(result.scores[p]), result.reason) for p in positions
        ]
        if self._rerankers:
            context = RerankContext(
                user_id, serving.catalog, count, model.strategy, serving.items.tags_of
            )
            items = self._rerank(context, items)
        return Recommendation(
            new_recommendation_id(), tuple(items[:count]), serving.version, model.strategy
        )

    def _rerank(self, context: RerankContext, items: list[ScoredItem]) -> list[ScoredItem]:
        given = {item.item_id for item in items}
        for reranker in self._rerankers:
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
        model, result = self._score(serving, user_id)
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
