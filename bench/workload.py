"""What the benchmarks send: MovieLens ids, and synthetic events built the same way for the
server and for the raw DuckDB baseline (so both store the same rows)."""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

# Types of the default configuration; every one of them marks the item as seen, which is the
# more expensive path on the server (it updates the fresh-interactions overlay).
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
# Event times (Unix seconds) are spread over the year before 2025-01-01, safely in the past.
EVENT_TIME_END = 1_735_689_600
EVENT_TIME_SPAN = 365 * 24 * 3600


def dataset_ids(dataset: Path, file_name: str, column: str) -> list[str]:
    """One id column of a dataset CSV, in file order."""
    with (dataset / file_name).open(newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def count_rows(path: Path) -> int:
    """Data rows of a CSV file (its header left out)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def user_ids(dataset: Path) -> list[str]:
    return dataset_ids(dataset, "users.csv", "user_id")


def item_ids(dataset: Path) -> list[str]:
    return dataset_ids(dataset, "items.csv", "item_id")


@dataclass(frozen=True)
class SyntheticEvents:
    """Events column-wise. Event ids are uuid4 hex, drawn from the seed so runs repeat."""

    event_ids: list[str]
    user_ids: list[str]
    item_ids: list[str]
    types: list[str]
    values: list[float]
    times: list[int]  # Unix seconds

    def __len__(self) -> int:
        return len(self.event_ids)


def synthetic_events(count: int, seed: int, users: list[str], items: list[str]) -> SyntheticEvents:
    rng = random.Random(seed)
    return SyntheticEvents(
        event_ids=[uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(count)],
        user_ids=rng.choices(users, k=count),
        item_ids=rng.choices(items, k=count),
        types=rng.choices(EVENT_TYPES, k=count),
        values=[float(rng.randint(1, 100)) for _ in range(count)],
        times=[EVENT_TIME_END - rng.randrange(EVENT_TIME_SPAN) for _ in range(count)],
    )


def round_sizes(warmup_calls: int, calls: int, rounds: int) -> list[int]:
    """Calls of each round of a run: the warm-up (round 0), then the timed rounds."""
    return [warmup_calls] + [calls] * rounds


def round_events(
    seed: int, round_index: int, count: int, users: list[str], items: list[str]
) -> SyntheticEvents:
    """The events of one round of a benchmark run (round 0 being its warm-up); runs with distinct
    seeds never share an event id."""
    return synthetic_events(count, seed * 1000 + round_index, users, items)
