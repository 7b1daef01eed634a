"""The asyncio client, on grpc.aio. Same methods as the blocking client, as coroutines."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
import grpc.aio

from infogap.v1.admin_service_pb2 import (
    DeleteUserResponse,
    EvaluateModelsResponse,
    Experiment,
    GetExperimentReportResponse,
    GetModelInfoResponse,
    GetPrivacyBudgetResponse,
    ListPluginsResponse,
    TrainResponse,
)
from infogap.v1.admin_service_pb2_grpc import AdminServiceStub
from infogap.v1.feedback_service_pb2 import (
    RecordEventsResponse,
    StreamEventsRequest,
    StreamEventsResponse,
)
from infogap.v1.feedback_service_pb2_grpc import FeedbackServiceStub
from infogap.v1.profile_service_pb2 import (
    GetProfilesResponse,
    GetSegmentMembersRequest,
    GetSegmentMembersResponse,
    PatchUsersResponse,
    Profile,
    Segment,
    UpsertItemsResponse,
    UpsertUsersResponse,
)
from infogap.v1.profile_service_pb2_grpc import ProfileServiceStub
from infogap.v1.recommend_service_pb2 import (
    RankItemsResponse,
    RecommendResponse,
    SimilarItemsResponse,
)
from infogap.v1.recommend_service_pb2_grpc import RecommendServiceStub

from . import _requests as build
from ._channel import ClientSettings, PemSource
from ._convert import EventLike, ItemLike, UserLike, UserPatchLike, VariantLike
from ._defaults import BULK_TIMEOUT, DEFAULT_TARGET, EVALUATE_TIMEOUT, TRAIN_TIMEOUT
from ._errors import from_rpc_error
from ._health import HEALTH_CHECK_METHOD, HEALTH_CHECK_REQUEST, decode_health_status

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class _Connection:
    """The channel of an AsyncClient, and the stubs on it."""

    def __init__(self, settings: ClientSettings) -> None:
        if settings.credentials is None:
            self.channel = grpc.aio.insecure_channel(settings.target, options=settings.options)
        else:
            self.channel = grpc.aio.secure_channel(
                settings.target, settings.credentials, options=settings.options
            )
        self.feedback = FeedbackServiceStub(self.channel)
        self.profiles = ProfileServiceStub(self.channel)
        self.recommend = RecommendServiceStub(self.channel)
        self.admin = AdminServiceStub(self.channel)
        # No serializers: the health messages are encoded by hand (see _health).
        self.health_check: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = (
            self.channel.unary_unary(HEALTH_CHECK_METHOD)
        )


class AsyncClient:
    """An asyncio client of an InfoGap server, on ``grpc.aio``.

    Takes the same arguments and has the same methods as :class:`~infogap.client.Client`,
    as coroutines. ``await client.close()`` when done, or use ``async with``. The client may be
    created anywhere, but all its calls must run in one event loop, as grpc.aio requires.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 10.0,
        api_key: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        root_certificates: PemSource | None = None,
        client_certificate: PemSource | None = None,
        client_key: PemSource | None = None,
    ) -> None:
        self._settings = ClientSettings.create(
            target,
            timeout=timeout,
            api_key=api_key,
            metadata=metadata,
            credentials=credentials,
            options=options,
            root_certificates=root_certificates,
            client_certificate=client_certificate,
            client_key=client_key,
        )
        # grpc.aio binds a channel to the event loop running when it is created. Opening it on
        # first use, inside the caller's loop, lets the client be created outside of one (at
        # import time, in a framework's set-up code...).
        self._opened: _Connection | None = None
        self._closed = False

    @property
    def _connection(self) -> _Connection:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._opened is None:
            self._opened = _Connection(self._settings)
        return self._opened

    async def close(self) -> None:
        """Closes the channel; calls still running are cancelled."""
        self._closed = True
        if self._opened is not None:
            await self._opened.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings.target!r})"

    # --- FeedbackService ----------------------------------------------------------------------

    async def record(
        self, events: Iterable[EventLike], *, timeout: float | None = None
    ) -> RecordEventsResponse:
        """Records events, in batches of at most 1,000 per call; see :meth:`Client.record`."""
        requests = build.record_events_requests(events)
        responses = [
            await self._call(self._connection.feedback.RecordEvents, request, timeout)
            for request in requests
        ]
        return build.merge_record_events_responses(responses)

    async def stream_events(
        self,
        batches: Iterable[Iterable[EventLike]] | AsyncIterable[Iterable[EventLike]],
        *,
        timeout: float = BULK_TIMEOUT,
    ) -> StreamEventsResponse:
        """Bulk-loads events over one client stream; see :meth:`Client.stream_events`.

        ``batches`` may also be an async iterable, e.g. an async generator.
        """
        trap = build.RequestStreamErrorTrap()
        if isinstance(batches, AsyncIterable):
            requests: AsyncIterator[StreamEventsRequest] | Iterator[StreamEventsRequest]
            requests = trap.guard_async(build.stream_events_requests_async(batches))
        else:
            requests = trap.guard(build.stream_events_requests(batches))
        try:
            response = await self._connection.feedback.StreamEvents(
                requests,
                timeout=self._settings.deadline(timeout),
                metadata=self._settings.metadata,
            )
        except grpc.RpcError as error:
            trap.raise_error()
            raise from_rpc_error(error) from error
        trap.raise_error()
        return response

    # --- ProfileService -----------------------------------------------------------------------

    async def upsert_users(
        self, users: Iterable[UserLike], *, timeout: float | None = None
    ) -> UpsertUsersResponse:
        """Inserts or replaces users, 1,000 per call; see :meth:`Client.upsert_users`."""
        requests = build.upsert_users_requests(users)
        responses = [
            await self._call(self._connection.profiles.UpsertUsers, request, timeout)
            for request in requests
        ]
        return build.merge_upsert_users_responses(responses)

    async def upsert_items(
        self, items: Iterable[ItemLike], *, timeout: float | None = None
    ) -> UpsertItemsResponse:
        """Inserts or replaces items, 1,000 per call; see :meth:`Client.upsert_items`."""
        requests = build.upsert_items_requests(items)
        responses = [
            await self._call(self._connection.profiles.UpsertItems, request, timeout)
            for request in requests
        ]
        return build.merge_upsert_items_responses(responses)

    async def patch_users(
        self, patches: Iterable[UserPatchLike], *, timeout: float | None = None
    ) -> PatchUsersResponse:
        """Sets and unsets attributes of users, 1,000 per call; see :meth:`Client.patch_users`."""
        requests = build.patch_users_requests(patches)
        responses = [
            await self._call(self._connection.profiles.PatchUsers, request, timeout)
            for request in requests
        ]
        return build.merge_patch_users_responses(responses)

    async def profile(
        self, user_id: str, *, as_of: datetime | None = None, timeout: float | None = None
    ) -> Profile:
        """The profile of a user; see :meth:`Client.profile`."""
        request = build.get_profile_request(user_id, as_of=as_of)
        return (await self._call(self._connection.profiles.GetProfile, request, timeout)).profile

    async def profiles(
        self,
        user_ids: Iterable[str],
        *,
        as_of: datetime | None = None,
        timeout: float | None = None,
    ) -> GetProfilesResponse:
        """The profiles of several users, 500 per call; see :meth:`Client.profiles`."""
        requests = build.get_profiles_requests(user_ids, as_of=as_of)
        responses = [
            await self._call(self._connection.profiles.GetProfiles, request, timeout)
            for request in requests
        ]
        return build.merge_get_profiles_responses(responses)

    async def define_segment(
        self, name: str, rule: str, *, description: str = "", timeout: float | None = None
    ) -> Segment:
        """Defines, or redefines, a rule segment; see :meth:`Client.define_segment`."""
        request = build.define_segment_request(name, rule, description=description)
        return (await self._call(self._connection.profiles.DefineSegment, request, timeout)).segment

    async def delete_segment(self, name: str, *, timeout: float | None = None) -> None:
        """Removes a rule segment; see :meth:`Client.delete_segment`."""
        request = build.delete_segment_request(name)
        await self._call(self._connection.profiles.DeleteSegment, request, timeout)

    async def list_segments(self, *, timeout: float | None = None) -> list[Segment]:
        """Every segment with its current size; see :meth:`Client.list_segments`."""
        request = build.list_segments_request()
        response = await self._call(self._connection.profiles.ListSegments, request, timeout)
        return list(response.segments)

    async def segment_members(
        self,
        name: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> GetSegmentMembersResponse:
        """One page of a segment's members; see :meth:`Client.segment_members`."""
        request = build.segment_members_request(name, page_size=page_size, page_token=page_token)
        return await self._call(self._connection.profiles.GetSegmentMembers, request, timeout)

    async def iter_segment_members(
        self, name: str, *, page_size: int = 1000, timeout: float | None = None
    ) -> AsyncIterator[str]:
        """Every member of a segment, fetched a page at a time as iterated (``async for``).

        See :meth:`Client.iter_segment_members`.
        """
        request: GetSegmentMembersRequest | None = build.segment_members_request(
            name, page_size=page_size, page_token=""
        )
        while request is not None:
            response = await self._call(
                self._connection.profiles.GetSegmentMembers, request, timeout
            )
            for user_id in response.user_ids:
                yield user_id
            request = build.next_segment_members_request(request, response)

    # --- RecommendService ---------------------------------------------------------------------

    async def recommend(
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
        """The top items of a catalog for a user; see :meth:`Client.recommend`."""
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
        return await self._call(self._connection.recommend.Recommend, request, timeout)

    async def similar_items(
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
        """The items most like an item; see :meth:`Client.similar_items`."""
        request = build.similar_items_request(
            item_id,
            catalog=catalog,
            count=count,
            include_tags=include_tags,
            exclude_tags=exclude_tags,
            exclude_item_ids=exclude_item_ids,
        )
        return await self._call(self._connection.recommend.SimilarItems, request, timeout)

    async def rank_items(
        self,
        user_id: str,
        item_ids: Iterable[str],
        *,
        catalog: str = "",
        timeout: float | None = None,
    ) -> RankItemsResponse:
        """The caller's candidates, reordered for a user; see :meth:`Client.rank_items`."""
        request = build.rank_items_request(user_id, item_ids, catalog=catalog)
        return await self._call(self._connection.recommend.RankItems, request, timeout)

    # --- AdminService -------------------------------------------------------------------------

    async def train(self, catalog: str = "", *, timeout: float = TRAIN_TIMEOUT) -> TrainResponse:
        """Trains a catalog's models and starts serving them; see :meth:`Client.train`."""
        return await self._call(self._connection.admin.Train, build.train_request(catalog), timeout)

    async def model_info(
        self, catalog: str = "", *, timeout: float | None = None
    ) -> GetModelInfoResponse:
        """The models serving a catalog; see :meth:`Client.model_info`."""
        request = build.model_info_request(catalog)
        return await self._call(self._connection.admin.GetModelInfo, request, timeout)

    async def delete_user(
        self, user_id: str, *, timeout: float | None = None
    ) -> DeleteUserResponse:
        """Forgets a user everywhere; see :meth:`Client.delete_user`."""
        request = build.delete_user_request(user_id)
        return await self._call(self._connection.admin.DeleteUser, request, timeout)

    async def privacy_budget(
        self, catalog: str = "", *, timeout: float | None = None
    ) -> GetPrivacyBudgetResponse:
        """A catalog's privacy budget; see :meth:`Client.privacy_budget`."""
        request = build.privacy_budget_request(catalog)
        return await self._call(self._connection.admin.GetPrivacyBudget, request, timeout)

    async def list_plugins(self, *, timeout: float | None = None) -> ListPluginsResponse:
        """Every plugin the server found, enabled or not."""
        return await self._call(
            self._connection.admin.ListPlugins, build.list_plugins_request(), timeout
        )

    async def evaluate_models(
        self,
        catalog: str = "",
        *,
        split: str = "random",
        k: int = 10,
        candidates: Iterable[str] = (),
        max_users: int = 0,
        seed: int | None = None,
        include_privacy: bool = False,
        timeout: float = EVALUATE_TIMEOUT,
    ) -> EvaluateModelsResponse:
        """Evaluates candidates offline on stored history; see :meth:`Client.evaluate_models`."""
        request = build.evaluate_models_request(
            catalog,
            split=split,
            k=k,
            candidates=candidates,
            max_users=max_users,
            seed=seed,
            include_privacy=include_privacy,
        )
        return await self._call(self._connection.admin.EvaluateModels, request, timeout)

    async def create_experiment(
        self,
        name: str,
        variants: Iterable[VariantLike],
        *,
        catalog: str = "",
        description: str = "",
        attribution_window: timedelta | None = None,
        timeout: float | None = None,
    ) -> Experiment:
        """Defines an experiment as a draft; see :meth:`Client.create_experiment`."""
        request = build.create_experiment_request(
            name,
            variants,
            catalog=catalog,
            description=description,
            attribution_window=attribution_window,
        )
        response = await self._call(self._connection.admin.CreateExperiment, request, timeout)
        return response.experiment

    async def start_experiment(self, name: str, *, timeout: float | None = None) -> Experiment:
        """Starts a draft experiment; see :meth:`Client.start_experiment`."""
        request = build.start_experiment_request(name)
        response = await self._call(self._connection.admin.StartExperiment, request, timeout)
        return response.experiment

    async def stop_experiment(self, name: str, *, timeout: float | None = None) -> Experiment:
        """Stops a running experiment; see :meth:`Client.stop_experiment`."""
        request = build.stop_experiment_request(name)
        response = await self._call(self._connection.admin.StopExperiment, request, timeout)
        return response.experiment

    async def list_experiments(self, *, timeout: float | None = None) -> list[Experiment]:
        """Every experiment, newest first."""
        request = build.list_experiments_request()
        response = await self._call(self._connection.admin.ListExperiments, request, timeout)
        return list(response.experiments)

    async def experiment_report(
        self, name: str, *, timeout: float | None = None
    ) -> GetExperimentReportResponse:
        """An experiment's report; see :meth:`Client.experiment_report`."""
        request = build.experiment_report_request(name)
        return await self._call(self._connection.admin.GetExperimentReport, request, timeout)

    async def health(self, *, timeout: float | None = None) -> str:
        """The server's health check status; see :meth:`Client.health`."""
        response = await self._call(self._connection.health_check, HEALTH_CHECK_REQUEST, timeout)
        return decode_health_status(response)

    # --- plumbing -----------------------------------------------------------------------------

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        """One unary call with the client's deadline and metadata, and SDK errors."""
        try:
            return await method(
                request,
                timeout=self._settings.deadline(timeout),
                metadata=self._settings.metadata,
            )
        except grpc.RpcError as error:  # grpc.aio.AioRpcError is one
            raise from_rpc_error(error) from error
