"""``Recommendations``: the Recommend, SimilarItems and RankItems use cases on validated
arguments, each served by the catalog's state or by the user's experiment variant."""

from __future__ import annotations

from collections.abc import Sequence

from infogap.server.core.domain import Recommendation, RecommendationFilter
from infogap.server.core.experiments.service import Experiments
from infogap.server.core.models.pipeline import RecommendationPipeline
from infogap.server.core.models.registry import ServingRegistry


class Recommendations:
    """Picks what serves a request (experiment variant or not) and runs the pipeline on it."""

    def __init__(
        self,
        pipeline: RecommendationPipeline,
        registry: ServingRegistry,
        experiments: Experiments,
    ) -> None:
        self._pipeline = pipeline
        self._registry = registry
        self._experiments = experiments

    def recommend(
        self,
        user_id: str,
        catalog: str,
        count: int,
        item_filter: RecommendationFilter,
        include_seen: bool,
        diversity: float | None = None,
        log_impression: bool = True,
    ) -> Recommendation:
        """The user's top ``count`` items of the catalog; ``diversity`` in [0, 1] is handed to
        the rerankers (None: their configured default). With ``log_impression`` False, a list
        served by an experiment's variant is not logged (a preview, not an exposure).

        :raises FailedPrecondition: when the catalog has no trained model.
        """
        assignment = self._experiments.assign(catalog, user_id)
        if assignment is None:
            return self._pipeline.recommend(
                self._registry.serving_of(catalog),
                user_id,
                count,
                item_filter,
                include_seen,
                diversity=diversity,
            )
        recommendation = self._pipeline.recommend(
            self._registry.variant_serving(catalog, assignment.variant),
            user_id,
            count,
            item_filter,
            include_seen,
            blend=assignment.variant.blend,
            excluded_rerankers=assignment.variant.excluded_rerankers,
            diversity=diversity,
        )
        return self._experiments.served(
            recommendation, assignment, user_id, catalog, log=log_impression
        )

    def similar_items(
        self, item_id: str, catalog: str, count: int, item_filter: RecommendationFilter
    ) -> Recommendation:
        """The ``count`` items of the catalog most like ``item_id``.

        :raises FailedPrecondition: when the catalog has no trained model.
        :raises NotFound: when the item is unknown to the models.
        """
        serving = self._registry.serving_of(catalog)
        return self._pipeline.similar_items(serving, item_id, count, item_filter)

    def rank_items(self, user_id: str, catalog: str, item_ids: Sequence[str]) -> Recommendation:
        """``item_ids`` in the user's order of preference.

        :raises FailedPrecondition: when the catalog has no trained model.
        """
        assignment = self._experiments.assign(catalog, user_id)
        if assignment is None:
            return self._pipeline.rank_items(self._registry.serving_of(catalog), user_id, item_ids)
        serving = self._registry.variant_serving(catalog, assignment.variant)
        recommendation = self._pipeline.rank_items(serving, user_id, item_ids)
        return self._experiments.served(recommendation, assignment, user_id, catalog)
