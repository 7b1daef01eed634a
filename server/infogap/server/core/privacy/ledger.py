"""The privacy-budget ledger: every differentially private release, what it spent, and when.

Kept in the store (``Store.spend_privacy_budget`` and the other ``privacy_`` methods), so the
budget survives restarts. Budgets are per catalog and per window. Windows are
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

import numpy as np

from infogap.server.config import PrivacySettings
from infogap.server.core.domain import utc_now
from infogap.server.core.errors import BudgetExhausted
from infogap.server.core.store import PrivacyRelease, ReleasedValues, Store
from infogap.server.core.store.records import EPSILON_TOLERANCE

# Re-exported: plugins and the transport name them as the ledger's.
__all__ = [
    "EPSILON_TOLERANCE",
    "BudgetExhausted",
    "PrivacyBudget",
    "PrivacyLedger",
    "PrivacyRelease",
    "ReleasedValues",
]

EPOCH = datetime(1970, 1, 1)


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
    """Records releases and enforces ``epsilon_per_window`` per catalog, in the store."""

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
        its time. The store checks the budget and writes in one transaction.

        :raises BudgetExhausted: when the window's remaining budget is less than ``epsilon``;
            nothing is recorded then, and the values must not be released.
        """
        now = self._clock()
        self._store.spend_privacy_budget(
            catalog,
            PrivacyRelease(kind, scope, epsilon, delta, now, description),
            keys,
            values,
            window_start=self.window_start(now),
            epsilon_budget=self._budget,
        )
        return now

    def record_reuse(self, catalog: str, kind: str, scope: str, description: str) -> None:
        """Records that an earlier release was served again: post-processing, epsilon 0."""
        self._store.append_privacy_release(
            catalog, PrivacyRelease(kind, scope, 0.0, 0.0, self._clock(), description)
        )

    def last_release(self, catalog: str, kind: str, scope: str) -> ReleasedValues | None:
        """The values of the latest paid release of this figure, or None if there was none."""
        return self._store.last_privacy_release(catalog, kind, scope)

    def remaining(self, catalog: str) -> float:
        """Epsilon the catalog can still spend in the current window."""
        spent = self._store.privacy_spent(catalog, self.window_start(self._clock()))
        return max(self._budget - spent, 0.0)

    def report(self, catalog: str) -> PrivacyBudget:
        """The catalog's budget and releases in the current window."""
        start = self.window_start(self._clock())
        releases = tuple(self._store.privacy_releases(catalog, start))
        return PrivacyBudget(
            catalog=catalog,
            window_start=start,
            window_days=self._window_days,
            epsilon_budget=self._budget,
            epsilon_spent=sum(r.epsilon for r in releases),
            delta_spent=sum(r.delta for r in releases),
            releases=releases,
        )
