"""The privacy-budget ledger: every differentially private release, what it spent, and when.

Kept in the store's DuckDB file (tables ``privacy_releases`` and ``privacy_last_releases``), so
the budget survives restarts. Budgets are per catalog and per window. Windows are
``window_days`` long and aligned on the Unix epoch (UTC): the window in force is the same for
every catalog and does not depend on when anything was first released, and a restart changes
nothing. Only pure differential privacy is accounted for: epsilons add up within a window
(sequential composition); deltas are recorded and reported but not capped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import duckdb
import numpy as np

from infogap.server.config import PrivacySettings
from infogap.server.core.domain import utc_now
from infogap.server.core.errors import ResourceExhausted
from infogap.server.core.store import Store

EPOCH = datetime(1970, 1, 1)
# Epsilons such as 0.1 do not add up exactly in floating point; a budget of 1.0 must still
# take ten releases of 0.1.
EPSILON_TOLERANCE = 1e-9


class BudgetExhausted(ResourceExhausted):
    """The catalog's privacy budget for the current window cannot pay for a release."""


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


@dataclass(frozen=True, slots=True)
class PrivacyBudget:
    """A catalog's budget in the current window, and the releases that spent it."""

    catalog: str
    window_start: datetime
    window_days: float
    epsilon_budget: float
    epsilon_spent: float
    delta_spent: float
    releases: tuple[PrivacyRelease, ...]  # of the current window, oldest first

    @property
    def epsilon_remaining(self) -> float:
        return max(self.epsilon_budget - self.epsilon_spent, 0.0)


class BudgetLedger(Protocol):
    """What a privacy guard may do with the server's privacy budget (``PrivacyLedger`` is the
    implementation, persisted in the store). Handed to ``infogap_register_privacy_guard``.

    .. versionadded:: 0.3
    """

    def spend(
        self,
        catalog: str,
        kind: str,
        scope: str,
        epsilon: float,
        description: str,
        keys: np.ndarray,
        values: np.ndarray,
        delta: float = 0.0,
    ) -> datetime:
        """Pays ``epsilon`` for releasing ``values`` (aligned with ``keys``) and keeps them for
        reuse; returns the release time.

        :raises BudgetExhausted: when the window's remaining budget is less than ``epsilon``;
            nothing is recorded, and the values must not be released.
        """
        ...

    def record_reuse(self, catalog: str, kind: str, scope: str, description: str) -> None:
        """Records that an earlier release was served again (post-processing: epsilon 0)."""
        ...

    def last_release(self, catalog: str, kind: str, scope: str) -> ReleasedValues | None:
        """The values of the latest paid release of this figure, or None if there was none."""
        ...

    def remaining(self, catalog: str) -> float:
        """Epsilon the catalog can still spend in the current window."""
        ...


class PrivacyLedger:
    """Records releases and enforces ``epsilon_per_window`` per catalog, on the store's DuckDB."""

    def __init__(
        self, store: Store, settings: PrivacySettings, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._budget = settings.epsilon_per_window
        self._window_days = settings.window_days
        self._window = timedelta(days=settings.window_days)
        self._clock = clock

    def window_start(self, now: datetime) -> datetime:
        """Start of the window holding ``now`` (naive UTC): windows are aligned on the epoch."""
        return EPOCH + ((now - EPOCH) // self._window) * self._window

    def spend(
        self,
        catalog: str,
        kind: str,
        scope: str,
        epsilon: float,
        description: str,
        keys: np.ndarray,
        values: np.ndarray,
        delta: float = 0.0,
    ) -> datetime:
        """Records a release paid with ``epsilon`` and keeps its values for later reuse; returns
        its time. The check and both writes happen in one transaction.

        :raises BudgetExhausted: when the window's remaining budget is less than ``epsilon``;
            nothing is recorded then, and the values must not be released.
        """
        with self._store.write_lock, self._store._transaction() as db:
            now = self._clock()
            spent = self._spent(db, catalog, self.window_start(now))
            if spent + epsilon > self._budget + EPSILON_TOLERANCE:
                raise BudgetExhausted(
                    f"catalog {catalog!r} has spent epsilon {spent:g} of {self._budget:g} in the "
                    f"current window; releasing {kind} would take {epsilon:g} more"
                )
            self._insert_release(db, catalog, kind, scope, epsilon, delta, now, description)
            db.execute(
                "INSERT OR REPLACE INTO privacy_last_releases VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    catalog,
                    kind,
                    scope,
                    np.asarray(keys).astype(str).tolist(),
                    np.asarray(values, dtype=np.float64).tolist(),
                    now,
                    description,
                ],
            )
        return now

    def record_reuse(self, catalog: str, kind: str, scope: str, description: str) -> None:
        """Records that an earlier release was served again: post-processing, epsilon 0."""
        with self._store.write_lock, self._store._transaction() as db:
            self._insert_release(db, catalog, kind, scope, 0.0, 0.0, self._clock(), description)

    def last_release(self, catalog: str, kind: str, scope: str) -> ReleasedValues | None:
        """The values of the latest paid release of this figure, or None if there was none."""
        row = (
            self._store.cursor()
            .execute(
                'SELECT keys, "values", released_at, description FROM privacy_last_releases '
                "WHERE catalog = ? AND kind = ? AND scope = ?",
                [catalog, kind, scope],
            )
            .fetchone()
        )
        if row is None:
            return None
        keys, values, released_at, description = row
        return ReleasedValues(
            np.array(keys, dtype=object),
            np.array(values, dtype=np.float64),
            released_at,
            description,
        )

    def remaining(self, catalog: str) -> float:
        """Epsilon the catalog can still spend in the current window."""
        spent = self._spent(self._store.cursor(), catalog, self.window_start(self._clock()))
        return max(self._budget - spent, 0.0)

    def report(self, catalog: str) -> PrivacyBudget:
        """The catalog's budget and releases in the current window."""
        start = self.window_start(self._clock())
        rows = (
            self._store.cursor()
            .execute(
                "SELECT kind, scope, epsilon, delta, released_at, description "
                "FROM privacy_releases WHERE catalog = ? AND released_at >= ? "
                "ORDER BY released_at, rowid",
                [catalog, start],
            )
            .fetchall()
        )
        releases = tuple(PrivacyRelease(*row) for row in rows)
        return PrivacyBudget(
            catalog=catalog,
            window_start=start,
            window_days=self._window_days,
            epsilon_budget=self._budget,
            epsilon_spent=sum(r.epsilon for r in releases),
            delta_spent=sum(r.delta for r in releases),
            releases=releases,
        )

    @staticmethod
    def _spent(db: duckdb.DuckDBPyConnection, catalog: str, window_start: datetime) -> float:
        row = db.execute(
            "SELECT COALESCE(SUM(epsilon), 0) FROM privacy_releases "
            "WHERE catalog = ? AND released_at >= ?",
            [catalog, window_start],
        ).fetchone()
        return float(row[0])

    @staticmethod
    def _insert_release(
        db: duckdb.DuckDBPyConnection,
        catalog: str,
        kind: str,
        scope: str,
        epsilon: float,
        delta: float,
        released_at: datetime,
        description: str,
    ) -> None:
        db.execute(
            "INSERT INTO privacy_releases VALUES (?, ?, ?, ?, ?, ?, ?)",
            [catalog, kind, scope, epsilon, delta, released_at, description],
        )
