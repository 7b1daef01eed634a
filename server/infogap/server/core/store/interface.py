"""The store interface: everything the core keeps, and every question it asks of what it kept.

The core depends on this class only; ``DuckDBStore`` (``core.store.duckdb``) and
``PostgreSQLStore`` (``core.store.postgresql``) implement it, and any other backend must pass
the same conformance suite (``tests/server/core/store/``).

Conventions every implementation follows:

- Times are naive datetimes in UTC (``core.domain.utc_now``), stored to the microsecond.
- Every method may be called from many threads at once. Each write is atomic: it happens
  whole or, when it raises, not at all.
- Bulk values cross as numpy arrays or ``pyarrow`` tables (schemas in ``core.store.records``),
  never as a backend's own types.
- ``type_weights`` tables have columns ``type`` (str), ``weight`` (float) and
  ``positive_from`` (float or null). An event's training signal is its type's weight; for a type
  with ``positive_from`` (star ratings) it is ``weight * (value - positive_from + 1)`` from
  ``positive_from`` up and 0 below it. Events of a type missing from the table count for nothing.
- Errors are the domain errors of ``core.errors``; each method names those it raises on purpose.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from infogap.server.core.domain import (
    CatalogActivity,
    CatalogEventCounts,
    Experiment,
    ExperimentStatus,
    Interest,
    Item,
    ModelInfo,
    TrainingDecision,
    User,
    UserPatch,
)
from infogap.server.core.store.records import (
    CatalogItems,
    EventTypeActivity,
    Interactions,
    PrivacyRelease,
    ReleasedValues,
    UserFacts,
)


class Store(abc.ABC):
    """Where InfoGap keeps users, items, events, model records, segments, experiments and the
    privacy ledger."""

    @property
    @abc.abstractmethod
    def data_dir(self) -> Path:
        """The local folder of this server's files: model artifacts are written under it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the store's connections; the store is not used after this."""

    # -- users and items ---------------------------------------------------------------------

    @abc.abstractmethod
    def upsert_users(self, users: Sequence[User], now: datetime) -> int:
        """Stores each user's attributes whole, replacing any stored ones, stamped ``now``.

        Returns: the number of users written (``len(users)``).
        """

    @abc.abstractmethod
    def patch_users(self, patches: Sequence[UserPatch], now: datetime) -> int:
        """Sets ``set_attributes`` and removes ``unset_attributes`` of each user (unknown users
        are created with the set ones), stamped ``now``, in one transaction.

        Returns: the number of patches applied (``len(patches)``).
        """

    @abc.abstractmethod
    def upsert_items(self, items: Sequence[Item], now: datetime) -> int:
        """Stores each item (keyed by catalog and item id) whole, replacing a stored one.

        Returns: the number of items written (``len(items)``).
        """

    @abc.abstractmethod
    def get_user(self, user_id: str) -> tuple[dict[str, str], datetime] | None:
        """Returns: the user's attributes and when they were last written, or None for a user
        never upserted (one known only from events included)."""

    @abc.abstractmethod
    def user_attributes(self, user_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Returns: user id -> attributes, for those of ``user_ids`` that were upserted."""

    @abc.abstractmethod
    def user_records(
        self, user_ids: Sequence[str] | None
    ) -> dict[str, tuple[dict[str, str], datetime]]:
        """Returns: user id -> (attributes, last written), for those of ``user_ids`` that were
        upserted; ``None`` asks for every upserted user."""

    @abc.abstractmethod
    def catalog_items(self, catalog: str) -> CatalogItems:
        """Returns: every stored item of ``catalog``, by item id; empty arrays for a catalog
        with none."""

    # -- events ------------------------------------------------------------------------------

    @abc.abstractmethod
    def insert_events(self, batch: pa.Table) -> set[str]:
        """Stores the events of ``batch`` (``EVENT_SCHEMA``) whose id is not stored yet, in one
        committed transaction; events already stored are left as they are (retries are
        idempotent).

        Returns: the ids of the events stored by this call.
        Raises:
            InvalidArgument: when ``batch`` repeats an event id; nothing is stored.
        """

    @abc.abstractmethod
    def interactions(
        self, catalog: str, type_weights: pa.Table, half_life_days: float | None = None
    ) -> Interactions:
        """Sums the training signal of the catalog's events per (user, item).

        With ``half_life_days``, an event's signal halves for every that many days it is older
        than the catalog's latest event.

        Returns: the pairs with a positive sum (in no particular order), with the time of each
        pair's latest event of a weighted type (``last_time_us``, Unix microseconds: what a
        temporal validation split orders by), and ``event_count``, the number of the catalog's
        events of a weighted type, those of dropped pairs included.
        """

    @abc.abstractmethod
    def event_counts(self, received_since: datetime) -> list[CatalogEventCounts]:
        """Returns: per catalog with an event, its stored events and those received at or
        after ``received_since``, by catalog (a scan of every event: for an operator's page,
        not a request path)."""

    @abc.abstractmethod
    def seen_pairs(self, catalog: str, seen_types: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Returns: user ids and item ids (aligned object arrays) of the distinct pairs of
        ``catalog`` with an event of one of ``seen_types``."""

    @abc.abstractmethod
    def user_item_event_types(
        self, catalog: str, user_id: str, item_ids: Sequence[str], types: Sequence[str]
    ) -> dict[str, str]:
        """What the user last did with each item, for the reason of an explanation.

        Returns: item id -> the type of the user's latest event (by time, then event id) among
        ``types`` with that item of ``catalog``; items with no such event are left out.
        """

    @abc.abstractmethod
    def item_event_counts(self, catalog: str) -> pa.Table:
        """Returns: a table of ``item_id``, ``type``, ``events`` (int64): how many events of each
        type each item of ``catalog`` has, in no particular order."""

    @abc.abstractmethod
    def weighted_events(self, catalog: str, type_weights: pa.Table) -> pa.Table:
        """The catalog's events of the types in ``type_weights``, oldest first (ties by id).

        Returns: a table of ``user_id``, ``item_id``, ``type``, ``value``, ``time_us`` (Unix
        microseconds) and ``positive`` (whether the event's training signal is above 0).
        """

    # -- profile facts (``user_ids=None``: every user; events after ``as_of`` are ignored) ----

    @abc.abstractmethod
    def event_type_activity(
        self,
        as_of: datetime,
        user_ids: Sequence[str] | None,
        *,
        window_starts: Sequence[datetime],
        frequency_start: datetime,
    ) -> list[EventTypeActivity]:
        """Per (user, event type): count, value sum, first and last event time, the count after
        ``frequency_start`` and after each of ``window_starts``.

        Returns: one value per pair with an event, by user id, then count (most first), then
        type.
        """

    @abc.abstractmethod
    def catalog_activity(
        self, as_of: datetime, user_ids: Sequence[str] | None
    ) -> dict[str, tuple[CatalogActivity, ...]]:
        """Returns: user id -> the catalogs the user has events in, with event and distinct item
        counts, most events first (ties by catalog); users with no event are left out."""

    @abc.abstractmethod
    def active_days(self, as_of: datetime, user_ids: Sequence[str] | None) -> dict[str, int]:
        """Returns: user id -> number of distinct (UTC) dates with an event; users with no event
        are left out."""

    @abc.abstractmethod
    def interest_scores(
        self,
        as_of: datetime,
        user_ids: Sequence[str] | None,
        *,
        type_weights: pa.Table,
        half_life_days: float,
        attributes: Sequence[str] | None,
    ) -> dict[str, tuple[Interest, ...]]:
        """Each user's interest in item features: ``tag:<tag>`` and ``<attribute>:<value>`` of
        the items of their events (only the attributes named in ``attributes``; None: all).

        An event's weight is its training signal halved for every ``half_life_days`` it is older
        than ``as_of``. A feature's score is the weight of the user's events on items with it
        over the weight of all the user's events; its evidence, the number of those events with
        a non-zero weight.

        Returns: user id -> interests with some evidence, highest score first (ties by
        feature); users whose total weight is not positive are left out.
        """

    @abc.abstractmethod
    def user_facts(
        self,
        as_of: datetime,
        user_ids: Sequence[str],
        *,
        window_starts: Sequence[datetime],
        frequency_start: datetime,
        type_weights: pa.Table,
        half_life_days: float,
        attributes: Sequence[str] | None,
    ) -> UserFacts:
        """Every profile fact of a few users at once, for GetProfile: each part equal to what
        the method above for it returns for ``user_ids`` (``user_records``,
        ``event_type_activity``, ``catalog_activity``, ``active_days``, ``interest_scores``,
        ``user_clusters``, with the same arguments), sums give or take their last bits.

        Meant for a few users (the core asks for up to ``profiles.event_path_max_users``), so a
        backend may read their events with one indexed query and aggregate them with
        ``core.store.user_facts.facts_from_events`` rather than plan the aggregate queries.

        Returns: the users' facts; unknown users are in none of its parts.
        """

    # -- segments and clusters ---------------------------------------------------------------

    @abc.abstractmethod
    def define_segment(self, name: str, rule: str, description: str, now: datetime) -> None:
        """Stores a rule segment, replacing one of the same name."""

    @abc.abstractmethod
    def delete_segment(self, name: str) -> bool:
        """Returns: whether a rule segment of that name existed (it no longer does)."""

    @abc.abstractmethod
    def segment_rules(self) -> list[tuple[str, str, str]]:
        """Returns: (name, rule, description) of every rule segment, by name."""

    @abc.abstractmethod
    def replace_clusters(
        self, clusters: Sequence[tuple[str, str, int]], members: dict[str, str], now: datetime
    ) -> None:
        """Replaces every data-driven segment at once: ``clusters`` are (name, description,
        size) and ``members`` maps user id -> cluster name. Members that are no longer stored
        (erased meanwhile: neither upserted nor with an event) are left out, and each
        cluster's size is its count of stored members."""

    @abc.abstractmethod
    def clusters(self) -> list[tuple[str, str, int]]:
        """Returns: (name, description, size) of every data-driven segment, by name."""

    @abc.abstractmethod
    def cluster_members(self, name: str) -> list[str]:
        """Returns: the user ids of a cluster, sorted; empty for an unknown cluster."""

    @abc.abstractmethod
    def user_clusters(self, user_ids: Sequence[str] | None) -> dict[str, str]:
        """Returns: user id -> cluster name, for those of ``user_ids`` (None: all) in one."""

    # -- models ------------------------------------------------------------------------------

    @abc.abstractmethod
    def record_training(
        self,
        infos: Sequence[ModelInfo],
        paths: Sequence[str],
        decision: TrainingDecision,
        checksum: str = "",
    ) -> None:
        """Records a training run's models (``paths[i]`` is the artifact of ``infos[i]``,
        relative to ``data_dir``) and its decision, atomically. When ``decision.promoted``, the
        new models become the only ones serving their (catalog, strategy).

        ``checksum`` is the version's (the sha256 of its manifest, ``core.models.artifacts``),
        kept with each of its model rows; "" for none.
        """

    @abc.abstractmethod
    def last_decisions(self) -> dict[str, TrainingDecision]:
        """Returns: catalog -> its latest training decision (by decision time, then candidate
        version)."""

    @abc.abstractmethod
    def training_history(self, catalog: str, limit: int) -> list[TrainingDecision]:
        """Returns: the catalog's latest ``limit`` training decisions, newest first (by decision
        time, then candidate version); empty for a catalog never trained."""

    @abc.abstractmethod
    def serving_models(self) -> list[tuple[ModelInfo, str]]:
        """Returns: every serving model with its artifact path, by catalog then strategy."""

    @abc.abstractmethod
    def model_version(self, catalog: str, version: str) -> list[tuple[ModelInfo, str]]:
        """Returns: the models one training run of a catalog produced, with their artifact
        paths, by strategy; empty when there is no such version."""

    @abc.abstractmethod
    def version_checksum(self, catalog: str, version: str) -> str | None:
        """Returns: the checksum recorded with a model version of a catalog ("" when it was
        recorded without one), or None when the catalog has no model of that version."""

    @abc.abstractmethod
    def set_version_checksum(self, catalog: str, version: str, checksum: str) -> None:
        """Replaces the checksum of every model of a version of a catalog (its files were
        rewritten and published again).

        Raises:
            NotFound: when the catalog has no model of that version; nothing is written.
        """

    # -- experiments -------------------------------------------------------------------------

    @abc.abstractmethod
    def create_experiment(self, experiment: Experiment) -> None:
        """Stores a new experiment as given.

        Raises:
            AlreadyExists: when an experiment of that name is stored; nothing is written.
        """

    @abc.abstractmethod
    def set_experiment_status(
        self,
        name: str,
        status: ExperimentStatus,
        at: datetime,
        expected_status: ExperimentStatus,
    ) -> bool:
        """Moves an experiment from ``expected_status`` to ``status`` (RUNNING stamps its
        start time with ``at``, STOPPED its stop time).

        Returns: False, changing nothing, when the experiment was not in ``expected_status``.
        Raises:
            NotFound: when no experiment has that name.
            InvalidArgument: when ``status`` is neither RUNNING nor STOPPED.
        """

    @abc.abstractmethod
    def experiments(self) -> list[Experiment]:
        """Returns: every experiment, newest first (ties by name)."""

    @abc.abstractmethod
    def insert_impressions(self, served: pa.Table) -> None:
        """Appends lists served inside experiments (``IMPRESSION_SCHEMA``)."""

    @abc.abstractmethod
    def experiment_outcomes(
        self,
        experiment: str,
        *,
        click_types: Sequence[str],
        conversion_types: Sequence[str],
        window_seconds: float,
        skew_seconds: float,
    ) -> pa.Table:
        """Exposure and attributed feedback per (variant, user) of one experiment.

        Feedback is attributed when it carries the recommendation id of a list served to the
        same user and happens from ``skew_seconds`` before it to ``window_seconds`` after it. A
        click counts once per served item it lands on; conversions (and their values, the
        revenue) count whatever the item.

        Returns: one row per exposed (variant, user), by variant then user: ``variant``,
        ``lists``, ``impressions``, ``clicks``, ``conversions`` and ``revenue``; no rows for an
        unknown experiment.
        """

    # -- the privacy ledger ------------------------------------------------------------------

    @abc.abstractmethod
    def spend_privacy_budget(
        self,
        catalog: str,
        release: PrivacyRelease,
        keys: np.ndarray,
        values: np.ndarray,
        *,
        window_start: datetime,
        epsilon_budget: float,
    ) -> None:
        """Records a paid release and keeps ``keys``/``values`` as the latest values of its
        (catalog, kind, scope), if the catalog can pay: the epsilon it spent since
        ``window_start`` plus ``release.epsilon`` is at most ``epsilon_budget`` (give or take
        ``EPSILON_TOLERANCE``). The check and both writes are one transaction.

        Raises:
            BudgetExhausted: when the catalog cannot pay; nothing is written.
        """

    @abc.abstractmethod
    def append_privacy_release(self, catalog: str, release: PrivacyRelease) -> None:
        """Records a release without checking the budget (a reuse of kept values, epsilon 0)."""

    @abc.abstractmethod
    def last_privacy_release(self, catalog: str, kind: str, scope: str) -> ReleasedValues | None:
        """Returns: the values kept by the latest paid release of that figure, or None."""

    @abc.abstractmethod
    def privacy_releases(self, catalog: str, since: datetime) -> list[PrivacyRelease]:
        """Returns: the catalog's releases at or after ``since``, oldest first (ties in the
        order recorded)."""

    @abc.abstractmethod
    def privacy_spent(self, catalog: str, since: datetime) -> float:
        """Returns: the epsilon the catalog's releases at or after ``since`` spent."""

    # -- erasure -----------------------------------------------------------------------------

    @abc.abstractmethod
    def delete_user(self, user_id: str) -> dict[str, int]:
        """Removes every row about a user (attributes, events, cluster membership, served
        lists) in one transaction; cluster sizes are recounted.

        Returns: rows removed per table, each of ``users``, ``events``, ``user_clusters`` and
        ``impressions`` present (0 where none were).
        """

    # -- coordination between servers sharing the store ---------------------------------------

    @abc.abstractmethod
    def try_training_lock(self, catalog: str) -> AbstractContextManager[bool]:
        """Takes the catalog's training lock without waiting, for the ``with`` block.

        Yields True, the lock held until the block ends, when no one (no thread, no other
        server on the same database) holds it; False, holding nothing, when someone does. So
        that two servers do not train the same catalog at once.
        """

    @abc.abstractmethod
    def events_committed_after(self, watermark: int | None) -> tuple[pa.Table, int]:
        """The replica feed: events committed by any server since the last call.

        ``watermark`` is the one the previous call returned; ``None`` starts the feed from now
        (no events). Successive calls return every event committed by another process once,
        none twice, even when transactions commit in another order than they started.

        Returns: the events (``EVENT_SCHEMA``, in no particular order) and the watermark to
        pass next. A backend that one process owns alone (DuckDB) has no one else's events
        to tell: it returns none and the watermark given (0 for None).
        """

    @abc.abstractmethod
    def watch_changes(self, listener: Callable[[str, str], None]) -> None:
        """Calls ``listener(channel, payload)`` from a background thread for each change told
        by a server on the same database: a channel of ``records.CHANGE_CHANNELS``
        (``EVENTS_CHANNEL``: events stored; ``MODELS_CHANNEL``, payload the catalog: a training
        run recorded; ``ERASURE_CHANNEL``, payload the user id: a user erased;
        ``USERS_CHANNEL``, payload the user ids one a line, or '' for more than fit: users
        upserted or patched; ``ITEMS_CHANNEL``, payload the catalogs one a line: items
        upserted). This server's
        own changes may be told too. Each listener added is called until ``close()``; a
        backend that one process owns alone (DuckDB) never calls it.
        """
