"""Segment-spec messages (identify, track, page, screen, group, alias) as InfoGap user patches
and events: pure translation, no I/O.

The choices, each the sender's usual meaning:

- the user is the first non-empty of ``segment.user_id_fields`` (``userId``, else
  ``anonymousId``); anonymous ids are not merged into user ids later (no alias support);
- ``messageId`` is the event id, so a redelivered message is a duplicate; a message that
  becomes several events (an order's products) gives them the ids ``{messageId}:{index}``;
- ``timestamp`` (ISO 8601; naive means UTC) is the event time, else ``receivedAt``, else the
  moment the server received it;
- a value is ``value * quantity`` (quantity 1 when absent), e.g. price times quantity;
- identify traits become attributes: nested objects flattened (``address.city``), lists as
  JSON, ``null`` removes the attribute, and several identifies of one user in a batch merge.

Every refusal is an ``InvalidArgument`` naming the message's field as the sender wrote it,
``batch[3].messageId``, before anything is stored.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from infogap.server.config import LimitSettings, SegmentSettings
from infogap.server.config.segment import SegmentEventMapping
from infogap.server.core import validation
from infogap.server.core.domain import EventBatch, UserPatch
from infogap.server.core.errors import InvalidArgument, StartupError

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
UNMAPPED_CALL_TYPES = ("group", "alias")  # nothing of a recommender's in them
_MISSING = object()
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Translation:
    """What a request's messages become: ``patches`` (one per identified user) and ``events``,
    plus the track names no mapping knows (``unknown``, with counts) and messages left out on
    purpose (``ignored``: group and alias calls, pages showing no product)."""

    patches: list[UserPatch]
    events: EventBatch
    unknown: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)


def _empty_batch() -> EventBatch:
    return EventBatch([], [], [], [], [], [], [], [], [])


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@lru_cache(maxsize=256)
def _keys(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _lookup(container: object, path: str) -> object:
    """The value at the dotted ``path`` of nested objects; ``_MISSING`` when absent or null."""
    value = container
    for key in _keys(path):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return _MISSING if value is None else value


class SegmentTranslator:
    """Turns Segment messages into patches and events by the ``[segment]`` mapping."""

    def __init__(
        self, settings: SegmentSettings, limits: LimitSettings, event_types: Collection[str]
    ) -> None:
        """:raises StartupError: when a mapping names an event type that is not configured,
        or a catalog that is not a catalog name."""
        self._settings = settings
        self._limits = limits
        mappings = dict(settings.events)
        if settings.page is not None:
            mappings["page and screen calls"] = settings.page
        for name, mapping in mappings.items():
            if mapping.type not in event_types:
                raise StartupError(
                    f"segment mapping {name!r} names event type {mapping.type!r}, which is not "
                    f"one of event_types ({', '.join(event_types)})"
                )
            try:
                validation.catalog_name(mapping.catalog or settings.catalog)
            except InvalidArgument as error:
                raise StartupError(f"segment mapping {name!r}: {error.message}") from None

    def translate(
        self,
        messages: Sequence[object],
        *,
        batch_field: str | None,
        call_type: str | None,
        now: datetime,
        user_id_of: Callable[[str], str] = lambda user_id: user_id,
    ) -> Translation:
        """The translation of ``messages``: the elements of the request's ``batch_field`` list
        (each with its own ``type``), or, with ``batch_field`` None, the one message of a
        ``call_type`` endpoint. ``now`` (naive UTC) bounds event times by the allowed clock
        skew; ``user_id_of`` maps each checked user id (pseudonyms).

        :raises InvalidArgument: naming the first bad field.
        """
        if batch_field is not None:
            validation.batch_size(len(messages), batch_field, self._limits)
        translation = Translation([], _empty_batch())
        patches: dict[str, tuple[dict[str, str], set[str]]] = {}
        latest = now + timedelta(seconds=self._limits.max_clock_skew_seconds)
        for index, message in enumerate(messages):
            prefix = f"{batch_field}[{index}]" if batch_field is not None else ""
            if not isinstance(message, dict):  # JSON objects are decoded as dicts
                raise InvalidArgument(prefix or "body", "must be a JSON object")
            kind = call_type or self._call_type(message, prefix)
            if kind in UNMAPPED_CALL_TYPES:
                translation.ignored[kind] += 1
                continue
            message_id = self._string(message, "messageId", prefix)
            user_id = user_id_of(self._user_id(message, prefix))
            if kind == "identify":
                self._merge_traits(message, prefix, patches.setdefault(user_id, ({}, set())))
                continue
            if kind == "track":
                name = self._string(message, "event", prefix)
                mapping = self._settings.events.get(name)
                if mapping is None:
                    translation.unknown[name] += 1
                    continue
            else:  # page, screen
                name, mapping = kind, self._settings.page
                if mapping is None:
                    translation.ignored[kind] += 1
                    continue
            time_us = self._time_us(message, prefix, latest)
            added = self._add_events(
                translation.events, message, prefix, mapping, message_id, user_id, time_us
            )
            if not added:
                translation.ignored[name] += 1
        translation.patches.extend(
            UserPatch(user_id, set_attributes, tuple(sorted(unset)))
            for user_id, (set_attributes, unset) in patches.items()
        )
        return translation

    # -- the fields of a message -------------------------------------------------------------

    def _call_type(self, message: Mapping[str, Any], prefix: str) -> str:
        kind = message.get("type")
        if kind not in CALL_TYPES:
            raise InvalidArgument(_join(prefix, "type"), f"must be one of {', '.join(CALL_TYPES)}")
        return str(kind)

    def _string(self, message: Mapping[str, Any], name: str, prefix: str) -> str:
        value = message.get(name)
        if value is None or value == "":
            raise InvalidArgument(_join(prefix, name), "is required")
        if not isinstance(value, str):
            raise InvalidArgument(_join(prefix, name), "must be a string")
        return self._checked_id(value, prefix, name)

    def _checked_id(self, value: str, prefix: str, name: str) -> str:
        """``value`` if it is an acceptable id; the field's path is built only to refuse."""
        if value and len(value) <= self._limits.max_id_length and value.isprintable():
            return value
        return validation.identifier(value, _join(prefix, name), self._limits)

    def _user_id(self, message: Mapping[str, Any], prefix: str) -> str:
        for name in self._settings.user_id_fields:
            value = message.get(name)
            if value is None or value == "":
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise InvalidArgument(_join(prefix, name), "must be a string")
            return self._checked_id(value, prefix, name)
        names = " nor ".join(self._settings.user_id_fields)
        raise InvalidArgument(
            _join(prefix, self._settings.user_id_fields[0]), f"neither {names} is set"
        )

    def _time_us(self, message: Mapping[str, Any], prefix: str, latest: datetime) -> int | None:
        for name in ("timestamp", "receivedAt"):
            value = message.get(name)
            if value is None:
                continue
            try:
                moment = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidArgument(
                    _join(prefix, name), f"{value!r} is not an ISO 8601 date and time"
                ) from None
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            if moment > latest:
                skew = self._limits.max_clock_skew_seconds
                raise InvalidArgument(_join(prefix, name), f"is more than {skew:g} s in the future")
            return (moment - _EPOCH) // _MICROSECOND
        return None

    def _merge_traits(
        self,
        message: Mapping[str, Any],
        prefix: str,
        into: tuple[dict[str, str], set[str]],
    ) -> None:
        traits = message.get("traits")
        path = _join(prefix, "traits")
        if traits is None:
            return
        if not isinstance(traits, dict):
            raise InvalidArgument(path, "must be a JSON object")
        kept, excluded = self._settings.traits, set(self._settings.exclude_traits)
        flat: dict[str, str | None] = {}
        for key, value in traits.items():
            if key in excluded or (kept is not None and key not in kept):
                continue
            _flatten(str(key), value, flat)
        set_attributes = {k: v for k, v in flat.items() if v is not None}
        validation.string_map(set_attributes, path, self._limits)
        for key in (k for k, v in flat.items() if v is None):
            validation.identifier(key, f"{path}[{key!r}]", self._limits)
        attributes, unset = into
        for key, attribute in flat.items():
            if attribute is None:
                attributes.pop(key, None)
                unset.add(key)
            else:
                attributes[key] = attribute
                unset.discard(key)
        validation.string_map(attributes, path, self._limits)  # the merged set, too

    # -- events ------------------------------------------------------------------------------

    def _add_events(
        self,
        batch: EventBatch,
        message: Mapping[str, Any],
        prefix: str,
        mapping: SegmentEventMapping,
        message_id: str,
        user_id: str,
        time_us: int | None,
    ) -> int:
        """Appends the events ``message`` makes; returns how many (0: skipped, no item)."""
        if mapping.each is None:
            sources: list[tuple[object, str, str]] = [(message, prefix, message_id)]
        else:
            elements = _lookup(message, mapping.each)
            each_path = _join(prefix, mapping.each)
            if not isinstance(elements, list) or not elements:
                raise InvalidArgument(each_path, "must be a non-empty list")
            sources = [
                (element, f"{each_path}[{j}]", f"{message_id}:{j}")
                for j, element in enumerate(elements)
            ]
        recommendation_id = self._recommendation_id(message, prefix)
        catalog = mapping.catalog or self._settings.catalog
        added = 0
        for source, path, event_id in sources:
            item_id = self._item_id(source, path, mapping)
            if item_id is None:
                continue
            self._checked_id(event_id, prefix, "messageId")
            batch.event_ids.append(event_id)
            batch.user_ids.append(user_id)
            batch.item_ids.append(item_id)
            batch.catalogs.append(catalog)
            batch.types.append(mapping.type)
            batch.values.append(self._value(source, path, mapping))
            batch.times_us.append(time_us)
            batch.recommendation_ids.append(recommendation_id)
            batch.contexts.append({})
            added += 1
        return added

    def _item_id(self, source: object, path: str, mapping: SegmentEventMapping) -> str | None:
        value = _lookup(source, mapping.item)
        if value is _MISSING or value == "":
            if mapping.item_optional:
                return None
            raise InvalidArgument(_join(path, mapping.item), "is required")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidArgument(_join(path, mapping.item), "must be a string or an integer")
        return self._checked_id(value, path, mapping.item)

    def _value(self, source: object, path: str, mapping: SegmentEventMapping) -> float:
        if mapping.value is None:
            return 0.0
        value = _number(source, path, mapping.value)
        if value is None:
            if mapping.value_required:
                raise InvalidArgument(_join(path, mapping.value), "is required")
            return 0.0
        quantity = _number(source, path, mapping.quantity) if mapping.quantity else None
        return value * (1.0 if quantity is None else quantity)

    def _recommendation_id(self, message: Mapping[str, Any], prefix: str) -> str:
        if self._settings.recommendation_id is None:
            return ""
        value = _lookup(message, self._settings.recommendation_id)
        if value is _MISSING:
            return ""
        path = _join(prefix, self._settings.recommendation_id)
        if not isinstance(value, str) or len(value) > self._limits.max_id_length:
            raise InvalidArgument(
                path, f"must be a string of at most {self._limits.max_id_length} characters"
            )
        return value


def _number(source: object, prefix: str, path: str) -> float | None:
    """The finite number at ``path`` (numeric strings too, as some senders write prices);
    None when absent."""
    value = _lookup(source, path)
    if value is _MISSING:
        return None
    field_path = _join(prefix, path)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidArgument(field_path, "must be a number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidArgument(field_path, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidArgument(field_path, "must be a finite number")
    return number


def _flatten(key: str, value: object, into: dict[str, str | None]) -> None:
    """A trait as attributes: objects flattened with dotted keys, None kept (to unset)."""
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            _flatten(f"{key}.{inner_key}", inner, into)
    elif value is None:
        into[key] = None
    elif isinstance(value, bool):
        into[key] = "true" if value else "false"
    elif isinstance(value, str):
        into[key] = value
    elif isinstance(value, int | float):
        into[key] = str(value)
    else:
        into[key] = json.dumps(value, separators=(",", ":"), sort_keys=True)
