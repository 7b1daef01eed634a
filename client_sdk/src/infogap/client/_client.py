"""The blocking client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

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
from infogap.v1.feedback_service_pb2 import RecordEventsResponse, StreamEventsResponse
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
from ._errors import from_rpc_error
from ._health import HEALTH_CHECK_METHOD, HEALTH_CHECK_REQUEST, decode_health_status

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

DEFAULT_TARGET = "localhost:50051"
TRAIN_TIMEOUT = 600.0
EVALUATE_TIMEOUT = 3600.0  # several candidates are trained and queried in turn
# A bulk load streams many batches over one call, so it gets a long deadline too.
BULK_TIMEOUT = 600.0
"""Training reads every event of a catalog, so it gets a deadline of its own by default."""


class Client:
    """A blocking client of an InfoGap server.

    A client owns one gRPC channel, which is thread-safe: create one client and share it. Close
    it when done, or use it as a context manager. Every method raises an
    :class:`~infogap.client.InfoGapError` subclass when the call fails; idempotent calls are
    first retried automatically while the server is UNAVAILABLE.

    Args:
        target: The server's address, ``host:port``.
        timeout: The default deadline of each call, in seconds. Every method also takes a
            ``timeout=`` of its own.
        api_key: Sent with every call as ``authorization: Bearer <api_key>``.
        metadata: Further ``(key, value)`` pairs sent with every call (keys in lowercase).
        credentials: TLS credentials, e.g. ``grpc.ssl_channel_credentials()``; without them (and
            without the certificates below) the channel is plaintext.
        options: gRPC channel options; they take precedence over the client's own (retry
            policy included).
        root_certificates: A CA to verify the server's TLS certificate with, as PEM bytes or a
            file path. Giving this or the client certificate turns TLS on (a shorthand for
            ``credentials``; the system's CAs are used when only the client certificate is given).
        client_certificate: A client certificate (PEM bytes or path), for mutual TLS.
        client_key: The private key of ``client_certificate`` (PEM bytes or path).
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
        if self._settings.credentials is None:
            self._channel = grpc.insecure_channel(target, options=self._settings.options)
        else:
            self._channel = grpc.secure_channel(
                target, self._settings.credentials, options=self._settings.options
            )
        self._feedback = FeedbackServiceStub(self._channel)
        self._profiles = ProfileServiceStub(self._channel)
        self._recommend = RecommendServiceStub(self._channel)
        self._admin = AdminServiceStub(self._channel)
        # No serializers: the health messages are encoded by hand (see _health).
        self._health_check: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            HEALTH_CHECK_METHOD
        )

    def close(self) -> None:
        """Closes the channel; calls still running are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings.target!r})"

    # --- FeedbackService ----------------------------------------------------------------------

    def record(
        self, events: Iterable[EventLike], *, timeout: float | None = None
    ) -> RecordEventsResponse:
        """Records events, in batches of at most 1,000 per call.

        Events are :class:`~infogap.v1.entities_pb2.Event` messages or dicts with the same
        field names (``time`` may be a datetime, naive meaning UTC). Events without an
        ``event_id`` get a random one, which makes the automatic retries safe. All events are
        converted before the first batch is sent; if a later batch fails, the earlier ones stay
        stored.

        Args:
            events: The events to record.
            timeout: Deadline of each batch's call, in seconds.

        Returns:
            The stored and duplicate counts, summed over the batches.
        """
        requests = build.record_events_requests(events)
        return build.merge_record_events_responses(
            self._call(self._feedback.RecordEvents, request, timeout) for request in requests
        )

    def stream_events(
        self, batches: Iterable[Iterable[EventLike]], *, timeout: float = BULK_TIMEOUT
    ) -> StreamEventsResponse:
        """Bulk-loads events over one client stream, a batch per message.

        Batches are converted lazily, as the stream goes, so they may come from a generator
        reading a large file. Batches over 1,000 events are split; empty ones are skipped. If
        the server rejects a batch, or a batch cannot be converted, the batches sent before it
        stay stored. The call is not retried automatically.

        Args:
            batches: Iterables of events (messages or dicts, as for :meth:`record`).
            timeout: Deadline of the whole stream, in seconds (bulk loads take a while).

        Returns:
            The stored, duplicate and batch counts of the whole stream.
        """
        trap = build.RequestStreamErrorTrap()
        requests = trap.guard(build.stream_events_requests(batches))
        try:
            response = self._feedback.StreamEvents(
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

    def upsert_users(
        self, users: Iterable[UserLike], *, timeout: float | None = None
    ) -> UpsertUsersResponse:
        """Inserts or replaces users, in batches of at most 1,000 per call.

        Args:
            users: :class:`~infogap.v1.entities_pb2.User` messages or dicts such as
                ``{"user_id": "u1", "attributes": {"plan": "gold"}}``.
            timeout: Deadline of each batch's call, in seconds.

        Returns:
            The upserted count, summed over the batches.
        """
        requests = build.upsert_users_requests(users)
        return build.merge_upsert_users_responses(
            self._call(self._profiles.UpsertUsers, request, timeout) for request in requests
        )

    def upsert_items(
        self, items: Iterable[ItemLike], *, timeout: float | None = None
    ) -> UpsertItemsResponse:
        """Inserts or replaces items, in batches of at most 1,000 per call.

        Args:
            items: :class:`~infogap.v1.entities_pb2.Item` messages or dicts such as
                ``{"item_id": "sku-1", "catalog": "products", "tags": ["shoes"]}``;
                ``active`` may be left out (meaning active).
            timeout: Deadline of each batch's call, in seconds.

        Returns:
            The upserted count, summed over the batches.
        """
        requests = build.upsert_items_requests(items)
        return build.merge_upsert_items_responses(
            self._call(self._profiles.UpsertItems, request, timeout) for request in requests
        )

    def patch_users(
        self, patches: Iterable[UserPatchLike], *, timeout: float | None = None
    ) -> PatchUsersResponse:
        """Sets and unsets some attributes of users, in batches of at most 1,000 per call.

        Attributes not named are left as they are; users not yet known are created. All
        patches are converted before the first batch is sent; if a later batch fails, the
        earlier ones stay applied. Not retried automatically.

        Args:
            patches: :class:`~infogap.v1.profile_service_pb2.UserPatch` messages or dicts such
                as ``{"user_id": "u1", "set_attributes": {"plan": "gold"},
                "unset_attributes": ["trial"]}``; within one batch the user ids must be
                distinct, and a name may not be both set and unset.
            timeout: Deadline of each batch's call, in seconds.

        Returns:
            The patched count, summed over the batches.
        """
        requests = build.patch_users_requests(patches)
        return build.merge_patch_users_responses(
            self._call(self._profiles.PatchUsers, request, timeout) for request in requests
        )

    def profile(
        self, user_id: str, *, as_of: datetime | None = None, timeout: float | None = None
    ) -> Profile:
        """The profile of a user: attributes, behaviour, interests and segments.

        Args:
            user_id: The user's id.
            as_of: The moment recency and the 7/30/90-day windows are measured from and
                interests decayed to (naive means UTC); None for the server's "now".
            timeout: Deadline of the call, in seconds.

        Raises:
            NotFoundError: The user was never upserted and has no events.
        """
        request = build.get_profile_request(user_id, as_of=as_of)
        return self._call(self._profiles.GetProfile, request, timeout).profile

    def profiles(
        self,
        user_ids: Iterable[str],
        *,
        as_of: datetime | None = None,
        timeout: float | None = None,
    ) -> GetProfilesResponse:
        """The profiles of several users, in requests of at most 500 ids.

        Args:
            user_ids: The users' ids, distinct (a repeated id raises ValueError).
            as_of: As for :meth:`profile`. Without it, each request of 500 is measured from the
                server's "now" at its own call; pass it for one moment across all of them.
            timeout: Deadline of each request's call, in seconds.

        Returns:
            The profiles found, in the order asked, and the ids without a profile (no
            attributes and no events) in ``missing_user_ids``, in the order asked.
        """
        requests = build.get_profiles_requests(user_ids, as_of=as_of)
        return build.merge_get_profiles_responses(
            self._call(self._profiles.GetProfiles, request, timeout) for request in requests
        )

    def define_segment(
        self, name: str, rule: str, *, description: str = "", timeout: float | None = None
    ) -> Segment:
        """Defines, or redefines, a rule segment.

        Not retried automatically.

        Args:
            name: Letters, digits, ``_``, ``-`` and ``.``; up to 64 characters.
            rule: E.g. ``rfm.recency_days <= 30 AND interest.tag:Comedy >= 0.3`` (see the
                ``DefineSegmentRequest.rule`` field of the proto for the grammar).
            description: What the segment is for, shown by :meth:`list_segments`.
            timeout: Deadline of the call, in seconds.

        Returns:
            The segment as defined, with its current size.

        Raises:
            InvalidArgumentError: The name or rule is invalid; the message names the position
                and the reason.
        """
        request = build.define_segment_request(name, rule, description=description)
        return self._call(self._profiles.DefineSegment, request, timeout).segment

    def delete_segment(self, name: str, *, timeout: float | None = None) -> None:
        """Removes a rule segment. Not retried automatically.

        Raises:
            NotFoundError: There is no rule segment of that name.
        """
        self._call(self._profiles.DeleteSegment, build.delete_segment_request(name), timeout)

    def list_segments(self, *, timeout: float | None = None) -> list[Segment]:
        """Every segment with its current size: rule segments by name, then clusters by name."""
        request = build.list_segments_request()
        return list(self._call(self._profiles.ListSegments, request, timeout).segments)

    def segment_members(
        self,
        name: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> GetSegmentMembersResponse:
        """One page of a segment's members, in user id order.

        Args:
            name: The segment's name.
            page_size: Members per page, 1 to 1,000; 0 means 100.
            page_token: A previous page's ``next_page_token``; empty for the first page.
            timeout: Deadline of the call, in seconds.

        Returns:
            The page's ``user_ids`` and the ``next_page_token`` (empty on the last page).

        Raises:
            NotFoundError: There is no segment of that name.
        """
        request = build.segment_members_request(name, page_size=page_size, page_token=page_token)
        return self._call(self._profiles.GetSegmentMembers, request, timeout)

    def iter_segment_members(
        self, name: str, *, page_size: int = 1000, timeout: float | None = None
    ) -> Iterator[str]:
        """Every member of a segment, in user id order, fetched a page at a time as iterated.

        Args:
            name: The segment's name.
            page_size: Members per call, 1 to 1,000.
            timeout: Deadline of each page's call, in seconds.

        Raises:
            NotFoundError: There is no segment of that name (raised by the first ``next``).
        """
        request: GetSegmentMembersRequest | None = build.segment_members_request(
            name, page_size=page_size, page_token=""
        )
        while request is not None:
            response = self._call(self._profiles.GetSegmentMembers, request, timeout)
            yield from response.user_ids
            request = build.next_segment_members_request(request, response)

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

    # --- AdminService -------------------------------------------------------------------------

    def train(self, catalog: str = "", *, timeout: float = TRAIN_TIMEOUT) -> TrainResponse:
        """Trains a catalog's models on its stored events and starts serving them.

        Returns once the new models serve. Not retried automatically.

        Raises:
            FailedPreconditionError: The catalog has no events yet.
        """
        return self._call(self._admin.Train, build.train_request(catalog), timeout)

    def model_info(
        self, catalog: str = "", *, timeout: float | None = None
    ) -> GetModelInfoResponse:
        """The models serving a catalog, in serving order.

        Raises:
            NotFoundError: The catalog was never trained.
        """
        return self._call(self._admin.GetModelInfo, build.model_info_request(catalog), timeout)

    def delete_user(self, user_id: str, *, timeout: float | None = None) -> DeleteUserResponse:
        """Forgets a user everywhere (right to be forgotten); returns the receipt.

        Not retried automatically: a repeat after success answers NOT_FOUND.

        Raises:
            NotFoundError: The user is unknown.
        """
        return self._call(self._admin.DeleteUser, build.delete_user_request(user_id), timeout)

    def privacy_budget(
        self, catalog: str = "", *, timeout: float | None = None
    ) -> GetPrivacyBudgetResponse:
        """The differential-privacy budget of a catalog in the current window.

        Raises:
            FailedPreconditionError: The privacy plugin is off.
        """
        request = build.privacy_budget_request(catalog)
        return self._call(self._admin.GetPrivacyBudget, request, timeout)

    def list_plugins(self, *, timeout: float | None = None) -> ListPluginsResponse:
        """Every plugin the server found, enabled or not."""
        return self._call(self._admin.ListPlugins, build.list_plugins_request(), timeout)

    def evaluate_models(
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
        """Evaluates candidates offline on the catalog's stored history (as ``infogap eval``).

        Args:
            split: ``"random"``, ``"temporal"``, ``"cold-users"`` or ``"cold-items"``.
            candidates: Candidate keys (e.g. ``"popularity"``, ``"lightfm"``); empty: all.
            max_users: Test users evaluated at most; 0 means the server's default (1,000).
            include_privacy: Also measure differentially private popularity per epsilon.

        ``report_html`` of the response is a self-contained page: write it to a file and open
        it. Not retried automatically.

        Raises:
            FailedPreconditionError: The catalog has too little history to split.
        """
        request = build.evaluate_models_request(
            catalog,
            split=split,
            k=k,
            candidates=candidates,
            max_users=max_users,
            seed=seed,
            include_privacy=include_privacy,
        )
        return self._call(self._admin.EvaluateModels, request, timeout)

    def create_experiment(
        self,
        name: str,
        variants: Iterable[VariantLike],
        *,
        catalog: str = "",
        description: str = "",
        attribution_window: timedelta | None = None,
        timeout: float | None = None,
    ) -> Experiment:
        """Defines an experiment as a draft; the first variant is the control.

        Example::

            client.create_experiment("home-v2", [
                {"name": "control", "share": 0.5},
                {"name": "popular", "share": 0.5, "strategies": ["popularity"]},
            ])

        Raises:
            AlreadyExistsError: The name is taken.
            InvalidArgumentError: A bad share, strategy or model version (the field is named).
        """
        request = build.create_experiment_request(
            name,
            variants,
            catalog=catalog,
            description=description,
            attribution_window=attribution_window,
        )
        return self._call(self._admin.CreateExperiment, request, timeout).experiment

    def start_experiment(self, name: str, *, timeout: float | None = None) -> Experiment:
        """Starts a draft experiment: its catalog's traffic is split between its variants.

        Raises:
            FailedPreconditionError: It is not a draft, or another one runs on its catalog.
        """
        request = build.start_experiment_request(name)
        return self._call(self._admin.StartExperiment, request, timeout).experiment

    def stop_experiment(self, name: str, *, timeout: float | None = None) -> Experiment:
        """Stops a running experiment; its report stays available.

        Raises:
            FailedPreconditionError: It is not running.
        """
        request = build.stop_experiment_request(name)
        return self._call(self._admin.StopExperiment, request, timeout).experiment

    def list_experiments(self, *, timeout: float | None = None) -> list[Experiment]:
        """Every experiment, newest first."""
        request = build.list_experiments_request()
        return list(self._call(self._admin.ListExperiments, request, timeout).experiments)

    def experiment_report(
        self, name: str, *, timeout: float | None = None
    ) -> GetExperimentReportResponse:
        """Per-variant users, impressions, CTR, conversion and revenue with confidence
        intervals, lift against the control, significance, and the winner.

        Raises:
            NotFoundError: No experiment has that name.
        """
        request = build.experiment_report_request(name)
        return self._call(self._admin.GetExperimentReport, request, timeout)

    def health(self, *, timeout: float | None = None) -> str:
        """The server's status from the standard gRPC health check.

        Returns:
            ``"SERVING"``, ``"NOT_SERVING"``, ``"UNKNOWN"`` or ``"SERVICE_UNKNOWN"``.

        Raises:
            UnavailableError: The server cannot be reached.
        """
        response = self._call(self._health_check, HEALTH_CHECK_REQUEST, timeout)
        return decode_health_status(response)

    # --- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        """One unary call with the client's deadline and metadata, and SDK errors."""
        try:
            return method(
                request,
                timeout=self._settings.deadline(timeout),
                metadata=self._settings.metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
