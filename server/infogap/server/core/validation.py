"""Input checks shared by every use case. Each raises ``InvalidArgument`` naming the field (with
its index in a batch) and the reason, before anything is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from infogap.server.config import LimitSettings
from infogap.server.core.domain import DEFAULT_CATALOG, EventBatch, Item, User, UserPatch
from infogap.server.core.errors import InvalidArgument

CATALOG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@lru_cache(maxsize=4096)
def _is_catalog_name(value: str) -> bool:
    return CATALOG_PATTERN.fullmatch(value) is not None


def catalog_name(value: str, field: str = "catalog") -> str:
    """The catalog a request names; empty means the default catalog."""
    if not value:
        return DEFAULT_CATALOG
    if not _is_catalog_name(value):
        raise InvalidArgument(
            field,
            "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return value


def identifier(value: str, field: str, limits: LimitSettings) -> str:
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > limits.max_id_length:
        raise InvalidArgument(field, f"longer than {limits.max_id_length} characters")
    if not value.isprintable():
        raise InvalidArgument(field, "must contain printable characters only")
    return value


def as_of_time(value: datetime, field: str, windows_days: Iterable[int]) -> datetime:
    """A profile's reference moment (naive UTC): returns it when the start of the longest
    profile window before it is still a date; raises ``InvalidArgument`` otherwise."""
    earliest = datetime.min + timedelta(days=max(windows_days, default=0))
    if value.replace(tzinfo=None) < earliest:
        raise InvalidArgument(field, f"must be on or after {earliest.date().isoformat()}")
    return value


def unit_interval(value: float, field: str) -> float:
    """``value`` if it is a number in [0, 1]."""
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise InvalidArgument(field, f"must be between 0 and 1, got {value}")
    return value


def batch_size(size: int, field: str, limits: LimitSettings) -> None:
    if not 1 <= size <= limits.max_batch_size:
        raise InvalidArgument(field, f"must hold 1 to {limits.max_batch_size} entries, got {size}")


def string_map(values: Mapping[str, str], field: str, limits: LimitSettings) -> None:
    if len(values) > limits.max_attributes:
        raise InvalidArgument(field, f"more than {limits.max_attributes} entries")
    for key, value in values.items():
        if not key or len(key) > limits.max_id_length or not key.isprintable():
            raise InvalidArgument(f"{field}[{key!r}]", "keys must be 1 to 256 printable characters")
        if len(value) > limits.max_attribute_length:
            raise InvalidArgument(
                f"{field}[{key!r}]", f"longer than {limits.max_attribute_length} characters"
            )


def distinct(keys: Iterable[object], field: str) -> None:
    seen: set[object] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise InvalidArgument(f"{field}[{index}]", f"repeats {key!r} from earlier in the batch")
        seen.add(key)


def users(batch: list[User], limits: LimitSettings) -> None:
    batch_size(len(batch), "users", limits)
    for index, user in enumerate(batch):
        identifier(user.user_id, f"users[{index}].user_id", limits)
        string_map(user.attributes, f"users[{index}].attributes", limits)
    distinct((u.user_id for u in batch), "users")


def patches(batch: list[UserPatch], limits: LimitSettings) -> None:
    batch_size(len(batch), "patches", limits)
    for index, patch in enumerate(batch):
        identifier(patch.user_id, f"patches[{index}].user_id", limits)
        string_map(patch.set_attributes, f"patches[{index}].set_attributes", limits)
        for name_index, name in enumerate(patch.unset_attributes):
            field = f"patches[{index}].unset_attributes[{name_index}]"
            identifier(name, field, limits)
            if name in patch.set_attributes:
                raise InvalidArgument(field, f"{name!r} is also set by this patch")
    distinct((p.user_id for p in batch), "patches")


def user_ids(ids: list[str], maximum: int, limits: LimitSettings) -> None:
    if not 1 <= len(ids) <= maximum:
        raise InvalidArgument("user_ids", f"must hold 1 to {maximum} ids, got {len(ids)}")
    for index, user_id in enumerate(ids):
        identifier(user_id, f"user_ids[{index}]", limits)
    distinct(ids, "user_ids")


def items(batch: list[Item], limits: LimitSettings) -> list[Item]:
    """Checks the items and returns them with the default catalog filled in."""
    batch_size(len(batch), "items", limits)
    checked = []
    for index, item in enumerate(batch):
        identifier(item.item_id, f"items[{index}].item_id", limits)
        catalog = catalog_name(item.catalog, f"items[{index}].catalog")
        string_map(item.attributes, f"items[{index}].attributes", limits)
        if len(item.tags) > limits.max_tags:
            raise InvalidArgument(f"items[{index}].tags", f"more than {limits.max_tags} tags")
        for tag_index, tag in enumerate(item.tags):
            identifier(tag, f"items[{index}].tags[{tag_index}]", limits)
        checked.append(Item(item.item_id, catalog, item.attributes, tuple(item.tags), item.active))
    distinct(((i.catalog, i.item_id) for i in checked), "items")
    return checked


def events(
    batch: EventBatch, known_types: Mapping[str, object], now: datetime, limits: LimitSettings
) -> None:
    """Checks a whole batch, filling in default catalogs in place; raises on the first bad event.

    A column-wise pass (C-speed string and set operations) clears the usual, valid batch; only a
    batch it doubts is walked event by event to name the first bad one.
    """
    batch_size(len(batch), "events", limits)
    latest_us = int(
        (now + timedelta(seconds=limits.max_clock_skew_seconds)).replace(tzinfo=UTC).timestamp()
        * 1_000_000
    )
    if not _batch_looks_valid(batch, known_types, latest_us, limits):
        for i in range(len(batch)):
            _event(batch, i, known_types, latest_us, limits)
    if "" in batch.catalogs:
        batch.catalogs[:] = [catalog or DEFAULT_CATALOG for catalog in batch.catalogs]


def _batch_looks_valid(
    batch: EventBatch, known_types: Mapping[str, object], latest_us: int, limits: LimitSettings
) -> bool:
    for ids in (batch.event_ids, batch.user_ids, batch.item_ids):
        if not all(ids) or max(map(len, ids)) > limits.max_id_length:
            return False
        if not "".join(ids).isprintable():
            return False
    if not set(batch.types).issubset(known_types):
        return False
    if not all(_is_catalog_name(c) for c in set(batch.catalogs) if c):
        return False
    if not all(map(math.isfinite, batch.values)):
        return False
    times = [t for t in batch.times_us if t is not None]
    if times and max(times) > latest_us:
        return False
    if max(map(len, batch.recommendation_ids)) > limits.max_id_length:
        return False
    return not any(batch.contexts)  # contexts are checked one by one


def _event(
    batch: EventBatch,
    i: int,
    known_types: Mapping[str, object],
    latest_us: int,
    limits: LimitSettings,
) -> None:
    identifier(batch.event_ids[i], f"events[{i}].event_id", limits)
    identifier(batch.user_ids[i], f"events[{i}].user_id", limits)
    identifier(batch.item_ids[i], f"events[{i}].item_id", limits)
    catalog_name(batch.catalogs[i], f"events[{i}].catalog")
    if batch.types[i] not in known_types:
        raise InvalidArgument(
            f"events[{i}].type",
            f"unknown event type {batch.types[i]!r}; configured: {', '.join(known_types)}",
        )
    if not math.isfinite(batch.values[i]):
        raise InvalidArgument(f"events[{i}].value", "must be a finite number")
    time_us = batch.times_us[i]
    if time_us is not None and time_us > latest_us:
        raise InvalidArgument(
            f"events[{i}].time",
            f"is more than {limits.max_clock_skew_seconds:g} s in the future",
        )
    if len(batch.recommendation_ids[i]) > limits.max_id_length:
        raise InvalidArgument(
            f"events[{i}].recommendation_id", f"longer than {limits.max_id_length} characters"
        )
    if batch.contexts[i]:
        string_map(batch.contexts[i], f"events[{i}].context", limits)
