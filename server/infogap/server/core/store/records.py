"""The plain values a store takes and returns, apart from the domain objects of ``core.domain``:
the Arrow schemas of its batch writes and the column-wise results of its bulk reads. Nothing here
depends on a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.errors import BudgetExhausted

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("catalog", pa.string()),
        ("type", pa.string()),
        ("value", pa.float64()),
        ("event_time", pa.timestamp("us")),
        ("recommendation_id", pa.string()),
        ("context", pa.string()),
        ("received_at", pa.timestamp("us")),
    ]
)

IMPRESSION_SCHEMA = pa.schema(
    [
        ("recommendation_id", pa.string()),
        ("experiment", pa.string()),
        ("variant", pa.string()),
        ("user_id", pa.string()),
        ("catalog", pa.string()),
        ("item_ids", pa.list_(pa.string())),
        ("served_at", pa.timestamp("us")),
    ]
)

# Epsilons such as 0.1 do not add up exactly in floating point; a budget of 1.0 must still
# take ten releases of 0.1.
EPSILON_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CatalogItems:
    """Every item of a catalog known to the items table, column-wise."""

    item_ids: np.ndarray  # object array of str
    tags: list[list[str]]
    attributes: list[dict[str, str]]
    active: np.ndarray  # bool


@dataclass(frozen=True)
class Interactions:
    """Aggregated (user, item, weight) triples of a catalog, column-wise."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: np.ndarray  # float32
    event_count: int
    last_time_us: np.ndarray | None = None  # int64 Unix microseconds of each pair's latest event


@dataclass(frozen=True, slots=True)
class EventTypeActivity:
    """What one user did with one event type up to a profile's ``as_of``."""

    user_id: str
    type: str
    count: int
    value_sum: float
    first_seen: datetime
    last_seen: datetime
    count_since_frequency_start: int
    window_counts: tuple[int, ...]  # events after each window start, in the order asked


@dataclass(frozen=True)
class UserFacts:
    """Every profile fact of some users as of a moment, each part exactly as the store's own
    method for it returns it (``user_records``, ``event_type_activity``, ``catalog_activity``,
    ``active_days``, ``interest_scores``, ``user_clusters``)."""

    records: dict[str, tuple[dict[str, str], datetime]]
    activity: list[EventTypeActivity]
    catalog_activity: dict[str, tuple[CatalogActivity, ...]]
    active_days: dict[str, int]
    interests: dict[str, tuple[Interest, ...]]
    clusters: dict[str, str]


@dataclass(frozen=True, slots=True)
class PrivacyRelease:
    """One row of the ledger: a release and the budget it spent (0 for a reuse)."""

    kind: str
    scope: str
    epsilon: float
    delta: float
    released_at: datetime
    description: str


@dataclass(frozen=True, slots=True)
class ReleasedValues:
    """The noisy values of the latest paid release of a figure, kept for reuse."""

    keys: np.ndarray  # object array of str
    values: np.ndarray  # float64, aligned with keys
    released_at: datetime
    description: str

    def aligned_to(self, keys: np.ndarray) -> np.ndarray:
        """The values for ``keys``, in their order; 0 for a key that this release lacked (a
        constant: it depends on no one's data)."""
        position = {key: i for i, key in enumerate(self.keys.tolist())}
        found = np.array([position.get(key, -1) for key in keys.tolist()], dtype=np.int64)
        return np.where(found >= 0, self.values[np.maximum(found, 0)], 0.0)


def refuse_unless_affordable(
    catalog: str, release: PrivacyRelease, spent: float, epsilon_budget: float
) -> None:
    """The budget rule of ``Store.spend_privacy_budget``, for every backend to apply inside its
    transaction.

    Raises:
        BudgetExhausted: when ``spent`` plus the release's epsilon exceeds the budget (give or
            take ``EPSILON_TOLERANCE``).
    """
    if spent + release.epsilon > epsilon_budget + EPSILON_TOLERANCE:
        raise BudgetExhausted(
            catalog, spent=spent, budget=epsilon_budget, kind=release.kind, epsilon=release.epsilon
        )


def kept_values_row(
    catalog: str, release: PrivacyRelease, keys: np.ndarray, values: np.ndarray
) -> list[object]:
    """The row of a paid release's kept values: catalog, kind, scope, keys (str), values
    (float64), released_at and description."""
    return [
        catalog,
        release.kind,
        release.scope,
        np.asarray(keys).astype(str).tolist(),
        np.asarray(values, dtype=np.float64).tolist(),
        release.released_at,
        release.description,
    ]


# The channels of ``Store.watch_changes``: what changed, told by another server on the database.
EVENTS_CHANNEL = "infogap_events"  # events were stored; payload ''
MODELS_CHANNEL = "infogap_models"  # a training run (or a model's checksum) was recorded; catalog
ERASURE_CHANNEL = "infogap_erasure"  # a user was erased; payload the user id
# Users were upserted or patched; payload their ids, one a line, or '' for too many to list.
USERS_CHANNEL = "infogap_users"
ITEMS_CHANNEL = "infogap_items"  # items were upserted; payload their catalogs, one a line
CHANGE_CHANNELS = (EVENTS_CHANNEL, MODELS_CHANNEL, ERASURE_CHANNEL, USERS_CHANNEL, ITEMS_CHANNEL)
# PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more.
MAX_PAYLOAD_BYTES = 7_000
