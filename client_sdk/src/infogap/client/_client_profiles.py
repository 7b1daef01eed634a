"""The blocking client's ProfileService methods."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

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

from . import _requests as build
from ._client_base import ClientBase
from ._convert import ItemLike, UserLike, UserPatchLike


class ProfileMethods(ClientBase):
    """Users, items, profiles and segments."""

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
