"""Turns the SDK's friendly inputs (dicts, datetimes) into ``infogap.v1`` messages.

Every client method that takes an entity accepts either the protobuf message or a dict with
the message's field names; ``None`` values in a dict mean "unset".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.v1.admin_service_pb2 import ExperimentVariant
from infogap.v1.entities_pb2 import Event, Item, User
from infogap.v1.profile_service_pb2 import UserPatch

EventLike: TypeAlias = Event | Mapping[str, Any]
"""An :class:`infogap.v1.entities_pb2.Event`, or a dict with its field names. ``time`` may be a
datetime (naive means UTC) or a Timestamp; a missing ``event_id`` is generated."""

UserLike: TypeAlias = User | Mapping[str, Any]
"""An :class:`infogap.v1.entities_pb2.User`, or a dict with its field names."""

ItemLike: TypeAlias = Item | Mapping[str, Any]
"""An :class:`infogap.v1.entities_pb2.Item`, or a dict with its field names."""

UserPatchLike: TypeAlias = UserPatch | Mapping[str, Any]
"""An :class:`infogap.v1.profile_service_pb2.UserPatch`, or a dict with its field names:
``user_id``, ``set_attributes`` (a dict) and ``unset_attributes`` (a list of names)."""

VariantLike: TypeAlias = ExperimentVariant | Mapping[str, Any]
"""An :class:`infogap.v1.admin_service_pb2.ExperimentVariant`, or a dict with its field names:
``name``, ``share``, and optionally ``strategies`` (a list), ``blend``, ``model_version`` and
``excluded_rerankers`` (a list)."""

_M = TypeVar("_M", bound=Message)


def new_event_id() -> str:
    """A fresh, random event id."""
    return uuid.uuid4().hex


def to_timestamp(value: datetime | Timestamp) -> Timestamp:
    """A Timestamp for a datetime (naive datetimes are taken as UTC) or a Timestamp."""
    if isinstance(value, Timestamp):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        timestamp = Timestamp()
        timestamp.FromDatetime(value)
        return timestamp
    raise TypeError(f"expected a datetime or a Timestamp, got {type(value).__name__}")


def string_list(values: Iterable[str], name: str) -> list[str]:
    """The strings of a repeated field; rejects a lone string, which would become its letters."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a list of strings, not a single string: {values!r}")
    return list(values)


def to_event(value: EventLike) -> Event:
    """An Event for a message or dict, with an event id generated when it has none.

    The id is generated here, once, so that every (re)try of the call sends the same id and the
    server can recognise repeats. The caller's own message or dict is never modified.
    """
    if isinstance(value, Event):
        event = value
        if not event.event_id:
            event = Event()
            event.CopyFrom(value)
    else:
        fields = _fields_of(value, Event)
        if "time" in fields:
            fields["time"] = to_timestamp(fields["time"])
        event = _build(Event, fields)
    if not event.event_id:
        event.event_id = new_event_id()
    return event


def to_user(value: UserLike) -> User:
    """A User for a message or dict."""
    if isinstance(value, User):
        return value
    return _build(User, _fields_of(value, User))


def to_item(value: ItemLike) -> Item:
    """An Item for a message or dict; ``active`` may be omitted (meaning active)."""
    if isinstance(value, Item):
        return value
    fields = _fields_of(value, Item)
    if "tags" in fields:
        fields["tags"] = string_list(fields["tags"], "tags")
    return _build(Item, fields)


def to_user_patch(value: UserPatchLike) -> UserPatch:
    """A UserPatch for a message or dict."""
    if isinstance(value, UserPatch):
        return value
    fields = _fields_of(value, UserPatch)
    if "unset_attributes" in fields:
        fields["unset_attributes"] = string_list(fields["unset_attributes"], "unset_attributes")
    return _build(UserPatch, fields)


def to_variant(value: VariantLike) -> ExperimentVariant:
    """An ExperimentVariant for a message or dict."""
    if isinstance(value, ExperimentVariant):
        return value
    fields = _fields_of(value, ExperimentVariant)
    for name in ("strategies", "excluded_rerankers"):
        if name in fields:
            fields[name] = string_list(fields[name], name)
    return _build(ExperimentVariant, fields)


def _fields_of(value: object, message_class: type[Message]) -> dict[str, Any]:
    """The set fields of a dict standing for a message of message_class."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"expected a dict or an infogap.v1.{message_class.__name__} message, "
            f"got {type(value).__name__}"
        )
    return {name: field for name, field in value.items() if field is not None}


def _build(message_class: type[_M], fields: dict[str, Any]) -> _M:
    """message_class(**fields), with errors that say which input was wrong.

    protobuf's own messages can be as terse as "bad argument type for built-in operation".
    """
    try:
        return message_class(**fields)
    except (TypeError, ValueError) as error:
        raise type(error)(f"invalid {message_class.__name__} {fields!r}: {error}") from error
