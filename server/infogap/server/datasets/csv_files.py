"""Reads CSV exports (MovieLens, a typical CRM dump) into users, items and events for the SDK.

The one CSV reader of the server package: ``infogap import``, ``infogap demo`` and the offline
evaluation's MovieLens loader all read their files through it.

Column mapping is explicit: which column is the id, which are attributes, which holds tags,
the event type (a fixed type or a column), value and time. Numeric attributes can be binned
into bands (``age`` 24 -> ``25-34``) so that they make useful model features. Events without an
id column get a deterministic id from their content, so importing a file twice stores it once.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Bins:
    """Numeric edges for one attribute: value v goes to the band [edges[i], edges[i+1])."""

    edges: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> Bins:
        edges = tuple(sorted(float(e) for e in text.split(",") if e.strip()))
        if not edges:
            raise ValueError(f"no bin edges in {text!r}")
        return cls(edges)

    def label(self, raw: str) -> str:
        try:
            value = float(raw)
        except ValueError:
            return raw
        i = bisect.bisect_right(self.edges, value)
        if i == 0:
            return f"<{self.edges[0]:g}"
        if i == len(self.edges):
            return f"{self.edges[-1]:g}+"
        return f"{self.edges[i - 1]:g}-{self.edges[i] - 1:g}"


@dataclass(frozen=True)
class AttributeMapping:
    """Which columns become attributes (None: every column not otherwise used) and bins."""

    columns: tuple[str, ...] | None = None
    bins: dict[str, Bins] = field(default_factory=dict)

    def extract(self, row: dict[str, str], used: set[str]) -> dict[str, str]:
        names = self.columns if self.columns is not None else [c for c in row if c not in used]
        attributes = {}
        for name in names:
            value = row.get(name, "")
            if value == "":
                continue
            bins = self.bins.get(name)
            attributes[name] = bins.label(value) if bins else value
        return attributes


class CsvFormatError(ValueError):
    """A CSV file lacks a column it was asked to read, or holds a value that does not parse."""


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV file with a header line, as dicts keyed by column name, lazily."""
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def count_rows(path: Path) -> int:
    """How many data rows a CSV file holds (its lines but the header), for progress bars."""
    with path.open(encoding="utf-8") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def split_tags(raw: str, separator: str) -> list[str]:
    """The tags of a cell such as ``Comedy|Drama``, empty ones dropped."""
    return [tag for tag in raw.split(separator) if tag]


def _require(row: dict[str, str], column: str, path: Path) -> str:
    if column not in row:
        raise CsvFormatError(f"{path}: no column {column!r} (columns: {', '.join(row)})")
    return row[column]


def read_users(
    path: Path, id_column: str, attributes: AttributeMapping
) -> Iterator[dict[str, Any]]:
    """Users for ``Client.upsert_users``, lazily. Raises CsvFormatError for a missing column."""
    for row in read_rows(path):
        user_id = _require(row, id_column, path)
        yield {"user_id": user_id, "attributes": attributes.extract(row, {id_column})}


def read_items(
    path: Path,
    id_column: str,
    catalog: str,
    attributes: AttributeMapping,
    tags_column: str | None,
    tags_separator: str,
) -> Iterator[dict[str, Any]]:
    """Items of ``catalog`` for ``Client.upsert_items``, lazily. Raises CsvFormatError for a
    missing column."""
    used = {id_column} | ({tags_column} if tags_column else set())
    for row in read_rows(path):
        tags: list[str] = []
        if tags_column:
            tags = split_tags(_require(row, tags_column, path), tags_separator)
        yield {
            "item_id": _require(row, id_column, path),
            "catalog": catalog,
            "attributes": attributes.extract(row, used),
            "tags": tags,
        }


def parse_time(raw: str, time_format: str) -> datetime:
    """A time cell as an aware datetime: ``unix`` seconds, or ISO 8601 (UTC when naive)."""
    if time_format == "unix":
        return datetime.fromtimestamp(float(raw), tz=UTC)
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def content_event_id(*parts: str) -> str:
    """A deterministic event id from an event's content, so that re-importing stores nothing."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def read_events(
    path: Path,
    *,
    user_column: str,
    item_column: str,
    catalog: str,
    event_type: str | None,
    type_column: str | None,
    value_column: str | None,
    time_column: str | None,
    time_format: str,
    id_column: str | None,
) -> Iterator[dict[str, Any]]:
    """Events of ``catalog`` for ``Client.record``, lazily. Raises ValueError unless exactly one
    of ``event_type`` and ``type_column`` is given, CsvFormatError for a missing column or a
    value or time that does not parse."""
    if (event_type is None) == (type_column is None):
        raise ValueError("give exactly one of a fixed event type or a type column")
    for row in read_rows(path):
        user_id = _require(row, user_column, path)
        item_id = _require(row, item_column, path)
        kind = event_type if event_type is not None else _require(row, type_column or "", path)
        value = _require(row, value_column, path) if value_column else "1"
        time = _require(row, time_column, path) if time_column else ""
        event: dict[str, Any] = {
            "event_id": _require(row, id_column, path)
            if id_column
            else content_event_id(catalog, user_id, item_id, kind, value, time),
            "user_id": user_id,
            "item_id": item_id,
            "catalog": catalog,
            "type": kind,
            "value": _parsed(float, value, value_column, path),
        }
        if time:
            event["time"] = _parsed(
                lambda raw: parse_time(raw, time_format), time, time_column, path
            )
        yield event


def _parsed(parse: Callable[[str], Any], raw: str, column: str | None, path: Path) -> Any:
    try:
        return parse(raw)
    except ValueError as error:
        raise CsvFormatError(f"{path}: column {column!r}: cannot read {raw!r} ({error})") from error
