"""Builds the request messages of every call and merges batched responses.

Shared by :class:`~infogap.client.Client` and :class:`~infogap.client.AsyncClient`, whose
methods only add the transport (a blocking or an awaited call) around these functions.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.v1.admin_service_pb2 import (
    CreateExperimentRequest,
    DeleteUserRequest,
    EvaluateModelsRequest,
    EvaluationSplit,
    Experiment,
    GetExperimentReportRequest,
    GetModelInfoRequest,
    GetPrivacyBudgetRequest,
    ListExperimentsRequest,
    ListPluginsRequest,
    StartExperimentRequest,
    StopExperimentRequest,
    TrainRequest,
)
from infogap.v1.feedback_service_pb2 import (
    RecordEventsRequest,
    RecordEventsResponse,
    StreamEventsRequest,
)
from infogap.v1.profile_service_pb2 import (
    DefineSegmentRequest,
    DeleteSegmentRequest,
    GetProfileRequest,
    GetProfilesRequest,
    GetProfilesResponse,
    GetSegmentMembersRequest,
    GetSegmentMembersResponse,
    ListSegmentsRequest,
    PatchUsersRequest,
    PatchUsersResponse,
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

from ._convert import (
    EventLike,
    ItemLike,
    UserLike,
    UserPatchLike,
    VariantLike,
    string_list,
    to_event,
    to_item,
    to_timestamp,
    to_user,
    to_user_patch,
    to_variant,
)
from ._errors import InfoGapError

MAX_BATCH_SIZE = 1000
"""The most entities the server accepts in one request (or one stream message)."""

MAX_PROFILES_PER_REQUEST = 500
"""The most user ids the server accepts in one GetProfiles request."""

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
        except Exception as error:  # noqa: BLE001 - kept and re-raised by raise_error()
            self.error = error

    async def guard_async(self, requests: AsyncIterable[_T]) -> AsyncIterator[_T]:
        """guard for an async iterable."""
        try:
            async for request in requests:
                yield request
        except Exception as error:  # noqa: BLE001 - kept and re-raised by raise_error()
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


def patch_users_requests(patches: Iterable[UserPatchLike]) -> list[PatchUsersRequest]:
    """The PatchUsers requests for any number of patches, at most MAX_BATCH_SIZE per request.

    Every patch is converted before anything is sent, so a malformed one fails the whole call
    up front.
    """
    converted = [to_user_patch(patch) for patch in patches]
    return [PatchUsersRequest(patches=batch) for batch in batched(converted)]


def merge_patch_users_responses(responses: Iterable[PatchUsersResponse]) -> PatchUsersResponse:
    """One response totalling the counts of the responses to several batches."""
    return PatchUsersResponse(patched_count=sum(r.patched_count for r in responses))


def get_profile_request(user_id: str, *, as_of: datetime | None = None) -> GetProfileRequest:
    return GetProfileRequest(user_id=user_id, as_of_time=_as_of_time(as_of))


def get_profiles_requests(
    user_ids: Iterable[str], *, as_of: datetime | None = None
) -> list[GetProfilesRequest]:
    """The GetProfiles requests for any number of user ids, MAX_PROFILES_PER_REQUEST per request.

    The server wants distinct ids; a repeated id is rejected here, whichever batches its
    occurrences would fall in, rather than only when both land in the same request.
    """
    ids = string_list(user_ids, "user_ids")
    seen: set[str] = set()
    for user_id in ids:
        if user_id in seen:
            raise ValueError(f"user_ids must be distinct; {user_id!r} is repeated")
        seen.add(user_id)
    as_of_time = _as_of_time(as_of)
    return [
        GetProfilesRequest(user_ids=batch, as_of_time=as_of_time)
        for batch in batched(ids, MAX_PROFILES_PER_REQUEST)
    ]


def merge_get_profiles_responses(responses: Iterable[GetProfilesResponse]) -> GetProfilesResponse:
    """One response with the profiles and missing ids of several batches, in batch order."""
    merged = GetProfilesResponse()
    for response in responses:
        merged.profiles.extend(response.profiles)
        merged.missing_user_ids.extend(response.missing_user_ids)
    return merged


def _as_of_time(as_of: datetime | None) -> Timestamp | None:
    """The as_of_time field of a profile request: None (unset, the server's "now") or as_of."""
    return None if as_of is None else to_timestamp(as_of)


def define_segment_request(name: str, rule: str, *, description: str) -> DefineSegmentRequest:
    return DefineSegmentRequest(name=name, rule=rule, description=description)


def delete_segment_request(name: str) -> DeleteSegmentRequest:
    return DeleteSegmentRequest(name=name)


def list_segments_request() -> ListSegmentsRequest:
    return ListSegmentsRequest()


def segment_members_request(
    name: str, *, page_size: int, page_token: str
) -> GetSegmentMembersRequest:
    return GetSegmentMembersRequest(name=name, page_size=page_size, page_token=page_token)


def next_segment_members_request(
    request: GetSegmentMembersRequest, response: GetSegmentMembersResponse
) -> GetSegmentMembersRequest | None:
    """The request for the page after response, or None when response was the last page.

    Raises:
        InfoGapError: The server handed back the token it was given, which would loop forever.
    """
    if not response.next_page_token:
        return None
    if response.next_page_token == request.page_token:
        raise InfoGapError(
            grpc.StatusCode.INTERNAL,
            f"GetSegmentMembers returned the same page token twice ({request.page_token!r})",
        )
    return segment_members_request(
        request.name, page_size=request.page_size, page_token=response.next_page_token
    )


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
    diversity: float | None = None,
) -> RecommendRequest:
    request = RecommendRequest(
        user_id=user_id,
        catalog=catalog,
        count=count,
        filter=_filter(include_tags, exclude_tags, exclude_item_ids),
        include_seen=include_seen,
    )
    if diversity is not None:
        request.diversity = diversity
    return request


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


def delete_user_request(user_id: str) -> DeleteUserRequest:
    return DeleteUserRequest(user_id=user_id)


def privacy_budget_request(catalog: str) -> GetPrivacyBudgetRequest:
    return GetPrivacyBudgetRequest(catalog=catalog)


def list_plugins_request() -> ListPluginsRequest:
    return ListPluginsRequest()


def evaluate_models_request(
    catalog: str,
    *,
    split: str,
    k: int,
    candidates: Iterable[str],
    max_users: int,
    seed: int | None,
    include_privacy: bool,
) -> EvaluateModelsRequest:
    split_value = EVALUATION_SPLITS.get(split)
    if split_value is None:
        raise ValueError(f"split must be one of {', '.join(EVALUATION_SPLITS)}, not {split!r}")
    return EvaluateModelsRequest(
        catalog=catalog,
        split=split_value,
        k=k,
        candidates=string_list(candidates, "candidates"),
        max_users=max_users,
        seed=seed,
        include_privacy=include_privacy,
    )


EVALUATION_SPLITS = {
    "random": EvaluationSplit.EVALUATION_SPLIT_RANDOM,
    "temporal": EvaluationSplit.EVALUATION_SPLIT_TEMPORAL,
    "cold-users": EvaluationSplit.EVALUATION_SPLIT_COLD_USERS,
    "cold-items": EvaluationSplit.EVALUATION_SPLIT_COLD_ITEMS,
}


def create_experiment_request(
    name: str,
    variants: Iterable[VariantLike],
    *,
    catalog: str,
    description: str,
    attribution_window: timedelta | None,
) -> CreateExperimentRequest:
    experiment = Experiment(
        name=name,
        catalog=catalog,
        description=description,
        variants=[to_variant(v) for v in variants],
    )
    if attribution_window is not None:
        experiment.attribution_window.FromTimedelta(attribution_window)
    return CreateExperimentRequest(experiment=experiment)


def start_experiment_request(name: str) -> StartExperimentRequest:
    return StartExperimentRequest(name=name)


def stop_experiment_request(name: str) -> StopExperimentRequest:
    return StopExperimentRequest(name=name)


def list_experiments_request() -> ListExperimentsRequest:
    return ListExperimentsRequest()


def experiment_report_request(name: str) -> GetExperimentReportRequest:
    return GetExperimentReportRequest(name=name)
