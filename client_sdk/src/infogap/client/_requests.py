"""Builds the request messages of every call and merges batched responses.

Shared by :class:`~infogap.client.Client` and :class:`~infogap.client.AsyncClient`, whose
methods only add the transport (a blocking or an awaited call) around these functions.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from infogap.v1.admin_service_pb2 import GetModelInfoRequest, ListPluginsRequest, TrainRequest
from infogap.v1.feedback_service_pb2 import (
    RecordEventsRequest,
    RecordEventsResponse,
    StreamEventsRequest,
)
from infogap.v1.profile_service_pb2 import (
    GetProfileRequest,
    UpsertItemsRequest,
    UpsertItemsResponse,
    UpsertUsersRequest,
    UpsertUsersResponse,
)
from infogap.v1.recommend_service_pb2 import (
    RankItemsRequest,
    RecommendationFilter,
    RecommendRequest,
    SimilarItemsRequest,
)

from ._convert import EventLike, ItemLike, UserLike, string_list, to_event, to_item, to_user

MAX_BATCH_SIZE = 1000
"""The most entities the server accepts in one request (or one stream message)."""

_T = TypeVar("_T")


def batched(values: Iterable[_T], size: int = MAX_BATCH_SIZE) -> Iterator[list[_T]]:
    """Consecutive lists of at most size values (itertools.batched needs Python 3.12)."""
    iterator = iter(values)
    while batch := list(islice(iterator, size)):
        yield batch


# --- FeedbackService --------------------------------------------------------------------------


def record_events_requests(events: Iterable[EventLike]) -> list[RecordEventsRequest]:
    """The RecordEvents requests for any number of events, at most MAX_BATCH_SIZE per request.

    Every event is converted (and given its id) before anything is sent, so a malformed event
    fails the whole call up front instead of after earlier batches were stored.
    """
    converted = [to_event(event) for event in events]
    return [RecordEventsRequest(events=batch) for batch in batched(converted)]


def merge_record_events_responses(
    responses: Iterable[RecordEventsResponse],
) -> RecordEventsResponse:
    """One response totalling the counts of the responses to several batches."""
    total = RecordEventsResponse()
    for response in responses:
        total.stored_count += response.stored_count
        total.duplicate_count += response.duplicate_count
    return total


def stream_events_requests(batches: Iterable[Iterable[EventLike]]) -> Iterator[StreamEventsRequest]:
    """The StreamEvents messages for the caller's batches, built lazily as the stream goes.

    Batches larger than MAX_BATCH_SIZE are split; empty ones are skipped.
    """
    for batch in batches:
        yield from _stream_messages(batch)


async def stream_events_requests_async(
    batches: AsyncIterable[Iterable[EventLike]],
) -> AsyncIterator[StreamEventsRequest]:
    """stream_events_requests for batches produced asynchronously."""
    async for batch in batches:
        for message in _stream_messages(batch):
            yield message


def _stream_messages(batch: Iterable[EventLike]) -> Iterator[StreamEventsRequest]:
    converted = [to_event(event) for event in batch]
    for events in batched(converted):
        yield StreamEventsRequest(events=events)


class RequestStreamErrorTrap:
    """Ends a request stream cleanly, keeping the error, when building its next message fails.

    grpc consumes a request iterator by itself and answers an exception from it by cancelling
    the call: the sync API then raises UNKNOWN "Exception iterating requests!" (and logs it),
    grpc.aio a bare CancelledError. The caller's actual mistake, say a malformed event, would be
    lost. Wrapped in a trap, the stream simply ends there; once the call is over the client
    raises :attr:`error` if it is set.
    """

    def __init__(self) -> None:
        self.error: Exception | None = None

    def guard(self, requests: Iterable[_T]) -> Iterator[_T]:
        """requests, ending early (with error set) where building them raised."""
        try:
            yield from requests
        except Exception as error:
            self.error = error

    async def guard_async(self, requests: AsyncIterable[_T]) -> AsyncIterator[_T]:
        """guard for an async iterable."""
        try:
            async for request in requests:
                yield request
        except Exception as error:
            self.error = error

    def raise_error(self) -> None:
        """Raises the trapped error, if there is one."""
        if self.error is not None:
            raise self.error


# --- ProfileService ---------------------------------------------------------------------------


def upsert_users_requests(users: Iterable[UserLike]) -> list[UpsertUsersRequest]:
    """The UpsertUsers requests for any number of users, at most MAX_BATCH_SIZE per request."""
    converted = [to_user(user) for user in users]
    return [UpsertUsersRequest(users=batch) for batch in batched(converted)]


def merge_upsert_users_responses(
    responses: Iterable[UpsertUsersResponse],
) -> UpsertUsersResponse:
    """One response totalling the counts of the responses to several batches."""
    return UpsertUsersResponse(upserted_count=sum(r.upserted_count for r in responses))


def upsert_items_requests(items: Iterable[ItemLike]) -> list[UpsertItemsRequest]:
    """The UpsertItems requests for any number of items, at most MAX_BATCH_SIZE per request."""
    converted = [to_item(item) for item in items]
    return [UpsertItemsRequest(items=batch) for batch in batched(converted)]


def merge_upsert_items_responses(
    responses: Iterable[UpsertItemsResponse],
) -> UpsertItemsResponse:
    """One response totalling the counts of the responses to several batches."""
    return UpsertItemsResponse(upserted_count=sum(r.upserted_count for r in responses))


def get_profile_request(user_id: str) -> GetProfileRequest:
    return GetProfileRequest(user_id=user_id)


# --- RecommendService -------------------------------------------------------------------------


def recommend_request(
    user_id: str,
    *,
    catalog: str,
    count: int,
    include_tags: Iterable[str],
    exclude_tags: Iterable[str],
    exclude_item_ids: Iterable[str],
    include_seen: bool,
) -> RecommendRequest:
    return RecommendRequest(
        user_id=user_id,
        catalog=catalog,
        count=count,
        filter=_filter(include_tags, exclude_tags, exclude_item_ids),
        include_seen=include_seen,
    )


def similar_items_request(
    item_id: str,
    *,
    catalog: str,
    count: int,
    include_tags: Iterable[str],
    exclude_tags: Iterable[str],
    exclude_item_ids: Iterable[str],
) -> SimilarItemsRequest:
    return SimilarItemsRequest(
        item_id=item_id,
        catalog=catalog,
        count=count,
        filter=_filter(include_tags, exclude_tags, exclude_item_ids),
    )


def rank_items_request(user_id: str, item_ids: Iterable[str], *, catalog: str) -> RankItemsRequest:
    return RankItemsRequest(
        user_id=user_id, catalog=catalog, item_ids=string_list(item_ids, "item_ids")
    )


def _filter(
    include_tags: Iterable[str], exclude_tags: Iterable[str], exclude_item_ids: Iterable[str]
) -> RecommendationFilter | None:
    """The filter of a request, or None (field left unset) when it would restrict nothing."""
    recommendation_filter = RecommendationFilter(
        include_tags=string_list(include_tags, "include_tags"),
        exclude_tags=string_list(exclude_tags, "exclude_tags"),
        exclude_item_ids=string_list(exclude_item_ids, "exclude_item_ids"),
    )
    return recommendation_filter if recommendation_filter.ByteSize() else None


# --- AdminService -----------------------------------------------------------------------------


def train_request(catalog: str) -> TrainRequest:
    return TrainRequest(catalog=catalog)


def model_info_request(catalog: str) -> GetModelInfoRequest:
    return GetModelInfoRequest(catalog=catalog)


def list_plugins_request() -> ListPluginsRequest:
    return ListPluginsRequest()
