"""The hand-written Python client of the InfoGap personalization server::

    from infogap.client import Client

    with Client("localhost:50051") as client:
        client.record([{"user_id": "u1", "item_id": "sku-1", "type": "view"}])
        response = client.recommend("u1", count=5)

:class:`Client` blocks, :class:`AsyncClient` is its asyncio twin. Both return the generated
``infogap.v1`` response messages and raise :class:`InfoGapError` subclasses, never grpc errors.
"""

from ._async_client import AsyncClient
from ._client import Client
from ._convert import EventLike, ItemLike, UserLike, UserPatchLike, VariantLike
from ._errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    InfoGapError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)

__all__ = [
    "AlreadyExistsError",
    "AsyncClient",
    "Client",
    "DeadlineExceededError",
    "EventLike",
    "FailedPreconditionError",
    "InfoGapError",
    "InvalidArgumentError",
    "ItemLike",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UserLike",
    "UserPatchLike",
    "VariantLike",
]
