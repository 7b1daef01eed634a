"""The blocking client's RecommendService methods."""

from __future__ import annotations

from collections.abc import Iterable

from infogap.v1.recommend_service_pb2 import (
    RankItemsResponse,
    RecommendResponse,
    SimilarItemsResponse,
)

from . import _requests as build
from ._client_base import ClientBase


class RecommendMethods(ClientBase):
    """Recommendations, similar items and ranking."""

    # --- RecommendService ---------------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        *,
        catalog: str = "",
        count: int = 10,
        include_tags: Iterable[str] = (),
        exclude_tags: Iterable[str] = (),
        exclude_item_ids: Iterable[str] = (),
        include_seen: bool = False,
        diversity: float | None = None,
        timeout: float | None = None,
    ) -> RecommendResponse:
        """The top items of a catalog for a user, best first.

        Unknown users get cold-start recommendations. Send the response's
        ``recommendation_id`` back in the events it leads to, for attribution.

        Args:
            user_id: The user to recommend to.
            catalog: The catalog; empty means "default".
            count: How many items.
            include_tags: When given, only items with at least one of these tags.
            exclude_tags: Never items with any of these tags.
            exclude_item_ids: Never these items.
            include_seen: Also items the user already interacted with.
            diversity: From 0 (the list as scored) to 1 (as varied as possible); None for the
                server's configured default. Each item's ``evidence`` says what is behind it.
            timeout: Deadline of the call, in seconds.
        """
        request = build.recommend_request(
            user_id,
            catalog=catalog,
            count=count,
            include_tags=include_tags,
            exclude_tags=exclude_tags,
            exclude_item_ids=exclude_item_ids,
            include_seen=include_seen,
            diversity=diversity,
        )
        return self._call(self._recommend.Recommend, request, timeout)

    def similar_items(
        self,
        item_id: str,
        *,
        catalog: str = "",
        count: int = 10,
        include_tags: Iterable[str] = (),
        exclude_tags: Iterable[str] = (),
        exclude_item_ids: Iterable[str] = (),
        timeout: float | None = None,
    ) -> SimilarItemsResponse:
        """The items most like an item, most similar first.

        Args are as for :meth:`recommend`, with the reference ``item_id`` instead of a user.
        """
        request = build.similar_items_request(
            item_id,
            catalog=catalog,
            count=count,
            include_tags=include_tags,
            exclude_tags=exclude_tags,
            exclude_item_ids=exclude_item_ids,
        )
        return self._call(self._recommend.SimilarItems, request, timeout)

    def rank_items(
        self,
        user_id: str,
        item_ids: Iterable[str],
        *,
        catalog: str = "",
        timeout: float | None = None,
    ) -> RankItemsResponse:
        """The caller's candidate items (up to 1,000), reordered best first for a user.

        Ids the catalog does not know come last, in the order given.
        """
        request = build.rank_items_request(user_id, item_ids, catalog=catalog)
        return self._call(self._recommend.RankItems, request, timeout)
